#include "agent/vm.h"

#include <glib/gstdio.h>
#include <unistd.h>

#include "agent/migration.h"
#include "common/error.h"
#include "common/fileutil.h"
#include "common/json.h"
#include "common/predict.h"

#define AGENT_VM_QMP_RETRY_S 2
#define AGENT_VM_QUIT_TIMEOUT_MS 3000

static const char *const agent_vm_state_names[] = {
    [AGENT_VM_STARTING] = "starting",
    [AGENT_VM_RUNNING] = "running",
    [AGENT_VM_PAUSED] = "paused",
    [AGENT_VM_MIGRATING] = "migrating",
    [AGENT_VM_INCOMING] = "incoming",
    [AGENT_VM_SHUTTING_DOWN] = "shutting_down",
    [AGENT_VM_DOWN] = "down",
};

const char *agent_vm_state_name(AgentVmState state)
{
    return agent_vm_state_names[state];
}

static gboolean agent_vm_state_from_name(const char *name, AgentVmState *out)
{
    for (guint i = 0; i < G_N_ELEMENTS(agent_vm_state_names); i++) {
        if (g_strcmp0(name, agent_vm_state_names[i]) == 0) {
            *out = (AgentVmState)i;
            return TRUE;
        }
    }
    return FALSE;
}

AgentVm *agent_vm_new(Agent *agent, DrvVmSpec *spec, const char *machine,
                      guint64 ram_kib)
{
    AgentVm *vm = g_new0(AgentVm, 1);

    vm->ram_kib =
        ram_kib ? ram_kib : agent_qemu_ram_kib(agent->caps, spec->memory_mib);
    vm->ref = 1;
    vm->agent = agent;
    vm->spec = spec;
    vm->machine = g_strdup(machine);
    vm->state = AGENT_VM_STARTING;
    vm->dir = agent_vm_dir(agent, spec->id);
    vm->created_us = g_get_real_time();
    vm->exit_waiters = g_ptr_array_new();
    vm->dirty_rate_bps = -1;
    return vm;
}

AgentVm *agent_vm_ref(AgentVm *vm)
{
    g_atomic_int_inc(&vm->ref);
    return vm;
}

static void agent_vm_drop_qmp(AgentVm *vm)
{
    if (vm->qmp != NULL) {
        qmp_client_set_event_handler(vm->qmp, NULL, NULL, NULL);
        qmp_client_set_closed_handler(vm->qmp, NULL, NULL, NULL);
        qmp_client_close(vm->qmp);
        g_clear_object(&vm->qmp);
    }
}

void agent_vm_unref(AgentVm *vm)
{
    if (vm == NULL || !g_atomic_int_dec_and_test(&vm->ref)) {
        return;
    }
    agent_qemu_unwatch(vm->exit_watch);
    if (vm->shutdown_timer) {
        g_source_remove(vm->shutdown_timer);
    }
    agent_vm_drop_qmp(vm);
    agent_console_free(vm->console);
    agent_qemu_paths_free(vm->paths);
    drv_vm_spec_free(vm->spec);
    g_ptr_array_unref(vm->exit_waiters);
    g_free(vm->dir);
    g_free(vm->machine);
    g_free(vm->exit_reason);
    g_free(vm->shutdown_reason);
    g_free(vm);
}

AgentVm *agent_vm_lookup(Agent *agent, const char *id, GError **error)
{
    AgentVm *vm = id ? g_hash_table_lookup(agent->vms, id) : NULL;

    if (vm == NULL) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_NOT_FOUND,
                    "no VM %s on host %s", id ? id : "(none)",
                    agent->config->name);
    }
    return vm;
}

guint64 agent_vm_committed_mib(AgentVm *vm)
{
    if (vm->state == AGENT_VM_DOWN) {
        return 0;
    }
    return (guint64)vm->spec->memory_mib +
           vm->agent->config->memory_overhead_mib;
}

void agent_vm_sample_cpu(AgentVm *vm, guint host_cpus)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)vm->pid);
    g_autofree char *text = NULL;
    guint64 ticks;
    gint64 now = g_get_monotonic_time();

    if (vm->pid <= 0 || !g_file_get_contents(path, &text, NULL, NULL) ||
        !agent_host_parse_pid_stat(text, &ticks, NULL)) {
        vm->cpu_percent = 0;
        vm->cpu_sampled_us = 0;
        return;
    }
    if (vm->cpu_sampled_us > 0 && now > vm->cpu_sampled_us &&
        ticks >= vm->cpu_ticks) {
        double seconds = (double)(now - vm->cpu_sampled_us) / G_USEC_PER_SEC;
        double used =
            (double)(ticks - vm->cpu_ticks) / (double)sysconf(_SC_CLK_TCK);

        vm->cpu_percent =
            MIN(100.0, 100.0 * used / (seconds * MAX(host_cpus, 1)));
    }
    vm->cpu_ticks = ticks;
    vm->cpu_sampled_us = now;
}

gboolean agent_vm_is_running(AgentVm *vm)
{
    return vm->pid > 0 && vm->last_resume_us >= vm->last_stop_us &&
           vm->last_resume_us > 0;
}

