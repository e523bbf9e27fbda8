#include "agent/convergence.h"

#include "common/error.h"
#include "common/json.h"
#include "common/vmspec.h"

void agent_migration_params_clear(AgentMigrationParams *params)
{
    g_clear_pointer(&params->policy, g_free);
    memset(params, 0, sizeof(*params));
}

static gboolean agent_params_tristate(JsonObject *request, const char *member,
                                      DrvTristate *out, GError **error)
{
    gboolean value = FALSE;

    *out = DRV_TRISTATE_INHERIT;
    if (!json_object_has_member(request, member)) {
        return TRUE;
    }
    if (!drv_json_get_bool(request, "migrate", member, TRUE, &value, error)) {
        return FALSE;
    }
    *out = value ? DRV_TRISTATE_TRUE : DRV_TRISTATE_FALSE;
    return TRUE;
}

gboolean agent_migration_params_parse(JsonObject *request,
                                      AgentMigrationParams *params,
                                      GError **error)
{
    gint64 downtime = 0;
    gint64 bandwidth = 0;
    gint64 after = 0;
    gint64 timeout = 0;
    gboolean post_copy = FALSE;
    gboolean tuning = TRUE;

    if (!drv_json_get_int(request, "migrate", "downtime_ms", FALSE, 1, 60000,
                          &downtime, error) ||
        !drv_json_get_int(request, "migrate", "bandwidth_mbps", FALSE, 1,
                          1000000, &bandwidth, error) ||
        !agent_params_tristate(request, "auto_converge", &params->auto_converge,
                               error) ||
        !agent_params_tristate(request, "compression", &params->compression,
                               error) ||
        !drv_json_get_bool(request, "migrate", "post_copy", FALSE, &post_copy,
                           error) ||
        !drv_json_get_int(request, "migrate", "post_copy_after_passes", FALSE,
                          1, 1000, &after, error) ||
        !drv_json_get_int(request, "migrate", "timeout_s", FALSE, 10, 86400,
                          &timeout, error) ||
        !drv_json_get_bool(request, "migrate", "stream_tuning", FALSE, &tuning,
                           error)) {
        return FALSE;
    }
    if (after > 0 && !post_copy) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "migrate: 'post_copy_after_passes' needs "
                    "\"post_copy\": true");
        return FALSE;
    }
    params->downtime_ms = (guint)downtime;
    params->bandwidth_mbps = (guint)bandwidth;
    params->post_copy = post_copy;
    params->post_copy_after_passes = (guint)after;
    params->timeout_s = (guint)timeout;
    params->plain_stream = !tuning;
    return TRUE;
}

static void agent_params_set_tristate(JsonObject *out, const char *member,
                                      DrvTristate value)
{
    if (value == DRV_TRISTATE_INHERIT) {
        json_object_set_string_member(out, member, "policy");
    } else {
        json_object_set_boolean_member(out, member, value == DRV_TRISTATE_TRUE);
    }
}

static DrvTristate agent_params_get_tristate(JsonObject *obj,
                                             const char *member)
{
    JsonNode *node = json_object_get_member(obj, member);

    if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_BOOLEAN) {
        return DRV_TRISTATE_INHERIT;
    }
    return json_node_get_boolean(node) ? DRV_TRISTATE_TRUE : DRV_TRISTATE_FALSE;
}

void agent_migration_params_to_json(const AgentMigrationParams *params,
                                    JsonObject *out)
{
    json_object_set_string_member(out, "policy",
                                  params->policy ? params->policy : "adaptive");
    json_object_set_int_member(out, "downtime_ms", params->downtime_ms);
    json_object_set_int_member(out, "bandwidth_mbps", params->bandwidth_mbps);
    agent_params_set_tristate(out, "auto_converge", params->auto_converge);
    agent_params_set_tristate(out, "compression", params->compression);
    json_object_set_boolean_member(out, "post_copy", params->post_copy);
    json_object_set_int_member(out, "post_copy_after_passes",
                               params->post_copy_after_passes);
    json_object_set_int_member(out, "timeout_s", params->timeout_s);
    json_object_set_boolean_member(out, "stream_tuning", !params->plain_stream);
}

void agent_migration_params_from_json(JsonObject *obj,
                                      AgentMigrationParams *params)
{
    params->policy = g_strdup(drv_json_string_or(obj, "policy", "adaptive"));
    params->downtime_ms = (guint)drv_json_int_or(obj, "downtime_ms", 0);
    params->bandwidth_mbps = (guint)drv_json_int_or(obj, "bandwidth_mbps", 0);
    params->auto_converge = agent_params_get_tristate(obj, "auto_converge");
    params->compression = agent_params_get_tristate(obj, "compression");
    params->post_copy = drv_json_bool_or(obj, "post_copy", FALSE);
    params->post_copy_after_passes =
        (guint)drv_json_int_or(obj, "post_copy_after_passes", 0);
    params->timeout_s = (guint)drv_json_int_or(obj, "timeout_s", 0);
    params->plain_stream = !drv_json_bool_or(obj, "stream_tuning", TRUE);
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
        progress->pages_per_second =
            (guint64)drv_json_int_or(ram, "pages-per-second", 0);
        progress->page_size = page;
        progress->zero_pages = (guint64)drv_json_int_or(ram, "duplicate", 0);
        progress->normal_pages = (guint64)drv_json_int_or(ram, "normal", 0);
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
        progress->xbzrle_bytes = (guint64)drv_json_int_or(xbzrle, "bytes", 0);
        progress->xbzrle_overflow =
            (guint64)drv_json_int_or(xbzrle, "overflow", 0);
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
    json_object_set_double_member(
        out, "xbzrle_ratio",
        (double)(gint64)(agent_migration_progress_xbzrle_ratio(progress) *
                         100) /
            100.0);
}

#define AGENT_XBZRLE_MIN_PAGES 1024

double
agent_migration_progress_xbzrle_ratio(const AgentMigrationProgress *progress)
{
    double page = (double)MAX(progress->page_size, 1);
    double tried = (double)(progress->xbzrle_pages + progress->xbzrle_overflow);
    double bytes = (double)progress->xbzrle_bytes +
                   (double)progress->xbzrle_overflow * page;

    if (tried < AGENT_XBZRLE_MIN_PAGES || bytes <= 0) {
        return 0;
    }
    return tried * page / bytes;
}
