/*
 * The migration queue.
 *
 * Queued migrations start by priority (high, medium, low), then arrival,
 * as soon as their source host has a free outgoing slot and the scheduler
 * finds a destination; the destination is chosen only then, so that the
 * migrations already on their way count.  A running migration is followed
 * on its source agent until it ends.  An automatic migration whose attempt
 * fails is queued again for another host, up to migration_attempts hosts;
 * a manual one is not.
 */
#include "common/error.h"
#include "common/glib-extra.h"
#include "common/json.h"
#include "manager/manager.h"

#define MGR_QUEUE_TICK_S 2
/* How long a migration may wait for its agent before we look for it. */
#define MGR_QUEUE_ADOPT_WINDOW_US (60 * G_USEC_PER_SEC)

/* What the queue knows of a running migration beyond the store. */
typedef struct {
    gint ref;
    Mgr *mgr;
    char *mig_id;
    guint timer;
    gboolean polling;
    gboolean stopped;
    gboolean resuming; /* droverd restarted: find the agent's migration */
    gboolean cancel_requested;
    char *cancel_user;
} MgrMigRun;

struct _MgrQueue {
    Mgr *mgr;
    guint kick_id;
    guint tick_id;
    GHashTable *runs; /* migration id -> MgrMigRun */
};

static MgrMigRun *mgr_mig_run_ref(MgrMigRun *run)
{
    g_atomic_int_inc(&run->ref);
    return run;
}

static void mgr_mig_run_unref(MgrMigRun *run)
{
    if (run == NULL || !g_atomic_int_dec_and_test(&run->ref)) {
        return;
    }
    g_free(run->mig_id);
    g_free(run->cancel_user);
    g_free(run);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MgrMigRun, mgr_mig_run_unref)

static void mgr_mig_run_stop(gpointer data)
{
    MgrMigRun *run = data;

    run->stopped = TRUE;
    if (run->timer) {
        g_source_remove(run->timer);
        run->timer = 0;
    }
    mgr_mig_run_unref(run);
}

static gboolean mgr_queue_tick(gpointer user_data)
{
    mgr_queue_kick(((MgrQueue *)user_data)->mgr);
    return G_SOURCE_CONTINUE;
}

MgrQueue *mgr_queue_new(Mgr *mgr)
{
    MgrQueue *queue = g_new0(MgrQueue, 1);

    queue->mgr = mgr;
    queue->runs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                        mgr_mig_run_stop);
    queue->tick_id =
        g_timeout_add_seconds(MGR_QUEUE_TICK_S, mgr_queue_tick, queue);
    return queue;
}

void mgr_queue_free(MgrQueue *queue)
{
    if (queue == NULL) {
        return;
    }
    if (queue->kick_id) {
        g_source_remove(queue->kick_id);
    }
    g_source_remove(queue->tick_id);
    g_hash_table_unref(queue->runs);
    g_free(queue);
}

static guint mgr_queue_count_running(Mgr *mgr, const char *host_id,
                                     gboolean from)
{
    GHashTableIter iter;
    gpointer value;
    guint n = 0;

    g_hash_table_iter_init(&iter, mgr->migrations);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        MgrMigration *mig = value;

        if (mig->state == MGR_MIGRATION_RUNNING &&
            g_strcmp0(from ? mig->source_host_id : mig->destination_host_id,
                      host_id) == 0) {
            n++;
        }
    }
    return n;
}

guint mgr_queue_running_from(Mgr *mgr, const char *host_id)
{
    return mgr_queue_count_running(mgr, host_id, TRUE);
}

guint mgr_queue_running_to(Mgr *mgr, const char *host_id)
{
    return mgr_queue_count_running(mgr, host_id, FALSE);
}

/* ---- ending ---- */

static void mgr_queue_forget(Mgr *mgr, MgrMigration *mig)
{
    g_hash_table_remove(mgr->queue->runs, mig->id);
}

static void mgr_queue_set_error(MgrMigration *mig, const GError *error)
{
    g_free(mig->error_code);
    g_free(mig->error_message);
    mig->error_code = g_strdup(drv_error_code_name(drv_error_classify(error)));
    mig->error_message = g_strdup(error->message);
}

/* A VM paused before it moved stays paused, wherever the migration ends. */
static MgrVmStatus mgr_queue_settled_status(const MgrMigration *mig)
{
    return mig->result != NULL &&
                   !drv_json_bool_or(mig->result, "was_running", TRUE)
               ? MGR_VM_PAUSED
               : MGR_VM_UP;
}

