/*
 * The destination side of a live migration: prepare an incoming QEMU,
 * resume it when the source asks (finish), or kill it when the source gives
 * up (abort).  The destination never resumes the guest on its own: until
 * finish, the source owns the VM.
 */
#include <glib/gstdio.h>

#include "agent/hooks.h"
#include "agent/migration.h"
#include "agent/vm.h"
#include "common/error.h"
#include "common/glib-extra.h"
#include "common/json.h"

/* Finish waits this long for the stream; the source's call waits longer,
 * so that it always gets a definite answer. */
#define AGENT_DEST_FINISH_WAIT_MS 30000

static AgentVm *agent_dest_vm(AgentMigration *mig)
{
    return g_hash_table_lookup(mig->agent->vms, mig->vm_id);
}

static void agent_dest_fail_waiters(AgentMigration *mig, const GError *error)
{
    g_autoptr(GPtrArray) waiters = g_steal_pointer(&mig->waiters);

    mig->waiters = g_ptr_array_new();
    for (guint i = 0; i < waiters->len; i++) {
        GTask *task = g_ptr_array_index(waiters, i);

        g_task_return_error(task, g_error_copy(error));
        g_object_unref(task);
    }
}

static JsonObject *agent_dest_finish_reply(AgentMigration *mig)
{
    JsonObject *reply = json_object_new();

    json_object_set_string_member(reply, "migration_id", mig->id);
    json_object_set_int_member(reply, "resume_us", mig->resume_us);
    json_object_set_string_member(reply, "host", mig->agent->config->name);
    return reply;
}

static void agent_dest_answer_waiters(AgentMigration *mig)
{
    g_autoptr(GPtrArray) waiters = g_steal_pointer(&mig->waiters);

    mig->waiters = g_ptr_array_new();
    for (guint i = 0; i < waiters->len; i++) {
        GTask *task = g_ptr_array_index(waiters, i);

        g_task_return_pointer(task, agent_dest_finish_reply(mig),
                              (GDestroyNotify)json_object_unref);
        g_object_unref(task);
    }
}

static void agent_dest_on_killed(GObject *source, GAsyncResult *result,
                                 gpointer user_data)
{
    g_autoptr(AgentMigration) mig = user_data;
    AgentVm *vm = agent_dest_vm(mig);

    /* only the incoming copy is dropped, never a VM that runs here */
    if (vm != NULL && vm->state == AGENT_VM_DOWN) {
        agent_vm_remove(vm);
    }
}

/*
 * Drop the incoming QEMU and end the migration.  Safe at any point before
 * the guest was resumed here.
 */
static void agent_dest_discard(AgentMigration *mig, AgentMigrationStatus status,
                               const GError *error)
{
    AgentVm *vm = agent_dest_vm(mig);

    g_message("incoming migration %s of VM %s: discarding: %s", mig->id,
              mig->vm_name, error ? error->message : "no reason");
    agent_dest_fail_waiters(mig, error);
    agent_migration_end(mig, status, error);
    if (vm != NULL &&
        (vm->state == AGENT_VM_INCOMING || vm->state == AGENT_VM_STARTING ||
         vm->state == AGENT_VM_DOWN)) {
        agent_vm_kill_async(vm, "incoming migration discarded",
                            agent_dest_on_killed, agent_migration_ref(mig));
    }
}

/* ---- resuming (finish) ---- */

/*
 * The VM is this host's from now on: resume_us, set here, is what says so
 * to a repeated finish, an abort and a restart.
 */