gboolean agent_vm_save(AgentVm *vm, GError **error)
{
    g_autoptr(JsonObject) obj = json_object_new();
    g_autofree char *path = g_build_filename(vm->dir, "vm.json", NULL);

    if (!drv_mkdir_p(vm->dir, 0700, error)) {
        return FALSE;
    }
    json_object_set_object_member(obj, "spec", drv_vm_spec_to_json(vm->spec));
    json_object_set_string_member(obj, "machine", vm->machine);
    json_object_set_int_member(obj, "pid", vm->pid);
    json_object_set_string_member(obj, "state", agent_vm_state_name(vm->state));
    json_object_set_int_member(obj, "created_us", vm->created_us);
    json_object_set_int_member(obj, "started_us", vm->started_us);
    if (vm->exit_reason) {
        json_object_set_string_member(obj, "exit_reason", vm->exit_reason);
    }
    if (vm->paths) {
        json_object_set_string_member(obj, "qmp_socket", vm->paths->qmp_socket);
        json_object_set_string_member(obj, "console_socket",
                                      vm->paths->console_socket);
    }
    if (vm->migration) {
        json_object_set_string_member(obj, "migration_id", vm->migration->id);
    }
    return drv_json_save_object_file(path, obj, error);
}

void agent_vm_set_state(AgentVm *vm, AgentVmState state, const char *reason)
{
    g_autoptr(GError) error = NULL;
    JsonObject *data;
    AgentVmState previous = vm->state;

    if (previous == state) {
        return;
    }
    vm->state = state;
    data = json_object_new();
    json_object_set_string_member(data, "vm_id", vm->spec->id);
    json_object_set_string_member(data, "name", vm->spec->name);
    json_object_set_string_member(data, "state", agent_vm_state_name(state));
    json_object_set_string_member(data, "previous",
                                  agent_vm_state_name(previous));
    if (reason) {
        json_object_set_string_member(data, "reason", reason);
    }
    agent_event(vm->agent, "vm_state", data);
    if (g_hash_table_lookup(vm->agent->vms, vm->spec->id) == vm &&
        !agent_vm_save(vm, &error)) {
        g_warning("VM %s: cannot persist state: %s", vm->spec->name,
                  error->message);
    }
}

/* ---- QEMU events, monitor loss and exit ---- */

static void agent_vm_on_qmp_event(QmpClient *client, const char *name,
                                  JsonObject *data, gint64 timestamp_us,
                                  const char *raw, gpointer user_data)
{
    AgentVm *vm = user_data;
    g_autoptr(AgentVm) hold = agent_vm_ref(vm);
    JsonObject *event = json_object_new();

    if (g_str_equal(name, "STOP")) {
        vm->last_stop_us = timestamp_us;
        if (vm->state == AGENT_VM_RUNNING) {
            agent_vm_set_state(vm, AGENT_VM_PAUSED, "paused in QEMU");
        }
    } else if (g_str_equal(name, "RESUME")) {
        vm->last_resume_us = timestamp_us;
        if (vm->state == AGENT_VM_PAUSED) {
            agent_vm_set_state(vm, AGENT_VM_RUNNING, "resumed in QEMU");
        }
    } else if (g_str_equal(name, "SHUTDOWN")) {
        g_free(vm->shutdown_reason);
        vm->shutdown_reason =
            g_strdup(drv_json_string_or(data, "reason", "unknown"));
    }
    json_object_set_string_member(event, "vm_id", vm->spec->id);
    json_object_set_string_member(event, "event", name);
    json_object_set_int_member(event, "timestamp_us", timestamp_us);
    if (data != NULL) {
        json_object_set_object_member(event, "data", json_object_ref(data));
    }
    agent_event(vm->agent, "qemu_event", event);
    if (vm->migration != NULL) {
        agent_migration_on_qmp_event(vm->migration, name, data, timestamp_us);
    }
}

static void agent_vm_attach_qmp(AgentVm *vm);

static gboolean agent_vm_qmp_retry(gpointer user_data)
{
    AgentVm *vm = user_data;

    if (vm->pid > 0 && vm->qmp == NULL) {
        agent_vm_attach_qmp(vm);
    }
    agent_vm_unref(vm);
    return G_SOURCE_REMOVE;
}

static void agent_vm_on_qmp_closed(QmpClient *client, const GError *error,
                                   gpointer user_data)
{
    AgentVm *vm = user_data;

    /*
     * The process watch decides whether QEMU is gone; a monitor lost while
     * QEMU lives is reconnected.
     */
    if (vm->qmp == client) {
        g_clear_object(&vm->qmp);
    }
    if (vm->pid > 0 && agent_qemu_pid_matches(vm->pid, vm->spec->id)) {
        g_message("VM %s: QMP connection lost (%s); reconnecting",
                  vm->spec->name, error ? error->message : "closed");
        g_timeout_add_seconds(AGENT_VM_QMP_RETRY_S, agent_vm_qmp_retry,
                              agent_vm_ref(vm));
    }
}

static void agent_vm_on_qmp_reconnected(GObject *source, GAsyncResult *result,
                                        gpointer user_data)
{
    g_autoptr(AgentVm) vm = user_data;
    g_autoptr(QmpClient) client = QMP_CLIENT(source);
    g_autoptr(GError) error = NULL;

    if (!qmp_client_connect_finish(client, result, &error)) {
        if (vm->pid > 0) {
            g_timeout_add_seconds(AGENT_VM_QMP_RETRY_S, agent_vm_qmp_retry,
                                  agent_vm_ref(vm));
        }
        return;
    }
    if (vm->pid == 0 || vm->qmp != NULL) {
        qmp_client_close(client);
        return;
    }
    vm->qmp = g_steal_pointer(&client);
    qmp_client_set_event_handler(vm->qmp, agent_vm_on_qmp_event, vm, NULL);
    qmp_client_set_closed_handler(vm->qmp, agent_vm_on_qmp_closed, vm, NULL);
}

