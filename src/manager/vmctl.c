/*
 * Starting and stopping VMs: the scheduler places a VM that starts (or
 * checks the host asked for), the host's agent runs it; the monitor
 * follows it from then on.
 */
#include "common/error.h"
#include "common/json.h"
#include "manager/manager.h"

#define MGR_STOP_TIMEOUT_DEFAULT_S 30

MgrVmStatus mgr_vm_status_from_agent(const char *agent_state)
{
    static const struct {
        const char *agent;
        MgrVmStatus status;
    } map[] = {
        {"starting", MGR_VM_POWERING_UP},
        {"running", MGR_VM_UP},
        {"paused", MGR_VM_PAUSED},
        {"migrating", MGR_VM_MIGRATING},
        {"incoming", MGR_VM_MIGRATING},
        {"shutting_down", MGR_VM_POWERING_DOWN},
        {"down", MGR_VM_DOWN},
    };

    for (guint i = 0; i < G_N_ELEMENTS(map); i++) {
        if (g_strcmp0(agent_state, map[i].agent) == 0) {
            return map[i].status;
        }
    }
    return MGR_VM_UNKNOWN;
}

typedef struct {
    Mgr *mgr;
    char *vm_id;
    char *host_id;
    char *user;
} MgrVmCall;

static MgrVmCall *mgr_vm_call_new(Mgr *mgr, MgrVm *vm, MgrHost *host,
                                  const char *user)
{
    MgrVmCall *call = g_new0(MgrVmCall, 1);

    call->mgr = mgr;
    call->vm_id = g_strdup(vm->id);
    call->host_id = g_strdup(host->id);
    call->user = g_strdup(user);
    return call;
}

static void mgr_vm_call_free(MgrVmCall *call)
{
    g_free(call->vm_id);
    g_free(call->host_id);
    g_free(call->user);
    g_free(call);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MgrVmCall, mgr_vm_call_free)

static void mgr_vm_on_started(GObject *source, GAsyncResult *result,
                              gpointer user_data)
{
    g_autoptr(MgrVmCall) call = user_data;
    Mgr *mgr = call->mgr;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = drv_http_call_finish(result, NULL, &error);
    MgrVm *vm = g_hash_table_lookup(mgr->vms, call->vm_id);
    const char *host_name = mgr_host_name(mgr, call->host_id);

    if (vm == NULL) {
        return;
    }
    if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node)) {
        const char *why = error ? error->message : "no answer";

        mgr_set_vm_status(mgr, vm, MGR_VM_DOWN, NULL, why);
        mgr_event(mgr, MGR_SEVERITY_ERROR, "vm_start_failed", call->user, NULL,
                  vm->id, call->host_id, NULL, NULL,
                  "VM %s failed to start on host %s: %s", vm->spec->name,
                  host_name, why);
        return;
    }
    mgr_set_vm_status(mgr, vm,
                      mgr_vm_status_from_agent(drv_json_string_or(
                          json_node_get_object(node), "state", "running")),
                      call->host_id, NULL);
    mgr_event(mgr, MGR_SEVERITY_INFO, "vm_started", call->user, NULL, vm->id,
              call->host_id, NULL, NULL, "VM %s started on host %s",
              vm->spec->name, host_name);
}