static void agent_dest_take_over(AgentMigration *mig, AgentVm *vm)
{
    vm->started_us = g_get_real_time();
    if (mig->was_running) {
        if (mig->resume_us == 0) {
            mig->resume_us =
                vm->last_resume_us ? vm->last_resume_us : g_get_real_time();
        }
        agent_vm_set_state(vm, AGENT_VM_RUNNING, "migrated in");
        g_message("incoming migration %s of VM %s: guest resumed here", mig->id,
                  mig->vm_name);
    } else {
        mig->resume_us = g_get_real_time();
        agent_vm_set_state(vm, AGENT_VM_PAUSED,
                           "migrated in paused, as it was on its source");
        g_message("incoming migration %s of VM %s: guest here, left paused "
                  "as it was on its source",
                  mig->id, mig->vm_name);
    }
    agent_dest_answer_waiters(mig);
    /* post-copy still pulls pages: the migration ends when QEMU says so */
    if (!mig->postcopy_used || g_strcmp0(mig->qemu_status, "completed") == 0) {
        agent_migration_end(mig, AGENT_MIGRATION_COMPLETED, NULL);
    } else {
        agent_migration_save(mig, NULL);
    }
    agent_migration_run_hooks(mig, "after_vm_migrate_destination", vm->spec,
                              NULL, NULL, NULL);
}

static void agent_dest_on_cont(GObject *source, GAsyncResult *result,
                               gpointer user_data)
{
    g_autoptr(AgentMigration) mig = user_data;
    AgentVm *vm = agent_dest_vm(mig);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = NULL;

    if (vm == NULL) {
        error = g_error_new(DRV_ERROR, DRV_ERROR_MIGRATION,
                            "the incoming VM vanished before it resumed");
        agent_dest_discard(mig, AGENT_MIGRATION_FAILED, error);
        return;
    }
    node = agent_vm_qmp_finish(vm, result, &error);
    if (node == NULL) {
        g_prefix_error(&error, "cannot resume the guest: ");
        agent_dest_discard(mig, AGENT_MIGRATION_FAILED, error);
        return;
    }
    agent_dest_take_over(mig, vm);
}

static gboolean agent_dest_ready_to_resume(AgentMigration *mig)
{
    if (g_strcmp0(mig->qemu_status, "completed") == 0) {
        return TRUE;
    }
    return mig->postcopy_used &&
           g_strcmp0(mig->qemu_status, "postcopy-active") == 0;
}

static void agent_dest_try_resume(AgentMigration *mig)
{
    AgentVm *vm = agent_dest_vm(mig);

    if (mig->phase != AGENT_MIGRATION_FINISH || mig->resume_us != 0 ||
        mig->polling || !agent_dest_ready_to_resume(mig) || vm == NULL) {
        return;
    }
    if (mig->timer_id) {
        g_source_remove(mig->timer_id);
        mig->timer_id = 0;
    }
    /* a guest paused on its source stays paused (never post-copied) */
    if (!mig->was_running && !mig->postcopy_used) {
        agent_dest_take_over(mig, vm);
        return;
    }
    /* "polling" doubles as "cont in flight" on this side */
    mig->polling = TRUE;
    agent_vm_qmp_async(vm, "cont", NULL, 0, agent_dest_on_cont,
                       agent_migration_ref(mig));
}

static gboolean agent_dest_on_finish_timeout(gpointer user_data)
{
    AgentMigration *mig = user_data;
    g_autoptr(GError) error = NULL;

    mig->timer_id = 0;
    error = g_error_new(DRV_ERROR, DRV_ERROR_MIGRATION,
                        "the incoming stream did not complete within %d s "
                        "of finish (QEMU says '%s')",
                        AGENT_DEST_FINISH_WAIT_MS / 1000,
                        mig->qemu_status ? mig->qemu_status : "none");
    agent_dest_discard(mig, AGENT_MIGRATION_FAILED, error);
    return G_SOURCE_REMOVE;
}

static void agent_dest_on_incoming_info(GObject *source, GAsyncResult *result,
                                        gpointer user_data)
{
    g_autoptr(AgentMigration) mig = user_data;
    AgentVm *vm = agent_dest_vm(mig);
    g_autoptr(JsonNode) node =
        vm ? agent_vm_qmp_finish(vm, result, NULL) : NULL;

    if (node != NULL && mig->phase == AGENT_MIGRATION_FINISH) {
        const char *status =
            drv_json_string_or(json_node_get_object(node), "status", NULL);

        if (status != NULL) {
            agent_migration_dest_on_status(mig, status);
        }
    }
}

