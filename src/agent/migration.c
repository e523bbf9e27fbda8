#include "agent/migration.h"

#include <glib/gstdio.h>

#include "agent/hooks.h"
#include "agent/vm.h"
#include "common/error.h"
#include "common/fileutil.h"
#include "common/glib-extra.h"
#include "common/json.h"

static const char *const agent_role_names[] = {
    [AGENT_MIGRATION_SOURCE] = "source",
    [AGENT_MIGRATION_DESTINATION] = "destination",
};

static const char *const agent_phase_names[] = {
    [AGENT_MIGRATION_PREPARE] = "prepare",
    [AGENT_MIGRATION_PERFORM] = "perform",
    [AGENT_MIGRATION_FINISH] = "finish",
    [AGENT_MIGRATION_CONFIRM] = "confirm",
    [AGENT_MIGRATION_ENDED] = "ended",
};

static const char *const agent_status_names[] = {
    [AGENT_MIGRATION_ACTIVE] = "active",
    [AGENT_MIGRATION_COMPLETED] = "completed",
    [AGENT_MIGRATION_FAILED] = "failed",
    [AGENT_MIGRATION_CANCELLED] = "cancelled",
};

const char *agent_migration_role_name(AgentMigrationRole role)
{
    return agent_role_names[role];
}

const char *agent_migration_phase_name(AgentMigrationPhase phase)
{
    return agent_phase_names[phase];
}

const char *agent_migration_status_name(AgentMigrationStatus status)
{
    return agent_status_names[status];
}

