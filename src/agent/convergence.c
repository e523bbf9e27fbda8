#include "agent/convergence.h"

#include "common/error.h"
#include "common/json.h"
#include "common/vmspec.h"

void agent_migration_params_clear(AgentMigrationParams *params)
{
    g_clear_pointer(&params->policy, g_free);
    memset(params, 0, sizeof(*params));
}

gboolean agent_migration_params_parse(JsonObject *request,
                                      AgentMigrationParams *params,
                                      GError **error)
{
    const char *policy = "manual";
    gint64 downtime = 0;
    gint64 bandwidth = 0;
    gint64 after = 0;
    gint64 timeout = 0;
    gboolean auto_converge = FALSE;
    gboolean compression = FALSE;
    gboolean post_copy = FALSE;

    if (!drv_json_get_string(request, "migrate", "policy", FALSE, &policy,
                             error) ||
        !drv_json_get_int(request, "migrate", "downtime_ms", FALSE, 1, 60000,
                          &downtime, error) ||
        !drv_json_get_int(request, "migrate", "bandwidth_mbps", FALSE, 1,
                          1000000, &bandwidth, error) ||
        !drv_json_get_bool(request, "migrate", "auto_converge", FALSE,
                           &auto_converge, error) ||
        !drv_json_get_bool(request, "migrate", "compression", FALSE,
                           &compression, error) ||
        !drv_json_get_bool(request, "migrate", "post_copy", FALSE, &post_copy,
                           error) ||
        !drv_json_get_int(request, "migrate", "post_copy_after_passes", FALSE,
                          1, 1000, &after, error) ||
        !drv_json_get_int(request, "migrate", "timeout_s", FALSE, 10, 86400,
                          &timeout, error)) {
        return FALSE;
    }
    if (!drv_name_is_valid(policy)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "migrate: 'policy' must be a name, not '%s'", policy);
        return FALSE;
    }
    if (after > 0 && !post_copy) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "migrate: 'post_copy_after_passes' needs "
                    "\"post_copy\": true");
        return FALSE;
    }
    params->policy = g_strdup(policy);
    params->downtime_ms = (guint)downtime;
    params->bandwidth_mbps = (guint)bandwidth;
    params->auto_converge = auto_converge;
    params->compression = compression;
    params->post_copy = post_copy;
    params->post_copy_after_passes = (guint)after;
    params->timeout_s = (guint)timeout;
    return TRUE;
}

void agent_migration_params_to_json(const AgentMigrationParams *params,
                                    JsonObject *out)
{
    json_object_set_string_member(out, "policy",
                                  params->policy ? params->policy : "manual");
    json_object_set_int_member(out, "downtime_ms", params->downtime_ms);
    json_object_set_int_member(out, "bandwidth_mbps", params->bandwidth_mbps);
    json_object_set_boolean_member(out, "auto_converge", params->auto_converge);
    json_object_set_boolean_member(out, "compression", params->compression);
    json_object_set_boolean_member(out, "post_copy", params->post_copy);
    json_object_set_int_member(out, "post_copy_after_passes",
                               params->post_copy_after_passes);
    json_object_set_int_member(out, "timeout_s", params->timeout_s);
}

void agent_migration_params_from_json(JsonObject *obj,
                                      AgentMigrationParams *params)
{
    params->policy = g_strdup(drv_json_string_or(obj, "policy", "manual"));
    params->downtime_ms = (guint)drv_json_int_or(obj, "downtime_ms", 0);
    params->bandwidth_mbps = (guint)drv_json_int_or(obj, "bandwidth_mbps", 0);
    params->auto_converge = drv_json_bool_or(obj, "auto_converge", FALSE);
    params->compression = drv_json_bool_or(obj, "compression", FALSE);
    params->post_copy = drv_json_bool_or(obj, "post_copy", FALSE);
    params->post_copy_after_passes =
        (guint)drv_json_int_or(obj, "post_copy_after_passes", 0);
    params->timeout_s = (guint)drv_json_int_or(obj, "timeout_s", 0);
}

void agent_migration_progress_clear(AgentMigrationProgress *progress)
{
    g_clear_pointer(&progress->qemu_status, g_free);
    memset(progress, 0, sizeof(*progress));
}

