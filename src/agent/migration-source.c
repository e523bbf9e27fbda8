/*
 * The source side of a live migration: prepare on the destination, perform
 * with QEMU, finish on the destination, confirm by quitting our QEMU.  See
 * migration.h for the protocol and the ownership rules.
 */
#include "agent/hooks.h"
#include "agent/migration-channel.h"
#include "agent/migration.h"
#include "agent/vm.h"
#include "common/error.h"
#include "common/glib-extra.h"
#include "common/json.h"
#include "common/predict.h"

#define AGENT_MIGRATION_THROTTLE_INITIAL 20
#define AGENT_MIGRATION_THROTTLE_INCREMENT 10
#define AGENT_MIGRATION_QEMU_DEFAULT_DOWNTIME_MS 300
#define AGENT_MIGRATION_XBZRLE_MAX (256 * 1024 * 1024)

static void agent_source_fail(AgentMigration *mig, GError *error);
static void agent_source_finish(AgentMigration *mig);
static void agent_source_confirm(AgentMigration *mig);
static void agent_source_perform(AgentMigration *mig);

static AgentVm *agent_source_vm(AgentMigration *mig)
{
    return g_hash_table_lookup(mig->agent->vms, mig->vm_id);
}

/* A QMP command on the migrating VM; fails cleanly if the VM is gone. */
static void agent_source_qmp(AgentMigration *mig, const char *command,
                             JsonObject *args, GAsyncReadyCallback callback,
                             gpointer user_data)
{
    AgentVm *vm = agent_source_vm(mig);

    if (vm == NULL) {
        GTask *task = g_task_new(NULL, NULL, callback, user_data);

        g_task_return_new_error(task, DRV_ERROR, DRV_ERROR_MIGRATION,
                                "VM %s is no longer on this host",
                                mig->vm_name);
        g_object_unref(task);
        return;
    }
    agent_vm_qmp_async(vm, command, args, 0, callback, user_data);
}

/* Both paths of agent_source_qmp() answer through a GTask. */
static JsonNode *agent_source_qmp_finish(GAsyncResult *result, GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}

static void agent_source_on_aborted(AgentMigration *mig, JsonNode *reply,
                                    GError *error)
{
    /* unknown there: prepare never got that far */
    if (error != NULL && drv_error_classify(error) != DRV_ERROR_NOT_FOUND) {
        g_warning("migration %s: destination %s did not abort: %s", mig->id,
                  mig->peer_url, error->message);
    }
}

/* Best effort: the destination also gives up on its own. */
static void agent_source_abort_dest(AgentMigration *mig, const char *reason)
{
    JsonObject *body = json_object_new();

    json_object_set_string_member(body, "reason", reason);
    agent_migration_call_peer(mig, "/abort", body, agent_source_on_aborted);
}

/* ---- ending without a handover: the VM stays here, running ---- */

typedef struct {
    AgentMigration *mig;
    GError *error;
    AgentMigrationStatus status;
} AgentSourceEnd;

static void agent_source_end_free(AgentSourceEnd *end)
{
    agent_migration_unref(end->mig);
    g_clear_error(&end->error);
    g_free(end);
}

static void agent_source_end_here(AgentSourceEnd *end, gboolean running)
{
    AgentMigration *mig = end->mig;
    AgentVm *vm = agent_source_vm(mig);

    if (vm != NULL && vm->state == AGENT_VM_MIGRATING) {
        agent_vm_set_state(vm, running ? AGENT_VM_RUNNING : AGENT_VM_PAUSED,
                           "migration ended; the VM stays on this host");
    }
    agent_source_abort_dest(mig, end->error ? end->error->message
                                            : "migration cancelled");
    agent_migration_end(mig, end->status, end->error);
    agent_source_end_free(end);
}

static void agent_source_on_resumed(GObject *source, GAsyncResult *result,
                                    gpointer user_data)
{
    AgentSourceEnd *end = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = agent_source_qmp_finish(result, &error);

    if (node == NULL) {
        g_warning("migration %s: cannot resume VM %s on the source: %s",
                  end->mig->id, end->mig->vm_name, error->message);
    }
    agent_source_end_here(end, node != NULL);
}

static void agent_source_on_status_checked(GObject *source,
                                           GAsyncResult *result,
                                           gpointer user_data)
{
    AgentSourceEnd *end = user_data;
    g_autoptr(JsonNode) node = agent_source_qmp_finish(result, NULL);
    const char *status = "";

    if (node != NULL) {
        status = drv_json_string_or(json_node_get_object(node), "status", "");
    }
    if (node == NULL || g_str_equal(status, "running") ||
        !end->mig->was_running) {
        agent_source_end_here(end, g_str_equal(status, "running"));
        return;
    }
    /*
     * QEMU restarts the guest after a failed or cancelled migration, but
     * not when it stopped it for good (completed, then refused by the
     * destination) or when a policy paused it.
     */
    g_message("migration %s: resuming VM %s on the source (QEMU says %s)",
              end->mig->id, end->mig->vm_name, status);
    agent_source_qmp(end->mig, "cont", NULL, agent_source_on_resumed, end);
}

/*
 * End the migration with the VM on this host: make sure its guest runs
 * again if it ran before, then release the destination.
 */
static void agent_source_keep_here(AgentMigration *mig,
                                   AgentMigrationStatus status, GError *error)
{
    AgentSourceEnd *end = g_new0(AgentSourceEnd, 1);

    end->mig = agent_migration_ref(mig);
    end->error = error;
    end->status = status;
    if (mig->poll_id) {
        g_source_remove(mig->poll_id);
        mig->poll_id = 0;
    }
    agent_source_qmp(mig, "query-status", NULL, agent_source_on_status_checked,
                     end);
}

/* ---- failing and cancelling during perform ---- */

static void agent_source_on_cancel_sent(GObject *source, GAsyncResult *result,
                                        gpointer user_data)
{
    g_autoptr(AgentMigration) mig = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = agent_source_qmp_finish(result, &error);

    /* the MIGRATION "cancelled" event carries on from here */
    if (node == NULL && mig->phase != AGENT_MIGRATION_ENDED) {
        agent_source_keep_here(mig,
                               mig->cancel_requested ? AGENT_MIGRATION_CANCELLED
                                                     : AGENT_MIGRATION_FAILED,
                               g_steal_pointer(&error));
    }
}

/* Reason a cancelled QEMU migration ended, kept until QEMU confirms. */
#define AGENT_SOURCE_REASON_KEY "drv-cancel-reason"

static void agent_source_cancel_qemu(AgentMigration *mig, GError *reason)
{
    g_free(mig->error_code);
    g_free(mig->error_message);
    mig->error_code = g_strdup(drv_error_code_name(drv_error_classify(reason)));
    mig->error_message = g_strdup(reason->message);
    g_error_free(reason);
    agent_source_qmp(mig, "migrate_cancel", NULL, agent_source_on_cancel_sent,
                     agent_migration_ref(mig));
}

static GError *agent_source_recorded_error(AgentMigration *mig,
                                           DrvErrorCode fallback,
                                           const char *fallback_message)
{
    if (mig->error_message != NULL) {
        return g_error_new_literal(DRV_ERROR,
                                   drv_error_code_from_name(mig->error_code),
                                   mig->error_message);
    }
    return g_error_new_literal(DRV_ERROR, fallback, fallback_message);
}