static void mgr_queue_end(Mgr *mgr, MgrMigration *mig, MgrMigrationState state,
                          const GError *error, const char *user)
{
    MgrVm *vm = g_hash_table_lookup(mgr->vms, mig->vm_id);
    const char *vm_name = mgr_vm_name(mgr, mig->vm_id);
    g_autoptr(GError) keep = error ? g_error_copy(error) : NULL;

    mgr_queue_forget(mgr, mig);
    mig->state = state;
    mig->ended_us = g_get_real_time();
    if (keep != NULL) {
        mgr_queue_set_error(mig, keep);
    }
    /* the VM stays where it was: the monitor refines its state */
    if (vm != NULL && vm->status == MGR_VM_MIGRATING) {
        mgr_set_vm_status(mgr, vm, mgr_queue_settled_status(mig), vm->host_id,
                          NULL);
    }
    mgr_save_migration(mgr, mig);
    if (state == MGR_MIGRATION_CANCELLED) {
        mgr_event(mgr, MGR_SEVERITY_INFO, "vm_migration_cancelled", user,
                  mig->correlation_id, mig->vm_id, mig->source_host_id, mig->id,
                  NULL, "migration of VM %s from host %s cancelled", vm_name,
                  mgr_host_name(mgr, mig->source_host_id));
    } else if (state == MGR_MIGRATION_FAILED) {
        JsonObject *data = json_object_new();

        json_object_set_string_member(data, "reason", mig->error_message);
        json_object_set_int_member(data, "attempts", mig->attempts);
        mgr_event(mgr, MGR_SEVERITY_ERROR, "vm_migration_failed", user,
                  mig->correlation_id, mig->vm_id, mig->source_host_id, mig->id,
                  data, "migration of VM %s from host %s failed: %s", vm_name,
                  mgr_host_name(mgr, mig->source_host_id), mig->error_message);
    }
    mgr_maintenance_update(mgr);
    mgr_queue_kick(mgr);
}

/*
 * An attempt failed with the VM still on its source: another host for an
 * automatic migration, the end for the others.
 */
static void mgr_queue_attempt_failed(Mgr *mgr, MgrMigration *mig,
                                     const GError *error)
{
    MgrMigRun *run = g_hash_table_lookup(mgr->queue->runs, mig->id);
    MgrVm *vm = g_hash_table_lookup(mgr->vms, mig->vm_id);

    if (run != NULL && run->cancel_requested) {
        g_autofree char *user = g_strdup(run->cancel_user);

        mgr_queue_end(mgr, mig, MGR_MIGRATION_CANCELLED, NULL, user);
        return;
    }
    if (!mig->automatic || mig->requested_host_id != NULL ||
        mig->attempts >= mgr->config->migration_attempts) {
        mgr_queue_end(mgr, mig, MGR_MIGRATION_FAILED, error, mig->user);
        return;
    }
    mgr_event(mgr, MGR_SEVERITY_WARNING, "vm_migration_retried", mig->user,
              mig->correlation_id, mig->vm_id, mig->destination_host_id,
              mig->id, NULL,
              "migration of VM %s to host %s failed (%s); trying another "
              "host",
              mgr_vm_name(mgr, mig->vm_id),
              mgr_host_name(mgr, mig->destination_host_id), error->message);
    mgr_queue_forget(mgr, mig);
    mgr_queue_set_error(mig, error);
    mig->state = MGR_MIGRATION_QUEUED;
    g_clear_pointer(&mig->destination_host_id, g_free);
    g_clear_pointer(&mig->agent_migration_id, g_free);
    if (vm != NULL && vm->status == MGR_VM_MIGRATING) {
        mgr_set_vm_status(mgr, vm, mgr_queue_settled_status(mig), vm->host_id,
                          NULL);
    }
    mgr_save_migration(mgr, mig);
    mgr_queue_kick(mgr);
}

static void mgr_queue_completed(Mgr *mgr, MgrMigration *mig)
{
    MgrVm *vm = g_hash_table_lookup(mgr->vms, mig->vm_id);
    JsonObject *data = json_object_new();
    gint64 total = drv_json_int_or(mig->result, "total_time_ms", 0);
    gint64 downtime = drv_json_int_or(mig->result, "downtime_ms", -1);

    mgr_queue_forget(mgr, mig);
    mig->state = MGR_MIGRATION_COMPLETED;
    mig->ended_us = g_get_real_time();
    mgr_balancing_load_changed(mgr, mig->source_host_id, mig->ended_us);
    mgr_balancing_load_changed(mgr, mig->destination_host_id, mig->ended_us);
    g_clear_pointer(&mig->error_code, g_free);
    g_clear_pointer(&mig->error_message, g_free);
    if (vm != NULL) {
        mgr_set_vm_status(mgr, vm, mgr_queue_settled_status(mig),
                          mig->destination_host_id, NULL);
    }
    mgr_save_migration(mgr, mig);
    json_object_set_int_member(data, "duration_ms", total);
    json_object_set_int_member(data, "downtime_ms", downtime);
    json_object_set_int_member(
        data, "transferred_bytes",
        drv_json_int_or(mig->result, "transferred_bytes", 0));
    json_object_set_string_member(data, "source",
                                  mgr_host_name(mgr, mig->source_host_id));
    json_object_set_string_member(data, "destination",
                                  mgr_host_name(mgr, mig->destination_host_id));
    mgr_event(mgr, MGR_SEVERITY_INFO, "vm_migration_done", mig->user,
              mig->correlation_id, mig->vm_id, mig->destination_host_id,
              mig->id, data,
              "VM %s migrated from host %s to host %s in %.1f s "
              "(downtime %" G_GINT64_FORMAT " ms)",
              mgr_vm_name(mgr, mig->vm_id),
              mgr_host_name(mgr, mig->source_host_id),
              mgr_host_name(mgr, mig->destination_host_id),
              (double)total / 1000.0, downtime);
    mgr_maintenance_update(mgr);
    mgr_queue_kick(mgr);
}