static int agent_name_index(const char *const *names, guint n, const char *name)
{
    for (guint i = 0; i < n; i++) {
        if (g_strcmp0(names[i], name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

AgentMigration *agent_migration_new(Agent *agent, AgentMigrationRole role,
                                    const char *id, AgentVm *vm)
{
    AgentMigration *mig = g_new0(AgentMigration, 1);

    mig->ref = 1;
    mig->agent = agent;
    mig->id = id ? g_strdup(id) : g_uuid_string_random();
    mig->role = role;
    mig->stream_notsent_lowat = -1;
    mig->sampled_dirty_bps = -1;
    mig->phase = AGENT_MIGRATION_PREPARE;
    mig->status = AGENT_MIGRATION_ACTIVE;
    mig->started_us = g_get_real_time();
    mig->waiters = g_ptr_array_new();
    mig->actions = json_array_new();
    if (vm != NULL) {
        mig->vm_id = g_strdup(vm->spec->id);
        mig->vm_name = g_strdup(vm->spec->name);
    }
    return mig;
}

AgentMigration *agent_migration_ref(AgentMigration *mig)
{
    g_atomic_int_inc(&mig->ref);
    return mig;
}

static void agent_migration_stop_timers(AgentMigration *mig)
{
    if (mig->poll_id) {
        g_source_remove(mig->poll_id);
        mig->poll_id = 0;
    }
    if (mig->timer_id) {
        g_source_remove(mig->timer_id);
        mig->timer_id = 0;
    }
}

void agent_migration_unref(AgentMigration *mig)
{
    if (mig == NULL || !g_atomic_int_dec_and_test(&mig->ref)) {
        return;
    }
    agent_migration_stop_timers(mig);
    g_clear_object(&mig->cancellable);
    agent_controller_free(mig->controller);
    agent_policy_free(mig->policy);
    if (mig->actions != NULL) {
        json_array_unref(mig->actions);
    }
    if (mig->prediction != NULL) {
        json_object_unref(mig->prediction);
    }
    agent_migration_params_clear(&mig->params);
    agent_migration_progress_clear(&mig->progress);
    g_ptr_array_unref(mig->waiters);
    g_free(mig->id);
    g_free(mig->vm_id);
    g_free(mig->vm_name);
    g_free(mig->peer_url);
    g_free(mig->peer_name);
    g_free(mig->dest_ram);
    g_free(mig->address);
    g_free(mig->error_code);
    g_free(mig->error_message);
    g_free(mig->qemu_status);
    g_free(mig->postcopy_why);
    g_free(mig);
}

AgentMigration *agent_migration_lookup(Agent *agent, const char *id,
                                       GError **error)
{
    AgentMigration *mig =
        id ? g_hash_table_lookup(agent->migrations, id) : NULL;

    if (mig == NULL) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_NOT_FOUND,
                    "no migration %s on host %s", id ? id : "(none)",
                    agent->config->name);
    }
    return mig;
}

guint agent_migration_count_active(Agent *agent, AgentMigrationRole role)
{
    GHashTableIter iter;
    gpointer value;
    guint n = 0;

    g_hash_table_iter_init(&iter, agent->migrations);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        AgentMigration *mig = value;

        if (mig->role == role && mig->phase != AGENT_MIGRATION_ENDED) {
            n++;
        }
    }
    return n;
}

JsonObject *agent_migration_to_json(AgentMigration *mig)
{
    JsonObject *obj = json_object_new();
    JsonObject *params = json_object_new();
    JsonObject *progress = json_object_new();

    json_object_set_string_member(obj, "id", mig->id);
    json_object_set_string_member(obj, "role",
                                  agent_migration_role_name(mig->role));
    json_object_set_string_member(obj, "phase",
                                  agent_migration_phase_name(mig->phase));
    json_object_set_string_member(obj, "status",
                                  agent_migration_status_name(mig->status));
    json_object_set_string_member(obj, "vm_id", mig->vm_id);
    json_object_set_string_member(obj, "vm_name", mig->vm_name);
    json_object_set_string_member(obj, "host", mig->agent->config->name);
    json_object_set_string_member(obj, "peer_url", mig->peer_url);
    if (mig->peer_name) {
        json_object_set_string_member(obj, "peer_name", mig->peer_name);
    }
    if (mig->address) {
        json_object_set_string_member(obj, "address", mig->address);
        json_object_set_int_member(obj, "port", mig->port);
    }
    agent_migration_params_to_json(&mig->params, params);
    json_object_set_object_member(obj, "parameters", params);
    if (mig->policy != NULL) {
        json_object_set_object_member(obj, "schedule",
                                      agent_policy_to_json(mig->policy));
    }
    agent_migration_progress_to_json(&mig->progress, progress);
    json_object_set_object_member(obj, "progress", progress);
    json_object_set_boolean_member(obj, "was_running", mig->was_running);
    json_object_set_boolean_member(obj, "postcopy_armed", mig->postcopy_armed);
    json_object_set_int_member(obj, "xbzrle_cache_bytes",
                               mig->xbzrle_cache_bytes);
    json_object_set_int_member(obj, "started_us", mig->started_us);
    json_object_set_int_member(obj, "ended_us", mig->ended_us);
    json_object_set_int_member(obj, "stop_us", mig->stop_us);
    json_object_set_int_member(obj, "resume_us", mig->resume_us);
    if (mig->role == AGENT_MIGRATION_SOURCE &&
        mig->phase == AGENT_MIGRATION_ENDED) {
        JsonObject *result = json_object_new();

        json_object_set_string_member(result, "status",
                                      agent_migration_status_name(mig->status));
        json_object_set_int_member(result, "total_time_ms",
                                   (mig->ended_us - mig->started_us) / 1000);
        if (mig->status == AGENT_MIGRATION_COMPLETED) {
            json_object_set_int_member(result, "downtime_ms",
                                       mig->stop_us && mig->resume_us
                                           ? (mig->resume_us - mig->stop_us) /
                                                 1000
                                           : -1);
            json_object_set_int_member(result, "downtime_us",
                                       mig->stop_us && mig->resume_us
                                           ? mig->resume_us - mig->stop_us
                                           : -1);
        }
        json_object_set_int_member(result, "qemu_downtime_ms",
                                   mig->qemu_downtime_ms);
        json_object_set_int_member(result, "qemu_total_time_ms",
                                   mig->qemu_total_ms);
        json_object_set_int_member(result, "transferred_bytes",
                                   (gint64)mig->progress.transferred_bytes);
        json_object_set_int_member(result, "passes",
                                   (gint64)mig->progress.pass);
        json_object_set_int_member(result, "max_throttle_percent",
                                   mig->progress.max_throttle_percent);
        /* the state the VM keeps, wherever it ends: paused stays paused */
        json_object_set_boolean_member(result, "was_running", mig->was_running);
        json_object_set_boolean_member(result, "postcopy", mig->postcopy_used);
        json_object_set_boolean_member(result, "postcopy_armed",
                                       mig->postcopy_armed);
        json_object_set_int_member(result, "stream_notsent_lowat",
                                   mig->stream_notsent_lowat);
        if (mig->dest_ram != NULL) {
            json_object_set_string_member(result, "destination_ram",
                                          mig->dest_ram);
        }
        json_object_set_int_member(result, "xbzrle_cache_bytes",
                                   mig->xbzrle_cache_bytes);
        json_object_set_int_member(result, "xbzrle_pages",
                                   (gint64)mig->progress.xbzrle_pages);
        json_object_set_double_member(
            result, "xbzrle_ratio",
            agent_migration_progress_xbzrle_ratio(&mig->progress));
        json_object_set_string_member(result, "policy",
                                      mig->params.policy ? mig->params.policy
                                                         : "adaptive");
        /* what the lower bound of a migration is measured against */
        json_object_set_int_member(result, "ram_total_bytes",
                                   (gint64)mig->progress.total_bytes);
        json_object_set_int_member(result, "zero_pages",
                                   (gint64)mig->progress.zero_pages);
        json_object_set_int_member(result, "normal_pages",
                                   (gint64)mig->progress.normal_pages);
        json_object_set_array_member(result, "actions",
                                     json_array_ref(mig->actions));
        if (mig->prediction != NULL) {
            json_object_set_object_member(result, "prediction",
                                          json_object_ref(mig->prediction));
        } else {
            json_object_set_null_member(result, "prediction");
        }
        if (mig->error_message) {
            json_object_set_string_member(result, "reason", mig->error_message);
            json_object_set_string_member(result, "code", mig->error_code);
        }
        json_object_set_object_member(obj, "result", result);
    }
    if (mig->error_message) {
        JsonObject *err = json_object_new();

        json_object_set_string_member(err, "code", mig->error_code);
        json_object_set_string_member(err, "message", mig->error_message);
        json_object_set_object_member(obj, "error", err);
    }
    return obj;
}

static char *agent_migration_path(Agent *agent, const char *id)
{
    g_autofree char *dir = agent_migrations_dir(agent);
    g_autofree char *name = g_strdup_printf("%s.json", id);

    return g_build_filename(dir, name, NULL);
}

gboolean agent_migration_save(AgentMigration *mig, GError **error)
{
    g_autoptr(JsonObject) obj = agent_migration_to_json(mig);
    g_autofree char *dir = agent_migrations_dir(mig->agent);
    g_autofree char *path = agent_migration_path(mig->agent, mig->id);

    if (!drv_mkdir_p(dir, 0700, error)) {
        return FALSE;
    }
    return drv_json_save_object_file(path, obj, error);
}

static void agent_migration_persist(AgentMigration *mig)
{
    g_autoptr(GError) error = NULL;

    if (!agent_migration_save(mig, &error)) {
        g_warning("migration %s: cannot persist: %s", mig->id, error->message);
    }
}

static void agent_migration_emit(AgentMigration *mig, const char *type)
{
    agent_event(mig->agent, type, agent_migration_to_json(mig));
}

void agent_migration_set_phase(AgentMigration *mig, AgentMigrationPhase phase)
{
    mig->phase = phase;
    agent_migration_persist(mig);
    agent_migration_emit(mig, "migration_phase");
}

/* Keep the newest AGENT_MIGRATION_HISTORY ended migrations. */
static void agent_migration_prune(Agent *agent)
{
    g_autoptr(GPtrArray) ended = g_ptr_array_new();
    GHashTableIter iter;
    gpointer value;

    g_hash_table_iter_init(&iter, agent->migrations);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        AgentMigration *mig = value;

        if (mig->phase == AGENT_MIGRATION_ENDED) {
            g_ptr_array_add(ended, mig);
        }
    }
    while (ended->len > AGENT_MIGRATION_HISTORY) {
        AgentMigration *oldest = g_ptr_array_index(ended, 0);
        guint at = 0;
        g_autofree char *path = NULL;
        g_autofree char *id = NULL;

        for (guint i = 1; i < ended->len; i++) {
            AgentMigration *mig = g_ptr_array_index(ended, i);

            if (mig->ended_us < oldest->ended_us) {
                oldest = mig;
                at = i;
            }
        }
        g_ptr_array_remove_index_fast(ended, at);
        path = agent_migration_path(agent, oldest->id);
        id = g_strdup(oldest->id);
        g_unlink(path);
        g_hash_table_remove(agent->migrations, id);
    }
}