static void agent_vm_attach_qmp(AgentVm *vm)
{
    QmpClient *client = qmp_client_new(0);

    qmp_client_connect_async(client, vm->paths->qmp_socket,
                             AGENT_VM_QMP_CONNECT_MS, NULL,
                             agent_vm_on_qmp_reconnected, agent_vm_ref(vm));
}

static void agent_vm_unlink_runtime(AgentVm *vm)
{
    g_autofree char *pidfile = g_build_filename(vm->dir, "qemu.pid", NULL);

    if (vm->paths) {
        g_unlink(vm->paths->qmp_socket);
        g_unlink(vm->paths->console_socket);
    }
    g_unlink(pidfile);
}

static void agent_vm_on_exit(GPid pid, gpointer user_data)
{
    AgentVm *vm = user_data;
    g_autoptr(AgentVm) hold = agent_vm_ref(vm);
    g_autofree char *reason = NULL;
    g_autoptr(GPtrArray) waiters = NULL;

    vm->exit_watch = 0;
    vm->pid = 0;
    if (vm->shutdown_timer) {
        g_source_remove(vm->shutdown_timer);
        vm->shutdown_timer = 0;
    }
    agent_vm_drop_qmp(vm);
    if (vm->console) {
        agent_console_disconnect(vm->console);
    }
    agent_vm_unlink_runtime(vm);
    if (vm->exit_reason != NULL) {
        reason = g_strdup(vm->exit_reason);
    } else if (g_strcmp0(vm->shutdown_reason, "guest-shutdown") == 0) {
        reason = g_strdup("guest shut down");
    } else if (vm->shutdown_reason != NULL) {
        reason = g_strdup_printf("QEMU shut down (%s)", vm->shutdown_reason);
    } else {
        reason = g_strdup("QEMU exited unexpectedly");
    }
    g_free(vm->exit_reason);
    vm->exit_reason = g_strdup(reason);
    g_message("VM %s: QEMU %d exited: %s", vm->spec->name, (int)pid, reason);
    agent_vm_set_state(vm, AGENT_VM_DOWN, reason);
    if (vm->migration != NULL) {
        agent_migration_on_vm_exit(vm->migration);
    }
    waiters = g_steal_pointer(&vm->exit_waiters);
    vm->exit_waiters = g_ptr_array_new();
    for (guint i = 0; i < waiters->len; i++) {
        GTask *task = g_ptr_array_index(waiters, i);

        g_task_return_boolean(task, TRUE);
        g_object_unref(task);
    }
}

/* ---- start ---- */

typedef struct {
    AgentVm *vm;
    gboolean incoming;
} AgentVmOp;

static void agent_vm_op_free(gpointer p)
{
    AgentVmOp *op = p;

    agent_vm_unref(op->vm);
    g_free(op);
}

static GTask *agent_vm_task_new(AgentVm *vm, GCancellable *cancellable,
                                GAsyncReadyCallback callback,
                                gpointer user_data, gpointer tag)
{
    GTask *task = g_task_new(NULL, cancellable, callback, user_data);
    AgentVmOp *op = g_new0(AgentVmOp, 1);

    op->vm = agent_vm_ref(vm);
    g_task_set_task_data(task, op, agent_vm_op_free);
    g_task_set_source_tag(task, tag);
    return task;
}

static AgentVm *agent_vm_task_vm(GTask *task)
{
    return ((AgentVmOp *)g_task_get_task_data(task))->vm;
}

/* A start that failed after QEMU came up must not leave it behind. */
static void agent_vm_start_fail(GTask *task, GError *error)
{
    AgentVm *vm = agent_vm_task_vm(task);

    if (vm->pid > 0) {
        g_free(vm->exit_reason);
        vm->exit_reason = g_strdup_printf("start failed: %s", error->message);
        agent_qemu_kill(vm->pid);
    }
    g_task_return_error(task, error);
    g_object_unref(task);
}

static void agent_vm_on_cont(GObject *source, GAsyncResult *result,
                             gpointer user_data)
{
    GTask *task = user_data;
    AgentVm *vm = agent_vm_task_vm(task);
    GError *error = NULL;
    g_autoptr(JsonNode) node = agent_vm_qmp_finish(vm, result, &error);

    if (node == NULL) {
        agent_vm_start_fail(task, error);
        return;
    }
    vm->started_us = g_get_real_time();
    agent_vm_set_state(vm, AGENT_VM_RUNNING, "started");
    g_task_return_boolean(task, TRUE);
    g_object_unref(task);
}

static void agent_vm_on_console(GObject *source, GAsyncResult *result,
                                gpointer user_data)
{
    GTask *task = user_data;
    AgentVm *vm = agent_vm_task_vm(task);
    AgentVmOp *op = g_task_get_task_data(task);
    GError *error = NULL;

    if (!agent_console_connect_finish(vm->console, result, &error)) {
        agent_vm_start_fail(task, error);
        return;
    }
    if (op->incoming) {
        agent_vm_set_state(vm, AGENT_VM_INCOMING, "waiting for migration");
        g_task_return_boolean(task, TRUE);
        g_object_unref(task);
        return;
    }
    agent_vm_qmp_async(vm, "cont", NULL, 0, agent_vm_on_cont, task);
}