/* ---- following a running migration ---- */

static void mgr_queue_on_agent_state(Mgr *mgr, MgrMigration *mig,
                                     JsonObject *agent_mig)
{
    const char *phase = drv_json_string_or(agent_mig, "phase", "");
    const char *status = drv_json_string_or(agent_mig, "status", "");
    JsonObject *progress = drv_json_object_or_null(agent_mig, "progress");
    JsonObject *result = drv_json_object_or_null(agent_mig, "result");
    JsonObject *err = drv_json_object_or_null(agent_mig, "error");
    g_autoptr(GError) error = NULL;

    if (progress != NULL) {
        if (mig->progress != NULL) {
            json_object_unref(mig->progress);
        }
        mig->progress = json_object_ref(progress);
        json_object_set_string_member(mig->progress, "phase", phase);
    }
    if (!g_str_equal(phase, "ended")) {
        return;
    }
    if (result != NULL) {
        if (mig->result != NULL) {
            json_object_unref(mig->result);
        }
        mig->result = json_object_ref(result);
    }
    if (g_str_equal(status, "completed")) {
        mgr_queue_completed(mgr, mig);
        return;
    }
    error = g_error_new(
        DRV_ERROR,
        drv_error_code_from_name(drv_json_string_or(err, "code", "")), "%s",
        drv_json_string_or(err, "message", status));
    mgr_queue_attempt_failed(mgr, mig, error);
}

static void mgr_queue_on_polled(GObject *source, GAsyncResult *result,
                                gpointer user_data)
{
    g_autoptr(MgrMigRun) run = user_data;
    Mgr *mgr = run->mgr;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = drv_http_call_finish(result, NULL, &error);
    MgrMigration *mig = g_hash_table_lookup(mgr->migrations, run->mig_id);

    run->polling = FALSE;
    if (run->stopped || mig == NULL || mig->state != MGR_MIGRATION_RUNNING) {
        return;
    }
    if (node != NULL && JSON_NODE_HOLDS_OBJECT(node)) {
        mgr_queue_on_agent_state(mgr, mig, json_node_get_object(node));
        return;
    }
    if (error != NULL && drv_error_classify(error) == DRV_ERROR_NOT_FOUND) {
        /* the agent forgot it (its state was lost): the VM did not move */
        g_prefix_error(&error, "the source agent lost track of it: ");
        mgr_queue_attempt_failed(mgr, mig, error);
    }
    /* unreachable: the agent is the authority; ask again later */
}

static void mgr_queue_on_agent_list(GObject *source, GAsyncResult *result,
                                    gpointer user_data);

static gboolean mgr_queue_poll(gpointer user_data)
{
    MgrMigRun *run = user_data;
    Mgr *mgr = run->mgr;
    MgrMigration *mig = g_hash_table_lookup(mgr->migrations, run->mig_id);
    MgrHost *source =
        mig ? g_hash_table_lookup(mgr->hosts, mig->source_host_id) : NULL;
    g_autofree char *path = NULL;

    if (run->polling || source == NULL) {
        return G_SOURCE_CONTINUE;
    }
    if (mig->agent_migration_id == NULL) {
        if (run->resuming) {
            /* the start may have reached the agent: look for it there */
            run->polling = TRUE;
            mgr_agent_call(mgr, source, "GET", "/v1/migrations", NULL,
                           mgr_queue_on_agent_list, mgr_mig_run_ref(run));
        }
        return G_SOURCE_CONTINUE;
    }
    run->polling = TRUE;
    path = g_strdup_printf("/v1/migrations/%s", mig->agent_migration_id);
    mgr_agent_call(mgr, source, "GET", path, NULL, mgr_queue_on_polled,
                   mgr_mig_run_ref(run));
    return G_SOURCE_CONTINUE;
}