void agent_migration_progress_update(AgentMigrationProgress *progress,
                                     JsonObject *info)
{
    JsonObject *ram = drv_json_object_or_null(info, "ram");
    JsonObject *xbzrle = drv_json_object_or_null(info, "xbzrle-cache");
    const char *status = drv_json_string_or(info, "status", "none");
    double percent;

    g_free(progress->qemu_status);
    progress->qemu_status = g_strdup(status);
    if (g_str_equal(status, "completed")) {
        progress->percent = 100;
    }
    if (ram != NULL) {
        guint64 page = (guint64)drv_json_int_or(ram, "page-size", 4096);

        progress->total_bytes = (guint64)drv_json_int_or(ram, "total", 0);
        progress->remaining_bytes =
            (guint64)drv_json_int_or(ram, "remaining", 0);
        progress->transferred_bytes =
            (guint64)drv_json_int_or(ram, "transferred", 0);
        progress->throughput_mbps = drv_json_double_or(ram, "mbps", 0);
        progress->dirty_rate_bps =
            (guint64)drv_json_int_or(ram, "dirty-pages-rate", 0) * page;
        progress->pass =
            (guint64)drv_json_int_or(ram, "dirty-sync-count", progress->pass);
    }
    if (progress->total_bytes > 0 && progress->percent < 100) {
        guint64 left = MIN(progress->remaining_bytes, progress->total_bytes);

        percent = 100.0 * (double)(progress->total_bytes - left) /
                  (double)progress->total_bytes;
        /* monotonic, and never "done" before QEMU says so */
        percent = MIN(percent, 99.0);
        progress->percent = MAX(progress->percent, percent);
    }
    progress->throttle_percent =
        (guint)drv_json_int_or(info, "cpu-throttle-percentage", 0);
    progress->max_throttle_percent =
        MAX(progress->max_throttle_percent, progress->throttle_percent);
    progress->expected_downtime_ms =
        drv_json_int_or(info, "expected-downtime", 0);
    progress->elapsed_ms =
        drv_json_int_or(info, "total-time", progress->elapsed_ms);
    if (xbzrle != NULL) {
        progress->xbzrle_pages = (guint64)drv_json_int_or(xbzrle, "pages", 0);
    }
}

void agent_migration_progress_to_json(const AgentMigrationProgress *progress,
                                      JsonObject *out)
{
    json_object_set_string_member(out, "qemu_status",
                                  progress->qemu_status ? progress->qemu_status
                                                        : "none");
    json_object_set_double_member(
        out, "percent", (double)(gint64)(progress->percent * 10) / 10.0);
    json_object_set_int_member(out, "total_bytes",
                               (gint64)progress->total_bytes);
    json_object_set_int_member(out, "remaining_bytes",
                               (gint64)progress->remaining_bytes);
    json_object_set_int_member(out, "transferred_bytes",
                               (gint64)progress->transferred_bytes);
    json_object_set_double_member(out, "throughput_mbps",
                                  progress->throughput_mbps);
    json_object_set_int_member(out, "dirty_rate_bps",
                               (gint64)progress->dirty_rate_bps);
    json_object_set_int_member(out, "pass", (gint64)progress->pass);
    json_object_set_int_member(out, "throttle_percent",
                               progress->throttle_percent);
    json_object_set_int_member(out, "expected_downtime_ms",
                               progress->expected_downtime_ms);
    json_object_set_int_member(out, "elapsed_ms", progress->elapsed_ms);
    json_object_set_int_member(out, "xbzrle_pages",
                               (gint64)progress->xbzrle_pages);
}

struct _AgentConvergence {
    AgentMigrationParams params;
    guint timeout_s;
    gboolean postcopy_started;
    gboolean timed_out;
};

AgentConvergence *agent_convergence_new(const AgentMigrationParams *params,
                                        guint default_timeout_s)
{
    AgentConvergence *conv = g_new0(AgentConvergence, 1);

    conv->params = *params;
    conv->params.policy = g_strdup(params->policy);
    conv->timeout_s = params->timeout_s ? params->timeout_s : default_timeout_s;
    return conv;
}

void agent_convergence_free(AgentConvergence *conv)
{
    if (conv == NULL) {
        return;
    }
    agent_migration_params_clear(&conv->params);
    g_free(conv);
}

AgentConvergenceAction
agent_convergence_step(AgentConvergence *conv,
                       const AgentMigrationProgress *progress)
{
    if (conv->timeout_s > 0 && !conv->timed_out &&
        progress->elapsed_ms > (gint64)conv->timeout_s * 1000) {
        conv->timed_out = TRUE;
        return AGENT_CONVERGENCE_ABORT_TIMEOUT;
    }
    if (conv->params.post_copy && conv->params.post_copy_after_passes > 0 &&
        !conv->postcopy_started &&
        g_strcmp0(progress->qemu_status, "active") == 0 &&
        progress->pass > conv->params.post_copy_after_passes) {
        conv->postcopy_started = TRUE;
        return AGENT_CONVERGENCE_START_POSTCOPY;
    }
    return AGENT_CONVERGENCE_NONE;
}
