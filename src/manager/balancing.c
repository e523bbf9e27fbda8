/*
 * The balancing loop.  Every balance_interval_s each cluster whose
 * scheduling policy is not "none" is described to the balancer
 * (balancer.c) — its hosts' loads, how long each has been over its
 * threshold, its VMs, which hosts are powered off — and what the balancer
 * decides is carried out: balancing migrations go through the queue like
 * any other automatic migration (same filters, limits and events), power
 * actions through power.c.  Every decision is an event with its reason; a
 * host that needs relief nobody can give is reported once, not every pass.
 *
 * How long a host has been over its threshold is observed at each poll,
 * not each pass, so that "over 80% for 2 minutes" means what it says.
 */
#include "manager/balancer.h"
#include "manager/manager.h"

#include "common/json.h"

/* a host whose power action failed is not chosen again for this long */
#define MGR_BALANCING_POWER_RETRY_US (30 * 60 * G_USEC_PER_SEC)
/* the same stuck situation is not said again within this */
#define MGR_BALANCING_STUCK_US (30 * 60 * G_USEC_PER_SEC)

struct _MgrBalancing {
    Mgr *mgr;
    guint timer;
    GHashTable *stuck; /* cluster id -> MgrStuck, the last reported */
};

static gboolean mgr_balancing_params(Mgr *mgr, const char *cluster_id,
                                     MgrBalancerParams *params)
{
    MgrCluster *cluster = g_hash_table_lookup(mgr->clusters, cluster_id);

    /* parameters were checked when set: a failure here is a bad store */
    return cluster != NULL &&
           mgr_balancer_params_parse(cluster->scheduling_policy,
                                     cluster->scheduling_params, params,
                                     NULL) &&
           params->policy != MGR_BALANCER_NONE;
}

/*
 * A host's load figure lags a migration by an agent sampling period or two
 * (and includes the migration's own work): until it has settled, the host
 * is not judged over its threshold, so that a VM that just left does not
 * make its host look loaded enough to send another after it.
 */
#define MGR_BALANCING_SETTLE_US (6 * G_USEC_PER_SEC)

void mgr_balancing_load_changed(Mgr *mgr, const char *host_id, gint64 when_us)
{
    MgrHost *host = host_id ? g_hash_table_lookup(mgr->hosts, host_id) : NULL;

    if (host != NULL) {
        host->load_changed_us = when_us;
        host->over_since_us = 0;
    }
}

void mgr_balancing_observe(Mgr *mgr, MgrHost *host)
{
    MgrBalancerParams params;
    double cpu = drv_json_double_or(drv_json_object_or_null(host->facts, "cpu"),
                                    "utilization_percent", 0);

    if (!mgr_balancing_params(mgr, host->cluster_id, &params) ||
        params.high_utilization <= 0 || cpu < params.high_utilization ||
        g_get_real_time() - host->load_changed_us < MGR_BALANCING_SETTLE_US) {
        host->over_since_us = 0;
        return;
    }
    if (host->over_since_us == 0) {
        host->over_since_us = g_get_real_time();
    }
}

/* ---- the snapshot ---- */

static void mgr_balancing_host_free(MgrBalancerHost *h)
{
    g_ptr_array_unref(h->vms);
    g_free(h);
}

/* Queued migrations keep their hosts out of the pass, like running ones. */
static void mgr_balancing_count_queued(Mgr *mgr, GHashTable *by_id)
{
    GHashTableIter iter;
    gpointer value;

    g_hash_table_iter_init(&iter, mgr->migrations);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        MgrMigration *mig = value;
        MgrBalancerHost *from;
        MgrBalancerHost *to;

        if (mig->state != MGR_MIGRATION_QUEUED) {
            continue;
        }
        from = mig->source_host_id
                   ? g_hash_table_lookup(by_id, mig->source_host_id)
                   : NULL;
        to = mig->requested_host_id
                 ? g_hash_table_lookup(by_id, mig->requested_host_id)
                 : NULL;
        if (from != NULL) {
            from->load->outgoing++;
        }
        if (to != NULL) {
            to->load->incoming++;
        }
    }
}