static MgrMigRun *mgr_queue_follow(Mgr *mgr, MgrMigration *mig)
{
    MgrMigRun *run = g_hash_table_lookup(mgr->queue->runs, mig->id);

    if (run == NULL) {
        run = g_new0(MgrMigRun, 1);
        run->ref = 1;
        run->mgr = mgr;
        run->mig_id = g_strdup(mig->id);
        g_hash_table_insert(mgr->queue->runs, g_strdup(mig->id), run);
    }
    if (run->timer == 0 && (mig->agent_migration_id != NULL || run->resuming)) {
        run->timer =
            g_timeout_add(mgr->config->migration_poll_ms, mgr_queue_poll, run);
    }
    return run;
}

static void mgr_queue_on_cancel_sent(GObject *source, GAsyncResult *result,
                                     gpointer user_data)
{
    g_autoptr(MgrMigRun) run = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = drv_http_call_finish(result, NULL, &error);
    MgrMigration *mig = g_hash_table_lookup(run->mgr->migrations, run->mig_id);

    if (node == NULL && mig != NULL && !run->stopped) {
        mgr_event(run->mgr, MGR_SEVERITY_WARNING, "vm_migration_cancel_failed",
                  run->cancel_user, mig->correlation_id, mig->vm_id,
                  mig->source_host_id, mig->id, NULL,
                  "migration of VM %s could not be cancelled: %s",
                  mgr_vm_name(run->mgr, mig->vm_id),
                  error ? error->message : "no answer");
    }
}

static void mgr_queue_send_cancel(Mgr *mgr, MgrMigration *mig, MgrMigRun *run)
{
    MgrHost *source = g_hash_table_lookup(mgr->hosts, mig->source_host_id);
    g_autofree char *path =
        g_strdup_printf("/v1/vms/%s/cancelmigration", mig->vm_id);

    if (source != NULL) {
        mgr_agent_call(mgr, source, "POST", path, NULL,
                       mgr_queue_on_cancel_sent, mgr_mig_run_ref(run));
    }
}

/* ---- starting ---- */

static void mgr_queue_on_started(GObject *source, GAsyncResult *result,
                                 gpointer user_data)
{
    g_autoptr(MgrMigRun) run = user_data;
    Mgr *mgr = run->mgr;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = drv_http_call_finish(result, NULL, &error);
    MgrMigration *mig = g_hash_table_lookup(mgr->migrations, run->mig_id);

    if (run->stopped || mig == NULL || mig->state != MGR_MIGRATION_RUNNING) {
        return;
    }
    if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node)) {
        if (error == NULL) {
            error = g_error_new(DRV_ERROR, DRV_ERROR_REMOTE,
                                "the source agent did not start it");
        }
        mgr_queue_attempt_failed(mgr, mig, error);
        return;
    }
    mig->agent_migration_id =
        g_strdup(drv_json_string_or(json_node_get_object(node), "id", NULL));
    mgr_save_migration(mgr, mig);
    mgr_queue_follow(mgr, mig);
    if (run->cancel_requested) {
        mgr_queue_send_cancel(mgr, mig, run);
    }
}

/* A switch left to the policy when no level sets it. */
static void mgr_tristate_param(JsonObject *body, const char *member,
                               DrvTristate vm_value, DrvTristate cluster_value,
                               DrvTristate config_value)
{
    DrvTristate value = vm_value != DRV_TRISTATE_INHERIT        ? vm_value
                        : cluster_value != DRV_TRISTATE_INHERIT ? cluster_value
                                                                : config_value;

    if (value != DRV_TRISTATE_INHERIT) {
        json_object_set_boolean_member(body, member,
                                       value == DRV_TRISTATE_TRUE);
    }
}

/* A host's migration link split evenly among its @running migrations. */
static guint mgr_host_bandwidth_share(MgrHost *host, guint running)
{
    JsonObject *mig = drv_json_object_or_null(host->facts, "migration");
    gint64 link = drv_json_int_or(mig, "bandwidth_mbps", 0);

    if (link <= 0) {
        return 0;
    }
    return (guint)MAX(1, link / MAX(1, running));
}

static guint mgr_min_nonzero(guint a, guint b)
{
    return a == 0 ? b : b == 0 ? a : MIN(a, b);
}

