/*
 * Host monitoring: every poll_interval_s each agent is asked for its facts
 * (GET /v1/host) and its VMs (GET /v1/vms).
 *
 * - A host that answers is up, or non_operational when it cannot run what
 *   it should (the cluster's CPU baseline, the storage domains and networks
 *   of its VMs).  One that has not answered for host_timeout_s is
 *   non_responsive, and its VMs are unknown: drover cannot tell whether
 *   they run, so it does not start them elsewhere.
 * - A host drover powered off is down, an admin status: a silent agent is
 *   what it should be.  Once powered on, the first answer of its agent
 *   takes it through the checks above (host_powered_on); no answer within
 *   power_on_timeout_s and the power-on failed (power.c starts both).
 * - VM placement follows what the agents report.  A VM reported where
 *   drover does not expect it, or on two hosts, raises an error event and
 *   is never silently adopted.
 */
#include "common/error.h"
#include "common/json.h"
#include "manager/manager.h"

typedef struct {
    gint ref;
    Mgr *mgr;
    char *host_id;
    guint timer;
    gboolean polling;
    gboolean removed;
    GCancellable *cancellable;
    gint64 failing_since_us;
    gint64 next_evacuation_us;
    GHashTable *running; /* ids of the VMs this agent last ran */
    GHashTable *flagged; /* "code:vm-id" reported as out of place here */
} MgrHostPoll;

struct _MgrMonitor {
    Mgr *mgr;
    GHashTable *polls; /* host id -> MgrHostPoll */
};

static MgrHostPoll *mgr_host_poll_ref(MgrHostPoll *poll)
{
    g_atomic_int_inc(&poll->ref);
    return poll;
}

static void mgr_host_poll_unref(MgrHostPoll *poll)
{
    if (poll == NULL || !g_atomic_int_dec_and_test(&poll->ref)) {
        return;
    }
    g_object_unref(poll->cancellable);
    g_hash_table_unref(poll->running);
    g_hash_table_unref(poll->flagged);
    g_free(poll->host_id);
    g_free(poll);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MgrHostPoll, mgr_host_poll_unref)

/* Stop polling; in-flight calls see ->removed and end quietly. */
static void mgr_host_poll_stop(gpointer data)
{
    MgrHostPoll *poll = data;

    poll->removed = TRUE;
    if (poll->timer) {
        g_source_remove(poll->timer);
        poll->timer = 0;
    }
    g_cancellable_cancel(poll->cancellable);
    mgr_host_poll_unref(poll);
}

MgrMonitor *mgr_monitor_new(Mgr *mgr)
{
    MgrMonitor *monitor = g_new0(MgrMonitor, 1);

    monitor->mgr = mgr;
    monitor->polls = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                           mgr_host_poll_stop);
    return monitor;
}

void mgr_monitor_free(MgrMonitor *monitor)
{
    if (monitor == NULL) {
        return;
    }
    g_hash_table_unref(monitor->polls);
    g_free(monitor);
}

/* ---- operational checks ---- */

static gboolean mgr_facts_list_has(JsonObject *facts, const char *list,
                                   const char *name, const char *const *flags)
{
    JsonArray *array = drv_json_array_or_null(facts, list);

    for (guint i = 0; array && i < json_array_get_length(array); i++) {
        JsonObject *item = json_array_get_object_element(array, i);

        if (g_strcmp0(drv_json_string_or(item, "name", NULL), name) != 0) {
            continue;
        }
        for (guint f = 0; flags[f] != NULL; f++) {
            if (!drv_json_bool_or(item, flags[f], FALSE)) {
                return FALSE;
            }
        }
        return TRUE;
    }
    return FALSE;
}