void agent_migration_finish_async(AgentMigration *mig, gboolean postcopy,
                                  GAsyncReadyCallback callback,
                                  gpointer user_data)
{
    GTask *task = g_task_new(NULL, NULL, callback, user_data);
    AgentVm *vm = agent_dest_vm(mig);

    g_task_set_source_tag(task, agent_migration_finish_async);
    if (mig->role != AGENT_MIGRATION_DESTINATION) {
        g_task_return_new_error(task, DRV_ERROR, DRV_ERROR_CONFLICT,
                                "migration %s is outgoing from this host",
                                mig->id);
        g_object_unref(task);
        return;
    }
    if (mig->resume_us != 0 && mig->status != AGENT_MIGRATION_FAILED &&
        mig->status != AGENT_MIGRATION_CANCELLED) {
        /* a repeated finish: the guest runs here already */
        g_task_return_pointer(task, agent_dest_finish_reply(mig),
                              (GDestroyNotify)json_object_unref);
        g_object_unref(task);
        return;
    }
    if (mig->phase == AGENT_MIGRATION_ENDED || vm == NULL) {
        g_task_return_new_error(task, DRV_ERROR, DRV_ERROR_MIGRATION,
                                "incoming migration %s has %s: %s", mig->id,
                                agent_migration_status_name(mig->status),
                                mig->error_message ? mig->error_message
                                                   : "no VM");
        g_object_unref(task);
        return;
    }
    g_ptr_array_add(mig->waiters, task);
    if (mig->phase == AGENT_MIGRATION_PREPARE) {
        mig->postcopy_used = postcopy;
        agent_migration_set_phase(mig, AGENT_MIGRATION_FINISH);
        mig->timer_id = g_timeout_add(AGENT_DEST_FINISH_WAIT_MS,
                                      agent_dest_on_finish_timeout, mig);
        /* the status event may have come before finish did */
        agent_vm_qmp_async(vm, "query-migrate", NULL, 0,
                           agent_dest_on_incoming_info,
                           agent_migration_ref(mig));
    }
    agent_dest_try_resume(mig);
}

JsonObject *agent_migration_finish_finish(GAsyncResult *result, GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}

gboolean agent_migration_abort_incoming(AgentMigration *mig, const char *reason,
                                        GError **error)
{
    g_autoptr(GError) why = NULL;

    if (mig->role != AGENT_MIGRATION_DESTINATION) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_CONFLICT,
                    "migration %s is outgoing from this host", mig->id);
        return FALSE;
    }
    if (mig->resume_us != 0 && mig->status != AGENT_MIGRATION_FAILED &&
        mig->status != AGENT_MIGRATION_CANCELLED) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_CONFLICT,
                    "migration %s has finished: VM %s runs on %s", mig->id,
                    mig->vm_name, mig->agent->config->name);
        return FALSE;
    }
    if (mig->phase == AGENT_MIGRATION_ENDED) {
        return TRUE;
    }
    why =
        g_error_new(DRV_ERROR, DRV_ERROR_CANCELLED, "aborted by the source: %s",
                    reason ? reason : "no reason given");
    agent_dest_discard(mig, AGENT_MIGRATION_CANCELLED, why);
    return TRUE;
}

void agent_migration_dest_on_status(AgentMigration *mig, const char *status)
{
    g_autoptr(GError) error = NULL;

    if (mig->phase == AGENT_MIGRATION_ENDED) {
        return;
    }
    if (g_str_equal(status, "qemu-exited")) {
        error = g_error_new(DRV_ERROR, DRV_ERROR_MIGRATION,
                            "the incoming QEMU exited during the migration");
        agent_dest_discard(mig, AGENT_MIGRATION_FAILED, error);
        return;
    }
    g_free(mig->qemu_status);
    mig->qemu_status = g_strdup(status);
    if (g_str_equal(status, "failed") && mig->resume_us == 0) {
        error = g_error_new(DRV_ERROR, DRV_ERROR_MIGRATION,
                            "the incoming migration stream failed");
        agent_dest_discard(mig, AGENT_MIGRATION_FAILED, error);
        return;
    }
    if (g_str_equal(status, "completed") && mig->resume_us != 0) {
        /* post-copy: the last pages are in */
        agent_migration_end(mig, AGENT_MIGRATION_COMPLETED, NULL);
        return;
    }
    agent_dest_try_resume(mig);
}

