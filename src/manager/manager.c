#include "manager/manager.h"

#include "common/error.h"
#include "common/glib-extra.h"
#include "common/json.h"

#define MGR_EVENTS_RING 4096
#define MGR_EVENTS_MAX_SUBSCRIBERS 64
#define MGR_EVENTS_MAX_BACKLOG (4 * 1024 * 1024)
#define MGR_MAINTENANCE_TICK_S 5
#define MGR_HOUSEKEEPING_S 60

Mgr *mgr_new(MgrConfig *config, GError **error)
{
    g_autoptr(Mgr) mgr = g_new0(Mgr, 1);

    mgr->config = config;
    mgr->store = mgr_store_open(config->database, error);
    if (mgr->store == NULL) {
        return NULL;
    }
    mgr->clusters = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                          (GDestroyNotify)mgr_cluster_free);
    mgr->hosts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                       (GDestroyNotify)mgr_host_free);
    mgr->vms = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                     (GDestroyNotify)mgr_vm_free);
    mgr->migrations = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                            (GDestroyNotify)mgr_migration_free);
    mgr->events = drv_event_hub_new(MGR_EVENTS_RING, MGR_EVENTS_MAX_SUBSCRIBERS,
                                    MGR_EVENTS_MAX_BACKLOG);
    mgr->session = drv_http_session_new();
    mgr->server = soup_server_new("server-header", "droverd", NULL);
    mgr->router = drv_http_router_new(DRV_HTTP_DEFAULT_MAX_BODY);
    mgr_api_register(mgr);
    drv_http_router_attach(mgr->router, mgr->server);
    mgr->monitor = mgr_monitor_new(mgr);
    mgr->queue = mgr_queue_new(mgr);
    return g_steal_pointer(&mgr);
}

void mgr_free(Mgr *mgr)
{
    if (mgr == NULL) {
        return;
    }
    if (mgr->maintenance_timer) {
        g_source_remove(mgr->maintenance_timer);
    }
    if (mgr->housekeeping_timer) {
        g_source_remove(mgr->housekeeping_timer);
    }
    if (mgr->server) {
        soup_server_disconnect(mgr->server);
        g_object_unref(mgr->server);
    }
    mgr_balancing_free(mgr->balancing);
    mgr_queue_free(mgr->queue);
    mgr_monitor_free(mgr->monitor);
    drv_http_router_free(mgr->router);
    g_clear_object(&mgr->session);
    drv_event_hub_free(mgr->events);
    g_clear_pointer(&mgr->migrations, g_hash_table_unref);
    g_clear_pointer(&mgr->vms, g_hash_table_unref);
    g_clear_pointer(&mgr->hosts, g_hash_table_unref);
    g_clear_pointer(&mgr->clusters, g_hash_table_unref);
    mgr_store_close(mgr->store);
    mgr_config_free(mgr->config);
    g_free(mgr);
}

static gboolean mgr_load(Mgr *mgr, GError **error)
{
    g_autoptr(GPtrArray) clusters = mgr_store_load_clusters(mgr->store, error);
    g_autoptr(GPtrArray) hosts = NULL;
    g_autoptr(GPtrArray) vms = NULL;
    g_autoptr(GPtrArray) migs = NULL;

    if (clusters == NULL ||
        (hosts = mgr_store_load_hosts(mgr->store, error)) == NULL ||
        (vms = mgr_store_load_vms(mgr->store, error)) == NULL ||
        (migs = mgr_store_load_migrations(
             mgr->store, mgr->config->migration_history, error)) == NULL) {
        return FALSE;
    }
    /* the tables take the objects over from the arrays */
    g_ptr_array_set_free_func(clusters, NULL);
    g_ptr_array_set_free_func(hosts, NULL);
    g_ptr_array_set_free_func(vms, NULL);
    g_ptr_array_set_free_func(migs, NULL);
    for (guint i = 0; i < clusters->len; i++) {
        MgrCluster *c = g_ptr_array_index(clusters, i);

        g_hash_table_insert(mgr->clusters, g_strdup(c->id), c);
    }
    for (guint i = 0; i < hosts->len; i++) {
        MgrHost *h = g_ptr_array_index(hosts, i);

        g_hash_table_insert(mgr->hosts, g_strdup(h->id), h);
    }
    for (guint i = 0; i < vms->len; i++) {
        MgrVm *v = g_ptr_array_index(vms, i);

        g_hash_table_insert(mgr->vms, g_strdup(v->id), v);
    }
    for (guint i = 0; i < migs->len; i++) {
        MgrMigration *m = g_ptr_array_index(migs, i);

        g_hash_table_insert(mgr->migrations, g_strdup(m->id), m);
    }
    return TRUE;
}