gboolean mgr_monitor_host_operational(Mgr *mgr, MgrHost *host, char **reason)
{
    static const char *const storage_flags[] = {"exists", "readable",
                                                "writable", NULL};
    static const char *const network_flags[] = {"available", NULL};
    MgrCluster *cluster = g_hash_table_lookup(mgr->clusters, host->cluster_id);
    JsonArray *models = drv_json_array_or_null(
        drv_json_object_or_null(host->facts, "qemu"), "cpu_models");
    gboolean baseline = FALSE;
    g_autoptr(GPtrArray) vms = mgr_host_vms(mgr, host->id);

    for (guint i = 0; models && i < json_array_get_length(models); i++) {
        baseline |= g_strcmp0(json_array_get_string_element(models, i),
                              cluster ? cluster->cpu_baseline : "") == 0;
    }
    if (!baseline) {
        *reason = g_strdup_printf("cannot run the cluster's CPU baseline %s",
                                  cluster ? cluster->cpu_baseline : "?");
        return FALSE;
    }
    for (guint i = 0; i < vms->len; i++) {
        MgrVm *vm = g_ptr_array_index(vms, i);

        for (guint d = 0; d < vm->spec->disks->len; d++) {
            DrvDiskSpec *disk = g_ptr_array_index(vm->spec->disks, d);

            if (!mgr_facts_list_has(host->facts, "storage_domains",
                                    disk->storage_domain, storage_flags)) {
                *reason = g_strdup_printf("cannot reach storage domain %s "
                                          "that VM %s needs",
                                          disk->storage_domain, vm->spec->name);
                return FALSE;
            }
        }
        for (guint n = 0; n < vm->spec->nics->len; n++) {
            DrvNicSpec *nic = g_ptr_array_index(vm->spec->nics, n);

            if (!mgr_facts_list_has(host->facts, "networks", nic->network,
                                    network_flags)) {
                *reason = g_strdup_printf("has no network %s that VM %s "
                                          "needs",
                                          nic->network, vm->spec->name);
                return FALSE;
            }
        }
    }
    return TRUE;
}

/* ---- status ---- */

static gboolean mgr_status_is_admin(MgrHostStatus status)
{
    return status == MGR_HOST_PREPARING_FOR_MAINTENANCE ||
           status == MGR_HOST_MAINTENANCE || status == MGR_HOST_DOWN;
}

static void mgr_monitor_mark_vms_unknown(Mgr *mgr, MgrHost *host)
{
    g_autoptr(GPtrArray) vms = mgr_host_vms(mgr, host->id);
    g_autofree char *reason =
        g_strdup_printf("host %s is not responding", host->name);

    for (guint i = 0; i < vms->len; i++) {
        MgrVm *vm = g_ptr_array_index(vms, i);

        if (vm->status == MGR_VM_DOWN || vm->status == MGR_VM_UNKNOWN) {
            continue;
        }
        mgr_set_vm_status(mgr, vm, MGR_VM_UNKNOWN, vm->host_id, reason);
        mgr_event(mgr, MGR_SEVERITY_WARNING, "vm_unknown", NULL, NULL, vm->id,
                  host->id, NULL, NULL,
                  "VM %s is unknown: %s; it is not restarted elsewhere",
                  vm->spec->name, reason);
    }
}

static void mgr_monitor_poll_failed(MgrHostPoll *poll, MgrHost *host,
                                    const GError *error)
{
    Mgr *mgr = poll->mgr;
    gint64 now = g_get_real_time();
    gint64 since;

    if (poll->failing_since_us == 0) {
        poll->failing_since_us = now;
    }
    since = host->last_seen_us ? MAX(host->last_seen_us, 0) : host->created_us;
    since = MIN(since, poll->failing_since_us);
    if (mgr_status_is_admin(host->status) ||
        host->status == MGR_HOST_NON_RESPONSIVE ||
        now - since < (gint64)mgr->config->host_timeout_s * G_USEC_PER_SEC) {
        return;
    }
    mgr_set_host_status(mgr, host, MGR_HOST_NON_RESPONSIVE, error->message);
    mgr_event(mgr, MGR_SEVERITY_ERROR, "host_non_responsive", NULL, NULL, NULL,
              host->id, NULL, NULL, "host %s is not responding: %s", host->name,
              error->message);
    mgr_monitor_mark_vms_unknown(mgr, host);
}