static void agent_source_fail(AgentMigration *mig, GError *error)
{
    if (mig->phase == AGENT_MIGRATION_ENDED) {
        g_error_free(error);
        return;
    }
    agent_source_keep_here(mig,
                           mig->cancel_requested ? AGENT_MIGRATION_CANCELLED
                                                 : AGENT_MIGRATION_FAILED,
                           error);
}

gboolean agent_migration_cancel(AgentMigration *mig, GError **error)
{
    if (mig->role != AGENT_MIGRATION_SOURCE) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_CONFLICT,
                    "migration %s is incoming: cancel it on its source",
                    mig->id);
        return FALSE;
    }
    if (mig->phase == AGENT_MIGRATION_ENDED) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_CONFLICT,
                    "migration %s has already %s", mig->id,
                    agent_migration_status_name(mig->status));
        return FALSE;
    }
    if (mig->phase >= AGENT_MIGRATION_FINISH) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_CONFLICT,
                    "migration %s is handing the VM over to %s and can no "
                    "longer be cancelled",
                    mig->id, mig->peer_url);
        return FALSE;
    }
    if (mig->cancel_requested) {
        return TRUE;
    }
    mig->cancel_requested = TRUE;
    g_message("migration %s of VM %s: cancel requested in phase %s", mig->id,
              mig->vm_name, agent_migration_phase_name(mig->phase));
    if (mig->qemu_status != NULL && !g_str_equal(mig->qemu_status, "none")) {
        agent_source_cancel_qemu(mig,
                                 g_error_new(DRV_ERROR, DRV_ERROR_CANCELLED,
                                             "migration cancelled by request"));
    } else {
        /* prepare or the steps before migrate: they check the flag */
        g_cancellable_cancel(mig->cancellable);
    }
    return TRUE;
}

static void agent_source_on_postcopy(GObject *source, GAsyncResult *result,
                                     gpointer user_data)
{
    g_autoptr(AgentMigration) mig = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = agent_source_qmp_finish(result, &error);

    if (node == NULL && mig->phase == AGENT_MIGRATION_PERFORM) {
        g_warning("migration %s: migrate-start-postcopy failed: %s", mig->id,
                  error->message);
    }
}

gboolean agent_migration_start_postcopy(AgentMigration *mig, GError **error)
{
    if (mig->role != AGENT_MIGRATION_SOURCE ||
        mig->phase != AGENT_MIGRATION_PERFORM ||
        g_strcmp0(mig->qemu_status, "active") != 0) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_CONFLICT,
                    "migration %s is not in a running pre-copy phase", mig->id);
        return FALSE;
    }
    if (!mig->params.post_copy) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_CONFLICT,
                    "migration %s was started without post-copy allowed",
                    mig->id);
        return FALSE;
    }
    if (!mig->postcopy_armed) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_CONFLICT,
                    "migration %s did not arm post-copy (its policy judged "
                    "it not needed before the stream); it cannot switch "
                    "now",
                    mig->id);
        return FALSE;
    }
    g_message("migration %s of VM %s: switching to post-copy", mig->id,
              mig->vm_name);
    agent_source_qmp(mig, "migrate-start-postcopy", NULL,
                     agent_source_on_postcopy, agent_migration_ref(mig));
    return TRUE;
}

/* ---- carrying out what the policy decides ---- */

#define AGENT_MIGRATION_UNLIMITED_BPS G_GUINT64_CONSTANT(12500000000)
#define AGENT_MIGRATION_XBZRLE_STANDBY (64 * 1024)

/*
 * QEMU's max-bandwidth for a policy's setting: "host" (0) is the share the
 * request granted, else the host's own; "unlimited" and numbers stay under
 * a granted share.
 */
static guint64 agent_source_bandwidth_bps(AgentMigration *mig, guint mbps)
{
    guint cap = mig->params.bandwidth_mbps;

    if (mbps == 0) {
        mbps = cap ? cap : mig->agent->config->migration_bandwidth_mbps;
    } else if (mbps == G_MAXUINT) {
        mbps = cap;
    } else if (cap > 0) {
        mbps = MIN(mbps, cap);
    }
    return mbps == 0 ? AGENT_MIGRATION_UNLIMITED_BPS
                     : (guint64)mbps * 1000 * 1000 / 8;
}

static guint64 agent_pow2_floor(guint64 value)
{
    guint64 out = 1;

    while (out * 2 <= value) {
        out *= 2;
    }
    return out;
}

/* XBZRLE's cache when compression is fully on. */
static gint64 agent_source_xbzrle_cache(AgentMigration *mig)
{
    AgentVm *vm = agent_source_vm(mig);
    guint64 ram = vm ? (guint64)vm->spec->memory_mib * 1024 * 1024
                     : AGENT_MIGRATION_XBZRLE_MAX;

    return (gint64)agent_pow2_floor(
        MAX(MIN(ram / 2, (guint64)AGENT_MIGRATION_XBZRLE_MAX),
            (guint64)AGENT_MIGRATION_XBZRLE_STANDBY));
}

static void agent_source_on_action_done(GObject *source, GAsyncResult *result,
                                        gpointer user_data)
{
    g_autoptr(AgentMigration) mig = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = agent_source_qmp_finish(result, &error);

    if (node == NULL && mig->phase != AGENT_MIGRATION_ENDED) {
        g_warning("migration %s: a policy action failed: %s", mig->id,
                  error->message);
    }
}

static void agent_source_set_parameter(AgentMigration *mig, const char *name,
                                       gint64 value)
{
    g_autoptr(JsonObject) args = json_object_new();

    json_object_set_int_member(args, name, value);
    agent_source_qmp(mig, "migrate-set-parameters", args,
                     agent_source_on_action_done, agent_migration_ref(mig));
}

static void agent_source_record(AgentMigration *mig, const AgentAction *action,
                                const char *note)
{
    JsonObject *entry = json_object_new();

    json_object_set_int_member(entry, "t_ms", mig->progress.elapsed_ms);
    json_object_set_string_member(entry, "action",
                                  agent_action_name(action->kind));
    json_object_set_double_member(entry, "value", action->value);
    json_object_set_string_member(entry, "why", note ? note : action->why);
    json_object_set_boolean_member(entry, "skipped",
                                   action->skipped || note != NULL);
    json_array_add_object_element(mig->actions, entry);
    g_message("migration %s of VM %s: policy %s: %s %g (%s)", mig->id,
              mig->vm_name, mig->params.policy, agent_action_name(action->kind),
              action->value, note ? note : action->why);
}

