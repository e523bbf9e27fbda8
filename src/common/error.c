#include "common/error.h"

#include <gio/gio.h>

#include "qmp/qmp.h"

GQuark drv_error_quark(void)
{
    return g_quark_from_static_string("drover-error");
}

typedef struct {
    const char *name;
    guint http_status;
} DrvErrorInfo;

static const DrvErrorInfo drv_error_info[DRV_ERROR_LAST] = {
    [DRV_ERROR_INTERNAL] = {"internal", 500},
    [DRV_ERROR_INVALID] = {"invalid", 400},
    [DRV_ERROR_NOT_FOUND] = {"not_found", 404},
    [DRV_ERROR_CONFLICT] = {"conflict", 409},
    [DRV_ERROR_EXISTS] = {"exists", 409},
    [DRV_ERROR_BUSY] = {"busy", 409},
    [DRV_ERROR_TOO_LARGE] = {"too_large", 413},
    [DRV_ERROR_UNSUPPORTED_TYPE] = {"unsupported_media_type", 415},
    [DRV_ERROR_NO_STORAGE] = {"no_storage_domain", 409},
    [DRV_ERROR_NO_NETWORK] = {"no_network", 409},
    [DRV_ERROR_NO_MEMORY] = {"insufficient_memory", 409},
    [DRV_ERROR_NO_CPU_MODEL] = {"cpu_model_unsupported", 409},
    [DRV_ERROR_SAME_HOST] = {"same_host", 409},
    [DRV_ERROR_UNREACHABLE] = {"unreachable", 502},
    [DRV_ERROR_TIMEOUT] = {"timeout", 504},
    [DRV_ERROR_QEMU] = {"qemu_error", 500},
    [DRV_ERROR_HOOK] = {"hook_failed", 409},
    [DRV_ERROR_CANCELLED] = {"cancelled", 409},
    [DRV_ERROR_MIGRATION] = {"migration_failed", 500},
    [DRV_ERROR_REMOTE] = {"remote_error", 502},
    [DRV_ERROR_REFUSED] = {"refused", 409},
};

const char *drv_error_code_name(DrvErrorCode code)
{
    if ((guint)code >= DRV_ERROR_LAST) {
        code = DRV_ERROR_INTERNAL;
    }
    return drv_error_info[code].name;
}

guint drv_error_code_http_status(DrvErrorCode code)
{
    if ((guint)code >= DRV_ERROR_LAST) {
        code = DRV_ERROR_INTERNAL;
    }
    return drv_error_info[code].http_status;
}

DrvErrorCode drv_error_code_from_name(const char *name)
{
    for (guint i = 0; name && i < DRV_ERROR_LAST; i++) {
        if (g_str_equal(drv_error_info[i].name, name)) {
            return (DrvErrorCode)i;
        }
    }
    return DRV_ERROR_REMOTE;
}

DrvErrorCode drv_error_classify(const GError *error)
{
    if (error == NULL) {
        return DRV_ERROR_INTERNAL;
    }
    if (error->domain == DRV_ERROR) {
        return (DrvErrorCode)error->code;
    }
    if (error->domain == QMP_ERROR) {
        return error->code == QMP_ERROR_TIMEOUT ? DRV_ERROR_TIMEOUT
                                                : DRV_ERROR_QEMU;
    }
    if (error->domain == G_IO_ERROR) {
        switch (error->code) {
        case G_IO_ERROR_TIMED_OUT:
            return DRV_ERROR_TIMEOUT;
        case G_IO_ERROR_CANCELLED:
            return DRV_ERROR_CANCELLED;
        case G_IO_ERROR_CONNECTION_REFUSED:
        case G_IO_ERROR_HOST_NOT_FOUND:
        case G_IO_ERROR_HOST_UNREACHABLE:
        case G_IO_ERROR_NETWORK_UNREACHABLE:
        case G_IO_ERROR_CONNECTION_CLOSED: /* also G_IO_ERROR_BROKEN_PIPE */
        case G_IO_ERROR_NOT_CONNECTED:
            return DRV_ERROR_UNREACHABLE;
        default:
            break;
        }
    }
    return DRV_ERROR_INTERNAL;
}