/* ---- prepare ---- */

typedef struct {
    AgentMigration *mig;
    JsonObject *reply;
    const char *ram; /* how the incoming RAM was readied, for the reply */
} AgentDestPrepare;

static void agent_dest_prepare_free(gpointer p)
{
    AgentDestPrepare *prep = p;

    agent_migration_unref(prep->mig);
    if (prep->reply) {
        json_object_unref(prep->reply);
    }
    g_free(prep);
}

static void agent_dest_prepare_fail(GTask *task, GError *error)
{
    AgentDestPrepare *prep = g_task_get_task_data(task);

    agent_dest_discard(prep->mig, AGENT_MIGRATION_FAILED, error);
    g_task_return_error(task, error);
    g_object_unref(task);
}

/*
 * The head of every prepare step.  The step failing, the incoming VM gone,
 * or the source having aborted meanwhile (its abort can overtake a slow
 * prepare) all end the prepare and drop what it built.  @vm NULL with @ok
 * means the step has no VM yet.
 */
static gboolean agent_dest_step_ok(GTask *task, AgentVm *vm, gboolean ok,
                                   GError *error)
{
    AgentDestPrepare *prep = g_task_get_task_data(task);
    AgentMigration *mig = prep->mig;
    gboolean aborted = mig->phase == AGENT_MIGRATION_ENDED;

    if (ok && !aborted && (vm != NULL || agent_dest_vm(mig) == NULL)) {
        return TRUE;
    }
    if (error == NULL && aborted) {
        error = g_error_new(DRV_ERROR, DRV_ERROR_CANCELLED,
                            "incoming migration %s was aborted during "
                            "prepare: %s",
                            mig->id,
                            mig->error_message ? mig->error_message
                                               : "no reason given");
    } else if (error == NULL) {
        error = g_error_new(DRV_ERROR, DRV_ERROR_MIGRATION,
                            "the incoming VM vanished during prepare");
    }
    agent_dest_prepare_fail(task, error);
    return FALSE;
}

static gboolean agent_dest_on_idle_timeout(gpointer user_data)
{
    AgentMigration *mig = user_data;
    g_autoptr(GError) error = NULL;

    mig->timer_id = 0;
    if (mig->phase != AGENT_MIGRATION_PREPARE ||
        (mig->qemu_status && !g_str_equal(mig->qemu_status, "setup"))) {
        return G_SOURCE_REMOVE;
    }
    error = g_error_new(DRV_ERROR, DRV_ERROR_TIMEOUT,
                        "the source did not start sending within %d s",
                        AGENT_MIGRATION_INCOMING_IDLE_S);
    agent_dest_discard(mig, AGENT_MIGRATION_FAILED, error);
    return G_SOURCE_REMOVE;
}