JsonObject *mgr_queue_migration_settings(Mgr *mgr, MgrVm *vm, MgrHost *source,
                                         MgrHost *dest, guint starting)
{
    MgrCluster *cluster = g_hash_table_lookup(mgr->clusters, vm->cluster_id);
    MgrConfig *config = mgr->config;
    JsonObject *body = json_object_new();
    const char *policy = vm->spec->migration_policy;
    DrvTristate post_copy = vm->spec->post_copy;
    guint cap = vm->spec->bandwidth_mbps ? vm->spec->bandwidth_mbps
                                         : cluster->migration_bandwidth_mbps;
    guint share = mgr_min_nonzero(
        mgr_host_bandwidth_share(
            source, mgr_queue_running_from(mgr, source->id) + starting),
        mgr_host_bandwidth_share(dest, mgr_queue_running_to(mgr, dest->id) +
                                           starting));
    guint bandwidth = mgr_min_nonzero(share, cap);

    if (g_strcmp0(policy, "inherit") == 0) {
        policy = cluster->migration_policy;
    }
    if (g_strcmp0(policy, "inherit") == 0) {
        policy = config->migration_policy;
    }
    if (post_copy == DRV_TRISTATE_INHERIT) {
        post_copy = cluster->post_copy;
    }
    json_object_set_string_member(body, "policy", policy);
    if (bandwidth > 0) {
        json_object_set_int_member(body, "bandwidth_mbps", bandwidth);
    }
    mgr_tristate_param(body, "auto_converge", vm->spec->auto_converge,
                       cluster->auto_converge, config->migration_auto_converge);
    mgr_tristate_param(body, "compression", vm->spec->compression,
                       cluster->compression, config->migration_compression);
    json_object_set_boolean_member(body, "post_copy",
                                   post_copy == DRV_TRISTATE_INHERIT
                                       ? config->migration_post_copy
                                       : post_copy == DRV_TRISTATE_TRUE);
    return body;
}

/* The request to the source agent; this migration already counts as running. */
static JsonObject *mgr_queue_agent_request(Mgr *mgr, MgrVm *vm, MgrHost *source,
                                           MgrHost *dest)
{
    JsonObject *body = mgr_queue_migration_settings(mgr, vm, source, dest, 0);

    json_object_set_string_member(body, "destination", dest->address);
    return body;
}

static void mgr_queue_start(Mgr *mgr, MgrMigration *mig, MgrVm *vm,
                            MgrHost *source, MgrHost *dest)
{
    g_autoptr(GStrvBuilder) tried = g_strv_builder_new();
    g_autofree char *path = g_strdup_printf("/v1/vms/%s/migrate", vm->id);
    JsonObject *data = json_object_new();
    MgrMigRun *run;

    g_strv_builder_addv(tried, (const char **)mig->tried_host_ids);
    g_strv_builder_add(tried, dest->id);
    g_strfreev(mig->tried_host_ids);
    mig->tried_host_ids = g_strv_builder_end(tried);
    g_free(mig->destination_host_id);
    mig->destination_host_id = g_strdup(dest->id);
    g_clear_pointer(&mig->agent_migration_id, g_free);
    g_clear_pointer(&mig->progress, json_object_unref);
    mig->attempts++;
    mig->state = MGR_MIGRATION_RUNNING;
    mig->started_us = g_get_real_time();
    if (mig->parameters != NULL) {
        json_object_unref(mig->parameters);
    }
    mig->parameters = mgr_queue_agent_request(mgr, vm, source, dest);
    mgr_save_migration(mgr, mig);
    mgr_set_vm_status(mgr, vm, MGR_VM_MIGRATING, vm->host_id, NULL);
    json_object_set_int_member(data, "attempt", mig->attempts);
    json_object_set_string_member(data, "reason", mig->reason);
    mgr_event(mgr, MGR_SEVERITY_INFO, "vm_migration_started", mig->user,
              mig->correlation_id, vm->id, source->id, mig->id, data,
              "migration of VM %s from host %s to host %s started (%s)",
              vm->spec->name, source->name, dest->name, mig->reason);
    run = mgr_queue_follow(mgr, mig);
    mgr_agent_call(mgr, source, "POST", path, mig->parameters,
                   mgr_queue_on_started, mgr_mig_run_ref(run));
}

/* Whether the only thing in the way is a full set of migration slots. */
static gboolean mgr_queue_would_fit_later(const MgrScheduleRequest *req,
                                          GPtrArray *loads, const char *host_id)
{
    MgrCluster roomy = *req->cluster;
    MgrScheduleRequest wide = *req;
    g_autoptr(GPtrArray) verdicts = NULL;

    roomy.max_incoming_migrations = G_MAXUINT;
    wide.cluster = &roomy;
    verdicts = mgr_scheduler_assess(&wide, loads);
    for (guint i = 0; i < verdicts->len; i++) {
        MgrVerdict *v = g_ptr_array_index(verdicts, i);

        if (v->allowed &&
            (host_id == NULL || g_str_equal(v->host_id, host_id))) {
            return TRUE;
        }
    }
    return FALSE;
}