void agent_migration_end(AgentMigration *mig, AgentMigrationStatus status,
                         const GError *error)
{
    g_autoptr(AgentMigration) hold = agent_migration_ref(mig);
    AgentVm *vm =
        mig->vm_id ? g_hash_table_lookup(mig->agent->vms, mig->vm_id) : NULL;

    if (mig->phase == AGENT_MIGRATION_ENDED) {
        return;
    }
    agent_migration_stop_timers(mig);
    if (mig->cancellable) {
        g_cancellable_cancel(mig->cancellable);
    }
    mig->status = status;
    mig->phase = AGENT_MIGRATION_ENDED;
    mig->ended_us = g_get_real_time();
    if (error != NULL) {
        g_free(mig->error_code);
        g_free(mig->error_message);
        mig->error_code =
            g_strdup(drv_error_code_name(drv_error_classify(error)));
        mig->error_message = g_strdup(error->message);
    }
    if (status == AGENT_MIGRATION_COMPLETED) {
        mig->progress.percent = 100;
    }
    if (vm != NULL && vm->migration == mig) {
        vm->migration = NULL;
        if (g_hash_table_contains(mig->agent->vms, mig->vm_id)) {
            g_autoptr(GError) save_error = NULL;

            if (!agent_vm_save(vm, &save_error)) {
                g_warning("VM %s: cannot persist: %s", vm->spec->name,
                          save_error->message);
            }
        }
    }
    agent_migration_persist(mig);
    if (mig->role == AGENT_MIGRATION_SOURCE) {
        if (status == AGENT_MIGRATION_COMPLETED) {
            g_autofree char *pause =
                mig->was_running
                    ? g_strdup_printf(
                          "guest-observed downtime %" G_GINT64_FORMAT " ms",
                          (mig->resume_us - mig->stop_us) / 1000)
                    : g_strdup("the guest paused throughout");

            g_message(
                "migration %s of VM %s to %s completed in %" G_GINT64_FORMAT
                " ms, %s",
                mig->id, mig->vm_name, mig->peer_url,
                (mig->ended_us - mig->started_us) / 1000, pause);
        } else {
            g_message("migration %s of VM %s to %s %s: %s", mig->id,
                      mig->vm_name, mig->peer_url,
                      agent_migration_status_name(status),
                      mig->error_message ? mig->error_message : "");
        }
    }
    agent_migration_emit(mig, "migration_done");
    agent_migration_prune(mig->agent);
}

