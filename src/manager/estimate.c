/*
 * Migration estimates: what moving a VM would take, before anything moves.
 *
 * The source agent measures the guest's dirty rate (QEMU's calc-dirty-rate,
 * page sampling, so the guest is not slowed); the predictor of
 * common/predict.h turns it, the VM's RAM, the link share the migration
 * would get and what the resolved policy may do (post-copy, throttling)
 * into a duration, a pause and the strategy that would finish it.  The
 * same checks as a real request come first, so a dry run refuses what a
 * migration would refuse.
 */
#include "manager/manager.h"

#include "common/error.h"
#include "common/http.h"
#include "common/json.h"
#include "common/predict.h"
#include "manager/scheduler.h"

/* When neither the cluster nor the hosts say. */
#define MGR_ESTIMATE_DEFAULT_MBPS 1000
/*
 * QEMU can take up to 99% of the guest's CPU; the predictor prefers a
 * pause beyond 90%, as the agent's adaptive controller does.
 */
#define MGR_ESTIMATE_MAX_THROTTLE 0.9

typedef struct {
    Mgr *mgr;
    char *vm_id;
    char *source_id;
    char *dest_id;
    JsonObject *settings;
    guint seconds;
} MgrEstimate;

static void mgr_estimate_free(MgrEstimate *est)
{
    if (est == NULL) {
        return;
    }
    g_free(est->vm_id);
    g_free(est->source_id);
    g_free(est->dest_id);
    if (est->settings != NULL) {
        json_object_unref(est->settings);
    }
    g_free(est);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(MgrEstimate, mgr_estimate_free)

/* The host a request without one would go to now. */
static MgrHost *mgr_estimate_pick(Mgr *mgr, MgrVm *vm, GError **error)
{
    MgrScheduleRequest req;
    g_autoptr(GPtrArray) loads = mgr_host_loads(mgr, vm->cluster_id);
    g_autoptr(GPtrArray) verdicts = NULL;
    MgrHost *best;

    mgr_schedule_request_init(mgr, &req, MGR_SCHEDULE_MIGRATE, vm);
    best = mgr_schedule_place(&req, loads, NULL, &verdicts);
    if (best == NULL) {
        g_autofree char *why = mgr_scheduler_explain(&req, verdicts);

        g_set_error(error, DRV_ERROR, DRV_ERROR_REFUSED, "%s", why);
    }
    return best;
}

static void mgr_estimate_warn(JsonArray *warnings, const char *format, ...)
    G_GNUC_PRINTF(2, 3);

static void mgr_estimate_warn(JsonArray *warnings, const char *format, ...)
{
    va_list args;
    g_autofree char *text = NULL;

    va_start(args, format);
    text = g_strdup_vprintf(format, args);
    va_end(args);
    json_array_add_string_element(warnings, text);
}

/*
 * The rate the source last measured to @dest (its facts' migration.links,
 * docs/agent.md "Measured links"), bytes/s; 0 when it has none.
 */
static double mgr_estimate_measured_link(JsonObject *facts_mig, MgrHost *dest)
{
    JsonArray *links = drv_json_array_or_null(facts_mig, "links");

    for (guint i = 0;
         dest != NULL && links != NULL && i < json_array_get_length(links);
         i++) {
        JsonNode *node = json_array_get_element(links, i);
        JsonObject *link;

        if (!JSON_NODE_HOLDS_OBJECT(node)) {
            continue;
        }
        link = json_node_get_object(node);
        if (g_strcmp0(drv_json_string_or(link, "peer", NULL), dest->address) ==
            0) {
            return (double)drv_json_int_or(link, "mbps", 0) * 1e6 / 8.0;
        }
    }
    return 0;
}

static JsonObject *mgr_estimate_present(MgrEstimate *est, MgrVm *vm,
                                        JsonObject *measured)
{
    Mgr *mgr = est->mgr;
    MgrHost *source = g_hash_table_lookup(mgr->hosts, est->source_id);
    MgrHost *dest = g_hash_table_lookup(mgr->hosts, est->dest_id);
    const char *policy_name = drv_json_string_or(est->settings, "policy", "");
    const DrvMigrationPolicy *policy = drv_migration_policy_lookup(policy_name);
    JsonObject *facts_mig =
        drv_json_object_or_null(source ? source->facts : NULL, "migration");
    gint64 mbps = drv_json_int_or(est->settings, "bandwidth_mbps",
                                  drv_json_int_or(facts_mig, "bandwidth_mbps",
                                                  MGR_ESTIMATE_DEFAULT_MBPS));
    double memory = (double)drv_json_int_or(measured, "memory_bytes", 0);
    double dirty = (double)drv_json_int_or(measured, "dirty_rate_bps", 0);
    double measured_link = mgr_estimate_measured_link(facts_mig, dest);
    gboolean link_measured;
    DrvPredictInput in = {0};
    DrvPrediction pred;
    JsonObject *out = json_object_new();
    JsonObject *m = json_object_new();
    JsonArray *warnings = json_array_new();

    g_assert(policy != NULL);
    in.data_bytes = memory;
    /* a guest cannot dirty more than its RAM */
    in.working_set_bytes = memory;
    in.dirty_rate_bps = dirty;
    in.link_bps = (double)mbps * 1e6 / 8.0;
    /* the smaller of granted and measured, as the source will take */
    link_measured = measured_link > 0 && measured_link < in.link_bps;
    if (link_measured) {
        in.link_bps = measured_link;
    }
    in.downtime_ms = policy->downtime_ms;
    /* as the source will arm it before the stream */
    in.post_copy = policy->post_copy &&
                   drv_json_bool_or(est->settings, "post_copy", FALSE) &&
                   (!policy->post_copy_on_need ||
                    drv_predict_postcopy_needed(dirty, in.link_bps));
    in.throttle =
        drv_json_bool_or(est->settings, "auto_converge", policy->throttle);
    in.max_throttle = MGR_ESTIMATE_MAX_THROTTLE;
    drv_predict(&in, &pred);

    json_object_set_object_member(out, "vm",
                                  mgr_present_ref(vm->id, vm->spec->name));
    json_object_set_object_member(
        out, "source",
        mgr_present_ref(est->source_id, mgr_host_name(mgr, est->source_id)));
    json_object_set_object_member(
        out, "destination",
        mgr_present_ref(est->dest_id, dest ? dest->name : NULL));
    json_object_set_object_member(out, "parameters",
                                  json_object_ref(est->settings));
    json_object_set_int_member(m, "dirty_rate_bps", (gint64)dirty);
    json_object_set_int_member(m, "memory_bytes", (gint64)memory);
    json_object_set_int_member(m, "seconds", est->seconds);
    json_object_set_int_member(m, "link_bps", (gint64)in.link_bps);
    json_object_set_string_member(m, "link_basis",
                                  link_measured ? "measured" : "granted");
    json_object_set_object_member(out, "measured", m);
    json_object_set_object_member(out, "prediction",
                                  drv_prediction_to_json(&in, &pred));

    if (!pred.converges && !in.throttle && !in.post_copy) {
        mgr_estimate_warn(warnings,
                          "the guest dirties %.1f MB/s, more than pre-copy "
                          "can follow at %.1f MB/s, and policy %s neither "
                          "throttles nor switches to post-copy: the "
                          "migration would not finish",
                          dirty / 1e6, in.link_bps / 1e6, policy->name);
    } else if (pred.strategy == DRV_STRATEGY_PAUSE) {
        mgr_estimate_warn(warnings,
                          "the guest dirties %.1f MB/s; even throttled it "
                          "outruns the link, so the guest would be paused "
                          "for about %.0f ms",
                          dirty / 1e6, pred.downtime_ms);
    } else if (!pred.converges && pred.strategy == DRV_STRATEGY_THROTTLE &&
               policy->post_copy &&
               !drv_json_bool_or(est->settings, "post_copy", FALSE)) {
        mgr_estimate_warn(warnings,
                          "post-copy is not allowed for this VM: the guest "
                          "would be throttled by about %.0f%% instead",
                          pred.throttle * 100.0);
    }
    json_object_set_array_member(out, "warnings", warnings);
    return out;
}

static void mgr_estimate_on_rate(GObject *source, GAsyncResult *result,
                                 gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    MgrEstimate *est = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = drv_http_call_finish(result, NULL, &error);
    MgrVm *vm = g_hash_table_lookup(est->mgr->vms, est->vm_id);

    if (node == NULL) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    if (!JSON_NODE_HOLDS_OBJECT(node)) {
        g_task_return_new_error(task, DRV_ERROR, DRV_ERROR_REMOTE,
                                "host %s answered the dirty-rate measurement "
                                "without an object",
                                mgr_host_name(est->mgr, est->source_id));
        return;
    }
    if (vm == NULL) {
        g_task_return_new_error(task, DRV_ERROR, DRV_ERROR_NOT_FOUND,
                                "the VM was removed while it was measured");
        return;
    }
    g_task_return_pointer(
        task, mgr_estimate_present(est, vm, json_node_get_object(node)),
        (GDestroyNotify)json_object_unref);
}

void mgr_estimate_async(Mgr *mgr, MgrVm *vm, MgrHost *host, guint seconds,
                        GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(NULL, NULL, callback, user_data);
    g_autoptr(MgrEstimate) est = g_new0(MgrEstimate, 1);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) body = json_object_new();
    g_autofree char *url = NULL;
    MgrHost *source;

    if (!mgr_queue_check(mgr, vm, host, FALSE, &error) ||
        (host == NULL && (host = mgr_estimate_pick(mgr, vm, &error)) == NULL)) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    source = g_hash_table_lookup(mgr->hosts, vm->host_id);
    est->mgr = mgr;
    est->vm_id = g_strdup(vm->id);
    est->source_id = g_strdup(source->id);
    est->dest_id = g_strdup(host->id);
    est->seconds = seconds;
    est->settings = mgr_queue_migration_settings(mgr, vm, source, host, 1);
    json_object_set_int_member(body, "seconds", seconds);
    url = g_strdup_printf("%s/v1/vms/%s/dirtyrate", source->address, vm->id);
    g_task_set_task_data(task, g_steal_pointer(&est),
                         (GDestroyNotify)mgr_estimate_free);
    drv_http_call_async(
        mgr->session, "POST", url, body,
        drv_dirty_rate_sample_max_ms(vm->spec->memory_mib, seconds) +
            mgr->config->agent_timeout_ms,
        NULL, mgr_estimate_on_rate, g_steal_pointer(&task));
}

JsonObject *mgr_estimate_finish(GAsyncResult *result, GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}