/* A host being powered on answers: the power-on is over. */
static void mgr_monitor_powered_on(Mgr *mgr, MgrHost *host)
{
    gint64 took_s =
        (g_get_real_time() - host->power_action_us) / G_USEC_PER_SEC;

    g_clear_pointer(&host->power_action, g_free);
    host->power_action_us = 0;
    host->power_failed_us = 0;
    mgr_save_host(mgr, host);
    mgr_event(
        mgr, MGR_SEVERITY_INFO, "host_powered_on", NULL, NULL, NULL, host->id,
        NULL, NULL,
        "host %s is powered on: its agent answered after %" G_GINT64_FORMAT
        " s",
        host->name, MAX(took_s, 0));
}

/* A host powered on whose agent has not answered in time stays down. */
static void mgr_monitor_check_power_on(Mgr *mgr, MgrHost *host)
{
    guint limit = mgr->config->power_on_timeout_s;
    g_autofree char *reason = NULL;

    if (!mgr_host_is_powering_on(host) ||
        g_get_real_time() - host->power_action_us <
            (gint64)limit * G_USEC_PER_SEC) {
        return;
    }
    g_clear_pointer(&host->power_action, g_free);
    host->power_action_us = 0;
    host->power_failed_us = g_get_real_time();
    reason = g_strdup_printf("powered off; powering on failed: its agent did "
                             "not answer within %u s",
                             limit);
    mgr_set_host_status(mgr, host, MGR_HOST_DOWN, reason);
    mgr_save_host(mgr, host);
    mgr_event(mgr, MGR_SEVERITY_ERROR, "host_power_failed", NULL, NULL, NULL,
              host->id, NULL, NULL,
              "powering on host %s failed: its agent did not answer within "
              "%u s; it stays down",
              host->name, limit);
}

static void mgr_monitor_update_status(MgrHostPoll *poll, MgrHost *host)
{
    Mgr *mgr = poll->mgr;
    g_autofree char *reason = NULL;
    MgrHostStatus before = host->status;
    const char *agent_id = drv_json_string_or(host->facts, "host_id", NULL);
    gboolean powered_on = mgr_host_is_powering_on(host);

    if (host->agent_host_id == NULL && agent_id != NULL) {
        host->agent_host_id = g_strdup(agent_id);
        mgr_save_host(mgr, host);
    } else if (agent_id != NULL &&
               g_strcmp0(host->agent_host_id, agent_id) != 0) {
        reason = g_strdup_printf("a different agent (host id %s) answers at "
                                 "%s",
                                 agent_id, host->address);
    }
    if (powered_on) {
        mgr_monitor_powered_on(mgr, host);
    } else if (mgr_status_is_admin(host->status)) {
        return;
    }
    if (reason != NULL || !mgr_monitor_host_operational(mgr, host, &reason)) {
        mgr_set_host_status(mgr, host, MGR_HOST_NON_OPERATIONAL, reason);
        if (before != MGR_HOST_NON_OPERATIONAL) {
            mgr_event(mgr, MGR_SEVERITY_ERROR, "host_non_operational", NULL,
                      NULL, NULL, host->id, NULL, NULL,
                      "host %s is non-operational: it %s", host->name, reason);
        }
        if (g_get_real_time() >= poll->next_evacuation_us) {
            poll->next_evacuation_us =
                g_get_real_time() +
                (gint64)mgr->config->maintenance_retry_s * G_USEC_PER_SEC;
            mgr_maintenance_evacuate(mgr, host);
        }
        return;
    }
    poll->next_evacuation_us = 0;
    mgr_set_host_status(mgr, host, MGR_HOST_UP, NULL);
    /* host_powered_on said it */
    if (before != MGR_HOST_UP && !powered_on) {
        mgr_event(mgr, MGR_SEVERITY_INFO, "host_up", NULL, NULL, NULL, host->id,
                  NULL, NULL, "host %s is up%s", host->name,
                  before == MGR_HOST_NON_RESPONSIVE    ? " again"
                  : before == MGR_HOST_NON_OPERATIONAL ? ": operational again"
                                                       : "");
    }
}

/* ---- VM placement ---- */

/*
 * Report an out-of-place VM once for as long as it stays so; by code, so
 * that learning more (unexpected, then on two hosts) is reported too.
 * @current collects what this poll found.
 */