static void agent_migration_on_after_hooks(GObject *source,
                                           GAsyncResult *result,
                                           gpointer user_data)
{
    g_autoptr(AgentMigration) mig = user_data;
    g_autoptr(GError) error = NULL;

    if (!agent_hooks_run_finish(result, &error)) {
        g_warning("migration %s: %s", mig->id, error->message);
    }
}

void agent_migration_run_hooks(AgentMigration *mig, const char *event,
                               const DrvVmSpec *spec, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(JsonObject) spec_obj = drv_vm_spec_to_json(spec);
    g_autofree char *text = drv_json_object_to_string(spec_obj, FALSE);
    g_autoptr(GStrvBuilder) b = g_strv_builder_new();
    g_auto(GStrv) env = NULL;

    drv_strv_builder_take(b, g_strdup_printf("DROVER_VM_ID=%s", mig->vm_id));
    drv_strv_builder_take(b,
                          g_strdup_printf("DROVER_VM_NAME=%s", mig->vm_name));
    drv_strv_builder_take(b,
                          g_strdup_printf("DROVER_MIGRATION_ID=%s", mig->id));
    drv_strv_builder_take(b, g_strdup_printf("DROVER_PEER=%s", mig->peer_url));
    env = g_strv_builder_end(b);
    if (callback == NULL) {
        callback = agent_migration_on_after_hooks;
        user_data = agent_migration_ref(mig);
    }
    agent_hooks_run_async(
        mig->agent->config->hooks_dir, event, text, (const char *const *)env,
        mig->agent->config->hook_timeout_s, cancellable, callback, user_data);
}