static void agent_dest_on_port(GObject *source, GAsyncResult *result,
                               gpointer user_data)
{
    GTask *task = user_data;
    AgentDestPrepare *prep = g_task_get_task_data(task);
    AgentMigration *mig = prep->mig;
    AgentVm *vm = agent_dest_vm(mig);
    GError *error = NULL;
    g_autoptr(JsonNode) node =
        vm ? agent_vm_qmp_finish(vm, result, &error) : NULL;
    JsonArray *addrs;
    JsonObject *addr = NULL;
    JsonNode *port_node;
    gint64 port = 0;

    if (!agent_dest_step_ok(task, vm, node != NULL, error)) {
        return;
    }
    addrs =
        drv_json_array_or_null(json_node_get_object(node), "socket-address");
    if (addrs && json_array_get_length(addrs) > 0) {
        addr = json_array_get_object_element(addrs, 0);
    }
    /* QEMU reports the port as a string */
    port_node = addr ? json_object_get_member(addr, "port") : NULL;
    if (port_node && JSON_NODE_HOLDS_VALUE(port_node)) {
        if (json_node_get_value_type(port_node) == G_TYPE_STRING) {
            port = g_ascii_strtoll(json_node_get_string(port_node), NULL, 10);
        } else {
            port = json_node_get_int(port_node);
        }
    }
    if (port <= 0 || port > 65535) {
        agent_dest_prepare_fail(
            task, g_error_new(DRV_ERROR, DRV_ERROR_QEMU,
                              "QEMU did not report its incoming port"));
        return;
    }
    mig->address = g_strdup(mig->agent->config->migration_address);
    mig->port = (guint)port;
    agent_migration_save(mig, NULL);
    mig->timer_id = g_timeout_add_seconds(AGENT_MIGRATION_INCOMING_IDLE_S,
                                          agent_dest_on_idle_timeout, mig);
    prep->reply = json_object_new();
    json_object_set_string_member(prep->reply, "migration_id", mig->id);
    json_object_set_string_member(prep->reply, "address", mig->address);
    json_object_set_int_member(prep->reply, "port", port);
    json_object_set_string_member(prep->reply, "host",
                                  mig->agent->config->name);
    json_object_set_string_member(prep->reply, "ram", prep->ram);
    g_message("incoming migration %s of VM %s from %s: listening on %s:%u",
              mig->id, mig->vm_name, mig->peer_url, mig->address, mig->port);
    g_task_return_pointer(task, json_object_ref(prep->reply),
                          (GDestroyNotify)json_object_unref);
    g_object_unref(task);
}

static void agent_dest_on_listening(GObject *source, GAsyncResult *result,
                                    gpointer user_data)
{
    GTask *task = user_data;
    AgentDestPrepare *prep = g_task_get_task_data(task);
    AgentVm *vm = agent_dest_vm(prep->mig);
    GError *error = NULL;
    g_autoptr(JsonNode) node =
        vm ? agent_vm_qmp_finish(vm, result, &error) : NULL;

    if (!agent_dest_step_ok(task, vm, node != NULL, error)) {
        return;
    }
    agent_vm_qmp_async(vm, "query-migrate", NULL, 0, agent_dest_on_port, task);
}

static void agent_dest_on_capabilities(GObject *source, GAsyncResult *result,
                                       gpointer user_data)
{
    GTask *task = user_data;
    AgentDestPrepare *prep = g_task_get_task_data(task);
    AgentMigration *mig = prep->mig;
    AgentVm *vm = agent_dest_vm(mig);
    GError *error = NULL;
    g_autoptr(JsonNode) node =
        vm ? agent_vm_qmp_finish(vm, result, &error) : NULL;
    g_autoptr(JsonObject) args = json_object_new();
    g_autofree char *uri = NULL;
    const char *addr = mig->agent->config->migration_address;

    if (!agent_dest_step_ok(task, vm, node != NULL, error)) {
        return;
    }
    /* port 0: the kernel picks a free one, query-migrate tells which */
    uri = strchr(addr, ':') ? g_strdup_printf("tcp:[%s]:0", addr)
                            : g_strdup_printf("tcp:%s:0", addr);
    json_object_set_string_member(args, "uri", uri);
    agent_vm_qmp_async(vm, "migrate-incoming", args, 0, agent_dest_on_listening,
                       task);
}

/* This host preallocates (config), when the source wants a tuned stream. */
static gboolean agent_dest_prealloc(AgentMigration *mig)
{
    return mig->agent->config->incoming_prealloc && !mig->params.plain_stream;
}

static void agent_dest_set_capabilities(GTask *task, AgentVm *vm)
{
    AgentDestPrepare *prep = g_task_get_task_data(task);
    AgentMigration *mig = prep->mig;
    g_autoptr(JsonObject) args = json_object_new();
    JsonArray *caps = json_array_new();
    JsonObject *cap;

    cap = json_object_new();
    json_object_set_string_member(cap, "capability", "events");
    json_object_set_boolean_member(cap, "state", TRUE);
    json_array_add_object_element(caps, cap);
    /* post-copy must be enabled on both ends before the stream starts */
    cap = json_object_new();
    json_object_set_string_member(cap, "capability", "postcopy-ram");
    json_object_set_boolean_member(cap, "state", mig->params.post_copy);
    json_array_add_object_element(caps, cap);
    json_object_set_array_member(args, "capabilities", caps);
    agent_vm_qmp_async(vm, "migrate-set-capabilities", args, 0,
                       agent_dest_on_capabilities, task);
}