static GPtrArray *mgr_balancing_snapshot(Mgr *mgr, GPtrArray *loads, gint64 now)
{
    GPtrArray *hosts =
        g_ptr_array_new_with_free_func((GDestroyNotify)mgr_balancing_host_free);
    g_autoptr(GHashTable) by_id = g_hash_table_new(g_str_hash, g_str_equal);
    GHashTableIter iter;
    gpointer value;

    for (guint i = 0; i < loads->len; i++) {
        MgrHostLoad *load = g_ptr_array_index(loads, i);
        MgrHost *host = (MgrHost *)load->host;
        MgrBalancerHost *h = g_new0(MgrBalancerHost, 1);

        h->load = load;
        h->over_for_s =
            host->over_since_us
                ? (double)(now - host->over_since_us) / G_USEC_PER_SEC
                : 0;
        h->powering_on = mgr_host_is_powering_on(host);
        h->powered_off = mgr_host_is_powered_off(host) || h->powering_on;
        h->can_power =
            mgr_host_can_power(host) &&
            (host->power_failed_us == 0 ||
             now - host->power_failed_us > MGR_BALANCING_POWER_RETRY_US);
        h->emptying = host->emptying;
        h->vms = g_ptr_array_new_with_free_func(g_free);
        g_ptr_array_add(hosts, h);
        g_hash_table_insert(by_id, host->id, h);
    }
    /* one sweep over the VMs, whatever their number */
    g_hash_table_iter_init(&iter, mgr->vms);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        MgrVm *vm = value;
        MgrBalancerHost *h =
            vm->host_id ? g_hash_table_lookup(by_id, vm->host_id) : NULL;
        MgrBalancerVm *v;

        if (h == NULL || vm->status == MGR_VM_DOWN) {
            continue;
        }
        v = g_new0(MgrBalancerVm, 1);
        v->vm = vm;
        v->cpu_percent = vm->cpu_percent;
        v->memory_mib = vm->spec->memory_mib;
        v->dirty_rate_bps = vm->dirty_rate_bps;
        v->last_balanced_us = vm->last_balanced_us;
        g_ptr_array_add(h->vms, v);
    }
    mgr_balancing_count_queued(mgr, by_id);
    return hosts;
}

/* ---- carrying out ---- */

static void mgr_balancing_migrate(Mgr *mgr, MgrCluster *cluster,
                                  const MgrBalancerAction *action)
{
    MgrVm *vm = (MgrVm *)action->vm;
    MgrHost *source = (MgrHost *)action->host;
    MgrHost *dest = (MgrHost *)action->destination;
    g_autofree char *correlation = g_uuid_string_random();
    g_autoptr(GError) error = NULL;
    MgrMigration *mig;

    mig = mgr_queue_submit(mgr, vm, dest, "balancing", TRUE, MGR_SYSTEM_USER,
                           correlation, &error);
    if (mig == NULL) {
        mgr_event(mgr, MGR_SEVERITY_WARNING, "balancing_failed",
                  MGR_SYSTEM_USER, correlation, vm->id, source->id, NULL, NULL,
                  "cluster %s (%s): %s; but the migration was refused: %s",
                  cluster->name, cluster->scheduling_policy, action->reason,
                  error->message);
        return;
    }
    vm->last_balanced_us = g_get_real_time();
    source->emptying = action->empties;
    mgr_event(mgr, MGR_SEVERITY_INFO, "balancing_migration", MGR_SYSTEM_USER,
              correlation, vm->id, source->id, mig->id, NULL,
              "cluster %s (%s): %s", cluster->name, cluster->scheduling_policy,
              action->reason);
}

static void mgr_balancing_power(Mgr *mgr, MgrCluster *cluster,
                                const MgrBalancerAction *action)
{
    MgrHost *host = (MgrHost *)action->host;
    g_autoptr(GError) error = NULL;
    g_autofree char *reason =
        g_strdup_printf("power saving: %s", action->reason);
    gboolean on = action->kind == MGR_BALANCER_POWER_ON;

    if (on ? mgr_power_on(mgr, host, MGR_SYSTEM_USER, reason, &error)
           : mgr_power_off(mgr, host, MGR_SYSTEM_USER, reason, &error)) {
        if (!on) {
            host->emptying = FALSE;
        }
        return;
    }
    host->power_failed_us = g_get_real_time();
    mgr_event(mgr, MGR_SEVERITY_WARNING, "balancing_failed", MGR_SYSTEM_USER,
              NULL, NULL, host->id, NULL, NULL,
              "cluster %s (%s): %s; but powering %s host %s was refused: %s",
              cluster->name, cluster->scheduling_policy, action->reason,
              on ? "on" : "off", host->name, error->message);
}

typedef struct {
    char *key;
    gint64 seen_us;
} MgrStuck;

static void mgr_stuck_free(MgrStuck *stuck)
{
    g_free(stuck->key);
    g_free(stuck);
}

/*
 * A host that needs relief nobody can give: said once, and again only
 * when the situation changes or comes back after MGR_BALANCING_STUCK_US —
 * a host hovering at its threshold would otherwise say it at every pass.
 */