void agent_migration_on_qmp_event(AgentMigration *mig, const char *name,
                                  JsonObject *data, gint64 timestamp_us)
{
    g_autoptr(AgentMigration) hold = agent_migration_ref(mig);

    if (g_str_equal(name, "MIGRATION")) {
        const char *status = drv_json_string_or(data, "status", "");

        g_free(mig->qemu_status);
        mig->qemu_status = g_strdup(status);
        if (mig->role == AGENT_MIGRATION_SOURCE) {
            agent_migration_source_on_status(mig, status);
        } else {
            agent_migration_dest_on_status(mig, status);
        }
    } else if (g_str_equal(name, "MIGRATION_PASS")) {
        mig->progress.pass =
            MAX(mig->progress.pass, (guint64)drv_json_int_or(data, "pass", 0));
    } else if (g_str_equal(name, "STOP") &&
               mig->role == AGENT_MIGRATION_SOURCE) {
        mig->stop_us = timestamp_us;
    } else if (g_str_equal(name, "RESUME") &&
               mig->role == AGENT_MIGRATION_DESTINATION) {
        mig->resume_us = timestamp_us;
    }
}

void agent_migration_on_vm_exit(AgentMigration *mig)
{
    if (mig->phase == AGENT_MIGRATION_ENDED) {
        return;
    }
    /* a status of our own, so each side handles it with QEMU's */
    if (mig->role == AGENT_MIGRATION_SOURCE) {
        agent_migration_source_on_status(mig, "qemu-exited");
    } else {
        agent_migration_dest_on_status(mig, "qemu-exited");
    }
}