static gboolean mgr_maintenance_tick(gpointer user_data)
{
    mgr_maintenance_update(user_data);
    return G_SOURCE_CONTINUE;
}

static gint mgr_compare_seq(gconstpointer a, gconstpointer b)
{
    gint64 sa = (*(MgrMigration *const *)a)->seq;
    gint64 sb = (*(MgrMigration *const *)b)->seq;

    return sa < sb ? -1 : sa > sb;
}

/* Keep the audit log and the migration history within their bounds. */
static gboolean mgr_housekeeping(gpointer user_data)
{
    Mgr *mgr = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) ended = g_ptr_array_new();
    GHashTableIter iter;
    gpointer value;

    if (!mgr_store_prune_events(mgr->store, mgr->config->events_kept, &error) ||
        !mgr_store_prune_migrations(mgr->store, mgr->config->migration_history,
                                    &error)) {
        g_warning("cannot prune the store: %s", error->message);
    }
    g_hash_table_iter_init(&iter, mgr->migrations);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        if (!mgr_migration_is_active(value)) {
            g_ptr_array_add(ended, value);
        }
    }
    g_ptr_array_sort(ended, mgr_compare_seq);
    for (guint i = 0; i + mgr->config->migration_history < ended->len; i++) {
        g_hash_table_remove(mgr->migrations,
                            ((MgrMigration *)g_ptr_array_index(ended, i))->id);
    }
    return G_SOURCE_CONTINUE;
}

gboolean mgr_start(Mgr *mgr, GError **error)
{
    GHashTableIter iter;
    gpointer value;

    if (!mgr_load(mgr, error)) {
        return FALSE;
    }
    g_hash_table_iter_init(&iter, mgr->hosts);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        mgr_monitor_add_host(mgr->monitor, value);
    }
    mgr_queue_resume(mgr->queue);
    mgr->balancing = mgr_balancing_new(mgr);
    mgr->maintenance_timer = g_timeout_add_seconds(MGR_MAINTENANCE_TICK_S,
                                                   mgr_maintenance_tick, mgr);
    mgr->housekeeping_timer =
        g_timeout_add_seconds(MGR_HOUSEKEEPING_S, mgr_housekeeping, mgr);
    mgr_housekeeping(mgr);
    if (!drv_http_server_listen(mgr->server, mgr->config->listen, error)) {
        g_prefix_error(error, "cannot listen on %s: ", mgr->config->listen);
        return FALSE;
    }
    return TRUE;
}

/* ---- lookups ---- */

static gpointer mgr_lookup(GHashTable *table, const char *id, const char *what,
                           GError **error)
{
    gpointer obj = id ? g_hash_table_lookup(table, id) : NULL;

    if (obj == NULL) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_NOT_FOUND, "no %s %s", what,
                    id ? id : "(none)");
    }
    return obj;
}

MgrCluster *mgr_cluster_lookup(Mgr *mgr, const char *id, GError **error)
{
    return mgr_lookup(mgr->clusters, id, "cluster", error);
}

MgrHost *mgr_host_lookup(Mgr *mgr, const char *id, GError **error)
{
    return mgr_lookup(mgr->hosts, id, "host", error);
}

MgrVm *mgr_vm_lookup(Mgr *mgr, const char *id, GError **error)
{
    return mgr_lookup(mgr->vms, id, "VM", error);
}

MgrMigration *mgr_migration_lookup(Mgr *mgr, const char *id, GError **error)
{
    return mgr_lookup(mgr->migrations, id, "migration", error);
}

MgrCluster *mgr_cluster_by_name(Mgr *mgr, const char *name)
{
    GHashTableIter iter;
    gpointer value;

    g_hash_table_iter_init(&iter, mgr->clusters);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        if (g_strcmp0(((MgrCluster *)value)->name, name) == 0) {
            return value;
        }
    }
    return NULL;
}