/* Try to start one queued migration; FALSE when it must wait. */
static void mgr_queue_try(Mgr *mgr, MgrMigration *mig)
{
    MgrVm *vm = g_hash_table_lookup(mgr->vms, mig->vm_id);
    MgrHost *source = NULL;
    MgrCluster *cluster;
    MgrScheduleRequest req;
    g_autoptr(GPtrArray) loads = NULL;
    g_autoptr(GPtrArray) verdicts = NULL;
    g_autoptr(GError) error = NULL;
    MgrVerdict *pick = NULL;
    MgrHost *placed;
    MgrHost *wanted;
    guint limit;

    if (vm == NULL || vm->host_id == NULL ||
        (vm->status != MGR_VM_UP && vm->status != MGR_VM_PAUSED)) {
        error = g_error_new(DRV_ERROR, DRV_ERROR_CONFLICT, "VM %s is %s",
                            mgr_vm_name(mgr, mig->vm_id),
                            vm ? mgr_vm_status_name(vm->status) : "gone");
        mgr_queue_end(mgr, mig, MGR_MIGRATION_FAILED, error, mig->user);
        return;
    }
    if (g_strcmp0(vm->host_id, mig->source_host_id) != 0) {
        g_free(mig->source_host_id);
        mig->source_host_id = g_strdup(vm->host_id);
    }
    source = g_hash_table_lookup(mgr->hosts, vm->host_id);
    cluster = g_hash_table_lookup(mgr->clusters, vm->cluster_id);
    if (source == NULL || cluster == NULL ||
        source->status == MGR_HOST_NON_RESPONSIVE ||
        source->status == MGR_HOST_CONNECTING) {
        return;
    }
    limit = MIN(cluster->max_outgoing_migrations,
                (guint)drv_json_int_or(
                    drv_json_object_or_null(source->facts, "migration"),
                    "max_outgoing", G_MAXINT));
    if (mgr_queue_running_from(mgr, source->id) >= limit) {
        return;
    }
    mgr_schedule_request_init(
        mgr, &req,
        mig->automatic ? MGR_SCHEDULE_AUTOMATIC : MGR_SCHEDULE_MIGRATE, vm);
    loads = mgr_host_loads(mgr, vm->cluster_id);
    /* hosts an earlier attempt failed on are not tried again */
    for (guint i = loads->len; i > 0; i--) {
        MgrHostLoad *load = g_ptr_array_index(loads, i - 1);

        if (mig->tried_host_ids &&
            g_strv_contains((const char *const *)mig->tried_host_ids,
                            load->host->id) &&
            g_strcmp0(load->host->id, mig->requested_host_id) != 0) {
            g_ptr_array_remove_index(loads, i - 1);
        }
    }
    wanted = mig->requested_host_id
                 ? g_hash_table_lookup(mgr->hosts, mig->requested_host_id)
                 : NULL;
    if (mig->requested_host_id != NULL && wanted == NULL) {
        /* the host asked for is gone: no other will do */
        placed = NULL;
        verdicts = mgr_scheduler_assess(&req, loads);
    } else {
        placed = mgr_schedule_place(&req, loads, wanted, &verdicts);
    }
    if (placed != NULL) {
        mgr_queue_start(mgr, mig, vm, source, placed);
        return;
    }
    for (guint i = 0; i < verdicts->len; i++) {
        MgrVerdict *v = g_ptr_array_index(verdicts, i);

        if (mig->requested_host_id
                ? g_str_equal(v->host_id, mig->requested_host_id)
                : v->best) {
            pick = v;
        }
    }
    if (mgr_queue_would_fit_later(&req, loads, mig->requested_host_id)) {
        return;
    }
    if (mig->requested_host_id != NULL && pick != NULL) {
        g_autofree char *why = mgr_join(pick->reasons, "; ");

        error = g_error_new(DRV_ERROR, DRV_ERROR_REFUSED, "%s", why);
    } else {
        g_autofree char *why = mgr_scheduler_explain(&req, verdicts);

        error = g_error_new(DRV_ERROR, DRV_ERROR_REFUSED, "%s", why);
    }
    mgr_queue_end(mgr, mig, MGR_MIGRATION_FAILED, error, mig->user);
}

static gint mgr_queue_order(gconstpointer a, gconstpointer b)
{
    const MgrMigration *ma = *(MgrMigration *const *)a;
    const MgrMigration *mb = *(MgrMigration *const *)b;

    if (ma->priority != mb->priority) {
        return ma->priority > mb->priority ? -1 : 1;
    }
    return ma->seq < mb->seq ? -1 : ma->seq > mb->seq;
}