static void agent_vm_on_qmp(GObject *source, GAsyncResult *result,
                            gpointer user_data)
{
    GTask *task = user_data;
    AgentVm *vm = agent_vm_task_vm(task);
    g_autoptr(QmpClient) client = QMP_CLIENT(source);
    GError *error = NULL;

    if (!qmp_client_connect_finish(client, result, &error)) {
        agent_vm_start_fail(task, error);
        return;
    }
    vm->qmp = g_steal_pointer(&client);
    qmp_client_set_event_handler(vm->qmp, agent_vm_on_qmp_event, vm, NULL);
    qmp_client_set_closed_handler(vm->qmp, agent_vm_on_qmp_closed, vm, NULL);
    agent_console_connect_async(vm->console, AGENT_VM_QMP_CONNECT_MS, NULL,
                                agent_vm_on_console, task);
}

static void agent_vm_on_spawned(GObject *source, GAsyncResult *result,
                                gpointer user_data)
{
    GTask *task = user_data;
    AgentVm *vm = agent_vm_task_vm(task);
    GError *error = NULL;
    g_autoptr(GError) save_error = NULL;
    GPid pid = agent_qemu_spawn_finish(result, &error);

    if (pid == 0) {
        agent_vm_start_fail(task, error);
        return;
    }
    vm->pid = pid;
    vm->exit_watch = agent_qemu_watch(pid, agent_vm_on_exit, vm);
    if (vm->exit_watch == 0) {
        vm->pid = 0;
        agent_vm_start_fail(task, g_error_new(DRV_ERROR, DRV_ERROR_QEMU,
                                              "QEMU (pid %d) exited at once",
                                              (int)pid));
        return;
    }
    if (!agent_vm_save(vm, &save_error)) {
        agent_vm_start_fail(task, g_steal_pointer(&save_error));
        return;
    }
    qmp_client_connect_async(qmp_client_new(0), vm->paths->qmp_socket,
                             AGENT_VM_QMP_CONNECT_MS, NULL, agent_vm_on_qmp,
                             task);
}

void agent_vm_start_async(AgentVm *vm, AgentQemuStart start,
                          GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *task = agent_vm_task_new(vm, cancellable, callback, user_data,
                                    agent_vm_start_async);
    Agent *agent = vm->agent;
    GError *error = NULL;
    g_auto(GStrv) argv = NULL;
    g_autofree char *log = NULL;

    ((AgentVmOp *)g_task_get_task_data(task))->incoming =
        start != AGENT_QEMU_RUN;
    if (!drv_mkdir_p(vm->dir, 0700, &error)) {
        agent_vm_start_fail(task, error);
        return;
    }
    agent_qemu_paths_free(vm->paths);
    vm->paths = agent_qemu_paths_new(agent->config, vm->spec, vm->dir, &error);
    if (vm->paths == NULL) {
        agent_vm_start_fail(task, error);
        return;
    }
    argv = agent_qemu_build_argv(agent->config, agent->caps->accel, vm->spec,
                                 vm->machine, vm->ram_kib, vm->paths, start,
                                 &error);
    if (argv == NULL) {
        agent_vm_start_fail(task, error);
        return;
    }
    log = g_build_filename(vm->dir, "console.log", NULL);
    agent_console_free(vm->console);
    vm->console =
        agent_console_new(vm->paths->console_socket, log,
                          (gsize)agent->config->console_log_max_kib * 1024,
                          AGENT_VM_CONSOLE_RING, &error);
    if (vm->console == NULL) {
        agent_vm_start_fail(task, error);
        return;
    }
    g_unlink(vm->paths->qmp_socket);
    g_unlink(vm->paths->console_socket);
    if (!agent_vm_save(vm, &error)) {
        agent_vm_start_fail(task, error);
        return;
    }
    agent_qemu_spawn_async(argv, vm->paths->pidfile, cancellable,
                           agent_vm_on_spawned, task);
}

gboolean agent_vm_start_finish(AgentVm *vm, GAsyncResult *result,
                               GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}

/* ---- recovery ---- */

typedef struct {
    guint pending;
} AgentVmRecover;

static void agent_vm_recover_done(GTask *task)
{
    AgentVmRecover *rec = g_task_get_task_data(task);

    if (--rec->pending == 0) {
        g_task_return_boolean(task, TRUE);
        g_object_unref(task);
    }
}

static void agent_vm_on_recovered_status(GObject *source, GAsyncResult *result,
                                         gpointer user_data)
{
    GTask *task = user_data;
    g_autoptr(AgentVm) vm = g_object_steal_data(G_OBJECT(source), "drv-vm");
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node =
        qmp_client_execute_finish(QMP_CLIENT(source), result, &error);
    const char *status = NULL;

    if (node == NULL) {
        g_warning("VM %s: query-status after reattach failed: %s",
                  vm->spec->name, error->message);
        agent_vm_recover_done(task);
        return;
    }
    status = drv_json_string_or(json_node_get_object(node), "status", "");
    if (g_str_equal(status, "running")) {
        vm->last_resume_us = g_get_real_time();
    } else {
        vm->last_stop_us = g_get_real_time();
    }
    /* a migration in progress decides the state once it is reconciled */
    if (vm->state != AGENT_VM_MIGRATING && vm->state != AGENT_VM_INCOMING) {
        agent_vm_set_state(vm,
                           g_str_equal(status, "running") ? AGENT_VM_RUNNING
                           : g_str_equal(status, "inmigrate")
                               ? AGENT_VM_INCOMING
                               : AGENT_VM_PAUSED,
                           "reattached after agent restart");
    }
    g_message("VM %s: reattached to QEMU %d (%s)", vm->spec->name, (int)vm->pid,
              status);
    agent_vm_recover_done(task);
}