MgrHost *mgr_host_by_name(Mgr *mgr, const char *name)
{
    GHashTableIter iter;
    gpointer value;

    g_hash_table_iter_init(&iter, mgr->hosts);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        if (g_strcmp0(((MgrHost *)value)->name, name) == 0) {
            return value;
        }
    }
    return NULL;
}

MgrVm *mgr_vm_by_name(Mgr *mgr, const char *name)
{
    GHashTableIter iter;
    gpointer value;

    g_hash_table_iter_init(&iter, mgr->vms);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        if (g_strcmp0(((MgrVm *)value)->spec->name, name) == 0) {
            return value;
        }
    }
    return NULL;
}

/* {"id": ...} or {"name": ...}: the id wins when both are given. */
static gboolean mgr_ref_parts(JsonObject *ref, const char *what,
                              const char **id, const char **name,
                              GError **error)
{
    *id = NULL;
    *name = NULL;
    if (ref == NULL ||
        !drv_json_get_string(ref, what, "id", FALSE, id, error) ||
        !drv_json_get_string(ref, what, "name", FALSE, name, error)) {
        if (ref == NULL) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                        "a %s is required as {\"id\"} or {\"name\"}", what);
        }
        return FALSE;
    }
    if (*id == NULL && *name == NULL) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "%s: give its \"id\" or its \"name\"", what);
        return FALSE;
    }
    return TRUE;
}

MgrCluster *mgr_cluster_resolve(Mgr *mgr, JsonObject *ref, GError **error)
{
    const char *id;
    const char *name;
    MgrCluster *cluster;

    if (!mgr_ref_parts(ref, "cluster", &id, &name, error)) {
        return NULL;
    }
    if (id != NULL) {
        return mgr_cluster_lookup(mgr, id, error);
    }
    cluster = mgr_cluster_by_name(mgr, name);
    if (cluster == NULL) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_NOT_FOUND,
                    "no cluster named %s", name);
    }
    return cluster;
}

MgrHost *mgr_host_resolve(Mgr *mgr, JsonObject *ref, GError **error)
{
    const char *id;
    const char *name;
    MgrHost *host;

    if (!mgr_ref_parts(ref, "host", &id, &name, error)) {
        return NULL;
    }
    if (id != NULL) {
        return mgr_host_lookup(mgr, id, error);
    }
    host = mgr_host_by_name(mgr, name);
    if (host == NULL) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_NOT_FOUND, "no host named %s",
                    name);
    }
    return host;
}

const char *mgr_host_name(Mgr *mgr, const char *host_id)
{
    MgrHost *host = host_id ? g_hash_table_lookup(mgr->hosts, host_id) : NULL;

    return host ? host->name : host_id ? host_id : "(none)";
}

const char *mgr_vm_name(Mgr *mgr, const char *vm_id)
{
    MgrVm *vm = vm_id ? g_hash_table_lookup(mgr->vms, vm_id) : NULL;

    return vm ? vm->spec->name : vm_id ? vm_id : "(none)";
}

char *mgr_join(GPtrArray *strings, const char *separator)
{
    GString *out = g_string_new(NULL);

    for (guint i = 0; strings && i < strings->len; i++) {
        if (i > 0) {
            g_string_append(out, separator);
        }
        g_string_append(out, g_ptr_array_index(strings, i));
    }
    return g_string_free(out, FALSE);
}

static gint mgr_compare_hosts(gconstpointer a, gconstpointer b)
{
    return g_strcmp0((*(MgrHost *const *)a)->name,
                     (*(MgrHost *const *)b)->name);
}

GPtrArray *mgr_cluster_hosts(Mgr *mgr, const char *cluster_id)
{
    GPtrArray *out = g_ptr_array_new();
    GHashTableIter iter;
    gpointer value;

    g_hash_table_iter_init(&iter, mgr->hosts);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        if (g_strcmp0(((MgrHost *)value)->cluster_id, cluster_id) == 0) {
            g_ptr_array_add(out, value);
        }
    }
    g_ptr_array_sort(out, mgr_compare_hosts);
    return out;
}

static gint mgr_compare_vms_by_priority(gconstpointer a, gconstpointer b)
{
    const MgrVm *va = *(MgrVm *const *)a;
    const MgrVm *vb = *(MgrVm *const *)b;

    if (va->spec->priority != vb->spec->priority) {
        return va->spec->priority > vb->spec->priority ? -1 : 1;
    }
    return g_strcmp0(va->spec->name, vb->spec->name);
}

