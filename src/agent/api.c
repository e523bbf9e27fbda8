/*
 * The agent's REST API (/v1).  Handlers are the top of the call chain: they
 * validate, call into the VM and migration code, answer, and log what an
 * administrator wants in the journal.
 */
#include "agent/agent.h"
#include "agent/migration.h"
#include "agent/vm.h"
#include "common/error.h"
#include "common/glib-extra.h"
#include "common/json.h"

#define AGENT_API_CONSOLE_MAX 2000
#define AGENT_API_EVENTS_MAX 1000
#define AGENT_API_SHUTDOWN_MAX_S 3600

/* A request held across an asynchronous operation on a VM. */
typedef struct {
    DrvHttpRequest *req;
    AgentVm *vm;
} ApiCall;

static ApiCall *api_call_new(DrvHttpRequest *req, AgentVm *vm)
{
    ApiCall *call = g_new0(ApiCall, 1);

    call->req = drv_http_request_hold(req);
    call->vm = vm ? agent_vm_ref(vm) : NULL;
    return call;
}

static void api_call_free(ApiCall *call)
{
    drv_http_request_unref(call->req);
    agent_vm_unref(call->vm);
    g_free(call);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ApiCall, api_call_free)

static void api_reply_error(DrvHttpRequest *req, const GError *error)
{
    g_info("%s %s from %s: %s", drv_http_request_method(req),
           drv_http_request_path(req), drv_http_request_peer(req),
           error->message);
    drv_http_reply_error(req, error);
}

static AgentVm *api_vm(Agent *agent, DrvHttpRequest *req)
{
    g_autoptr(GError) error = NULL;
    AgentVm *vm =
        agent_vm_lookup(agent, drv_http_request_param(req, "id"), &error);

    if (vm == NULL) {
        api_reply_error(req, error);
    }
    return vm;
}

static AgentMigration *api_migration(Agent *agent, DrvHttpRequest *req)
{
    g_autoptr(GError) error = NULL;
    AgentMigration *mig = agent_migration_lookup(
        agent, drv_http_request_param(req, "id"), &error);

    if (mig == NULL) {
        api_reply_error(req, error);
    }
    return mig;
}

/* The body as an object, answering the error itself when it is not one. */
static JsonObject *api_body(DrvHttpRequest *req, gboolean required)
{
    g_autoptr(GError) error = NULL;
    JsonObject *body = drv_http_request_json(req, required, &error);

    if (body == NULL) {
        api_reply_error(req, error);
    }
    return body;
}

static gint api_compare_vms(gconstpointer a, gconstpointer b)
{
    const AgentVm *va = *(AgentVm *const *)a;
    const AgentVm *vb = *(AgentVm *const *)b;

    if (va->created_us != vb->created_us) {
        return va->created_us < vb->created_us ? -1 : 1;
    }
    return g_strcmp0(va->spec->id, vb->spec->id);
}

static gint api_compare_migrations(gconstpointer a, gconstpointer b)
{
    const AgentMigration *ma = *(AgentMigration *const *)a;
    const AgentMigration *mb = *(AgentMigration *const *)b;

    if (ma->started_us != mb->started_us) {
        return ma->started_us < mb->started_us ? -1 : 1;
    }
    return g_strcmp0(ma->id, mb->id);
}

/* ---- host ---- */

static void api_get_host(DrvHttpRequest *req, gpointer user_data)
{
    drv_http_reply_object(req, 200, agent_host_facts(user_data));
}

/* ---- VMs ---- */

static void api_list_vms(DrvHttpRequest *req, gpointer user_data)
{
    Agent *agent = user_data;
    g_autoptr(GPtrArray) vms = drv_hash_table_values(agent->vms);
    JsonArray *list = json_array_new();
    JsonObject *out = json_object_new();

    g_ptr_array_sort(vms, api_compare_vms);
    for (guint i = 0; i < vms->len; i++) {
        json_array_add_object_element(
            list, agent_vm_to_json(g_ptr_array_index(vms, i), FALSE));
    }
    json_object_set_array_member(out, "vms", list);
    json_object_set_string_member(out, "host", agent->config->name);
    drv_http_reply_object(req, 200, out);
}

