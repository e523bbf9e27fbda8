/*
 * drover error domain: one code per reason a person or a program can act on.
 *
 * Every code has a stable lowercase name (the "code" of a JSON error body)
 * and an HTTP status.  A GError of another domain (QMP, GIO) is mapped when
 * it reaches an API boundary, keeping its message verbatim.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define DRV_ERROR (drv_error_quark())
GQuark drv_error_quark(void);

typedef enum {
    DRV_ERROR_INTERNAL = 0,     /* 500 internal */
    DRV_ERROR_INVALID,          /* 400 invalid: malformed or out of bounds */
    DRV_ERROR_NOT_FOUND,        /* 404 not_found */
    DRV_ERROR_CONFLICT,         /* 409 conflict: wrong state for the action */
    DRV_ERROR_EXISTS,           /* 409 exists */
    DRV_ERROR_BUSY,             /* 409 busy: a concurrency limit is reached */
    DRV_ERROR_TOO_LARGE,        /* 413 too_large */
    DRV_ERROR_UNSUPPORTED_TYPE, /* 415 unsupported_media_type */
    DRV_ERROR_NO_STORAGE,       /* 409 no_storage_domain */
    DRV_ERROR_NO_NETWORK,       /* 409 no_network */
    DRV_ERROR_NO_MEMORY,        /* 409 insufficient_memory */
    DRV_ERROR_NO_CPU_MODEL,     /* 409 cpu_model_unsupported */
    DRV_ERROR_SAME_HOST,        /* 409 same_host */
    DRV_ERROR_UNREACHABLE,      /* 502 unreachable */
    DRV_ERROR_TIMEOUT,          /* 504 timeout */
    DRV_ERROR_QEMU,             /* 500 qemu_error: QMP class/desc verbatim */
    DRV_ERROR_HOOK,             /* 409 hook_failed */
    DRV_ERROR_CANCELLED,        /* 409 cancelled */
    DRV_ERROR_MIGRATION,        /* 500 migration_failed */
    DRV_ERROR_REMOTE,           /* 502 remote_error: peer sent unknown code */
    DRV_ERROR_REFUSED,          /* 409 refused: a rule or the scheduler */
    DRV_ERROR_LAST
} DrvErrorCode;

const char *drv_error_code_name(DrvErrorCode code);
guint drv_error_code_http_status(DrvErrorCode code);
/* Reverse of drv_error_code_name(); unknown names give DRV_ERROR_REMOTE. */
DrvErrorCode drv_error_code_from_name(const char *name);

/*
 * The drover code a foreign GError stands for at an API boundary:
 * QMP errors are DRV_ERROR_QEMU, GIO timeouts DRV_ERROR_TIMEOUT, connection
 * failures DRV_ERROR_UNREACHABLE, anything else DRV_ERROR_INTERNAL.
 */
DrvErrorCode drv_error_classify(const GError *error);

G_END_DECLS