static void agent_source_apply_one(AgentMigration *mig, AgentAction *action)
{
    const AgentPolicyInitial *initial =
        agent_controller_initial(mig->controller);

    if (action->skipped) {
        agent_source_record(mig, action, NULL);
        return;
    }
    switch (action->kind) {
    case AGENT_ACTION_DOWNTIME:
    case AGENT_ACTION_DOWNTIME_FACTOR:
        agent_source_record(mig, action, NULL);
        agent_source_set_parameter(mig, "downtime-limit",
                                   (gint64)action->value);
        break;
    case AGENT_ACTION_BANDWIDTH: {
        guint64 bps = agent_source_bandwidth_bps(
            mig, action->value > 0 ? (guint)action->value : G_MAXUINT);

        agent_source_record(mig, action, NULL);
        mig->qemu_cap_bps = MIN(mig->qemu_cap_bps, bps);
        agent_source_set_parameter(mig, "max-bandwidth", (gint64)bps);
        break;
    }
    case AGENT_ACTION_AUTO_CONVERGE:
        if (initial->auto_converge == AGENT_CAP_OFF) {
            agent_source_record(mig, action,
                                "skipped: auto-converge was not enabled at "
                                "the start");
            break;
        }
        agent_source_record(mig, action, NULL);
        if (action->value > 0) {
            agent_source_set_parameter(mig, "cpu-throttle-initial",
                                       (gint64)action->value);
        }
        /* QEMU's own trigger: dirtying half as fast as it sends */
        agent_source_set_parameter(mig, "throttle-trigger-threshold", 50);
        break;
    case AGENT_ACTION_COMPRESSION:
        /*
         * QEMU 7.2 keeps the cache a migration starts with: a larger one
         * set now would be reported and never used.
         */
        agent_source_record(
            mig, action,
            initial->compression == AGENT_CAP_OFF
                ? "skipped: XBZRLE was not enabled at the start"
            : initial->compression == AGENT_CAP_STANDBY
                ? "skipped: QEMU keeps the XBZRLE cache a migration starts "
                  "with (standby: 64 KiB); \"compression\": true gives it "
                  "the full cache from the start"
                : "skipped: XBZRLE has had its full cache since the start");
        break;
    case AGENT_ACTION_POSTCOPY: {
        g_autoptr(GError) error = NULL;

        if (!agent_migration_start_postcopy(mig, &error)) {
            agent_source_record(mig, action, error->message);
        } else {
            agent_source_record(mig, action, NULL);
        }
        break;
    }
    case AGENT_ACTION_PAUSE:
        agent_source_record(mig, action, NULL);
        agent_source_qmp(mig, "stop", NULL, agent_source_on_action_done,
                         agent_migration_ref(mig));
        break;
    case AGENT_ACTION_ABORT:
        agent_source_record(mig, action, NULL);
        agent_source_cancel_qemu(
            mig, g_error_new(
                     DRV_ERROR,
                     strstr(action->why, "within") ? DRV_ERROR_TIMEOUT
                                                   : DRV_ERROR_MIGRATION,
                     "policy %s gave up: %s", mig->params.policy, action->why));
        break;
    }
}

static void agent_source_apply(AgentMigration *mig, GPtrArray *actions)
{
    g_autoptr(GPtrArray) owned = actions;

    for (guint i = 0; i < owned->len && mig->phase == AGENT_MIGRATION_PERFORM;
         i++) {
        agent_source_apply_one(mig, g_ptr_array_index(owned, i));
    }
}

/* ---- progress ---- */

/* The best rate QEMU reported for the stream, for links.h. */
static void agent_source_note_rate(AgentMigration *mig)
{
    mig->link_peak_bps =
        MAX(mig->link_peak_bps, mig->progress.throughput_mbps * 1e6 / 8.0);
}

static void agent_source_on_progress(GObject *source, GAsyncResult *result,
                                     gpointer user_data)
{
    g_autoptr(AgentMigration) mig = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = agent_source_qmp_finish(result, &error);
    JsonObject *info;
    const char *status;

    mig->polling = FALSE;
    if (node == NULL || mig->phase == AGENT_MIGRATION_ENDED) {
        return;
    }
    info = json_node_get_object(node);
    agent_migration_progress_update(&mig->progress, info);
    status = mig->progress.qemu_status;
    if (g_strcmp0(status, "active") == 0) {
        agent_source_note_rate(mig);
    }
    agent_event(mig->agent, "migration_progress", agent_migration_to_json(mig));
    /* an event may be lost across a monitor reconnect: the poll decides */
    if (g_strcmp0(status, mig->qemu_status) != 0) {
        g_free(mig->qemu_status);
        mig->qemu_status = g_strdup(status);
        agent_migration_source_on_status(mig, status);
        return;
    }
    if (mig->phase != AGENT_MIGRATION_PERFORM || mig->controller == NULL) {
        return;
    }
    agent_source_apply(mig,
                       agent_controller_step(mig->controller, &mig->progress));
    if (mig->prediction == NULL &&
        agent_controller_prediction(mig->controller) != NULL) {
        mig->prediction =
            json_object_ref(agent_controller_prediction(mig->controller));
    }
}

void agent_migration_source_poll(AgentMigration *mig)
{
    if (mig->polling || mig->phase == AGENT_MIGRATION_ENDED) {
        return;
    }
    mig->polling = TRUE;
    agent_source_qmp(mig, "query-migrate", NULL, agent_source_on_progress,
                     agent_migration_ref(mig));
}

static gboolean agent_source_poll_tick(gpointer user_data)
{
    agent_migration_source_poll(user_data);
    return G_SOURCE_CONTINUE;
}

/* ---- QEMU status changes ---- */

static void agent_source_on_failed_info(GObject *source, GAsyncResult *result,
                                        gpointer user_data)
{
    g_autoptr(AgentMigration) mig = user_data;
    g_autoptr(JsonNode) node = agent_source_qmp_finish(result, NULL);
    const char *desc = NULL;

    if (node != NULL) {
        desc =
            drv_json_string_or(json_node_get_object(node), "error-desc", NULL);
    }
    agent_source_fail(mig, g_error_new(DRV_ERROR, DRV_ERROR_MIGRATION,
                                       "QEMU reports the migration failed: "
                                       "%s",
                                       desc ? desc : "no reason given"));
}

/*
 * Leave the rate this stream reached for the next migration to the same
 * agent (links.h).  Only a tuned stream's figure is taken: on QEMU's own
 * socket it counts what the kernel buffered as sent.  A stream that moved
 * little never reached the link's rate, and one held at QEMU's
 * max-bandwidth measured the cap, not the link.
 */
#define AGENT_SOURCE_LINK_MIN_BYTES (32 * 1024 * 1024)
#define AGENT_SOURCE_LINK_CAPPED 0.8

static void agent_source_learn_link(AgentMigration *mig)
{
    g_autoptr(GError) error = NULL;
    double bps = mig->link_peak_bps;

    if (mig->params.plain_stream || bps <= 0 ||
        mig->progress.transferred_bytes < AGENT_SOURCE_LINK_MIN_BYTES ||
        bps >= (double)mig->qemu_cap_bps * AGENT_SOURCE_LINK_CAPPED) {
        return;
    }
    if (!agent_links_learn(mig->agent->links, mig->peer_url, bps,
                           g_get_real_time(), &error)) {
        g_warning("migration %s: cannot keep the link's rate: %s", mig->id,
                  error->message);
    }
}