static void agent_vm_on_recovered_qmp(GObject *source, GAsyncResult *result,
                                      gpointer user_data)
{
    GTask *task = user_data;
    g_autoptr(QmpClient) client = QMP_CLIENT(source);
    AgentVm *vm = g_object_get_data(G_OBJECT(client), "drv-vm");
    g_autoptr(GError) error = NULL;

    if (!qmp_client_connect_finish(client, result, &error)) {
        g_autoptr(AgentVm) owned =
            g_object_steal_data(G_OBJECT(client), "drv-vm");

        /* QEMU runs but its monitor does not answer: keep trying */
        g_warning("VM %s: cannot reattach QMP: %s", owned->spec->name,
                  error->message);
        g_timeout_add_seconds(AGENT_VM_QMP_RETRY_S, agent_vm_qmp_retry,
                              agent_vm_ref(owned));
        agent_vm_recover_done(task);
        return;
    }
    vm->qmp = g_object_ref(client);
    qmp_client_set_event_handler(vm->qmp, agent_vm_on_qmp_event, vm, NULL);
    qmp_client_set_closed_handler(vm->qmp, agent_vm_on_qmp_closed, vm, NULL);
    qmp_client_execute_async(client, "query-status", NULL, 0, NULL,
                             agent_vm_on_recovered_status, task);
}

static void agent_vm_on_recovered_console(GObject *source, GAsyncResult *result,
                                          gpointer user_data)
{
    g_autoptr(AgentVm) vm = user_data;
    g_autoptr(GError) error = NULL;

    if (!agent_console_connect_finish(vm->console, result, &error)) {
        g_warning("VM %s: cannot reattach the console: %s", vm->spec->name,
                  error->message);
    }
}

static AgentVm *agent_vm_load(Agent *agent, const char *path, GError **error)
{
    g_autoptr(JsonObject) obj = drv_json_load_object_file(path, error);
    JsonObject *spec_obj;
    DrvVmSpec *spec;
    AgentVm *vm;
    const char *qmp_socket;
    const char *console_socket;

    if (obj == NULL) {
        return NULL;
    }
    spec_obj = drv_json_object_or_null(obj, "spec");
    if (spec_obj == NULL) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INTERNAL, "%s has no spec",
                    path);
        return NULL;
    }
    spec = drv_vm_spec_from_json(spec_obj, FALSE, error);
    if (spec == NULL) {
        g_prefix_error(error, "%s: ", path);
        return NULL;
    }
    vm = agent_vm_new(
        agent, spec,
        drv_json_string_or(obj, "machine", agent->caps->default_machine),
        (guint64)drv_json_int_or(obj, "ram_kib", 0));
    agent_vm_state_from_name(drv_json_string_or(obj, "state", "down"),
                             &vm->state);
    vm->pid = (GPid)drv_json_int_or(obj, "pid", 0);
    vm->created_us = drv_json_int_or(obj, "created_us", 0);
    vm->started_us = drv_json_int_or(obj, "started_us", 0);
    vm->exit_reason = g_strdup(drv_json_string_or(obj, "exit_reason", NULL));
    qmp_socket = drv_json_string_or(obj, "qmp_socket", NULL);
    console_socket = drv_json_string_or(obj, "console_socket", NULL);
    if (qmp_socket && console_socket) {
        vm->paths = g_new0(AgentQemuPaths, 1);
        vm->paths->qmp_socket = g_strdup(qmp_socket);
        vm->paths->console_socket = g_strdup(console_socket);
        vm->paths->pidfile = g_build_filename(vm->dir, "qemu.pid", NULL);
    }
    return vm;
}

static void agent_vm_recover_one(Agent *agent, const char *path, GTask *task)
{
    AgentVmRecover *rec = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;
    g_autoptr(AgentVm) vm = agent_vm_load(agent, path, &error);
    g_autofree char *log = NULL;
    QmpClient *client;

    if (vm == NULL) {
        g_warning("skipping VM record: %s", error->message);
        return;
    }
    g_hash_table_insert(agent->vms, g_strdup(vm->spec->id), agent_vm_ref(vm));
    if (vm->pid <= 0 || vm->paths == NULL ||
        !agent_qemu_pid_matches(vm->pid, vm->spec->id)) {
        if (vm->state != AGENT_VM_DOWN) {
            vm->pid = 0;
            g_free(vm->exit_reason);
            vm->exit_reason =
                g_strdup("QEMU exited while the agent was not running");
            g_message("VM %s: %s", vm->spec->name, vm->exit_reason);
            agent_vm_set_state(vm, AGENT_VM_DOWN, vm->exit_reason);
        }
        vm->pid = 0;
        return;
    }
    vm->exit_watch = agent_qemu_watch(vm->pid, agent_vm_on_exit, vm);
    log = g_build_filename(vm->dir, "console.log", NULL);
    vm->console =
        agent_console_new(vm->paths->console_socket, log,
                          (gsize)agent->config->console_log_max_kib * 1024,
                          AGENT_VM_CONSOLE_RING, &error);
    if (vm->console != NULL) {
        agent_console_connect_async(vm->console, AGENT_VM_QMP_CONNECT_MS, NULL,
                                    agent_vm_on_recovered_console,
                                    agent_vm_ref(vm));
    } else {
        g_warning("VM %s: console log: %s", vm->spec->name, error->message);
    }
    rec->pending++;
    client = qmp_client_new(0);
    g_object_set_data(G_OBJECT(client), "drv-vm", agent_vm_ref(vm));
    qmp_client_connect_async(client, vm->paths->qmp_socket,
                             AGENT_VM_QMP_CONNECT_MS, NULL,
                             agent_vm_on_recovered_qmp, task);
}