static void api_get_vm(DrvHttpRequest *req, gpointer user_data)
{
    AgentVm *vm = api_vm(user_data, req);

    if (vm != NULL) {
        drv_http_reply_object(req, 200, agent_vm_to_json(vm, TRUE));
    }
}

static void api_on_vm_started(GObject *source, GAsyncResult *result,
                              gpointer user_data)
{
    g_autoptr(ApiCall) call = user_data;
    AgentVm *vm = call->vm;
    g_autoptr(GError) error = NULL;

    if (!agent_vm_start_finish(vm, result, &error)) {
        g_warning("VM %s failed to start: %s", vm->spec->name, error->message);
        agent_vm_remove(vm);
        api_reply_error(call->req, error);
        return;
    }
    g_message("VM %s (%s) started, QEMU pid %d", vm->spec->name, vm->spec->id,
              (int)vm->pid);
    drv_http_reply_object(call->req, 201, agent_vm_to_json(vm, TRUE));
}

static void api_create_vm(DrvHttpRequest *req, gpointer user_data)
{
    Agent *agent = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) body = api_body(req, TRUE);
    g_autoptr(DrvVmSpec) spec = NULL;
    AgentVm *existing;
    AgentVm *vm;

    if (body == NULL) {
        return;
    }
    spec = drv_vm_spec_from_json(body, TRUE, &error);
    if (spec == NULL) {
        api_reply_error(req, error);
        return;
    }
    existing = g_hash_table_lookup(agent->vms, spec->id);
    if (existing != NULL && existing->state != AGENT_VM_DOWN) {
        g_set_error(&error, DRV_ERROR, DRV_ERROR_EXISTS,
                    "VM %s is already %s on %s", spec->id,
                    agent_vm_state_name(existing->state), agent->config->name);
        api_reply_error(req, error);
        return;
    }
    if (!agent_check_resources(agent, spec, &error)) {
        api_reply_error(req, error);
        return;
    }
    if (existing != NULL) {
        agent_vm_remove(existing);
    }
    vm = agent_vm_new(agent, g_steal_pointer(&spec),
                      agent->caps->default_machine, 0);
    g_hash_table_insert(agent->vms, g_strdup(vm->spec->id), vm);
    agent_vm_start_async(vm, AGENT_QEMU_RUN, NULL, api_on_vm_started,
                         api_call_new(req, vm));
}

static void api_shutdown_vm(DrvHttpRequest *req, gpointer user_data)
{
    Agent *agent = user_data;
    AgentVm *vm = api_vm(agent, req);
    g_autoptr(JsonObject) body = NULL;
    g_autoptr(GError) error = NULL;
    gint64 timeout = agent->config->shutdown_timeout_s;

    if (vm == NULL || (body = api_body(req, FALSE)) == NULL) {
        return;
    }
    if (!drv_json_get_int(body, "shutdown", "timeout_s", FALSE, 1,
                          AGENT_API_SHUTDOWN_MAX_S, &timeout, &error) ||
        !agent_vm_shutdown(vm, (guint)timeout, &error)) {
        api_reply_error(req, error);
        return;
    }
    g_message("VM %s: shutdown requested (destroyed after %" G_GINT64_FORMAT
              " s)",
              vm->spec->name, timeout);
    drv_http_reply_object(req, 202, agent_vm_to_json(vm, FALSE));
}

static void api_on_vm_destroyed(GObject *source, GAsyncResult *result,
                                gpointer user_data)
{
    g_autoptr(ApiCall) call = user_data;
    g_autoptr(GError) error = NULL;
    JsonObject *out;

    if (!agent_vm_kill_finish(call->vm, result, &error)) {
        api_reply_error(call->req, error);
        return;
    }
    out = agent_vm_to_json(call->vm, FALSE);
    json_object_set_string_member(out, "state", "destroyed");
    agent_vm_remove(call->vm);
    g_message("VM %s destroyed", call->vm->spec->name);
    drv_http_reply_object(call->req, 200, out);
}