static void agent_source_on_final_info(GObject *source, GAsyncResult *result,
                                       gpointer user_data)
{
    g_autoptr(AgentMigration) mig = user_data;
    g_autoptr(JsonNode) node = agent_source_qmp_finish(result, NULL);

    if (node != NULL) {
        JsonObject *info = json_node_get_object(node);

        agent_migration_progress_update(&mig->progress, info);
        mig->qemu_downtime_ms = drv_json_int_or(info, "downtime", 0);
        mig->qemu_total_ms = drv_json_int_or(info, "total-time", 0);
    }
    if (mig->phase == AGENT_MIGRATION_PERFORM) {
        /*
         * QEMU's "mbps" is now its mean over the whole copy: what a short
         * stream, ended between two polls, is measured by
         */
        agent_source_note_rate(mig);
        agent_source_learn_link(mig);
        agent_source_finish(mig);
    }
}

void agent_migration_source_on_status(AgentMigration *mig, const char *status)
{
    if (mig->phase == AGENT_MIGRATION_ENDED) {
        return;
    }
    if (g_str_equal(status, "completed")) {
        if (mig->phase == AGENT_MIGRATION_PERFORM) {
            /* the final figures, then hand over */
            agent_source_qmp(mig, "query-migrate", NULL,
                             agent_source_on_final_info,
                             agent_migration_ref(mig));
        } else if (mig->phase == AGENT_MIGRATION_FINISH && mig->postcopy_used &&
                   mig->resume_us != 0) {
            agent_source_confirm(mig);
        }
    } else if (g_str_equal(status, "postcopy-active")) {
        if (mig->phase == AGENT_MIGRATION_PERFORM) {
            /* the destination must run from now on: the source cannot */
            mig->postcopy_used = TRUE;
            agent_source_learn_link(mig);
            agent_source_finish(mig);
        }
    } else if (g_str_equal(status, "failed")) {
        if (mig->phase == AGENT_MIGRATION_PERFORM) {
            agent_source_qmp(mig, "query-migrate", NULL,
                             agent_source_on_failed_info,
                             agent_migration_ref(mig));
        } else if (mig->postcopy_used) {
            g_autoptr(GError) error = g_error_new_literal(
                DRV_ERROR, DRV_ERROR_MIGRATION,
                "post-copy failed after the switch-over: the VM's memory "
                "is split between the hosts and its guest is paused on the "
                "destination");

            agent_migration_end(mig, AGENT_MIGRATION_FAILED, error);
        }
    } else if (g_str_equal(status, "cancelled")) {
        if (mig->phase == AGENT_MIGRATION_PERFORM) {
            agent_source_fail(mig, agent_source_recorded_error(
                                       mig, DRV_ERROR_CANCELLED,
                                       "migration cancelled in QEMU"));
        }
    } else if (g_str_equal(status, "qemu-exited")) {
        if (mig->phase <= AGENT_MIGRATION_PERFORM) {
            g_autoptr(GError) error = g_error_new_literal(
                DRV_ERROR, DRV_ERROR_MIGRATION,
                "the source QEMU exited during the migration");

            agent_source_abort_dest(mig, error->message);
            agent_migration_end(mig, AGENT_MIGRATION_FAILED, error);
        }
    }
}

/* ---- finish and confirm ---- */

static void agent_source_on_finished(AgentMigration *mig, JsonNode *reply,
                                     GError *error)
{
    g_autoptr(GError) reason = error ? g_error_copy(error) : NULL;

    if (mig->phase == AGENT_MIGRATION_ENDED) {
        return;
    }
    if (reply != NULL && JSON_NODE_HOLDS_OBJECT(reply)) {
        mig->resume_us =
            drv_json_int_or(json_node_get_object(reply), "resume_us", 0);
        if (!mig->postcopy_used ||
            g_strcmp0(mig->qemu_status, "completed") == 0) {
            agent_source_confirm(mig);
        } else {
            agent_migration_save(mig, NULL);
        }
        return;
    }
    if (reason == NULL) {
        reason = g_error_new(DRV_ERROR, DRV_ERROR_REMOTE,
                             "destination %s gave no answer to finish",
                             mig->peer_url);
    }
    if (agent_migration_error_is_transport(reason) || mig->postcopy_used) {
        AgentVm *vm = agent_source_vm(mig);

        /*
         * We cannot tell whether the destination resumed the guest: leave
         * ours stopped rather than risk it running twice.
         */
        g_prefix_error(&reason,
                       "%s: the VM stays paused on %s until an "
                       "administrator resumes it on one host: ",
                       mig->postcopy_used ? "post-copy handover failed"
                                          : "finish not confirmed",
                       mig->agent->config->name);
        if (vm != NULL && vm->state == AGENT_VM_MIGRATING) {
            agent_vm_set_state(vm, AGENT_VM_PAUSED, reason->message);
        }
        agent_migration_end(mig, AGENT_MIGRATION_FAILED, reason);
        return;
    }
    /* the destination refused and did not resume: the VM stays here */
    g_prefix_error(&reason,
                   "destination %s refused to finish: ", mig->peer_url);
    agent_source_keep_here(mig, AGENT_MIGRATION_FAILED,
                           g_steal_pointer(&reason));
}

/* Ask the destination to resume the guest (again, after a restart). */
static void agent_source_send_finish(AgentMigration *mig)
{
    JsonObject *body = json_object_new();

    json_object_set_boolean_member(body, "postcopy", mig->postcopy_used);
    agent_migration_call_peer(mig, "/finish", body, agent_source_on_finished);
}

static void agent_source_finish(AgentMigration *mig)
{
    if (mig->poll_id && !mig->postcopy_used) {
        g_source_remove(mig->poll_id);
        mig->poll_id = 0;
    }
    agent_migration_set_phase(mig, AGENT_MIGRATION_FINISH);
    agent_source_send_finish(mig);
}

static void agent_source_on_quit(GObject *source, GAsyncResult *result,
                                 gpointer user_data)
{
    g_autoptr(AgentMigration) mig = user_data;
    AgentVm *vm = agent_source_vm(mig);

    if (vm != NULL) {
        agent_migration_run_hooks(mig, "after_vm_migrate_source", vm->spec,
                                  NULL, NULL, NULL);
        agent_vm_remove(vm);
    }
    agent_migration_end(mig, AGENT_MIGRATION_COMPLETED, NULL);
}

static void agent_source_confirm(AgentMigration *mig)
{
    AgentVm *vm = agent_source_vm(mig);
    g_autofree char *reason = g_strdup_printf(
        "migrated to %s", mig->peer_name ? mig->peer_name : mig->peer_url);

    if (mig->phase != AGENT_MIGRATION_CONFIRM) {
        agent_migration_set_phase(mig, AGENT_MIGRATION_CONFIRM);
    }
    if (vm == NULL) {
        agent_migration_end(mig, AGENT_MIGRATION_COMPLETED, NULL);
        return;
    }
    /* a guest paused before the migration sees no pause of it */
    if (mig->stop_us == 0 && mig->was_running) {
        mig->stop_us = vm->last_stop_us;
    }
    agent_vm_kill_async(vm, reason, agent_source_on_quit,
                        agent_migration_ref(mig));
}

/* ---- perform ---- */