static void mgr_balancing_report_stuck(MgrBalancing *balancing,
                                       MgrCluster *cluster, const char *text,
                                       char *key)
{
    MgrStuck *before = g_hash_table_lookup(balancing->stuck, cluster->id);
    gint64 now = g_get_real_time();
    MgrStuck *stuck;

    if (key == NULL) {
        return;
    }
    if (before == NULL || g_strcmp0(before->key, key) != 0 ||
        now - before->seen_us > MGR_BALANCING_STUCK_US) {
        mgr_event(balancing->mgr, MGR_SEVERITY_WARNING, "balancing_stuck",
                  MGR_SYSTEM_USER, NULL, NULL, NULL, NULL, NULL,
                  "cluster %s (%s): %s", cluster->name,
                  cluster->scheduling_policy, text);
    }
    stuck = g_new0(MgrStuck, 1);
    stuck->key = key;
    stuck->seen_us = now;
    g_hash_table_replace(balancing->stuck, g_strdup(cluster->id), stuck);
}

static void mgr_balancing_pass(MgrBalancing *balancing, MgrCluster *cluster)
{
    Mgr *mgr = balancing->mgr;
    gint64 now = g_get_real_time();
    MgrBalancerInput in = {0};
    g_autoptr(GPtrArray) loads = NULL;
    g_autoptr(GPtrArray) hosts = NULL;
    g_autoptr(GPtrArray) actions = NULL;
    g_autofree char *stuck = NULL;
    char *stuck_key = NULL;

    if (!mgr_balancing_params(mgr, cluster->id, &in.params)) {
        g_hash_table_remove(balancing->stuck, cluster->id);
        return;
    }
    loads = mgr_host_loads(mgr, cluster->id);
    hosts = mgr_balancing_snapshot(mgr, loads, now);
    in.cluster = cluster;
    in.hosts = hosts;
    in.memory_overhead_mib = MGR_DEFAULT_OVERHEAD_MIB;
    in.now_us = now;
    for (guint i = 0; i < loads->len; i++) {
        JsonObject *memory = drv_json_object_or_null(
            ((MgrHostLoad *)g_ptr_array_index(loads, i))->host->facts,
            "memory");

        if (memory != NULL) {
            in.memory_overhead_mib = (guint)drv_json_int_or(
                memory, "vm_overhead_mib", MGR_DEFAULT_OVERHEAD_MIB);
            break;
        }
    }
    actions = mgr_balancer_plan(&in, &stuck, &stuck_key);
    mgr_balancing_report_stuck(balancing, cluster, stuck, stuck_key);
    for (guint i = 0; i < actions->len; i++) {
        const MgrBalancerAction *action = g_ptr_array_index(actions, i);

        if (action->kind == MGR_BALANCER_MIGRATE) {
            mgr_balancing_migrate(mgr, cluster, action);
        } else {
            mgr_balancing_power(mgr, cluster, action);
        }
    }
}

static gboolean mgr_balancing_tick(gpointer user_data)
{
    MgrBalancing *balancing = user_data;
    g_autoptr(GList) clusters =
        g_hash_table_get_values(balancing->mgr->clusters);

    for (GList *l = clusters; l != NULL; l = l->next) {
        mgr_balancing_pass(balancing, l->data);
    }
    return G_SOURCE_CONTINUE;
}

MgrBalancing *mgr_balancing_new(Mgr *mgr)
{
    MgrBalancing *balancing = g_new0(MgrBalancing, 1);
    GHashTableIter iter;
    gpointer value;

    balancing->mgr = mgr;
    balancing->stuck = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                             (GDestroyNotify)mgr_stuck_free);
    /* the cool-down survives a restart: the history says what moved */
    g_hash_table_iter_init(&iter, mgr->migrations);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        MgrMigration *mig = value;
        MgrVm *vm = g_hash_table_lookup(mgr->vms, mig->vm_id);

        if (vm != NULL && g_strcmp0(mig->reason, "balancing") == 0) {
            vm->last_balanced_us = MAX(vm->last_balanced_us, mig->created_us);
        }
    }
    balancing->timer = g_timeout_add_seconds(mgr->config->balance_interval_s,
                                             mgr_balancing_tick, balancing);
    return balancing;
}

void mgr_balancing_free(MgrBalancing *balancing)
{
    if (balancing == NULL) {
        return;
    }
    if (balancing->timer) {
        g_source_remove(balancing->timer);
    }
    g_hash_table_unref(balancing->stuck);
    g_free(balancing);
}