static gboolean mgr_queue_dispatch(gpointer user_data)
{
    Mgr *mgr = user_data;
    g_autoptr(GPtrArray) queued = g_ptr_array_new();
    g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);
    GHashTableIter iter;
    gpointer value;

    mgr->queue->kick_id = 0;
    g_hash_table_iter_init(&iter, mgr->migrations);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        if (((MgrMigration *)value)->state == MGR_MIGRATION_QUEUED) {
            g_ptr_array_add(queued, value);
        }
    }
    g_ptr_array_sort(queued, mgr_queue_order);
    /* by id: trying one may end (and prune) another */
    for (guint i = 0; i < queued->len; i++) {
        g_ptr_array_add(
            ids, g_strdup(((MgrMigration *)g_ptr_array_index(queued, i))->id));
    }
    for (guint i = 0; i < ids->len; i++) {
        MgrMigration *mig =
            g_hash_table_lookup(mgr->migrations, g_ptr_array_index(ids, i));

        if (mig != NULL && mig->state == MGR_MIGRATION_QUEUED) {
            mgr_queue_try(mgr, mig);
        }
    }
    return G_SOURCE_REMOVE;
}

void mgr_queue_kick(Mgr *mgr)
{
    if (mgr->queue != NULL && mgr->queue->kick_id == 0) {
        mgr->queue->kick_id = g_idle_add(mgr_queue_dispatch, mgr);
    }
}

/* ---- requests ---- */

gboolean mgr_queue_check(Mgr *mgr, MgrVm *vm, MgrHost *host, gboolean automatic,
                         GError **error)
{
    MgrMigration *existing = mgr_vm_active_migration(mgr, vm->id);
    MgrHost *source =
        vm->host_id ? g_hash_table_lookup(mgr->hosts, vm->host_id) : NULL;
    MgrScheduleKind kind =
        automatic ? MGR_SCHEDULE_AUTOMATIC : MGR_SCHEDULE_MIGRATE;
    g_autofree char *why = NULL;

    if (source == NULL ||
        (vm->status != MGR_VM_UP && vm->status != MGR_VM_PAUSED)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_CONFLICT,
                    "VM %s is %s: only a running VM can migrate",
                    vm->spec->name, mgr_vm_status_name(vm->status));
        return FALSE;
    }
    if (existing != NULL) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_CONFLICT,
                    "VM %s already has migration %s %s", vm->spec->name,
                    existing->id, mgr_migration_state_name(existing->state));
        return FALSE;
    }
    why = mgr_scheduler_cannot_migrate(vm, source, kind);
    if (why != NULL) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_REFUSED, "%s", why);
        return FALSE;
    }
    if (host != NULL) {
        MgrScheduleRequest req;
        g_autoptr(GPtrArray) loads = mgr_host_loads(mgr, vm->cluster_id);
        g_autoptr(GPtrArray) verdicts = NULL;
        MgrVerdict *verdict = NULL;

        mgr_schedule_request_init(mgr, &req, kind, vm);
        if (mgr_schedule_place(&req, loads, host, &verdicts) != NULL) {
            return TRUE;
        }
        for (guint i = 0; i < verdicts->len; i++) {
            MgrVerdict *v = g_ptr_array_index(verdicts, i);

            if (g_str_equal(v->host_id, host->id)) {
                verdict = v;
            }
        }
        if (verdict == NULL) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_REFUSED,
                        "host %s is not in the cluster of VM %s", host->name,
                        vm->spec->name);
            return FALSE;
        }
        if (!verdict->allowed &&
            !mgr_queue_would_fit_later(&req, loads, host->id)) {
            g_autofree char *reasons = mgr_join(verdict->reasons, "; ");

            g_set_error(error, DRV_ERROR, DRV_ERROR_REFUSED,
                        "VM %s cannot migrate to host %s: %s", vm->spec->name,
                        host->name, reasons);
            return FALSE;
        }
    }
    return TRUE;
}

MgrMigration *mgr_queue_submit(Mgr *mgr, MgrVm *vm, MgrHost *host,
                               const char *reason, gboolean automatic,
                               const char *user, const char *correlation_id,
                               GError **error)
{
    MgrHost *source;
    MgrMigration *mig;

    if (!mgr_queue_check(mgr, vm, host, automatic, error)) {
        return NULL;
    }
    source = g_hash_table_lookup(mgr->hosts, vm->host_id);
    mig = mgr_migration_new(vm->id, vm->host_id);
    mig->requested_host_id = host ? g_strdup(host->id) : NULL;
    mig->priority = vm->spec->priority;
    g_free(mig->reason);
    mig->reason = g_strdup(reason);
    mig->automatic = automatic;
    g_free(mig->user);
    mig->user = g_strdup(user ? user : MGR_SYSTEM_USER);
    mig->correlation_id = g_strdup(correlation_id ? correlation_id : mig->id);
    g_hash_table_insert(mgr->migrations, g_strdup(mig->id), mig);
    mgr_save_migration(mgr, mig);
    mgr_event(mgr, MGR_SEVERITY_INFO, "vm_migration_queued", mig->user,
              mig->correlation_id, vm->id, source->id, mig->id, NULL,
              "migration of VM %s from host %s to %s%s queued (%s, %s "
              "priority)",
              vm->spec->name, source->name,
              host ? "host " : "the host the scheduler picks",
              host ? host->name : "", reason, drv_priority_name(mig->priority));
    mgr_queue_kick(mgr);
    return mig;
}