static void api_destroy_vm(DrvHttpRequest *req, gpointer user_data)
{
    Agent *agent = user_data;
    AgentVm *vm = api_vm(agent, req);
    g_autoptr(GError) error = NULL;

    if (vm == NULL) {
        return;
    }
    if (vm->migration != NULL) {
        /* the VM cannot leave while it goes; cancelling first is the
         * caller's choice, not ours */
        g_set_error(&error, DRV_ERROR, DRV_ERROR_CONFLICT,
                    "VM %s is in migration %s: cancel it first", vm->spec->name,
                    vm->migration->id);
        api_reply_error(req, error);
        return;
    }
    agent_vm_kill_async(vm, "destroyed", api_on_vm_destroyed,
                        api_call_new(req, vm));
}

static void api_on_vm_qmp(GObject *source, GAsyncResult *result,
                          gpointer user_data)
{
    g_autoptr(ApiCall) call = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = agent_vm_qmp_finish(call->vm, result, &error);

    if (node == NULL) {
        api_reply_error(call->req, error);
        return;
    }
    drv_http_reply_object(call->req, 200, agent_vm_to_json(call->vm, FALSE));
}

static void api_pause_resume(DrvHttpRequest *req, Agent *agent,
                             const char *command)
{
    AgentVm *vm = api_vm(agent, req);
    g_autoptr(GError) error = NULL;

    if (vm == NULL) {
        return;
    }
    if (vm->state != AGENT_VM_RUNNING && vm->state != AGENT_VM_PAUSED) {
        g_set_error(&error, DRV_ERROR, DRV_ERROR_CONFLICT,
                    "VM %s is %s: only a running or paused VM can be "
                    "paused or resumed",
                    vm->spec->name, agent_vm_state_name(vm->state));
        api_reply_error(req, error);
        return;
    }
    g_message("VM %s: %s requested", vm->spec->name, command);
    agent_vm_qmp_async(vm, command, NULL, 0, api_on_vm_qmp,
                       api_call_new(req, vm));
}

static void api_pause_vm(DrvHttpRequest *req, gpointer user_data)
{
    api_pause_resume(req, user_data, "stop");
}

static void api_resume_vm(DrvHttpRequest *req, gpointer user_data)
{
    api_pause_resume(req, user_data, "cont");
}

static void api_get_console(DrvHttpRequest *req, gpointer user_data)
{
    AgentVm *vm = api_vm(user_data, req);
    g_autoptr(GError) error = NULL;
    gint64 from;
    gint64 max;
    guint64 next = 0;
    JsonObject *out;

    if (vm == NULL) {
        return;
    }
    if (!drv_http_request_query_int(req, "from", 0, G_MAXINT64, 0, &from,
                                    &error) ||
        !drv_http_request_query_int(req, "max", 1, AGENT_API_CONSOLE_MAX,
                                    AGENT_API_CONSOLE_MAX, &max, &error)) {
        api_reply_error(req, error);
        return;
    }
    out = json_object_new();
    json_object_set_string_member(out, "vm_id", vm->spec->id);
    if (vm->console != NULL) {
        json_object_set_array_member(
            out, "lines",
            agent_console_read(vm->console, (guint64)from, (guint)max, &next));
    } else {
        json_object_set_array_member(out, "lines", json_array_new());
        next = (guint64)from;
    }
    json_object_set_int_member(out, "next", (gint64)next);
    drv_http_reply_object(req, 200, out);
}

static void api_on_block(GObject *source, GAsyncResult *result,
                         gpointer user_data)
{
    g_autoptr(ApiCall) call = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = agent_vm_qmp_finish(call->vm, result, &error);
    JsonArray *devices;
    JsonArray *list = json_array_new();
    JsonObject *out = json_object_new();

    if (node == NULL) {
        json_array_unref(list);
        json_object_unref(out);
        api_reply_error(call->req, error);
        return;
    }
    devices = JSON_NODE_HOLDS_ARRAY(node) ? json_node_get_array(node) : NULL;
    for (guint i = 0; devices && i < json_array_get_length(devices); i++) {
        JsonObject *dev = json_array_get_object_element(devices, i);
        JsonObject *inserted = drv_json_object_or_null(dev, "inserted");
        JsonObject *disk = json_object_new();

        json_object_set_string_member(disk, "device",
                                      drv_json_string_or(dev, "device", ""));
        json_object_set_string_member(disk, "file",
                                      drv_json_string_or(inserted, "file", ""));
        json_object_set_string_member(disk, "format",
                                      drv_json_string_or(inserted, "drv", ""));
        json_object_set_boolean_member(disk, "read_only",
                                       drv_json_bool_or(inserted, "ro", FALSE));
        json_object_set_boolean_member(
            disk, "cache_direct",
            drv_json_bool_or(drv_json_object_or_null(inserted, "cache"),
                             "direct", FALSE));
        json_object_set_string_member(
            disk, "io_status", drv_json_string_or(dev, "io-status", "ok"));
        json_array_add_object_element(list, disk);
    }
    json_object_set_string_member(out, "vm_id", call->vm->spec->id);
    json_object_set_array_member(out, "disks", list);
    drv_http_reply_object(call->req, 200, out);
}

