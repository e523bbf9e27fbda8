#include "common/log.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char *drv_log_program;
static gboolean drv_log_verbose;

static const char *drv_log_level_name(GLogLevelFlags level)
{
    switch (level & G_LOG_LEVEL_MASK) {
    case G_LOG_LEVEL_ERROR:
        return "error";
    case G_LOG_LEVEL_CRITICAL:
        return "critical";
    case G_LOG_LEVEL_WARNING:
        return "warning";
    case G_LOG_LEVEL_MESSAGE:
        return "notice";
    case G_LOG_LEVEL_INFO:
        return "info";
    default:
        return "debug";
    }
}

static GLogWriterOutput drv_log_writer(GLogLevelFlags level,
                                       const GLogField *fields, gsize n_fields,
                                       gpointer user_data)
{
    const char *message = NULL;
    const char *domain = NULL;
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *stamp = NULL;

    if ((level & G_LOG_LEVEL_DEBUG) && !drv_log_verbose) {
        return G_LOG_WRITER_HANDLED;
    }
    for (gsize i = 0; i < n_fields; i++) {
        if (g_str_equal(fields[i].key, "MESSAGE")) {
            message = fields[i].value;
        } else if (g_str_equal(fields[i].key, "GLIB_DOMAIN")) {
            domain = fields[i].value;
        }
    }
    stamp = g_date_time_format(now, "%Y-%m-%dT%H:%M:%S.%fZ");
    /* microseconds are more than a log reader wants: keep milliseconds */
    if (stamp != NULL && strlen(stamp) > 24) {
        stamp[23] = 'Z';
        stamp[24] = '\0';
    }
    fprintf(stderr, "%s %s[%d] %s %s%s%s\n", stamp ? stamp : "-",
            drv_log_program ? drv_log_program : "drover", (int)getpid(),
            drv_log_level_name(level), domain ? domain : "", domain ? ": " : "",
            message ? message : "");
    fflush(stderr);
    return G_LOG_WRITER_HANDLED;
}

void drv_log_init(const char *program, gboolean verbose)
{
    g_free(drv_log_program);
    drv_log_program = g_strdup(program);
    drv_log_verbose = verbose;
    g_log_set_writer_func(drv_log_writer, NULL, NULL);
}