static void agent_source_on_migrate(GObject *source, GAsyncResult *result,
                                    gpointer user_data)
{
    g_autoptr(AgentMigration) mig = user_data;
    GError *error = NULL;
    g_autoptr(JsonNode) node = agent_source_qmp_finish(result, &error);

    if (node == NULL) {
        agent_source_fail(mig, error);
        return;
    }
    if (mig->qemu_status == NULL) {
        mig->qemu_status = g_strdup("setup");
    }
    mig->poll_id =
        g_timeout_add(AGENT_MIGRATION_POLL_MS, agent_source_poll_tick, mig);
    if (mig->cancel_requested) {
        agent_source_cancel_qemu(mig,
                                 g_error_new(DRV_ERROR, DRV_ERROR_CANCELLED,
                                             "migration cancelled by request"));
    }
}

/* Between two steps of the start: a cancel ends the migration here. */
static gboolean agent_source_cancelled(AgentMigration *mig)
{
    if (!mig->cancel_requested) {
        return FALSE;
    }
    agent_source_fail(mig, g_error_new(DRV_ERROR, DRV_ERROR_CANCELLED,
                                       "migration cancelled by request"));
    return TRUE;
}

static void agent_source_on_getfd(GObject *source, GAsyncResult *result,
                                  gpointer user_data)
{
    g_autoptr(AgentMigration) mig = user_data;
    GError *error = NULL;
    g_autoptr(JsonNode) node = agent_source_qmp_finish(result, &error);
    g_autoptr(JsonObject) args = json_object_new();

    if (node == NULL) {
        agent_source_fail(mig, error);
        return;
    }
    if (agent_source_cancelled(mig)) {
        return;
    }
    json_object_set_string_member(args, "uri",
                                  "fd:" AGENT_MIGRATION_CHANNEL_FDNAME);
    agent_source_qmp(mig, "migrate", args, agent_source_on_migrate,
                     agent_migration_ref(mig));
}

/* Connected: QEMU gets its own copy, ours closes when we let go. */
static void agent_source_on_channel(GObject *source, GAsyncResult *result,
                                    gpointer user_data)
{
    g_autoptr(AgentMigration) mig = user_data;
    GError *error = NULL;
    g_autoptr(GSocketConnection) conn =
        agent_migration_channel_connect_finish(result, &error);
    g_autoptr(JsonObject) args = json_object_new();
    AgentVm *vm = agent_source_vm(mig);
    int fd;

    if (conn == NULL) {
        agent_source_fail(mig, error);
        return;
    }
    if (vm == NULL) {
        agent_source_fail(mig, g_error_new(DRV_ERROR, DRV_ERROR_MIGRATION,
                                           "VM %s is no longer on this host",
                                           mig->vm_name));
        return;
    }
    fd = g_socket_get_fd(g_socket_connection_get_socket(conn));
    /* read back, not assumed: the result says what the stream really had */
    mig->stream_notsent_lowat = agent_migration_channel_notsent_lowat(fd);
    json_object_set_string_member(args, "fdname",
                                  AGENT_MIGRATION_CHANNEL_FDNAME);
    agent_vm_qmp_with_fd_async(vm, "getfd", args, fd, 0, agent_source_on_getfd,
                               agent_migration_ref(mig));
}

static void agent_source_on_parameters(GObject *source, GAsyncResult *result,
                                       gpointer user_data)
{
    g_autoptr(AgentMigration) mig = user_data;
    GError *error = NULL;
    g_autoptr(JsonNode) node = agent_source_qmp_finish(result, &error);

    if (node == NULL) {
        agent_source_fail(mig, error);
        return;
    }
    if (agent_source_cancelled(mig)) {
        return;
    }
    if (mig->params.plain_stream) {
        g_autoptr(JsonObject) args = json_object_new();
        g_autofree char *uri =
            strchr(mig->address, ':')
                ? g_strdup_printf("tcp:[%s]:%u", mig->address, mig->port)
                : g_strdup_printf("tcp:%s:%u", mig->address, mig->port);

        mig->stream_notsent_lowat = -1;
        json_object_set_string_member(args, "uri", uri);
        agent_source_qmp(mig, "migrate", args, agent_source_on_migrate,
                         agent_migration_ref(mig));
        return;
    }
    agent_migration_channel_connect_async(
        mig->address, mig->port, mig->cancellable, agent_source_on_channel,
        agent_migration_ref(mig));
}

static void agent_source_on_capabilities(GObject *source, GAsyncResult *result,
                                         gpointer user_data)
{
    g_autoptr(AgentMigration) mig = user_data;
    GError *error = NULL;
    g_autoptr(JsonNode) node = agent_source_qmp_finish(result, &error);
    g_autoptr(JsonObject) args = json_object_new();
    const AgentPolicyInitial *initial =
        agent_controller_initial(mig->controller);

    if (node == NULL) {
        agent_source_fail(mig, error);
        return;
    }
    /*
     * Every parameter is set, not only the policy's: an earlier migration
     * attempt of this QEMU may have left others behind.
     */
    json_object_set_int_member(args, "downtime-limit", initial->downtime_ms);
    mig->qemu_cap_bps =
        agent_source_bandwidth_bps(mig, initial->bandwidth_mbps);
    json_object_set_int_member(args, "max-bandwidth",
                               (gint64)mig->qemu_cap_bps);
    json_object_set_int_member(args, "cpu-throttle-initial",
                               initial->throttle_initial
                                   ? initial->throttle_initial
                                   : AGENT_MIGRATION_THROTTLE_INITIAL);
    json_object_set_int_member(args, "cpu-throttle-increment",
                               AGENT_MIGRATION_THROTTLE_INCREMENT);
    /* standby: throttle only when the guest outruns the link outright */
    json_object_set_int_member(
        args, "throttle-trigger-threshold",
        initial->auto_converge == AGENT_CAP_STANDBY ? 100 : 50);
    if (initial->compression != AGENT_CAP_OFF) {
        mig->xbzrle_cache_bytes = initial->compression == AGENT_CAP_ON
                                      ? agent_source_xbzrle_cache(mig)
                                      : AGENT_MIGRATION_XBZRLE_STANDBY;
        json_object_set_int_member(args, "xbzrle-cache-size",
                                   mig->xbzrle_cache_bytes);
    }
    agent_source_qmp(mig, "migrate-set-parameters", args,
                     agent_source_on_parameters, agent_migration_ref(mig));
}

static void agent_add_capability(JsonArray *caps, const char *name,
                                 gboolean state)
{
    JsonObject *cap = json_object_new();

    json_object_set_string_member(cap, "capability", name);
    json_object_set_boolean_member(cap, "state", state);
    json_array_add_object_element(caps, cap);
}

/*
 * The link this migration will meet, in bytes/s: the bandwidth granted,
 * or less where an earlier stream to the same agent measured less.
 */
static double agent_source_link_bps(AgentMigration *mig, gboolean *measured)
{
    const AgentPolicyInitial *initial =
        agent_controller_initial(mig->controller);
    guint64 granted = agent_source_bandwidth_bps(mig, initial->bandwidth_mbps);
    double seen;

    if (granted == AGENT_MIGRATION_UNLIMITED_BPS) {
        granted = (guint64)mig->agent->config->migration_bandwidth_mbps * 1000 *
                  1000 / 8;
    }
    *measured = agent_links_lookup(mig->agent->links, mig->peer_url,
                                   g_get_real_time(), &seen, NULL) &&
                seen < (double)granted;
    return *measured ? seen : (double)granted;
}