void agent_vm_recover_all_async(Agent *agent, GCancellable *cancellable,
                                GAsyncReadyCallback callback,
                                gpointer user_data)
{
    GTask *task = g_task_new(NULL, cancellable, callback, user_data);
    AgentVmRecover *rec = g_new0(AgentVmRecover, 1);
    g_autofree char *base =
        g_build_filename(agent->config->state_dir, "vms", NULL);
    g_autoptr(GDir) dir = g_dir_open(base, 0, NULL);
    const char *name;

    g_task_set_task_data(task, rec, g_free);
    /* one for this loop, so that synchronous completions cannot end it */
    rec->pending = 1;
    while (dir && (name = g_dir_read_name(dir)) != NULL) {
        g_autofree char *path = g_build_filename(base, name, "vm.json", NULL);

        if (g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
            agent_vm_recover_one(agent, path, task);
        }
    }
    agent_vm_recover_done(task);
}

gboolean agent_vm_recover_all_finish(Agent *agent, GAsyncResult *result,
                                     GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}

/* ---- shutdown and kill ---- */

static void agent_vm_kill_after(AgentVm *vm, const char *reason);

static gboolean agent_vm_on_shutdown_timeout(gpointer user_data)
{
    AgentVm *vm = user_data;

    vm->shutdown_timer = 0;
    g_message("VM %s: guest did not power off in time; destroying",
              vm->spec->name);
    agent_vm_kill_after(vm, "shutdown timed out: destroyed");
    return G_SOURCE_REMOVE;
}

static void agent_vm_on_powerdown(GObject *source, GAsyncResult *result,
                                  gpointer user_data)
{
    g_autoptr(AgentVm) vm = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = agent_vm_qmp_finish(vm, result, &error);

    if (node == NULL && vm->pid > 0) {
        g_warning("VM %s: system_powerdown failed (%s); destroying",
                  vm->spec->name, error->message);
        agent_vm_kill_after(vm, "shutdown failed: destroyed");
    }
}

gboolean agent_vm_shutdown(AgentVm *vm, guint timeout_s, GError **error)
{
    if (vm->state != AGENT_VM_RUNNING && vm->state != AGENT_VM_PAUSED) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_CONFLICT,
                    "VM %s is %s: only a running or paused VM can be shut "
                    "down",
                    vm->spec->name, agent_vm_state_name(vm->state));
        return FALSE;
    }
    agent_vm_set_state(vm, AGENT_VM_SHUTTING_DOWN, "shutdown requested");
    /* a deadline the caller was promised: never early */
    vm->shutdown_timer = g_timeout_add_full(
        G_PRIORITY_DEFAULT, timeout_s * 1000, agent_vm_on_shutdown_timeout,
        agent_vm_ref(vm), (GDestroyNotify)agent_vm_unref);
    agent_vm_qmp_async(vm, "system_powerdown", NULL, 0, agent_vm_on_powerdown,
                       agent_vm_ref(vm));
    return TRUE;
}

static gboolean agent_vm_on_kill_timeout(gpointer user_data)
{
    AgentVm *vm = user_data;

    if (vm->pid > 0) {
        g_message("VM %s: QEMU %d did not quit; killing it", vm->spec->name,
                  (int)vm->pid);
        agent_qemu_kill(vm->pid);
    }
    return G_SOURCE_REMOVE;
}

static void agent_vm_on_quit(GObject *source, GAsyncResult *result,
                             gpointer user_data)
{
    g_autoptr(AgentVm) vm = user_data;
    g_autoptr(JsonNode) node = agent_vm_qmp_finish(vm, result, NULL);

    if (node == NULL && vm->pid > 0) {
        agent_qemu_kill(vm->pid);
    }
}

/* Ask QEMU to quit; kill it if it does not go in time. */
static void agent_vm_kill_after(AgentVm *vm, const char *reason)
{
    if (vm->pid <= 0) {
        return;
    }
    if (!vm->destroying) {
        vm->destroying = TRUE;
        g_free(vm->exit_reason);
        vm->exit_reason = g_strdup(reason);
    }
    g_timeout_add_full(G_PRIORITY_DEFAULT, AGENT_VM_QUIT_TIMEOUT_MS,
                       agent_vm_on_kill_timeout, agent_vm_ref(vm),
                       (GDestroyNotify)agent_vm_unref);
    agent_vm_qmp_async(vm, "quit", NULL, AGENT_VM_QUIT_TIMEOUT_MS,
                       agent_vm_on_quit, agent_vm_ref(vm));
}

void agent_vm_kill_async(AgentVm *vm, const char *reason,
                         GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *task = g_task_new(NULL, NULL, callback, user_data);

    g_task_set_source_tag(task, agent_vm_kill_async);
    if (vm->pid <= 0) {
        if (vm->state != AGENT_VM_DOWN) {
            g_free(vm->exit_reason);
            vm->exit_reason = g_strdup(reason);
            agent_vm_set_state(vm, AGENT_VM_DOWN, reason);
        }
        g_task_return_boolean(task, TRUE);
        g_object_unref(task);
        return;
    }
    g_ptr_array_add(vm->exit_waiters, task);
    agent_vm_kill_after(vm, reason);
}