GPtrArray *mgr_host_vms(Mgr *mgr, const char *host_id)
{
    GPtrArray *out = g_ptr_array_new();
    GHashTableIter iter;
    gpointer value;

    g_hash_table_iter_init(&iter, mgr->vms);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        if (g_strcmp0(((MgrVm *)value)->host_id, host_id) == 0) {
            g_ptr_array_add(out, value);
        }
    }
    g_ptr_array_sort(out, mgr_compare_vms_by_priority);
    return out;
}

MgrMigration *mgr_vm_active_migration(Mgr *mgr, const char *vm_id)
{
    GHashTableIter iter;
    gpointer value;

    g_hash_table_iter_init(&iter, mgr->migrations);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        MgrMigration *mig = value;

        if (mgr_migration_is_active(mig) && g_strcmp0(mig->vm_id, vm_id) == 0) {
            return mig;
        }
    }
    return NULL;
}

/* ---- persistence ---- */

void mgr_save_cluster(Mgr *mgr, MgrCluster *cluster)
{
    g_autoptr(GError) error = NULL;

    if (!mgr_store_save_cluster(mgr->store, cluster, &error)) {
        g_critical("cannot store cluster %s: %s", cluster->name,
                   error->message);
    }
}

void mgr_save_host(Mgr *mgr, MgrHost *host)
{
    g_autoptr(GError) error = NULL;

    if (!mgr_store_save_host(mgr->store, host, &error)) {
        g_critical("cannot store host %s: %s", host->name, error->message);
    }
}

void mgr_save_vm(Mgr *mgr, MgrVm *vm)
{
    g_autoptr(GError) error = NULL;

    vm->updated_us = g_get_real_time();
    if (!mgr_store_save_vm(mgr->store, vm, &error)) {
        g_critical("cannot store VM %s: %s", vm->spec->name, error->message);
    }
}

void mgr_save_migration(Mgr *mgr, MgrMigration *mig)
{
    g_autoptr(GError) error = NULL;

    if (!mgr_store_save_migration(mgr->store, mig, &error)) {
        g_critical("cannot store migration %s: %s", mig->id, error->message);
    }
}

void mgr_set_host_status(Mgr *mgr, MgrHost *host, MgrHostStatus status,
                         const char *reason)
{
    if (host->status == status && g_strcmp0(host->status_reason, reason) == 0) {
        return;
    }
    host->status = status;
    g_free(host->status_reason);
    host->status_reason = g_strdup(reason);
    mgr_save_host(mgr, host);
    /* a host that comes or goes changes what the queue can do */
    mgr_queue_kick(mgr);
}

void mgr_set_vm_status(Mgr *mgr, MgrVm *vm, MgrVmStatus status,
                       const char *host_id, const char *reason)
{
    if (vm->status == status && g_strcmp0(vm->host_id, host_id) == 0 &&
        g_strcmp0(vm->status_reason, reason) == 0) {
        return;
    }
    vm->status = status;
    if (g_strcmp0(vm->host_id, host_id) != 0) {
        g_free(vm->host_id);
        vm->host_id = g_strdup(host_id);
    }
    g_free(vm->status_reason);
    vm->status_reason = g_strdup(reason);
    mgr_save_vm(mgr, vm);
}

/* ---- scheduling ---- */

/*
 * One sweep over hosts, VMs and migrations, whatever their number: the
 * scheduler and the balancer ask for it on every decision.
 */