/* The dirty rate the plan is made for: a paused guest dirties nothing. */
static double agent_source_plan_dirty_bps(AgentMigration *mig)
{
    return mig->was_running ? (double)mig->sampled_dirty_bps : 0.0;
}

/*
 * Whether postcopy-ram goes on, decided once before the stream: the
 * prediction, made first when there is a sample, and the arming share one
 * answer, so a prediction never counts on a switch the migration cannot
 * make.
 */
static gboolean agent_source_postcopy_plan(AgentMigration *mig, double link)
{
    if (mig->postcopy_why != NULL) {
        return mig->postcopy_plan;
    }
    if (mig->was_running) {
        mig->postcopy_plan = agent_controller_postcopy_wanted(
            mig->controller, agent_source_plan_dirty_bps(mig), link,
            &mig->postcopy_why);
    } else {
        mig->postcopy_plan = FALSE;
        mig->postcopy_why = g_strdup("the guest is paused: pre-copy moves it "
                                     "whole, post-copy would run it");
    }
    return mig->postcopy_plan;
}

/* What QEMU's capabilities fix for the whole migration, decided at once. */
static void agent_source_plan_capabilities(AgentMigration *mig)
{
    gboolean measured;
    double link = agent_source_link_bps(mig, &measured);
    g_autofree char *compression_why = NULL;

    mig->postcopy_armed = agent_source_postcopy_plan(mig, link);
    agent_controller_arm_postcopy(mig->controller, mig->postcopy_armed);
    if (mig->params.post_copy) {
        g_message("migration %s of VM %s: post-copy %s: %s", mig->id,
                  mig->vm_name, mig->postcopy_armed ? "armed" : "not armed",
                  mig->postcopy_why);
    }
    agent_controller_plan_compression(mig->controller,
                                      agent_source_plan_dirty_bps(mig), link,
                                      &compression_why);
    if (compression_why != NULL) {
        g_message("migration %s of VM %s: XBZRLE %s: %s", mig->id, mig->vm_name,
                  agent_controller_initial(mig->controller)->compression ==
                          AGENT_CAP_ON
                      ? "on"
                      : "off",
                  compression_why);
    }
}

static void agent_source_on_before_hooks(GObject *source, GAsyncResult *result,
                                         gpointer user_data)
{
    g_autoptr(AgentMigration) mig = user_data;
    GError *error = NULL;
    g_autoptr(JsonObject) args = json_object_new();
    JsonArray *caps = json_array_new();
    const AgentPolicyInitial *initial;

    if (!agent_hooks_run_finish(result, &error)) {
        agent_source_fail(mig, error);
        return;
    }
    if (agent_source_cancelled(mig)) {
        json_array_unref(caps);
        return;
    }
    agent_source_plan_capabilities(mig);
    initial = agent_controller_initial(mig->controller);
    agent_add_capability(caps, "events", TRUE);
    agent_add_capability(caps, "auto-converge",
                         initial->auto_converge != AGENT_CAP_OFF);
    agent_add_capability(caps, "xbzrle", initial->compression != AGENT_CAP_OFF);
    agent_add_capability(caps, "postcopy-ram", mig->postcopy_armed);
    json_object_set_array_member(args, "capabilities", caps);
    agent_source_qmp(mig, "migrate-set-capabilities", args,
                     agent_source_on_capabilities, agent_migration_ref(mig));
}

static void agent_source_perform(AgentMigration *mig)
{
    AgentVm *vm = agent_source_vm(mig);

    if (vm == NULL) {
        agent_source_fail(mig, g_error_new(DRV_ERROR, DRV_ERROR_MIGRATION,
                                           "VM %s is no longer on this host",
                                           mig->vm_name));
        return;
    }
    agent_migration_run_hooks(mig, "before_vm_migrate_source", vm->spec,
                              mig->cancellable, agent_source_on_before_hooks,
                              agent_migration_ref(mig));
}

/* ---- start and prepare ---- */

/*
 * The controller that drives @mig: @policy, with what the request asked
 * for explicitly (downtime, compression, auto-converge) over it.
 */
static void agent_source_controller(AgentMigration *mig, AgentVm *vm,
                                    const AgentPolicy *policy)
{
    AgentControllerContext ctx = {0};
    AgentPolicyInitial *initial;

    ctx.post_copy_allowed = mig->params.post_copy;
    ctx.cap_mbps = mig->params.bandwidth_mbps;
    ctx.memory_bytes = (guint64)vm->spec->memory_mib * 1024 * 1024;
    ctx.timeout_s = mig->params.timeout_s
                        ? mig->params.timeout_s
                        : mig->agent->config->migration_timeout_s;
    ctx.post_copy_after_passes = mig->params.post_copy_after_passes;
    mig->controller = agent_controller_new(policy, &ctx);
    initial = agent_controller_initial_mut(mig->controller);
    if (mig->params.downtime_ms > 0) {
        initial->downtime_ms = mig->params.downtime_ms;
    }
    if (mig->params.auto_converge != DRV_TRISTATE_INHERIT) {
        initial->auto_converge = mig->params.auto_converge == DRV_TRISTATE_TRUE
                                     ? AGENT_CAP_ON
                                     : AGENT_CAP_OFF;
    }
    if (mig->params.compression != DRV_TRISTATE_INHERIT) {
        initial->compression = mig->params.compression == DRV_TRISTATE_TRUE
                                   ? AGENT_CAP_ON
                                   : AGENT_CAP_OFF;
    }
}

static void agent_source_on_prepared(GObject *source, GAsyncResult *result,
                                     gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    AgentMigration *mig = g_task_get_task_data(task);
    GError *error = NULL;
    g_autoptr(JsonNode) node = drv_http_call_finish(result, NULL, &error);
    JsonObject *reply;

    if (node == NULL && error == NULL) {
        error = g_error_new(DRV_ERROR, DRV_ERROR_REMOTE,
                            "destination %s answered prepare with nothing",
                            mig->peer_url);
    }
    if (error == NULL && mig->cancel_requested) {
        error = g_error_new(DRV_ERROR, DRV_ERROR_CANCELLED,
                            "migration cancelled by request");
    }
    if (error != NULL) {
        AgentVm *vm = agent_source_vm(mig);

        if (mig->cancel_requested &&
            g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
            g_clear_error(&error);
            error = g_error_new(DRV_ERROR, DRV_ERROR_CANCELLED,
                                "migration cancelled by request");
        }
        if (vm != NULL && vm->state == AGENT_VM_MIGRATING) {
            agent_vm_set_state(
                vm, mig->was_running ? AGENT_VM_RUNNING : AGENT_VM_PAUSED,
                "migration refused in prepare");
        }
        /* prepare may have gone through on the destination anyway */
        if (mig->cancel_requested ||
            agent_migration_error_is_transport(error)) {
            agent_source_abort_dest(mig, error->message);
        }
        agent_migration_end(mig,
                            mig->cancel_requested ? AGENT_MIGRATION_CANCELLED
                                                  : AGENT_MIGRATION_FAILED,
                            error);
        g_task_return_error(task, error);
        return;
    }
    reply = JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
    mig->address = g_strdup(drv_json_string_or(reply, "address", NULL));
    mig->port = (guint)drv_json_int_or(reply, "port", 0);
    mig->peer_name = g_strdup(drv_json_string_or(reply, "host", NULL));
    mig->dest_ram = g_strdup(drv_json_string_or(reply, "ram", NULL));
    if (mig->address == NULL || mig->port == 0 || mig->port > 65535) {
        error = g_error_new(DRV_ERROR, DRV_ERROR_REMOTE,
                            "destination %s gave no migration address",
                            mig->peer_url);
        agent_source_abort_dest(mig, error->message);
        agent_source_keep_here(mig, AGENT_MIGRATION_FAILED,
                               g_error_copy(error));
        g_task_return_error(task, error);
        return;
    }
    agent_migration_set_phase(mig, AGENT_MIGRATION_PERFORM);
    g_task_return_pointer(task, agent_migration_ref(mig),
                          (GDestroyNotify)agent_migration_unref);
    if (mig->sampling) {
        mig->perform_after_sample = TRUE;
        return;
    }
    agent_source_perform(mig);
}