static void mgr_monitor_flag(MgrHostPoll *poll, GHashTable *current,
                             MgrHost *host, const char *vm_id, const char *code,
                             const char *message)
{
    char *key = g_strdup_printf("%s:%s", code, vm_id);

    if (!g_hash_table_contains(poll->flagged, key)) {
        mgr_event(poll->mgr, MGR_SEVERITY_ERROR, code, NULL, NULL,
                  g_hash_table_contains(poll->mgr->vms, vm_id) ? vm_id : NULL,
                  host->id, NULL, NULL, "%s", message);
    }
    g_hash_table_add(current, key);
}

static void mgr_monitor_on_cleared(GObject *source, GAsyncResult *result,
                                   gpointer user_data)
{
    g_autoptr(JsonNode) node = drv_http_call_finish(result, NULL, NULL);
}

/* The agent keeps a stopped VM listed until told to forget it. */
static void mgr_monitor_clear_down(Mgr *mgr, MgrHost *host, const char *vm_id)
{
    g_autofree char *path = g_strdup_printf("/v1/vms/%s/destroy", vm_id);

    mgr_agent_call(mgr, host, "POST", path, NULL, mgr_monitor_on_cleared, NULL);
}

/* Another host whose agent last ran @vm_id, or NULL. */
static MgrHost *mgr_monitor_runs_elsewhere(MgrMonitor *monitor,
                                           const char *vm_id, const char *here)
{
    GHashTableIter iter;
    gpointer key;
    gpointer value;

    g_hash_table_iter_init(&iter, monitor->polls);
    while (g_hash_table_iter_next(&iter, &key, &value)) {
        MgrHostPoll *other = value;

        if (g_strcmp0(key, here) != 0 &&
            g_hash_table_contains(other->running, vm_id)) {
            return g_hash_table_lookup(monitor->mgr->hosts, key);
        }
    }
    return NULL;
}

static void mgr_monitor_own_vm(MgrHostPoll *poll, MgrHost *host, MgrVm *vm,
                               JsonObject *av)
{
    Mgr *mgr = poll->mgr;
    const char *state = drv_json_string_or(av, "state", "");
    MgrMigration *mig = mgr_vm_active_migration(mgr, vm->id);
    MgrVmStatus status = mgr_vm_status_from_agent(state);

    vm->cpu_percent = drv_json_double_or(av, "cpu_percent", 0);
    vm->dirty_rate_bps = drv_json_int_or(av, "dirty_rate_bps", -1);
    if (status == MGR_VM_DOWN) {
        const char *why = drv_json_string_or(av, "exit_reason", "stopped");

        if (vm->status != MGR_VM_DOWN) {
            mgr_set_vm_status(mgr, vm, MGR_VM_DOWN, NULL, why);
            mgr_event(mgr, MGR_SEVERITY_INFO, "vm_down", NULL, NULL, vm->id,
                      host->id, NULL, NULL, "VM %s is down on host %s: %s",
                      vm->spec->name, host->name, why);
        }
        mgr_monitor_clear_down(mgr, host, vm->id);
        return;
    }
    /* while the queue moves it, the queue speaks for it */
    if (mig != NULL && mig->state == MGR_MIGRATION_RUNNING) {
        status = MGR_VM_MIGRATING;
    }
    mgr_set_vm_status(mgr, vm, status, host->id, NULL);
}