static void agent_dest_on_mapped(GObject *source, GAsyncResult *result,
                                 gpointer user_data)
{
    GTask *task = user_data;
    AgentDestPrepare *prep = g_task_get_task_data(task);
    AgentVm *vm = agent_dest_vm(prep->mig);
    g_autoptr(GError) error = NULL;
    /* mapping only saves time: a failure here fails nothing */
    gboolean mapped = agent_vm_dirty_rate_finish(vm, result, &error) >= 0;

    if (!agent_dest_step_ok(task, vm, vm != NULL, NULL)) {
        return;
    }
    /* an incoming guest dirties nothing: no figure for the VM to keep */
    vm->dirty_rate_bps = -1;
    vm->dirty_rate_us = 0;
    prep->ram = mapped ? "mapped" : "untouched";
    agent_dest_set_capabilities(task, vm);
}

/*
 * The source's scan of guest RAM it never touched is fast once a dirty-rate
 * sample's reads faulted it in, and then every zero page it sends costs
 * this end a page fault to compare, unless this RAM was faulted in the same
 * way: a sample of the incoming QEMU's own RAM does that, in one second for
 * a small guest, longer for a large one where a read allocates the page
 * (the wait is bounded by drv_dirty_rate_sample_max_ms()).  The sample must
 * have ended before the stream starts (docs/agent.md).
 */
static void agent_dest_on_started(GObject *source, GAsyncResult *result,
                                  gpointer user_data)
{
    GTask *task = user_data;
    AgentDestPrepare *prep = g_task_get_task_data(task);
    AgentMigration *mig = prep->mig;
    AgentVm *vm = agent_dest_vm(mig);
    GError *error = NULL;
    gboolean started = vm != NULL && agent_vm_start_finish(vm, result, &error);

    if (!agent_dest_step_ok(task, vm, started, error)) {
        return;
    }
    if (mig->params.plain_stream) {
        prep->ram = "untouched";
    } else if (agent_dest_prealloc(mig)) {
        prep->ram = "preallocated";
    } else {
        agent_vm_dirty_rate_async(vm, AGENT_MIGRATION_SAMPLE_S,
                                  agent_dest_on_mapped, task);
        return;
    }
    agent_dest_set_capabilities(task, vm);
}

typedef struct {
    GTask *task;
    DrvVmSpec *spec;
    char *machine;
    guint64 ram_kib;
} AgentDestHooks;

static void agent_dest_on_before_hooks(GObject *source, GAsyncResult *result,
                                       gpointer user_data)
{
    AgentDestHooks *hooks = user_data;
    GTask *task = hooks->task;
    AgentDestPrepare *prep = g_task_get_task_data(task);
    AgentMigration *mig = prep->mig;
    Agent *agent = mig->agent;
    GError *error = NULL;
    AgentVm *vm;

    if (!agent_hooks_run_finish(result, &error) ||
        !agent_dest_step_ok(task, NULL, TRUE, NULL)) {
        drv_vm_spec_free(hooks->spec);
        g_free(hooks->machine);
        g_free(hooks);
        if (error != NULL) {
            agent_dest_prepare_fail(task, error);
        }
        return;
    }
    vm = agent_vm_new(agent, hooks->spec, hooks->machine, hooks->ram_kib);
    g_free(hooks->machine);
    g_free(hooks);
    vm->migration = mig;
    g_hash_table_insert(agent->vms, g_strdup(vm->spec->id), vm);
    agent_vm_start_async(vm,
                         agent_dest_prealloc(mig) ? AGENT_QEMU_INCOMING_PREALLOC
                                                  : AGENT_QEMU_INCOMING,
                         NULL, agent_dest_on_started, task);
}