static gboolean agent_source_check(Agent *agent, AgentVm *vm,
                                   const char *destination,
                                   const AgentMigrationParams *params,
                                   GError **error)
{
    g_autoptr(GUri) uri = NULL;

    if (vm->state != AGENT_VM_RUNNING && vm->state != AGENT_VM_PAUSED) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_CONFLICT,
                    "VM %s is %s: only a running or paused VM can migrate",
                    vm->spec->name, agent_vm_state_name(vm->state));
        return FALSE;
    }
    if (vm->spec->migration_mode == DRV_MIGRATION_MODE_DISABLED) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_CONFLICT,
                    "VM %s has migration disabled", vm->spec->name);
        return FALSE;
    }
    if (params->post_copy && vm->spec->post_copy == DRV_TRISTATE_FALSE) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "VM %s does not allow post-copy migration", vm->spec->name);
        return FALSE;
    }
    uri = g_uri_parse(destination, G_URI_FLAGS_NONE, NULL);
    if (uri == NULL || g_uri_get_host(uri) == NULL ||
        (g_strcmp0(g_uri_get_scheme(uri), "http") != 0 &&
         g_strcmp0(g_uri_get_scheme(uri), "https") != 0)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "migrate: 'destination' must be an agent URL like "
                    "http://127.0.1.2:7001, not '%s'",
                    destination);
        return FALSE;
    }
    if (g_str_equal(destination, agent->config->url) ||
        (g_uri_get_port(uri) == (gint)drv_http_server_get_port(agent->server) &&
         g_strcmp0(g_uri_get_host(uri), agent->config->migration_address) ==
             0)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_SAME_HOST,
                    "destination %s is this host (%s)", destination,
                    agent->config->name);
        return FALSE;
    }
    if (agent_migration_count_active(agent, AGENT_MIGRATION_SOURCE) >=
        agent->config->max_outgoing_migrations) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_BUSY,
                    "host %s already runs %u outgoing migrations (its "
                    "limit)",
                    agent->config->name,
                    agent->config->max_outgoing_migrations);
        return FALSE;
    }
    return TRUE;
}

/*
 * A migration gets a prediction before its stream: from the VM's recent
 * dirty-rate sample (a background one, or the one an estimate took), or
 * from one taken while the destination prepares.  The stream waits for it:
 * a sample still running as QEMU starts its scan races it.  The sample's
 * reads also fault in guest RAM the guest never touched, so the scan then
 * costs no page fault per page; the destination faults in its own RAM
 * likewise while it prepares, or it could not keep up and would finish
 * loading inside the guest's pause (docs/agent.md).
 */
#define AGENT_SOURCE_SAMPLE_MAX_AGE_US (300 * G_USEC_PER_SEC)

static void agent_source_predict(AgentMigration *mig, AgentVm *vm, gint64 rate,
                                 gint64 age_us)
{
    gboolean measured;
    DrvPredictInput in = {0};
    DrvPrediction pred;

    mig->sampled_dirty_bps = rate;
    in.data_bytes = (double)vm->spec->memory_mib * 1024 * 1024;
    in.working_set_bytes = in.data_bytes;
    in.dirty_rate_bps = agent_source_plan_dirty_bps(mig);
    in.link_bps = agent_source_link_bps(mig, &measured);
    in.downtime_ms = agent_controller_downtime(mig->controller);
    agent_controller_means(mig->controller, &in.post_copy, &in.throttle);
    in.post_copy = in.post_copy && agent_source_postcopy_plan(mig, in.link_bps);
    in.max_throttle = 0.9;
    drv_predict(&in, &pred);
    mig->prediction = drv_prediction_to_json(&in, &pred);
    json_object_set_string_member(mig->prediction, "basis",
                                  "dirty-rate sample");
    json_object_set_string_member(mig->prediction, "link_basis",
                                  measured ? "measured" : "granted");
    json_object_set_int_member(mig->prediction, "sample_age_s",
                               age_us / G_USEC_PER_SEC);
    json_object_set_int_member(mig->prediction, "at_ms",
                               (g_get_real_time() - mig->started_us) / 1000);
}

static void agent_source_on_sampled(GObject *source, GAsyncResult *result,
                                    gpointer user_data)
{
    g_autoptr(AgentMigration) mig = user_data;
    g_autoptr(GError) error = NULL;
    gint64 rate = agent_vm_dirty_rate_finish(NULL, result, &error);
    AgentVm *vm = agent_source_vm(mig);

    mig->sampling = FALSE;
    if (mig->phase == AGENT_MIGRATION_ENDED) {
        return;
    }
    /* a prediction is a nicety: the migration goes on without one */
    if (rate >= 0 && vm != NULL && mig->controller != NULL &&
        mig->prediction == NULL) {
        agent_source_predict(mig, vm, rate, 0);
    }
    /* a cancel while the prepared migration waited ends it here */
    if (mig->perform_after_sample) {
        mig->perform_after_sample = FALSE;
        if (!agent_source_cancelled(mig)) {
            agent_source_perform(mig);
        }
    }
}

static void agent_source_start_prediction(AgentMigration *mig, AgentVm *vm)
{
    gint64 rate;

    if (agent_vm_dirty_rate_recent(vm, AGENT_SOURCE_SAMPLE_MAX_AGE_US, &rate)) {
        agent_source_predict(mig, vm, rate,
                             g_get_real_time() - vm->dirty_rate_us);
    } else if (mig->was_running && !mig->params.plain_stream) {
        mig->sampling = TRUE;
        agent_vm_dirty_rate_async(vm, AGENT_MIGRATION_SAMPLE_S,
                                  agent_source_on_sampled,
                                  agent_migration_ref(mig));
    }
}