gboolean agent_vm_kill_finish(AgentVm *vm, GAsyncResult *result, GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}

void agent_vm_remove(AgentVm *vm)
{
    g_autofree char *record = g_build_filename(vm->dir, "vm.json", NULL);
    g_autofree char *id = g_strdup(vm->spec->id);

    agent_vm_unlink_runtime(vm);
    /* the directory stays: its console log outlives the VM's stay here */
    g_unlink(record);
    g_hash_table_remove(vm->agent->vms, id);
}

/* ---- QMP ---- */

static void agent_vm_on_qmp_done(GObject *source, GAsyncResult *result,
                                 gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    GError *error = NULL;
    JsonNode *node =
        qmp_client_execute_finish(QMP_CLIENT(source), result, &error);

    if (node == NULL) {
        g_task_return_error(task, error);
        return;
    }
    g_task_return_pointer(task, node, (GDestroyNotify)json_node_unref);
}

void agent_vm_qmp_with_fd_async(AgentVm *vm, const char *command,
                                JsonObject *arguments, int fd, guint timeout_ms,
                                GAsyncReadyCallback callback,
                                gpointer user_data)
{
    GTask *task = g_task_new(NULL, NULL, callback, user_data);

    g_task_set_source_tag(task, agent_vm_qmp_async);
    if (vm->qmp == NULL || qmp_client_is_closed(vm->qmp)) {
        g_task_return_new_error(task, DRV_ERROR, DRV_ERROR_CONFLICT,
                                "VM %s: no connection to its QEMU monitor",
                                vm->spec->name);
        g_object_unref(task);
        return;
    }
    if (fd >= 0) {
        qmp_client_execute_with_fd_async(vm->qmp, command, arguments, fd,
                                         timeout_ms, NULL, agent_vm_on_qmp_done,
                                         task);
    } else {
        qmp_client_execute_async(vm->qmp, command, arguments, timeout_ms, NULL,
                                 agent_vm_on_qmp_done, task);
    }
}

void agent_vm_qmp_async(AgentVm *vm, const char *command, JsonObject *arguments,
                        guint timeout_ms, GAsyncReadyCallback callback,
                        gpointer user_data)
{
    agent_vm_qmp_with_fd_async(vm, command, arguments, -1, timeout_ms, callback,
                               user_data);
}

JsonNode *agent_vm_qmp_finish(AgentVm *vm, GAsyncResult *result, GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}

/* ---- JSON ---- */

JsonObject *agent_vm_to_json(AgentVm *vm, gboolean with_spec)
{
    JsonObject *obj = json_object_new();

    json_object_set_string_member(obj, "id", vm->spec->id);
    json_object_set_string_member(obj, "name", vm->spec->name);
    json_object_set_string_member(obj, "state", agent_vm_state_name(vm->state));
    json_object_set_int_member(obj, "memory_mib", vm->spec->memory_mib);
    json_object_set_int_member(obj, "vcpus", vm->spec->vcpus);
    json_object_set_int_member(obj, "pid", vm->pid);
    json_object_set_double_member(obj, "cpu_percent",
                                  (double)(gint64)(vm->cpu_percent * 10) / 10);
    if (vm->dirty_rate_bps >= 0) {
        json_object_set_int_member(obj, "dirty_rate_bps", vm->dirty_rate_bps);
        json_object_set_int_member(obj, "dirty_rate_age_s",
                                   (g_get_real_time() - vm->dirty_rate_us) /
                                       G_USEC_PER_SEC);
    } else {
        json_object_set_null_member(obj, "dirty_rate_bps");
    }
    json_object_set_string_member(obj, "machine", vm->machine);
    json_object_set_int_member(obj, "ram_kib", (gint64)vm->ram_kib);
    json_object_set_boolean_member(obj, "monitor_connected",
                                   vm->qmp != NULL &&
                                       !qmp_client_is_closed(vm->qmp));
    json_object_set_int_member(obj, "created_us", vm->created_us);
    json_object_set_int_member(obj, "started_us", vm->started_us);
    if (vm->exit_reason && vm->state == AGENT_VM_DOWN) {
        json_object_set_string_member(obj, "exit_reason", vm->exit_reason);
    }
    if (vm->migration) {
        json_object_set_object_member(obj, "migration",
                                      agent_migration_to_json(vm->migration));
    } else {
        json_object_set_null_member(obj, "migration");
    }
    if (with_spec) {
        json_object_set_object_member(obj, "spec",
                                      drv_vm_spec_to_json(vm->spec));
    }
    return obj;
}

/* ---- dirty rate ---- */

/*
 * Pages hashed per GiB (QEMU: 512 by default, 128–16384): small guests
 * would otherwise be judged on a few dozen pages.
 */
#define AGENT_VM_DIRTY_RATE_SAMPLE_PAGES 4096
/*
 * After the period QEMU needs a moment to publish it, a large guest longer:
 * polled until drv_dirty_rate_sample_max_ms() has passed.
 */
#define AGENT_VM_DIRTY_RATE_POLL_MS 200

static gboolean agent_vm_dirty_rate_query(gpointer user_data);