static gboolean agent_dest_check(Agent *agent, JsonObject *request,
                                 DrvVmSpec **spec_out, GError **error)
{
    static const char *const known[] = {
        "migration_id", "spec",          "machine",     "ram_kib", "source",
        "post_copy",    "stream_tuning", "was_running", NULL};
    JsonObject *spec_obj = NULL;
    JsonObject *source = NULL;
    const char *id = NULL;
    const char *machine = NULL;
    const char *host_id = NULL;
    gboolean post_copy = FALSE;
    gint64 ram_kib = 0;
    g_autoptr(DrvVmSpec) spec = NULL;
    AgentVm *existing;

    if (!drv_json_check_members(request, "incoming", known, error) ||
        !drv_json_get_string(request, "incoming", "migration_id", TRUE, &id,
                             error) ||
        !drv_json_get_object(request, "incoming", "spec", TRUE, &spec_obj,
                             error) ||
        !drv_json_get_string(request, "incoming", "machine", TRUE, &machine,
                             error) ||
        !drv_json_get_object(request, "incoming", "source", TRUE, &source,
                             error) ||
        !drv_json_get_string(source, "source", "host_id", TRUE, &host_id,
                             error) ||
        !drv_json_get_bool(request, "incoming", "post_copy", FALSE, &post_copy,
                           error) ||
        !drv_json_get_int(request, "incoming", "ram_kib", TRUE, 1, G_MAXINT64,
                          &ram_kib, error)) {
        return FALSE;
    }
    if (!g_uuid_string_is_valid(id)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "incoming: 'migration_id' must be a UUID");
        return FALSE;
    }
    spec = drv_vm_spec_from_json(spec_obj, FALSE, error);
    if (spec == NULL) {
        return FALSE;
    }
    /* both ends must give the guest exactly the same RAM */
    if (!agent_qemu_ram_kib_valid(spec->memory_mib, (guint64)ram_kib)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "incoming: ram_kib %" G_GINT64_FORMAT
                    " does not fit memory_mib %u",
                    ram_kib, spec->memory_mib);
        return FALSE;
    }
    if (g_str_equal(host_id, agent->host_id)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_SAME_HOST,
                    "VM %s already runs on %s: a host cannot migrate to "
                    "itself",
                    spec->name, agent->config->name);
        return FALSE;
    }
    if (g_hash_table_contains(agent->migrations, id)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_EXISTS,
                    "migration %s is already known on %s", id,
                    agent->config->name);
        return FALSE;
    }
    existing = g_hash_table_lookup(agent->vms, spec->id);
    if (existing != NULL && existing->state != AGENT_VM_DOWN) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_CONFLICT,
                    "VM %s is already %s on %s", spec->name,
                    agent_vm_state_name(existing->state), agent->config->name);
        return FALSE;
    }
    if (agent_migration_count_active(agent, AGENT_MIGRATION_DESTINATION) >=
        agent->config->max_incoming_migrations) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_BUSY,
                    "host %s already receives %u migrations (its limit)",
                    agent->config->name,
                    agent->config->max_incoming_migrations);
        return FALSE;
    }
    if (!agent_qemu_caps_has_machine(agent->caps, machine)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_NO_CPU_MODEL,
                    "host %s cannot run machine type %s (QEMU %s)",
                    agent->config->name, machine, agent->caps->version);
        return FALSE;
    }
    if (!agent_check_resources(agent, spec, error)) {
        return FALSE;
    }
    if (existing != NULL) {
        /* a stale down record of the same VM makes room */
        agent_vm_remove(existing);
    }
    *spec_out = g_steal_pointer(&spec);
    return TRUE;
}