static AgentMigration *agent_migration_load(Agent *agent, const char *path,
                                            GError **error)
{
    g_autoptr(JsonObject) obj = drv_json_load_object_file(path, error);
    AgentMigration *mig;
    JsonObject *params;
    JsonObject *err;
    int role;
    int phase;
    int status;

    if (obj == NULL) {
        return NULL;
    }
    role = agent_name_index(agent_role_names, G_N_ELEMENTS(agent_role_names),
                            drv_json_string_or(obj, "role", ""));
    phase = agent_name_index(agent_phase_names, G_N_ELEMENTS(agent_phase_names),
                             drv_json_string_or(obj, "phase", ""));
    status =
        agent_name_index(agent_status_names, G_N_ELEMENTS(agent_status_names),
                         drv_json_string_or(obj, "status", ""));
    if (role < 0 || phase < 0 || status < 0 ||
        !drv_json_string_or(obj, "id", NULL) ||
        !drv_json_string_or(obj, "vm_id", NULL)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INTERNAL,
                    "%s: not a migration record", path);
        return NULL;
    }
    mig = agent_migration_new(agent, (AgentMigrationRole)role,
                              drv_json_string_or(obj, "id", NULL), NULL);
    mig->phase = (AgentMigrationPhase)phase;
    mig->status = (AgentMigrationStatus)status;
    mig->vm_id = g_strdup(drv_json_string_or(obj, "vm_id", NULL));
    mig->vm_name = g_strdup(drv_json_string_or(obj, "vm_name", mig->vm_id));
    mig->peer_url = g_strdup(drv_json_string_or(obj, "peer_url", NULL));
    mig->peer_name = g_strdup(drv_json_string_or(obj, "peer_name", NULL));
    mig->address = g_strdup(drv_json_string_or(obj, "address", NULL));
    mig->port = (guint)drv_json_int_or(obj, "port", 0);
    mig->was_running = drv_json_bool_or(obj, "was_running", TRUE);
    mig->postcopy_armed = drv_json_bool_or(obj, "postcopy_armed", FALSE);
    mig->xbzrle_cache_bytes = drv_json_int_or(obj, "xbzrle_cache_bytes", 0);
    mig->started_us = drv_json_int_or(obj, "started_us", 0);
    mig->ended_us = drv_json_int_or(obj, "ended_us", 0);
    mig->stop_us = drv_json_int_or(obj, "stop_us", 0);
    mig->resume_us = drv_json_int_or(obj, "resume_us", 0);
    params = drv_json_object_or_null(obj, "parameters");
    if (params != NULL) {
        agent_migration_params_from_json(params, &mig->params);
    }
    {
        JsonObject *progress = drv_json_object_or_null(obj, "progress");
        JsonObject *result = drv_json_object_or_null(obj, "result");

        mig->progress.percent = drv_json_double_or(progress, "percent", 0);
        mig->progress.transferred_bytes =
            (guint64)drv_json_int_or(progress, "transferred_bytes", 0);
        mig->progress.pass = (guint64)drv_json_int_or(progress, "pass", 0);
        mig->progress.max_throttle_percent =
            (guint)drv_json_int_or(result, "max_throttle_percent", 0);
        mig->postcopy_used = drv_json_bool_or(result, "postcopy", FALSE);
        mig->stream_notsent_lowat =
            (gint)drv_json_int_or(result, "stream_notsent_lowat", -1);
        mig->dest_ram =
            g_strdup(drv_json_string_or(result, "destination_ram", NULL));
        mig->qemu_downtime_ms = drv_json_int_or(result, "qemu_downtime_ms", 0);
        mig->qemu_total_ms = drv_json_int_or(result, "qemu_total_time_ms", 0);
        mig->progress.total_bytes =
            (guint64)drv_json_int_or(result, "ram_total_bytes", 0);
        mig->progress.zero_pages =
            (guint64)drv_json_int_or(result, "zero_pages", 0);
        mig->progress.normal_pages =
            (guint64)drv_json_int_or(result, "normal_pages", 0);
        if (drv_json_array_or_null(result, "actions") != NULL) {
            json_array_unref(mig->actions);
            mig->actions =
                json_array_ref(drv_json_array_or_null(result, "actions"));
        }
        if (drv_json_object_or_null(result, "prediction") != NULL) {
            mig->prediction =
                json_object_ref(drv_json_object_or_null(result, "prediction"));
        }
    }
    err = drv_json_object_or_null(obj, "error");
    if (err != NULL) {
        mig->error_code = g_strdup(drv_json_string_or(err, "code", NULL));
        mig->error_message = g_strdup(drv_json_string_or(err, "message", NULL));
    }
    return mig;
}