/* Every waiter gets the one measurement; then the next may start. */
static void agent_vm_dirty_rate_done(AgentVm *vm, gint64 rate,
                                     const GError *error)
{
    g_autoptr(GPtrArray) waiters = g_steal_pointer(&vm->dirty_rate_waiters);

    if (error == NULL) {
        vm->dirty_rate_bps = rate;
    }
    /* a failure waits a full interval too: no hammering a busy QEMU */
    vm->dirty_rate_us = g_get_real_time();
    for (guint i = 0; i < waiters->len; i++) {
        GTask *task = g_ptr_array_index(waiters, i);

        if (error != NULL) {
            g_task_return_error(task, g_error_copy(error));
        } else {
            g_task_return_int(task, rate);
        }
    }
    agent_vm_unref(vm);
}

static void agent_vm_on_dirty_rate(GObject *source, GAsyncResult *result,
                                   gpointer user_data)
{
    AgentVm *vm = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = agent_vm_qmp_finish(vm, result, &error);
    JsonObject *info = node && JSON_NODE_HOLDS_OBJECT(node)
                           ? json_node_get_object(node)
                           : NULL;

    if (node == NULL) {
        agent_vm_dirty_rate_done(vm, -1, error);
        return;
    }
    if (g_strcmp0(drv_json_string_or(info, "status", ""), "measured") != 0) {
        if (g_get_monotonic_time() >= vm->dirty_rate_deadline_us) {
            g_set_error(&error, DRV_ERROR, DRV_ERROR_TIMEOUT,
                        "QEMU did not finish measuring the dirty rate of VM "
                        "%s",
                        vm->spec->name);
            agent_vm_dirty_rate_done(vm, -1, error);
            return;
        }
        g_timeout_add(AGENT_VM_DIRTY_RATE_POLL_MS, agent_vm_dirty_rate_query,
                      vm);
        return;
    }
    /* QEMU says MiB/s */
    agent_vm_dirty_rate_done(
        vm, drv_json_int_or(info, "dirty-rate", 0) * 1024 * 1024, NULL);
}

static gboolean agent_vm_dirty_rate_query(gpointer user_data)
{
    AgentVm *vm = user_data;

    agent_vm_qmp_async(vm, "query-dirty-rate", NULL, 0, agent_vm_on_dirty_rate,
                       vm);
    return G_SOURCE_REMOVE;
}

static void agent_vm_on_dirty_rate_started(GObject *source,
                                           GAsyncResult *result,
                                           gpointer user_data)
{
    AgentVm *vm = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = agent_vm_qmp_finish(vm, result, &error);

    if (node == NULL) {
        agent_vm_dirty_rate_done(vm, -1, error);
        return;
    }
    g_timeout_add(vm->dirty_rate_seconds * 1000 +
                      AGENT_VM_DIRTY_RATE_POLL_MS / 2,
                  agent_vm_dirty_rate_query, vm);
}

void agent_vm_dirty_rate_async(AgentVm *vm, guint seconds,
                               GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *task = g_task_new(NULL, NULL, callback, user_data);
    g_autoptr(JsonObject) args = NULL;

    /* QEMU measures one at a time: a caller joins the one under way */
    if (vm->dirty_rate_waiters != NULL) {
        g_ptr_array_add(vm->dirty_rate_waiters, task);
        return;
    }
    vm->dirty_rate_waiters = g_ptr_array_new_with_free_func(g_object_unref);
    g_ptr_array_add(vm->dirty_rate_waiters, task);
    vm->dirty_rate_seconds = CLAMP(seconds, 1, AGENT_VM_DIRTY_RATE_MAX_S);
    vm->dirty_rate_deadline_us =
        g_get_monotonic_time() +
        (gint64)drv_dirty_rate_sample_max_ms(vm->spec->memory_mib,
                                             vm->dirty_rate_seconds) *
            1000;
    args = json_object_new();
    json_object_set_int_member(args, "calc-time", vm->dirty_rate_seconds);
    json_object_set_int_member(args, "sample-pages",
                               AGENT_VM_DIRTY_RATE_SAMPLE_PAGES);
    agent_vm_qmp_async(vm, "calc-dirty-rate", args, 0,
                       agent_vm_on_dirty_rate_started, agent_vm_ref(vm));
}

gint64 agent_vm_dirty_rate_finish(AgentVm *vm, GAsyncResult *result,
                                  GError **error)
{
    return g_task_propagate_int(G_TASK(result), error);
}

gboolean agent_vm_dirty_rate_recent(AgentVm *vm, gint64 max_age_us,
                                    gint64 *rate)
{
    if (vm->dirty_rate_bps < 0 ||
        g_get_real_time() - vm->dirty_rate_us > max_age_us) {
        return FALSE;
    }
    *rate = vm->dirty_rate_bps;
    return TRUE;
}

static void agent_vm_on_refreshed(GObject *source, GAsyncResult *result,
                                  gpointer user_data)
{
    /* kept on the VM by agent_vm_dirty_rate_done(); nobody waits */
    g_autoptr(GError) error = NULL;

    agent_vm_dirty_rate_finish(NULL, result, &error);
}

void agent_vm_refresh_dirty_rate(AgentVm *vm, guint interval_s)
{
    if (interval_s == 0 || vm->state != AGENT_VM_RUNNING ||
        vm->dirty_rate_waiters != NULL ||
        g_get_real_time() - vm->dirty_rate_us <
            (gint64)interval_s * G_USEC_PER_SEC) {
        return;
    }
    agent_vm_dirty_rate_async(vm, 1, agent_vm_on_refreshed, NULL);
}