void agent_migration_incoming_async(Agent *agent, JsonObject *request,
                                    GAsyncReadyCallback callback,
                                    gpointer user_data)
{
    GTask *task = g_task_new(NULL, NULL, callback, user_data);
    AgentDestPrepare *prep = g_new0(AgentDestPrepare, 1);
    AgentDestHooks *hooks;
    GError *error = NULL;
    DrvVmSpec *spec = NULL;
    JsonObject *source;
    AgentMigration *mig;

    g_task_set_source_tag(task, agent_migration_incoming_async);
    g_task_set_task_data(task, prep, agent_dest_prepare_free);
    if (!agent_dest_check(agent, request, &spec, &error)) {
        g_task_return_error(task, error);
        g_object_unref(task);
        return;
    }
    source = drv_json_object_or_null(request, "source");
    mig = agent_migration_new(agent, AGENT_MIGRATION_DESTINATION,
                              drv_json_string_or(request, "migration_id", NULL),
                              NULL);
    mig->vm_id = g_strdup(spec->id);
    mig->vm_name = g_strdup(spec->name);
    mig->peer_url = g_strdup(drv_json_string_or(source, "url", "unknown"));
    mig->peer_name = g_strdup(drv_json_string_or(source, "name", NULL));
    mig->params.post_copy = drv_json_bool_or(request, "post_copy", FALSE);
    mig->was_running = drv_json_bool_or(request, "was_running", TRUE);
    mig->params.plain_stream =
        !drv_json_bool_or(request, "stream_tuning", TRUE);
    mig->params.policy = g_strdup("incoming");
    g_hash_table_insert(agent->migrations, g_strdup(mig->id), mig);
    prep->mig = agent_migration_ref(mig);
    agent_migration_save(mig, NULL);
    g_message("incoming migration %s of VM %s from %s: prepare", mig->id,
              spec->name, mig->peer_url);

    hooks = g_new0(AgentDestHooks, 1);
    hooks->task = task;
    hooks->spec = spec;
    hooks->machine = g_strdup(drv_json_string_or(request, "machine", NULL));
    hooks->ram_kib = (guint64)drv_json_int_or(request, "ram_kib", 0);
    agent_migration_run_hooks(mig, "before_vm_migrate_destination", spec, NULL,
                              agent_dest_on_before_hooks, hooks);
}

JsonObject *agent_migration_incoming_finish(GAsyncResult *result,
                                            GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}

/* ---- recovery ---- */

static void agent_dest_on_recover_status(GObject *source, GAsyncResult *result,
                                         gpointer user_data)
{
    g_autoptr(AgentMigration) mig = user_data;
    AgentVm *vm = agent_dest_vm(mig);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node =
        vm ? agent_vm_qmp_finish(vm, result, &error) : NULL;
    const char *status =
        node ? drv_json_string_or(json_node_get_object(node), "status", "")
             : "";

    if (g_str_equal(status, "running")) {
        mig->resume_us =
            vm->last_resume_us ? vm->last_resume_us : g_get_real_time();
        agent_vm_set_state(vm, AGENT_VM_RUNNING, "migrated in");
        agent_migration_end(mig, AGENT_MIGRATION_COMPLETED, NULL);
        return;
    }
    /* finish had been asked: resume once the stream is complete */
    mig->timer_id = g_timeout_add(AGENT_DEST_FINISH_WAIT_MS,
                                  agent_dest_on_finish_timeout, mig);
    agent_vm_qmp_async(vm, "query-migrate", NULL, 0,
                       agent_dest_on_incoming_info, agent_migration_ref(mig));
}

void agent_migration_dest_recover(AgentMigration *mig)
{
    AgentVm *vm = agent_dest_vm(mig);
    g_autoptr(GError) error = NULL;

    if (vm == NULL || vm->pid <= 0) {
        error = g_error_new(DRV_ERROR, DRV_ERROR_MIGRATION,
                            "the incoming QEMU is gone after an agent "
                            "restart");
        agent_dest_discard(mig, AGENT_MIGRATION_FAILED, error);
        return;
    }
    if (mig->phase == AGENT_MIGRATION_PREPARE) {
        error = g_error_new(DRV_ERROR, DRV_ERROR_MIGRATION,
                            "agent restarted during prepare");
        agent_dest_discard(mig, AGENT_MIGRATION_FAILED, error);
        return;
    }
    agent_vm_qmp_async(vm, "query-status", NULL, 0,
                       agent_dest_on_recover_status, agent_migration_ref(mig));
}