GPtrArray *mgr_host_loads(Mgr *mgr, const char *cluster_id)
{
    g_autoptr(GPtrArray) hosts = mgr_cluster_hosts(mgr, cluster_id);
    g_autoptr(GHashTable) by_id = g_hash_table_new(g_str_hash, g_str_equal);
    GPtrArray *loads = g_ptr_array_new_with_free_func(g_free);
    GHashTableIter iter;
    gpointer value;

    for (guint i = 0; i < hosts->len; i++) {
        MgrHost *host = g_ptr_array_index(hosts, i);
        MgrHostLoad *load = g_new0(MgrHostLoad, 1);
        JsonObject *cpu = drv_json_object_or_null(host->facts, "cpu");
        JsonObject *mem = drv_json_object_or_null(host->facts, "memory");

        load->host = host;
        load->cpu_percent =
            MAX(0.0, drv_json_double_or(cpu, "utilization_percent", 0));
        load->cpus = (guint)MAX(1, drv_json_int_or(cpu, "cpus", 1));
        load->free_memory_mib = drv_json_int_or(mem, "free_for_vms_mib", 0);
        g_ptr_array_add(loads, load);
        g_hash_table_insert(by_id, host->id, load);
    }
    g_hash_table_iter_init(&iter, mgr->vms);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        MgrVm *vm = value;
        MgrHostLoad *load =
            vm->host_id ? g_hash_table_lookup(by_id, vm->host_id) : NULL;

        if (load != NULL && vm->status != MGR_VM_DOWN) {
            load->vm_count++;
        }
    }
    g_hash_table_iter_init(&iter, mgr->migrations);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        MgrMigration *mig = value;
        MgrHostLoad *from;
        MgrHostLoad *to;
        MgrVm *vm;

        if (mig->state != MGR_MIGRATION_RUNNING) {
            continue;
        }
        from = g_hash_table_lookup(by_id, mig->source_host_id);
        to = mig->destination_host_id
                 ? g_hash_table_lookup(by_id, mig->destination_host_id)
                 : NULL;
        if (from != NULL) {
            from->outgoing++;
        }
        if (to == NULL) {
            continue;
        }
        to->incoming++;
        to->vm_count++;
        /* what the destination's last facts do not count yet */
        vm = g_hash_table_lookup(mgr->vms, mig->vm_id);
        if (vm != NULL && mig->started_us >= to->host->last_seen_us) {
            JsonObject *mem =
                drv_json_object_or_null(to->host->facts, "memory");

            to->free_memory_mib -= (gint64)vm->spec->memory_mib +
                                   drv_json_int_or(mem, "vm_overhead_mib",
                                                   MGR_DEFAULT_OVERHEAD_MIB);
            to->cpu_percent += vm->cpu_percent;
        }
    }
    return loads;
}

MgrHost *mgr_schedule_place(const MgrScheduleRequest *req, GPtrArray *loads,
                            MgrHost *host, GPtrArray **verdicts)
{
    *verdicts = NULL;
    if (host == NULL) {
        MgrHostLoad *pick = mgr_scheduler_pick(req, loads);

        if (pick != NULL) {
            return (MgrHost *)pick->host;
        }
    } else {
        for (guint i = 0; i < loads->len; i++) {
            MgrHostLoad *load = g_ptr_array_index(loads, i);

            if (load->host == host) {
                if (mgr_scheduler_allows(req, load, NULL)) {
                    return host;
                }
                break;
            }
        }
    }
    /* the slow path, only to say why */
    *verdicts = mgr_scheduler_assess(req, loads);
    return NULL;
}

void mgr_schedule_request_init(Mgr *mgr, MgrScheduleRequest *req,
                               MgrScheduleKind kind, const MgrVm *vm)
{
    MgrHost *source =
        vm->host_id ? g_hash_table_lookup(mgr->hosts, vm->host_id) : NULL;
    JsonObject *facts = source ? source->facts : NULL;

    memset(req, 0, sizeof(*req));
    req->kind = kind;
    req->vm = vm;
    req->cluster = g_hash_table_lookup(mgr->clusters, vm->cluster_id);
    req->source_host_id = kind == MGR_SCHEDULE_START ? NULL : vm->host_id;
    req->vm_cpu_percent = kind == MGR_SCHEDULE_START ? 0 : vm->cpu_percent;
    req->source_cpus = (guint)MAX(
        1, drv_json_int_or(drv_json_object_or_null(facts, "cpu"), "cpus", 1));
    req->memory_overhead_mib =
        (guint)drv_json_int_or(drv_json_object_or_null(facts, "memory"),
                               "vm_overhead_mib", MGR_DEFAULT_OVERHEAD_MIB);
}

/* ---- agents ---- */

void mgr_agent_call(Mgr *mgr, const MgrHost *host, const char *method,
                    const char *path, JsonObject *body,
                    GAsyncReadyCallback callback, gpointer user_data)
{
    g_autofree char *url = g_strdup_printf("%s%s", host->address, path);

    drv_http_call_async(mgr->session, method, url, body,
                        mgr->config->agent_timeout_ms, NULL, callback,
                        user_data);
}