static void api_get_disks(DrvHttpRequest *req, gpointer user_data)
{
    AgentVm *vm = api_vm(user_data, req);

    if (vm != NULL) {
        agent_vm_qmp_async(vm, "query-block", NULL, 0, api_on_block,
                           api_call_new(req, vm));
    }
}

/* ---- dirty rate ---- */

typedef struct {
    ApiCall *call;
    guint seconds;
} ApiDirtyRate;

static void api_on_dirtyrate(GObject *source, GAsyncResult *result,
                             gpointer user_data)
{
    ApiDirtyRate *dr = user_data;
    g_autoptr(GError) error = NULL;
    gint64 rate = agent_vm_dirty_rate_finish(dr->call->vm, result, &error);
    JsonObject *out;

    if (rate < 0) {
        api_reply_error(dr->call->req, error);
    } else {
        out = json_object_new();
        json_object_set_string_member(out, "vm_id", dr->call->vm->spec->id);
        json_object_set_int_member(out, "dirty_rate_bps", rate);
        json_object_set_int_member(out, "seconds", dr->seconds);
        json_object_set_int_member(out, "memory_bytes",
                                   (gint64)dr->call->vm->spec->memory_mib *
                                       1024 * 1024);
        drv_http_reply_object(dr->call->req, 200, out);
    }
    api_call_free(dr->call);
    g_free(dr);
}

static void api_dirtyrate(DrvHttpRequest *req, gpointer user_data)
{
    Agent *agent = user_data;
    AgentVm *vm = api_vm(agent, req);
    g_autoptr(JsonObject) body = NULL;
    g_autoptr(GError) error = NULL;
    gint64 seconds = 1;
    ApiDirtyRate *dr;

    if (vm == NULL || (body = api_body(req, FALSE)) == NULL) {
        return;
    }
    if (!drv_json_get_int(body, "dirtyrate", "seconds", FALSE, 1,
                          AGENT_VM_DIRTY_RATE_MAX_S, &seconds, &error)) {
        api_reply_error(req, error);
        return;
    }
    if (vm->state != AGENT_VM_RUNNING) {
        g_set_error(&error, DRV_ERROR, DRV_ERROR_CONFLICT,
                    "VM %s is %s: only a running guest dirties memory",
                    vm->spec->name, agent_vm_state_name(vm->state));
        api_reply_error(req, error);
        return;
    }
    dr = g_new0(ApiDirtyRate, 1);
    dr->call = api_call_new(req, vm);
    dr->seconds = (guint)seconds;
    agent_vm_dirty_rate_async(vm, dr->seconds, api_on_dirtyrate, dr);
}

/* ---- migrations ---- */

static void api_on_migration_started(GObject *source, GAsyncResult *result,
                                     gpointer user_data)
{
    g_autoptr(ApiCall) call = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(AgentMigration) mig =
        agent_migration_start_finish(result, &error);

    if (mig == NULL) {
        g_message("migration of VM %s refused: %s", call->vm->spec->name,
                  error->message);
        api_reply_error(call->req, error);
        return;
    }
    g_message("migration %s of VM %s to %s started", mig->id,
              call->vm->spec->name, mig->peer_url);
    drv_http_reply_object(call->req, 202, agent_migration_to_json(mig));
}