gboolean mgr_queue_cancel(Mgr *mgr, MgrMigration *mig, const char *user,
                          GError **error)
{
    MgrMigRun *run;
    const char *phase = drv_json_string_or(mig->progress, "phase", "");

    if (!mgr_migration_is_active(mig)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_CONFLICT,
                    "migration %s has already %s", mig->id,
                    mgr_migration_state_name(mig->state));
        return FALSE;
    }
    if (mig->state == MGR_MIGRATION_QUEUED) {
        mgr_queue_end(mgr, mig, MGR_MIGRATION_CANCELLED, NULL, user);
        return TRUE;
    }
    if (g_str_equal(phase, "finish") || g_str_equal(phase, "confirm")) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_CONFLICT,
                    "migration %s is handing VM %s over to host %s and can "
                    "no longer be cancelled",
                    mig->id, mgr_vm_name(mgr, mig->vm_id),
                    mgr_host_name(mgr, mig->destination_host_id));
        return FALSE;
    }
    run = mgr_queue_follow(mgr, mig);
    if (run->cancel_requested) {
        return TRUE;
    }
    run->cancel_requested = TRUE;
    run->cancel_user = g_strdup(user);
    /* before the agent answered the start, the answer sends the cancel */
    if (mig->agent_migration_id != NULL) {
        mgr_queue_send_cancel(mgr, mig, run);
    }
    return TRUE;
}

/* ---- after a restart ---- */

static void mgr_queue_on_agent_list(GObject *source, GAsyncResult *result,
                                    gpointer user_data)
{
    g_autoptr(MgrMigRun) run = user_data;
    Mgr *mgr = run->mgr;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = drv_http_call_finish(result, NULL, &error);
    MgrMigration *mig = g_hash_table_lookup(mgr->migrations, run->mig_id);
    MgrHost *dest;
    JsonArray *list;

    run->polling = FALSE;
    if (run->stopped || mig == NULL || mig->state != MGR_MIGRATION_RUNNING ||
        node == NULL) {
        /* unreachable: asked again on the next tick */
        return;
    }
    run->resuming = FALSE;
    dest = g_hash_table_lookup(mgr->hosts, mig->destination_host_id);
    list = drv_json_array_or_null(json_node_get_object(node), "migrations");
    for (guint i = 0; list && i < json_array_get_length(list); i++) {
        JsonObject *m = json_array_get_object_element(list, i);

        if (g_strcmp0(drv_json_string_or(m, "vm_id", NULL), mig->vm_id) == 0 &&
            g_strcmp0(drv_json_string_or(m, "role", NULL), "source") == 0 &&
            dest != NULL &&
            g_strcmp0(drv_json_string_or(m, "peer_url", NULL), dest->address) ==
                0 &&
            drv_json_int_or(m, "started_us", 0) >=
                mig->started_us - MGR_QUEUE_ADOPT_WINDOW_US) {
            g_free(mig->agent_migration_id);
            mig->agent_migration_id =
                g_strdup(drv_json_string_or(m, "id", NULL));
            mgr_save_migration(mgr, mig);
            mgr_queue_follow(mgr, mig);
            return;
        }
    }
    error = g_error_new(DRV_ERROR, DRV_ERROR_MIGRATION,
                        "its start was lost while droverd was down");
    mgr_queue_attempt_failed(mgr, mig, error);
}

void mgr_queue_resume(MgrQueue *queue)
{
    Mgr *mgr = queue->mgr;
    GHashTableIter iter;
    gpointer value;

    g_hash_table_iter_init(&iter, mgr->migrations);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        MgrMigration *mig = value;
        MgrMigRun *run;

        if (mig->state != MGR_MIGRATION_RUNNING) {
            continue;
        }
        run = g_new0(MgrMigRun, 1);
        run->ref = 1;
        run->mgr = mgr;
        run->mig_id = g_strdup(mig->id);
        run->resuming = mig->agent_migration_id == NULL;
        g_hash_table_insert(queue->runs, g_strdup(mig->id), run);
        mgr_queue_follow(mgr, mig);
    }
    mgr_queue_kick(mgr);
}