gboolean mgr_vm_start(Mgr *mgr, MgrVm *vm, MgrHost *host, const char *user,
                      GError **error)
{
    MgrScheduleRequest req;
    g_autoptr(GPtrArray) loads = NULL;
    g_autoptr(GPtrArray) verdicts = NULL;
    MgrVerdict *chosen = NULL;
    MgrHost *placed;
    g_autoptr(JsonObject) spec = NULL;

    if (vm->status != MGR_VM_DOWN) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_CONFLICT, "VM %s is %s%s%s",
                    vm->spec->name, mgr_vm_status_name(vm->status),
                    vm->host_id ? " on host " : "",
                    vm->host_id ? mgr_host_name(mgr, vm->host_id) : "");
        return FALSE;
    }
    mgr_schedule_request_init(mgr, &req, MGR_SCHEDULE_START, vm);
    loads = mgr_host_loads(mgr, vm->cluster_id);
    placed = mgr_schedule_place(&req, loads, host, &verdicts);
    for (guint i = 0; placed == NULL && i < verdicts->len; i++) {
        MgrVerdict *v = g_ptr_array_index(verdicts, i);

        if (host != NULL ? g_str_equal(v->host_id, host->id) : v->best) {
            chosen = v;
        }
    }
    if (placed == NULL && host != NULL) {
        g_autofree char *reasons =
            chosen ? mgr_join(chosen->reasons, "; ")
                   : g_strdup_printf("host %s is not in VM %s's cluster",
                                     host->name, vm->spec->name);

        g_set_error(error, DRV_ERROR, DRV_ERROR_REFUSED,
                    "VM %s cannot start on host %s: %s", vm->spec->name,
                    host->name, reasons);
        return FALSE;
    }
    if (placed == NULL) {
        g_autofree char *why = mgr_scheduler_explain(&req, verdicts);

        g_set_error(error, DRV_ERROR, DRV_ERROR_REFUSED, "%s", why);
        return FALSE;
    }
    host = placed;
    mgr_set_vm_status(mgr, vm, MGR_VM_POWERING_UP, host->id, NULL);
    mgr_event(mgr, MGR_SEVERITY_INFO, "vm_starting", user, NULL, vm->id,
              host->id, NULL, NULL, "VM %s is starting on host %s",
              vm->spec->name, host->name);
    spec = drv_vm_spec_to_json(vm->spec);
    mgr_agent_call(mgr, host, "POST", "/v1/vms", spec, mgr_vm_on_started,
                   mgr_vm_call_new(mgr, vm, host, user));
    return TRUE;
}

static void mgr_vm_on_stopped(GObject *source, GAsyncResult *result,
                              gpointer user_data)
{
    g_autoptr(MgrVmCall) call = user_data;
    Mgr *mgr = call->mgr;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = drv_http_call_finish(result, NULL, &error);
    MgrVm *vm = g_hash_table_lookup(mgr->vms, call->vm_id);

    if (vm == NULL) {
        return;
    }
    if (node == NULL) {
        mgr_event(mgr, MGR_SEVERITY_ERROR, "vm_stop_failed", call->user, NULL,
                  vm->id, call->host_id, NULL, NULL,
                  "VM %s could not be stopped on host %s: %s", vm->spec->name,
                  mgr_host_name(mgr, call->host_id),
                  error ? error->message : "no answer");
        return;
    }
    /* destroyed: gone at once; shut down: the monitor sees it go */
    if (g_strcmp0(drv_json_string_or(json_node_get_object(node), "state", ""),
                  "destroyed") == 0) {
        mgr_set_vm_status(mgr, vm, MGR_VM_DOWN, NULL, "powered off");
        mgr_event(mgr, MGR_SEVERITY_INFO, "vm_down", call->user, NULL, vm->id,
                  call->host_id, NULL, NULL, "VM %s was powered off on host %s",
                  vm->spec->name, mgr_host_name(mgr, call->host_id));
    }
}

gboolean mgr_vm_stop(Mgr *mgr, MgrVm *vm, gboolean force, guint timeout_s,
                     const char *user, GError **error)
{
    MgrHost *host =
        vm->host_id ? g_hash_table_lookup(mgr->hosts, vm->host_id) : NULL;
    MgrMigration *mig = mgr_vm_active_migration(mgr, vm->id);
    g_autofree char *path = NULL;
    g_autoptr(JsonObject) body = NULL;

    if (vm->status == MGR_VM_DOWN || host == NULL) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_CONFLICT, "VM %s is down",
                    vm->spec->name);
        return FALSE;
    }
    if (mig != NULL) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_CONFLICT,
                    "VM %s has migration %s %s: cancel it first",
                    vm->spec->name, mig->id,
                    mgr_migration_state_name(mig->state));
        return FALSE;
    }
    if (force) {
        path = g_strdup_printf("/v1/vms/%s/destroy", vm->id);
    } else {
        path = g_strdup_printf("/v1/vms/%s/shutdown", vm->id);
        body = json_object_new();
        json_object_set_int_member(body, "timeout_s",
                                   timeout_s ? timeout_s
                                             : MGR_STOP_TIMEOUT_DEFAULT_S);
        mgr_set_vm_status(mgr, vm, MGR_VM_POWERING_DOWN, vm->host_id, NULL);
    }
    mgr_event(mgr, MGR_SEVERITY_INFO, "vm_stopping", user, NULL, vm->id,
              host->id, NULL, NULL, "VM %s is %s on host %s", vm->spec->name,
              force ? "being powered off" : "shutting down", host->name);
    mgr_agent_call(mgr, host, "POST", path, body, mgr_vm_on_stopped,
                   mgr_vm_call_new(mgr, vm, host, user));
    return TRUE;
}