static void api_migrate_vm(DrvHttpRequest *req, gpointer user_data)
{
    Agent *agent = user_data;
    AgentVm *vm = api_vm(agent, req);
    g_autoptr(JsonObject) body = NULL;

    if (vm == NULL || (body = api_body(req, TRUE)) == NULL) {
        return;
    }
    agent_migration_start_async(agent, vm, body, api_on_migration_started,
                                api_call_new(req, vm));
}

static void api_cancel_migration(DrvHttpRequest *req, gpointer user_data)
{
    Agent *agent = user_data;
    AgentVm *vm = api_vm(agent, req);
    g_autoptr(GError) error = NULL;

    if (vm == NULL) {
        return;
    }
    if (vm->migration == NULL) {
        g_set_error(&error, DRV_ERROR, DRV_ERROR_CONFLICT,
                    "VM %s is not migrating", vm->spec->name);
        api_reply_error(req, error);
        return;
    }
    if (!agent_migration_cancel(vm->migration, &error)) {
        api_reply_error(req, error);
        return;
    }
    drv_http_reply_object(req, 202, agent_migration_to_json(vm->migration));
}

static void api_postcopy(DrvHttpRequest *req, gpointer user_data)
{
    AgentMigration *mig = api_migration(user_data, req);
    g_autoptr(GError) error = NULL;

    if (mig == NULL) {
        return;
    }
    if (!agent_migration_start_postcopy(mig, &error)) {
        api_reply_error(req, error);
        return;
    }
    drv_http_reply_object(req, 202, agent_migration_to_json(mig));
}

static void api_list_migrations(DrvHttpRequest *req, gpointer user_data)
{
    Agent *agent = user_data;
    g_autoptr(GPtrArray) migs = drv_hash_table_values(agent->migrations);
    JsonArray *list = json_array_new();
    JsonObject *out = json_object_new();

    g_ptr_array_sort(migs, api_compare_migrations);
    for (guint i = 0; i < migs->len; i++) {
        json_array_add_object_element(
            list, agent_migration_to_json(g_ptr_array_index(migs, i)));
    }
    json_object_set_array_member(out, "migrations", list);
    drv_http_reply_object(req, 200, out);
}

static void api_get_migration(DrvHttpRequest *req, gpointer user_data)
{
    AgentMigration *mig = api_migration(user_data, req);

    if (mig != NULL) {
        drv_http_reply_object(req, 200, agent_migration_to_json(mig));
    }
}

/* ---- destination side ---- */

static void api_on_incoming(GObject *source, GAsyncResult *result,
                            gpointer user_data)
{
    g_autoptr(ApiCall) call = user_data;
    g_autoptr(GError) error = NULL;
    JsonObject *reply = agent_migration_incoming_finish(result, &error);

    if (reply == NULL) {
        g_message("incoming migration refused: %s", error->message);
        api_reply_error(call->req, error);
        return;
    }
    drv_http_reply_object(call->req, 201, reply);
}

static void api_incoming(DrvHttpRequest *req, gpointer user_data)
{
    g_autoptr(JsonObject) body = api_body(req, TRUE);

    if (body != NULL) {
        agent_migration_incoming_async(user_data, body, api_on_incoming,
                                       api_call_new(req, NULL));
    }
}

static void api_on_finished(GObject *source, GAsyncResult *result,
                            gpointer user_data)
{
    g_autoptr(ApiCall) call = user_data;
    g_autoptr(GError) error = NULL;
    JsonObject *reply = agent_migration_finish_finish(result, &error);

    if (reply == NULL) {
        api_reply_error(call->req, error);
        return;
    }
    drv_http_reply_object(call->req, 200, reply);
}

static void api_finish_incoming(DrvHttpRequest *req, gpointer user_data)
{
    AgentMigration *mig = api_migration(user_data, req);
    g_autoptr(JsonObject) body = NULL;
    g_autoptr(GError) error = NULL;
    gboolean postcopy = FALSE;

    if (mig == NULL || (body = api_body(req, FALSE)) == NULL) {
        return;
    }
    if (!drv_json_get_bool(body, "finish", "postcopy", FALSE, &postcopy,
                           &error)) {
        api_reply_error(req, error);
        return;
    }
    agent_migration_finish_async(mig, postcopy, api_on_finished,
                                 api_call_new(req, NULL));
}