void agent_migration_start_async(Agent *agent, AgentVm *vm, JsonObject *request,
                                 GAsyncReadyCallback callback,
                                 gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(NULL, NULL, callback, user_data);
    static const char *const known[] = {"destination",
                                        "policy",
                                        "downtime_ms",
                                        "bandwidth_mbps",
                                        "auto_converge",
                                        "compression",
                                        "post_copy",
                                        "post_copy_after_passes",
                                        "timeout_s",
                                        "stream_tuning",
                                        NULL};
    g_auto(AgentMigrationParams) params = {0};
    GError *error = NULL;
    const char *destination = NULL;
    g_autofree char *dest = NULL;
    AgentMigration *mig;
    g_autoptr(JsonObject) body = NULL;
    g_autoptr(JsonObject) src = NULL;
    g_autofree char *url = NULL;
    g_autoptr(AgentPolicy) policy = NULL;

    g_task_set_source_tag(task, agent_migration_start_async);
    if (!drv_json_check_members(request, "migrate", known, &error) ||
        !drv_json_get_string(request, "migrate", "destination", TRUE,
                             &destination, &error) ||
        !agent_migration_params_parse(request, &params, &error) ||
        (policy = agent_policy_from_json(
             json_object_get_member(request, "policy"), &error)) == NULL) {
        g_task_return_error(task, error);
        return;
    }
    params.policy = g_strdup(policy->name);
    dest = g_strdup(destination);
    /* "http://host:port/" and "http://host:port" are the same agent */
    while (g_str_has_suffix(dest, "/")) {
        dest[strlen(dest) - 1] = '\0';
    }
    if (!agent_source_check(agent, vm, dest, &params, &error)) {
        g_task_return_error(task, error);
        return;
    }
    mig = agent_migration_new(agent, AGENT_MIGRATION_SOURCE, NULL, vm);
    mig->peer_url = g_steal_pointer(&dest);
    mig->params = params;
    memset(&params, 0, sizeof(params));
    /* after the parameters: the request's own settings go over the policy */
    agent_source_controller(mig, vm, policy);
    mig->policy = g_steal_pointer(&policy);
    mig->was_running = vm->state == AGENT_VM_RUNNING;
    mig->cancellable = g_cancellable_new();
    g_hash_table_insert(agent->migrations, g_strdup(mig->id), mig);
    g_task_set_task_data(task, agent_migration_ref(mig),
                         (GDestroyNotify)agent_migration_unref);
    vm->migration = mig;
    agent_vm_set_state(vm, AGENT_VM_MIGRATING, "migration started");
    agent_migration_save(mig, NULL);
    g_message("migration %s of VM %s to %s: prepare", mig->id, vm->spec->name,
              mig->peer_url);
    agent_event(agent, "migration_started", agent_migration_to_json(mig));
    agent_source_start_prediction(mig, vm);

    body = json_object_new();
    src = json_object_new();
    json_object_set_string_member(body, "migration_id", mig->id);
    json_object_set_object_member(body, "spec", drv_vm_spec_to_json(vm->spec));
    json_object_set_string_member(body, "machine", vm->machine);
    json_object_set_int_member(body, "ram_kib", (gint64)vm->ram_kib);
    json_object_set_boolean_member(body, "post_copy", mig->params.post_copy);
    json_object_set_boolean_member(body, "was_running", mig->was_running);
    json_object_set_boolean_member(body, "stream_tuning",
                                   !mig->params.plain_stream);
    json_object_set_string_member(src, "host_id", agent->host_id);
    json_object_set_string_member(src, "name", agent->config->name);
    json_object_set_string_member(src, "url", agent->config->url);
    json_object_set_object_member(body, "source", g_steal_pointer(&src));
    url = g_strdup_printf("%s/v1/incoming", mig->peer_url);
    drv_http_call_async(agent->session, "POST", url, body,
                        AGENT_MIGRATION_PREPARE_TIMEOUT_MS, mig->cancellable,
                        agent_source_on_prepared, g_steal_pointer(&task));
}

AgentMigration *agent_migration_start_finish(GAsyncResult *result,
                                             GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}

/* ---- recovery after an agent restart ---- */

static void agent_source_on_recover_info(GObject *source, GAsyncResult *result,
                                         gpointer user_data)
{
    g_autoptr(AgentMigration) mig = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = agent_source_qmp_finish(result, &error);
    const char *status;

    if (node == NULL) {
        agent_source_fail(mig, g_error_new(DRV_ERROR, DRV_ERROR_MIGRATION,
                                           "agent restarted during the "
                                           "migration and cannot query "
                                           "QEMU: %s",
                                           error->message));
        return;
    }
    status = drv_json_string_or(json_node_get_object(node), "status", "none");
    agent_migration_progress_update(&mig->progress, json_node_get_object(node));
    g_free(mig->qemu_status);
    mig->qemu_status = g_strdup(status);
    g_message("migration %s: QEMU reports '%s' after the agent restart",
              mig->id, status);
    if (g_str_equal(status, "completed")) {
        agent_source_finish(mig);
    } else if (g_str_equal(status, "postcopy-active") ||
               g_str_equal(status, "postcopy-paused") ||
               g_str_equal(status, "postcopy-recover")) {
        mig->postcopy_used = TRUE;
        mig->poll_id =
            g_timeout_add(AGENT_MIGRATION_POLL_MS, agent_source_poll_tick, mig);
        agent_source_finish(mig);
    } else if (g_str_equal(status, "failed") ||
               g_str_equal(status, "cancelled") ||
               g_str_equal(status, "none")) {
        agent_source_fail(mig, g_error_new(DRV_ERROR, DRV_ERROR_MIGRATION,
                                           "agent restarted during the "
                                           "migration; QEMU says '%s'",
                                           status));
    } else {
        mig->poll_id =
            g_timeout_add(AGENT_MIGRATION_POLL_MS, agent_source_poll_tick, mig);
        agent_source_cancel_qemu(
            mig, g_error_new(DRV_ERROR, DRV_ERROR_MIGRATION,
                             "agent restarted during the migration"));
    }
}

void agent_migration_source_recover(AgentMigration *mig)
{
    AgentVm *vm = agent_source_vm(mig);

    switch (mig->phase) {
    case AGENT_MIGRATION_PREPARE:
        mig->cancellable =
            mig->cancellable ? mig->cancellable : g_cancellable_new();
        agent_source_fail(mig, g_error_new(DRV_ERROR, DRV_ERROR_MIGRATION,
                                           "agent restarted during "
                                           "prepare"));
        break;
    case AGENT_MIGRATION_PERFORM:
        if (vm == NULL || vm->pid <= 0) {
            g_autoptr(GError) error = g_error_new_literal(
                DRV_ERROR, DRV_ERROR_MIGRATION,
                "the source QEMU is gone after an agent restart");

            agent_source_abort_dest(mig, error->message);
            agent_migration_end(mig, AGENT_MIGRATION_FAILED, error);
            break;
        }
        mig->cancellable = g_cancellable_new();
        agent_source_qmp(mig, "query-migrate", NULL,
                         agent_source_on_recover_info,
                         agent_migration_ref(mig));
        break;
    case AGENT_MIGRATION_FINISH:
        agent_source_send_finish(mig);
        break;
    case AGENT_MIGRATION_CONFIRM:
        agent_source_confirm(mig);
        break;
    case AGENT_MIGRATION_ENDED:
        break;
    }
}