void agent_migration_recover_all(Agent *agent)
{
    g_autofree char *base = agent_migrations_dir(agent);
    g_autoptr(GDir) dir = g_dir_open(base, 0, NULL);
    g_autoptr(GPtrArray) unfinished =
        g_ptr_array_new_with_free_func((GDestroyNotify)agent_migration_unref);
    const char *name;

    while (dir && (name = g_dir_read_name(dir)) != NULL) {
        g_autofree char *path = g_build_filename(base, name, NULL);
        g_autoptr(GError) error = NULL;
        AgentMigration *mig;

        if (!g_str_has_suffix(name, ".json")) {
            continue;
        }
        mig = agent_migration_load(agent, path, &error);
        if (mig == NULL) {
            g_warning("skipping migration record: %s", error->message);
            continue;
        }
        g_hash_table_insert(agent->migrations, g_strdup(mig->id), mig);
        if (mig->phase != AGENT_MIGRATION_ENDED) {
            g_ptr_array_add(unfinished, agent_migration_ref(mig));
        }
    }
    for (guint i = 0; i < unfinished->len; i++) {
        AgentMigration *mig = g_ptr_array_index(unfinished, i);
        AgentVm *vm = g_hash_table_lookup(agent->vms, mig->vm_id);

        g_message("migration %s of VM %s was in phase %s as %s when the "
                  "agent stopped: reconciling",
                  mig->id, mig->vm_name, agent_migration_phase_name(mig->phase),
                  agent_migration_role_name(mig->role));
        if (vm != NULL) {
            vm->migration = mig;
        }
        if (mig->role == AGENT_MIGRATION_SOURCE) {
            agent_migration_source_recover(mig);
        } else {
            agent_migration_dest_recover(mig);
        }
    }
    agent_migration_prune(agent);
}

/* ---- calls to the destination, retried over transport failures ---- */

#define AGENT_MIGRATION_RETRY_DELAY_MS 1000

static char *agent_migration_peer_url(AgentMigration *mig, const char *suffix)
{
    return g_strdup_printf("%s/v1/incoming/%s%s", mig->peer_url, mig->id,
                           suffix);
}

gboolean agent_migration_error_is_transport(const GError *error)
{
    DrvErrorCode code = drv_error_classify(error);

    return code == DRV_ERROR_UNREACHABLE || code == DRV_ERROR_TIMEOUT;
}

typedef struct {
    AgentMigration *mig;
    char *url;
    JsonObject *body;
    AgentMigrationPeerReply done;
    guint attempt;
} AgentPeerCall;

static void agent_peer_call_free(AgentPeerCall *call)
{
    agent_migration_unref(call->mig);
    json_object_unref(call->body);
    g_free(call->url);
    g_free(call);
}

static void agent_peer_call_send(AgentPeerCall *call);

static gboolean agent_peer_call_retry(gpointer user_data)
{
    agent_peer_call_send(user_data);
    return G_SOURCE_REMOVE;
}

static void agent_peer_call_on_reply(GObject *source, GAsyncResult *result,
                                     gpointer user_data)
{
    AgentPeerCall *call = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = drv_http_call_finish(result, NULL, &error);

    if (error != NULL && agent_migration_error_is_transport(error) &&
        ++call->attempt < AGENT_MIGRATION_CALL_RETRIES) {
        g_timeout_add(AGENT_MIGRATION_RETRY_DELAY_MS, agent_peer_call_retry,
                      call);
        return;
    }
    call->done(call->mig, node, error);
    agent_peer_call_free(call);
}

static void agent_peer_call_send(AgentPeerCall *call)
{
    drv_http_call_async(call->mig->agent->session, "POST", call->url,
                        call->body, AGENT_MIGRATION_FINISH_TIMEOUT_MS, NULL,
                        agent_peer_call_on_reply, call);
}

void agent_migration_call_peer(AgentMigration *mig, const char *suffix,
                               JsonObject *body, AgentMigrationPeerReply done)
{
    AgentPeerCall *call = g_new0(AgentPeerCall, 1);

    call->mig = agent_migration_ref(mig);
    call->url = agent_migration_peer_url(mig, suffix);
    call->body = body;
    call->done = done;
    agent_peer_call_send(call);
}