static void api_abort_incoming(DrvHttpRequest *req, gpointer user_data)
{
    AgentMigration *mig = api_migration(user_data, req);
    g_autoptr(JsonObject) body = NULL;
    g_autoptr(GError) error = NULL;
    const char *reason = NULL;

    if (mig == NULL || (body = api_body(req, FALSE)) == NULL) {
        return;
    }
    if (!drv_json_get_string(body, "abort", "reason", FALSE, &reason, &error) ||
        !agent_migration_abort_incoming(mig, reason, &error)) {
        api_reply_error(req, error);
        return;
    }
    drv_http_reply_object(req, 200, agent_migration_to_json(mig));
}

/* ---- events ---- */

static void api_list_events(DrvHttpRequest *req, gpointer user_data)
{
    Agent *agent = user_data;
    g_autoptr(GError) error = NULL;
    gint64 from;
    gint64 max;

    if (!drv_http_request_query_int(req, "from", 0, G_MAXINT64, 0, &from,
                                    &error) ||
        !drv_http_request_query_int(req, "max", 1, AGENT_API_EVENTS_MAX, 100,
                                    &max, &error)) {
        api_reply_error(req, error);
        return;
    }
    drv_http_reply_object(
        req, 200, drv_event_hub_list(agent->events, (guint64)from, (guint)max));
}

static void api_stream_events(DrvHttpRequest *req, gpointer user_data)
{
    Agent *agent = user_data;
    g_autoptr(GError) error = NULL;
    gint64 from;

    if (!drv_http_request_query_int(req, "from", 0, G_MAXINT64, G_MAXINT64,
                                    &from, &error) ||
        !drv_event_hub_subscribe(agent->events, req, (guint64)from, &error)) {
        api_reply_error(req, error);
    }
}

void agent_api_register(Agent *agent)
{
    DrvHttpRouter *r = agent->router;

    drv_http_router_add(r, "GET", "/v1/host", api_get_host, agent);
    drv_http_router_add(r, "GET", "/v1/vms", api_list_vms, agent);
    drv_http_router_add(r, "POST", "/v1/vms", api_create_vm, agent);
    drv_http_router_add(r, "GET", "/v1/vms/{id}", api_get_vm, agent);
    drv_http_router_add(r, "POST", "/v1/vms/{id}/shutdown", api_shutdown_vm,
                        agent);
    drv_http_router_add(r, "POST", "/v1/vms/{id}/destroy", api_destroy_vm,
                        agent);
    drv_http_router_add(r, "POST", "/v1/vms/{id}/pause", api_pause_vm, agent);
    drv_http_router_add(r, "POST", "/v1/vms/{id}/resume", api_resume_vm, agent);
    drv_http_router_add(r, "GET", "/v1/vms/{id}/console", api_get_console,
                        agent);
    drv_http_router_add(r, "GET", "/v1/vms/{id}/disks", api_get_disks, agent);
    drv_http_router_add(r, "POST", "/v1/vms/{id}/dirtyrate", api_dirtyrate,
                        agent);
    drv_http_router_add(r, "POST", "/v1/vms/{id}/migrate", api_migrate_vm,
                        agent);
    drv_http_router_add(r, "POST", "/v1/vms/{id}/cancelmigration",
                        api_cancel_migration, agent);
    drv_http_router_add(r, "GET", "/v1/migrations", api_list_migrations, agent);
    drv_http_router_add(r, "GET", "/v1/migrations/{id}", api_get_migration,
                        agent);
    drv_http_router_add(r, "POST", "/v1/migrations/{id}/postcopy", api_postcopy,
                        agent);
    drv_http_router_add(r, "POST", "/v1/incoming", api_incoming, agent);
    drv_http_router_add(r, "POST", "/v1/incoming/{id}/finish",
                        api_finish_incoming, agent);
    drv_http_router_add(r, "POST", "/v1/incoming/{id}/abort",
                        api_abort_incoming, agent);
    drv_http_router_add(r, "GET", "/v1/events", api_list_events, agent);
    drv_http_router_add(r, "GET", "/v1/events/stream", api_stream_events,
                        agent);
}