static void mgr_monitor_reconcile(MgrHostPoll *poll, MgrHost *host,
                                  JsonArray *list)
{
    Mgr *mgr = poll->mgr;
    g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(GHashTable) flagged =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GPtrArray) mine = NULL;

    g_hash_table_remove_all(poll->running);
    for (guint i = 0; list && i < json_array_get_length(list); i++) {
        JsonObject *av = json_array_get_object_element(list, i);
        const char *id = drv_json_string_or(av, "id", NULL);
        const char *state = drv_json_string_or(av, "state", "");
        const char *name = drv_json_string_or(av, "name", id);
        MgrVm *vm = id ? g_hash_table_lookup(mgr->vms, id) : NULL;
        MgrMigration *mig = vm ? mgr_vm_active_migration(mgr, vm->id) : NULL;
        g_autofree char *message = NULL;
        MgrHost *other;

        if (id == NULL || g_str_equal(state, "incoming")) {
            continue;
        }
        if (!g_str_equal(state, "down")) {
            g_hash_table_add(poll->running, g_strdup(id));
        }
        if (vm != NULL && g_strcmp0(vm->host_id, host->id) == 0) {
            g_hash_table_add(seen, (gpointer)vm->id);
            mgr_monitor_own_vm(poll, host, vm, av);
            continue;
        }
        if (g_str_equal(state, "down")) {
            /* a leftover record of a VM that lives elsewhere now */
            mgr_monitor_clear_down(mgr, host, id);
            continue;
        }
        if (mig != NULL && mig->state == MGR_MIGRATION_RUNNING &&
            g_strcmp0(mig->destination_host_id, host->id) == 0) {
            continue;
        }
        other = vm && vm->host_id ? g_hash_table_lookup(mgr->hosts, vm->host_id)
                                  : NULL;
        if (vm == NULL) {
            message = g_strdup_printf("VM %s (%s) runs on host %s but "
                                      "drover does not know it; it is "
                                      "left alone",
                                      name, id, host->name);
            mgr_monitor_flag(poll, flagged, host, id, "vm_unexpected_host",
                             message);
        } else if (other != NULL &&
                   mgr_monitor_runs_elsewhere(mgr->monitor, id, host->id)) {
            message = g_strdup_printf("VM %s runs on two hosts: %s (where "
                                      "drover placed it) and %s",
                                      vm->spec->name, other->name, host->name);
            mgr_monitor_flag(poll, flagged, host, id, "vm_on_two_hosts",
                             message);
        } else {
            message = g_strdup_printf("VM %s runs on host %s, where drover "
                                      "did not place it (%s); it is not "
                                      "adopted",
                                      vm->spec->name, host->name,
                                      other ? other->name : "it is down");
            mgr_monitor_flag(poll, flagged, host, id, "vm_unexpected_host",
                             message);
        }
    }
    /* what is no longer out of place is forgotten */
    g_hash_table_unref(poll->flagged);
    poll->flagged = g_steal_pointer(&flagged);
    mine = mgr_host_vms(mgr, host->id);
    for (guint i = 0; i < mine->len; i++) {
        MgrVm *vm = g_ptr_array_index(mine, i);
        MgrMigration *mig = mgr_vm_active_migration(mgr, vm->id);

        if (g_hash_table_contains(seen, vm->id) ||
            vm->status == MGR_VM_POWERING_UP || vm->status == MGR_VM_DOWN ||
            (mig != NULL && mig->state == MGR_MIGRATION_RUNNING)) {
            continue;
        }
        mgr_set_vm_status(mgr, vm, MGR_VM_DOWN, NULL, "no longer on its host");
        mgr_event(mgr, MGR_SEVERITY_WARNING, "vm_down", NULL, NULL, vm->id,
                  host->id, NULL, NULL, "VM %s is no longer on host %s",
                  vm->spec->name, host->name);
    }
}

/* ---- polling ---- */

static void mgr_monitor_on_vms(GObject *source, GAsyncResult *result,
                               gpointer user_data)
{
    g_autoptr(MgrHostPoll) poll = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = drv_http_call_finish(result, NULL, &error);
    MgrHost *host = g_hash_table_lookup(poll->mgr->hosts, poll->host_id);

    poll->polling = FALSE;
    if (poll->removed || host == NULL) {
        return;
    }
    if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node)) {
        if (error != NULL) {
            mgr_monitor_poll_failed(poll, host, error);
        }
        return;
    }
    mgr_monitor_reconcile(
        poll, host, drv_json_array_or_null(json_node_get_object(node), "vms"));
    mgr_maintenance_update(poll->mgr);
    mgr_queue_kick(poll->mgr);
}

static void mgr_monitor_on_facts(GObject *source, GAsyncResult *result,
                                 gpointer user_data)
{
    g_autoptr(MgrHostPoll) poll = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = drv_http_call_finish(result, NULL, &error);
    MgrHost *host = g_hash_table_lookup(poll->mgr->hosts, poll->host_id);
    g_autofree char *url = NULL;

    if (poll->removed || host == NULL) {
        poll->polling = FALSE;
        return;
    }
    if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node)) {
        poll->polling = FALSE;
        if (error == NULL) {
            error = g_error_new(DRV_ERROR, DRV_ERROR_REMOTE,
                                "%s answered without facts", host->address);
        }
        mgr_monitor_poll_failed(poll, host, error);
        return;
    }
    if (host->facts != NULL) {
        json_object_unref(host->facts);
    }
    host->facts = json_node_dup_object(node);
    host->last_seen_us = g_get_real_time();
    poll->failing_since_us = 0;
    mgr_monitor_update_status(poll, host);
    mgr_balancing_observe(poll->mgr, host);
    url = g_strdup_printf("%s/v1/vms", host->address);
    drv_http_call_async(poll->mgr->session, "GET", url, NULL,
                        poll->mgr->config->agent_timeout_ms, poll->cancellable,
                        mgr_monitor_on_vms, mgr_host_poll_ref(poll));
}

static gboolean mgr_monitor_tick(gpointer user_data)
{
    MgrHostPoll *poll = user_data;
    MgrHost *host = g_hash_table_lookup(poll->mgr->hosts, poll->host_id);
    g_autofree char *url = NULL;

    if (host == NULL) {
        return G_SOURCE_CONTINUE;
    }
    mgr_monitor_check_power_on(poll->mgr, host);
    if (poll->polling) {
        return G_SOURCE_CONTINUE;
    }
    poll->polling = TRUE;
    url = g_strdup_printf("%s/v1/host", host->address);
    drv_http_call_async(poll->mgr->session, "GET", url, NULL,
                        poll->mgr->config->agent_timeout_ms, poll->cancellable,
                        mgr_monitor_on_facts, mgr_host_poll_ref(poll));
    return G_SOURCE_CONTINUE;
}

static gboolean mgr_monitor_first_tick(gpointer user_data)
{
    mgr_monitor_tick(user_data);
    return G_SOURCE_REMOVE;
}

/*
 * A power-off whose end an earlier droverd did not see: the host was down
 * from its start, and its command ran; it is taken as powered off (a
 * power-on brings it back either way).  A power-on goes on being waited
 * for, from when it started.
 */
static void mgr_monitor_resume_power(Mgr *mgr, MgrHost *host)
{
    if (g_strcmp0(host->power_action, "off") != 0) {
        return;
    }
    g_clear_pointer(&host->power_action, g_free);
    host->power_action_us = 0;
    mgr_save_host(mgr, host);
    mgr_event(mgr, MGR_SEVERITY_WARNING, "host_powered_off", NULL, NULL, NULL,
              host->id, NULL, NULL,
              "host %s is taken as powered off: droverd restarted while its "
              "power-off command ran",
              host->name);
}

void mgr_monitor_add_host(MgrMonitor *monitor, MgrHost *host)
{
    MgrHostPoll *poll = g_new0(MgrHostPoll, 1);

    mgr_monitor_resume_power(monitor->mgr, host);

    poll->ref = 1;
    poll->mgr = monitor->mgr;
    poll->host_id = g_strdup(host->id);
    poll->cancellable = g_cancellable_new();
    poll->running =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    poll->flagged =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    poll->timer = g_timeout_add_seconds(monitor->mgr->config->poll_interval_s,
                                        mgr_monitor_tick, poll);
    g_idle_add_full(G_PRIORITY_DEFAULT, mgr_monitor_first_tick,
                    mgr_host_poll_ref(poll),
                    (GDestroyNotify)mgr_host_poll_unref);
    g_hash_table_replace(monitor->polls, g_strdup(host->id), poll);
}

void mgr_monitor_remove_host(MgrMonitor *monitor, const char *host_id)
{
    g_hash_table_remove(monitor->polls, host_id);
}
