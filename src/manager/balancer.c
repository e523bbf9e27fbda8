#include "manager/balancer.h"

#include <math.h>
#include <stddef.h>

#include "common/error.h"
#include "common/json.h"

/* ---- policies and their parameters ---- */

static const struct {
    const char *name;
    const char *description;
} bal_policies[] = {
    [MGR_BALANCER_NONE] = {"none", "no automatic migration: VMs stay where "
                                   "they are"},
    [MGR_BALANCER_EVENLY_DISTRIBUTED] =
        {"evenly_distributed",
         "a host over high_utilization for overcommit_duration_minutes "
         "sheds VMs to hosts that stay under it"},
    [MGR_BALANCER_VM_EVENLY_DISTRIBUTED] =
        {"vm_evenly_distributed",
         "a host with more than high_vm_count VMs and migration_threshold "
         "more than the least loaded host sheds VMs"},
    [MGR_BALANCER_POWER_SAVING] =
        {"power_saving",
         "over-used hosts shed VMs; under-used hosts are emptied and "
         "powered off, keeping hosts_in_reserve empty hosts up; a "
         "powered-off host is powered on when the others cannot take the "
         "load"},
};

#define BAL_EVEN (1u << MGR_BALANCER_EVENLY_DISTRIBUTED)
#define BAL_VMS (1u << MGR_BALANCER_VM_EVENLY_DISTRIBUTED)
#define BAL_POWER (1u << MGR_BALANCER_POWER_SAVING)
#define BAL_ALL (BAL_EVEN | BAL_VMS | BAL_POWER)

typedef struct {
    const char *name;
    guint policies;
    double def; /* < 0: not set */
    double min;
    double max;
    double scale; /* stored = given * scale */
    gboolean integer;
    const char *unit;
    const char *help;
    gsize offset;
} BalParamSpec;

#define BAL_FIELD(f) offsetof(MgrBalancerParams, f)

static const BalParamSpec bal_params[] = {
    {"high_utilization", BAL_EVEN | BAL_POWER, 80, 1, 100, 1, FALSE, "%",
     "CPU utilization above which a host is over-used",
     BAL_FIELD(high_utilization)},
    {"low_utilization", BAL_POWER, 20, 0, 99, 1, FALSE, "%",
     "CPU utilization below which a host is under-used",
     BAL_FIELD(low_utilization)},
    {"overcommit_duration_minutes", BAL_EVEN | BAL_POWER, 2, 0, 1440, 60, FALSE,
     "minutes",
     "how long a host must stay over high_utilization before it sheds VMs",
     BAL_FIELD(overcommit_duration_s)},
    {"high_vm_count", BAL_VMS, 10, 1, 100000, 1, TRUE, "VMs",
     "a host with more VMs than this sheds some (with migration_threshold)",
     BAL_FIELD(high_vm_count)},
    {"high_vm_count", BAL_POWER, 0, 0, 100000, 1, TRUE, "VMs",
     "a host with more VMs than this sheds some; 0: no limit",
     BAL_FIELD(high_vm_count)},
    {"low_vm_count", BAL_POWER, 0, 0, 100000, 1, TRUE, "VMs",
     "a host with fewer VMs than this is under-used too; 0: CPU alone "
     "decides",
     BAL_FIELD(low_vm_count)},
    {"migration_threshold", BAL_VMS, 5, 1, 100000, 1, TRUE, "VMs",
     "how many VMs more than the least loaded host a host must run to shed "
     "some",
     BAL_FIELD(migration_threshold)},
    {"hosts_in_reserve", BAL_POWER, 1, 0, 1000, 1, TRUE, "hosts",
     "empty hosts kept powered on for new load", BAL_FIELD(hosts_in_reserve)},
    {"max_free_memory_for_over_utilized", BAL_EVEN | BAL_POWER, -1, 0, 1e9, 1,
     TRUE, "MiB",
     "a host with this much memory free for VMs or less is over-used; "
     "unset: memory does not count",
     BAL_FIELD(max_free_memory_for_over_utilized)},
    {"min_free_memory_for_under_utilized", BAL_POWER, -1, 0, 1e9, 1, TRUE,
     "MiB",
     "a host counts as under-used only with at least this much memory free "
     "for VMs; unset: memory does not count",
     BAL_FIELD(min_free_memory_for_under_utilized)},
    {"max_migrations_per_pass", BAL_ALL, 2, 1, 100, 1, TRUE, "migrations",
     "balancing migrations started per pass in the cluster",
     BAL_FIELD(max_migrations_per_pass)},
    {"cooldown_minutes", BAL_ALL, 10, 0, 1440, 60, FALSE, "minutes",
     "a VM the balancer moved is not moved by it again for this long",
     BAL_FIELD(cooldown_s)},
};

static double *bal_field(MgrBalancerParams *params, const BalParamSpec *spec)
{
    return (double *)((char *)params + spec->offset);
}

static const BalParamSpec *bal_param_spec(const char *name,
                                          MgrBalancerPolicy policy)
{
    for (guint i = 0; i < G_N_ELEMENTS(bal_params); i++) {
        if ((bal_params[i].policies & (1u << policy)) &&
            g_str_equal(bal_params[i].name, name)) {
            return &bal_params[i];
        }
    }
    return NULL;
}

/* "a, b, c" (or "none") */
static char *bal_param_names(MgrBalancerPolicy policy)
{
    g_autoptr(GString) out = g_string_new(NULL);

    for (guint i = 0; i < G_N_ELEMENTS(bal_params); i++) {
        if (bal_params[i].policies & (1u << policy)) {
            g_string_append_printf(out, "%s%s", out->len ? ", " : "",
                                   bal_params[i].name);
        }
    }
    return g_strdup(out->len ? out->str : "none");
}

const char *const *mgr_balancer_policies(void)
{
    static const char *names[G_N_ELEMENTS(bal_policies) + 1];

    for (guint i = 0; i < G_N_ELEMENTS(bal_policies); i++) {
        names[i] = bal_policies[i].name;
    }
    return names;
}

gboolean mgr_balancer_policy_from_name(const char *name, MgrBalancerPolicy *out)
{
    for (guint i = 0; i < G_N_ELEMENTS(bal_policies); i++) {
        if (g_strcmp0(bal_policies[i].name, name) == 0) {
            *out = (MgrBalancerPolicy)i;
            return TRUE;
        }
    }
    return FALSE;
}

const char *mgr_balancer_policy_name(MgrBalancerPolicy policy)
{
    return bal_policies[policy].name;
}

static gboolean bal_param_set(MgrBalancerParams *out, const BalParamSpec *spec,
                              JsonNode *node, GError **error)
{
    double value;

    if (JSON_NODE_HOLDS_NULL(node) && spec->def < 0) {
        *bal_field(out, spec) = -1;
        return TRUE;
    }
    if (!JSON_NODE_HOLDS_VALUE(node) ||
        (json_node_get_value_type(node) != G_TYPE_INT64 &&
         json_node_get_value_type(node) != G_TYPE_DOUBLE)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "scheduling policy %s: '%s' must be a number%s",
                    bal_policies[out->policy].name, spec->name,
                    spec->def < 0 ? " or null" : "");
        return FALSE;
    }
    value = json_node_get_value_type(node) == G_TYPE_INT64
                ? (double)json_node_get_int(node)
                : json_node_get_double(node);
    if (!(value >= spec->min && value <= spec->max) ||
        (spec->integer && value != floor(value))) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "scheduling policy %s: '%s' must be %s from %g to %g %s, "
                    "not %g",
                    bal_policies[out->policy].name, spec->name,
                    spec->integer ? "a whole number" : "a number", spec->min,
                    spec->max, spec->unit, value);
        return FALSE;
    }
    *bal_field(out, spec) = value * spec->scale;
    return TRUE;
}

gboolean mgr_balancer_params_parse(const char *policy, JsonObject *parameters,
                                   MgrBalancerParams *out, GError **error)
{
    g_autoptr(GList) members =
        parameters ? json_object_get_members(parameters) : NULL;

    memset(out, 0, sizeof(*out));
    out->max_free_memory_for_over_utilized = -1;
    out->min_free_memory_for_under_utilized = -1;
    if (!mgr_balancer_policy_from_name(policy, &out->policy)) {
        g_autofree char *names =
            g_strjoinv(", ", (char **)mgr_balancer_policies());

        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "scheduling policy '%s' is not known (%s)", policy, names);
        return FALSE;
    }
    for (guint i = 0; i < G_N_ELEMENTS(bal_params); i++) {
        if (bal_params[i].policies & (1u << out->policy)) {
            *bal_field(out, &bal_params[i]) =
                bal_params[i].def < 0 ? -1
                                      : bal_params[i].def * bal_params[i].scale;
        }
    }
    for (GList *l = members; l != NULL; l = l->next) {
        const char *name = l->data;
        const BalParamSpec *spec = bal_param_spec(name, out->policy);

        if (spec == NULL) {
            g_autofree char *names = bal_param_names(out->policy);

            g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                        "scheduling policy %s takes no parameter '%s' (it "
                        "takes: %s)",
                        bal_policies[out->policy].name, name, names);
            return FALSE;
        }
        if (!bal_param_set(out, spec, json_object_get_member(parameters, name),
                           error)) {
            return FALSE;
        }
    }
    if (out->policy == MGR_BALANCER_POWER_SAVING &&
        out->low_utilization >= out->high_utilization) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "scheduling policy power_saving: low_utilization (%g%%) "
                    "must be below high_utilization (%g%%)",
                    out->low_utilization, out->high_utilization);
        return FALSE;
    }
    return TRUE;
}

JsonObject *mgr_balancer_params_to_json(const MgrBalancerParams *params)
{
    JsonObject *obj = json_object_new();

    for (guint i = 0; i < G_N_ELEMENTS(bal_params); i++) {
        const BalParamSpec *spec = &bal_params[i];
        double value;

        if (!(spec->policies & (1u << params->policy))) {
            continue;
        }
        value = *bal_field((MgrBalancerParams *)params, spec);
        if (value < 0) {
            json_object_set_null_member(obj, spec->name);
        } else if (spec->integer) {
            json_object_set_int_member(obj, spec->name, (gint64)value);
        } else {
            json_object_set_double_member(obj, spec->name, value / spec->scale);
        }
    }
    return obj;
}

JsonArray *mgr_balancer_describe(void)
{
    JsonArray *out = json_array_new();

    for (guint p = 0; p < G_N_ELEMENTS(bal_policies); p++) {
        JsonObject *policy = json_object_new();
        JsonArray *list = json_array_new();

        json_object_set_string_member(policy, "name", bal_policies[p].name);
        json_object_set_string_member(policy, "description",
                                      bal_policies[p].description);
        for (guint i = 0; i < G_N_ELEMENTS(bal_params); i++) {
            const BalParamSpec *spec = &bal_params[i];
            JsonObject *param;

            if (!(spec->policies & (1u << p))) {
                continue;
            }
            param = json_object_new();
            json_object_set_string_member(param, "name", spec->name);
            json_object_set_string_member(param, "unit", spec->unit);
            if (spec->def < 0) {
                json_object_set_null_member(param, "default");
            } else {
                json_object_set_double_member(param, "default", spec->def);
            }
            json_object_set_double_member(param, "min", spec->min);
            json_object_set_double_member(param, "max", spec->max);
            json_object_set_boolean_member(param, "integer", spec->integer);
            json_object_set_string_member(param, "description", spec->help);
            json_array_add_object_element(list, param);
        }
        json_object_set_array_member(policy, "parameters", list);
        json_array_add_object_element(out, policy);
    }
    return out;
}

/* ---- planning ---- */

void mgr_balancer_action_free(MgrBalancerAction *action)
{
    if (action == NULL) {
        return;
    }
    g_free(action->reason);
    g_free(action);
}

typedef struct {
    MgrBalancerInput *in;
    const MgrBalancerParams *p;
    GPtrArray *actions;
    guint migrations;
    gboolean powered;  /* a power action is planned */
    GHashTable *moved; /* MgrBalancerVm * moved in this pass */
    GHashTable *skip;  /* MgrBalancerHost * left out (busy at start) */
    GHashTable *done;  /* MgrBalancerHost * that cannot shed more */
    GString *stuck;
    GString *stuck_key;
    gsize stuck_tail;
    GPtrArray *order[3];     /* usable hosts by BalPreference, or NULL */
    gboolean order_stale[3]; /* a move changed the loads since */
} BalPlan;

typedef enum {
    BAL_SPREAD,      /* the least loaded destination */
    BAL_FEWEST_VMS,  /* the destination with fewest VMs */
    BAL_CONSOLIDATE, /* the most loaded destination that fits */
} BalPreference;

/* What a destination must satisfy besides the scheduler's filters. */
typedef struct {
    BalPreference preference;
    gboolean no_spare;     /* not onto an empty host (power saving) */
    gboolean ignore_slots; /* feasibility: slots free up later */
} BalGuard;

static const char *bal_host_name(const MgrBalancerHost *h)
{
    return h->load->host->name;
}

static gboolean bal_host_up(const MgrBalancerHost *h)
{
    return h->load->host->status == MGR_HOST_UP && !h->powered_off;
}

static gboolean bal_host_usable(BalPlan *plan, MgrBalancerHost *h)
{
    return bal_host_up(h) && !g_hash_table_contains(plan->skip, h);
}

static guint bal_max_migrations(BalPlan *plan)
{
    return (guint)plan->p->max_migrations_per_pass;
}

static gboolean bal_may_migrate(BalPlan *plan)
{
    return plan->migrations < bal_max_migrations(plan);
}

static char *bal_percent(double value)
{
    return g_strdup_printf("%.0f%%", value);
}

static char *bal_duration(double seconds)
{
    if (seconds < 120) {
        return g_strdup_printf("%.0f s", seconds);
    }
    return g_strdup_printf("%.0f min", seconds / 60);
}

static const char *bal_vm_name(const MgrBalancerVm *v)
{
    return v->vm->spec ? v->vm->spec->name : v->vm->id;
}

/* Why the balancer may not move @v now, or NULL. */
static const char *bal_vm_unmovable(BalPlan *plan, const MgrBalancerVm *v)
{
    const MgrVm *vm = v->vm;

    if (g_hash_table_contains(plan->moved, v)) {
        return "is moving";
    }
    if (vm->status != MGR_VM_UP) {
        return "is not up";
    }
    if (vm->spec->migration_mode != DRV_MIGRATION_MODE_MANUAL_AND_AUTOMATIC) {
        return "does not allow automatic migration";
    }
    if (vm->spec->pinned_hosts != NULL && vm->spec->pinned_hosts[0] != NULL) {
        return "is pinned";
    }
    if (v->last_balanced_us > 0 &&
        plan->in->now_us - v->last_balanced_us <
            (gint64)(plan->p->cooldown_s * G_USEC_PER_SEC)) {
        return "was moved recently (cool-down)";
    }
    return NULL;
}

/* What moving it costs: its RAM and what it dirties in ~10 s of copy. */
static double bal_vm_cost(const MgrBalancerVm *v)
{
    double dirty = v->dirty_rate_bps > 0 ? (double)v->dirty_rate_bps : 0;

    return (double)v->memory_mib + dirty * 10.0 / (1024.0 * 1024.0);
}

static gint bal_compare_cost(gconstpointer a, gconstpointer b)
{
    double ca = bal_vm_cost(*(MgrBalancerVm *const *)a);
    double cb = bal_vm_cost(*(MgrBalancerVm *const *)b);

    return ca < cb ? -1 : ca > cb ? 1 : 0;
}

/* The movable VMs of @h, cheapest first. */
static GPtrArray *bal_movable(BalPlan *plan, MgrBalancerHost *h)
{
    GPtrArray *out = g_ptr_array_new();

    for (guint i = 0; h->vms != NULL && i < h->vms->len; i++) {
        MgrBalancerVm *v = g_ptr_array_index(h->vms, i);

        if (bal_vm_unmovable(plan, v) == NULL) {
            g_ptr_array_add(out, v);
        }
    }
    g_ptr_array_sort(out, bal_compare_cost);
    return out;
}

static gboolean bal_has_movable(BalPlan *plan, MgrBalancerHost *h)
{
    for (guint i = 0; h->vms != NULL && i < h->vms->len; i++) {
        if (bal_vm_unmovable(plan, g_ptr_array_index(h->vms, i)) == NULL) {
            return TRUE;
        }
    }
    return FALSE;
}

/* @h's VMs that are still there (not planned away). */
static guint bal_staying(BalPlan *plan, MgrBalancerHost *h)
{
    guint n = 0;

    for (guint i = 0; h->vms != NULL && i < h->vms->len; i++) {
        n += !g_hash_table_contains(plan->moved, g_ptr_array_index(h->vms, i));
    }
    return n;
}

static double bal_share_on(const MgrBalancerHost *src,
                           const MgrBalancerHost *dst, double share)
{
    if (dst->load->cpus == 0 || src->load->cpus == 0) {
        return share;
    }
    return share * (double)src->load->cpus / (double)dst->load->cpus;
}

/* Never leave the destination with more VMs than the source. */
static gboolean bal_count_stays_below(const MgrBalancerHost *src,
                                      const MgrBalancerHost *dst)
{
    return (gint64)dst->load->vm_count + 1 <= (gint64)src->load->vm_count - 1;
}

static gboolean bal_guard_ok(BalPlan *plan, const BalGuard *guard,
                             MgrBalancerHost *src, MgrBalancerHost *dst,
                             const MgrBalancerVm *v, double cpu_after)
{
    const MgrBalancerParams *p = plan->p;
    gint64 need = v->memory_mib + plan->in->memory_overhead_mib;

    if (guard->no_spare && dst->load->vm_count == 0) {
        return FALSE;
    }
    switch (p->policy) {
    case MGR_BALANCER_VM_EVENLY_DISTRIBUTED:
        return bal_count_stays_below(src, dst);
    case MGR_BALANCER_EVENLY_DISTRIBUTED:
    case MGR_BALANCER_POWER_SAVING:
        /* the destination stays under: it cannot be the next to shed */
        if (cpu_after >= p->high_utilization) {
            return FALSE;
        }
        if (p->max_free_memory_for_over_utilized >= 0 &&
            (double)(dst->load->free_memory_mib - need) <=
                p->max_free_memory_for_over_utilized) {
            return FALSE;
        }
        if (p->high_vm_count > 0 &&
            (double)(dst->load->vm_count + 1) > p->high_vm_count) {
            return FALSE;
        }
        return TRUE;
    case MGR_BALANCER_NONE:
        break;
    }
    return FALSE;
}

static gint bal_compare_hosts(gconstpointer pa, gconstpointer pb,
                              gpointer user_data)
{
    const MgrHostLoad *a = (*(MgrBalancerHost *const *)pa)->load;
    const MgrHostLoad *b = (*(MgrBalancerHost *const *)pb)->load;
    BalPreference pref = GPOINTER_TO_INT(user_data);
    int by_cpu = a->cpu_percent < b->cpu_percent   ? -1
                 : a->cpu_percent > b->cpu_percent ? 1
                                                   : 0;
    int by_count = a->vm_count < b->vm_count   ? -1
                   : a->vm_count > b->vm_count ? 1
                                               : 0;

    switch (pref) {
    case BAL_FEWEST_VMS:
        return by_count ? by_count : by_cpu;
    case BAL_CONSOLIDATE:
        return -by_cpu ? -by_cpu : by_count;
    case BAL_SPREAD:
        break;
    }
    return by_cpu ? by_cpu : by_count;
}

/*
 * The usable hosts, best destination first for @pref: sorted once and
 * again only after a move, so that a search is a walk to the first host
 * that takes the VM rather than an assessment of every host.
 */
static GPtrArray *bal_order(BalPlan *plan, BalPreference pref)
{
    GPtrArray *order = plan->order[pref];

    if (order != NULL && !plan->order_stale[pref]) {
        return order;
    }
    if (order == NULL) {
        order = plan->order[pref] = g_ptr_array_new();
        for (guint i = 0; i < plan->in->hosts->len; i++) {
            MgrBalancerHost *h = g_ptr_array_index(plan->in->hosts, i);

            if (bal_host_usable(plan, h)) {
                g_ptr_array_add(order, h);
            }
        }
    }
    g_ptr_array_sort_with_data(order, bal_compare_hosts, GINT_TO_POINTER(pref));
    plan->order_stale[pref] = FALSE;
    return order;
}

/* Where @v could go from @src, or NULL; *@cpu_after for the sentence. */
static MgrBalancerHost *bal_destination(BalPlan *plan, const BalGuard *guard,
                                        MgrBalancerHost *src,
                                        const MgrBalancerVm *v,
                                        double *cpu_after)
{
    MgrBalancerInput *in = plan->in;
    MgrCluster roomy = *in->cluster;
    MgrScheduleRequest req = {0};
    GPtrArray *order = bal_order(plan, guard->preference);

    if (guard->ignore_slots) {
        roomy.max_incoming_migrations = G_MAXUINT;
    }
    req.kind = MGR_SCHEDULE_AUTOMATIC;
    req.vm = v->vm;
    req.cluster = &roomy;
    req.source_host_id = src->load->host->id;
    req.vm_cpu_percent = v->cpu_percent;
    req.source_cpus = src->load->cpus;
    req.memory_overhead_mib = in->memory_overhead_mib;
    for (guint i = 0; i < order->len; i++) {
        MgrBalancerHost *h = g_ptr_array_index(order, i);
        double after =
            h->load->cpu_percent + bal_share_on(src, h, v->cpu_percent);

        /* by VM count, fewest first: no host after this one passes either */
        if (plan->p->policy == MGR_BALANCER_VM_EVENLY_DISTRIBUTED &&
            guard->preference == BAL_FEWEST_VMS &&
            !bal_count_stays_below(src, h)) {
            break;
        }
        if (h != src && bal_guard_ok(plan, guard, src, h, v, after) &&
            mgr_scheduler_allows(&req, h->load, cpu_after)) {
            return h;
        }
    }
    return NULL;
}

/* Record the move in the loads, so that the rest of the plan sees it. */
static void bal_apply(BalPlan *plan, MgrBalancerHost *src, MgrBalancerHost *dst,
                      MgrBalancerVm *v)
{
    gint64 need = v->memory_mib + plan->in->memory_overhead_mib;

    src->load->cpu_percent = MAX(0.0, src->load->cpu_percent - v->cpu_percent);
    dst->load->cpu_percent += bal_share_on(src, dst, v->cpu_percent);
    src->load->vm_count = src->load->vm_count ? src->load->vm_count - 1 : 0;
    dst->load->vm_count++;
    src->load->free_memory_mib += need;
    dst->load->free_memory_mib -= need;
    src->load->outgoing++;
    dst->load->incoming++;
    g_hash_table_add(plan->moved, v);
    for (guint i = 0; i < G_N_ELEMENTS(plan->order_stale); i++) {
        plan->order_stale[i] = TRUE;
    }
}

static void bal_migrate(BalPlan *plan, MgrBalancerHost *src,
                        MgrBalancerHost *dst, MgrBalancerVm *v,
                        gboolean empties, char *reason)
{
    MgrBalancerAction *action = g_new0(MgrBalancerAction, 1);

    action->kind = MGR_BALANCER_MIGRATE;
    action->vm = v->vm;
    action->host = src->load->host;
    action->destination = dst->load->host;
    action->empties = empties;
    action->reason = reason;
    g_ptr_array_add(plan->actions, action);
    plan->migrations++;
    bal_apply(plan, src, dst, v);
}

static void bal_power(BalPlan *plan, MgrBalancerHost *h,
                      MgrBalancerActionKind kind, char *reason)
{
    MgrBalancerAction *action = g_new0(MgrBalancerAction, 1);

    action->kind = kind;
    action->host = h->load->host;
    action->reason = reason;
    g_ptr_array_add(plan->actions, action);
    plan->powered = TRUE;
}

/* ---- over-used hosts ---- */

/* Why @h is over-used now, or NULL. */
static char *bal_overused(BalPlan *plan, MgrBalancerHost *h)
{
    const MgrBalancerParams *p = plan->p;
    MgrHostLoad *load = h->load;

    if (p->policy == MGR_BALANCER_EVENLY_DISTRIBUTED ||
        p->policy == MGR_BALANCER_POWER_SAVING) {
        if (load->cpu_percent >= p->high_utilization &&
            h->over_for_s >= p->overcommit_duration_s) {
            g_autofree char *now = bal_percent(load->cpu_percent);
            g_autofree char *high = bal_percent(p->high_utilization);
            g_autofree char *since = bal_duration(h->over_for_s);

            return g_strdup_printf("%s has been over %s CPU for %s (%s)",
                                   bal_host_name(h), high, since, now);
        }
        if (p->max_free_memory_for_over_utilized >= 0 &&
            (double)load->free_memory_mib <=
                p->max_free_memory_for_over_utilized) {
            return g_strdup_printf(
                "%s has %" G_GINT64_FORMAT " MiB free for VMs, not more "
                "than max_free_memory_for_over_utilized (%.0f MiB)",
                bal_host_name(h), load->free_memory_mib,
                p->max_free_memory_for_over_utilized);
        }
    }
    if (p->policy == MGR_BALANCER_POWER_SAVING && p->high_vm_count > 0 &&
        (double)load->vm_count > p->high_vm_count) {
        return g_strdup_printf("%s runs %u VMs, more than high_vm_count (%.0f)",
                               bal_host_name(h), load->vm_count,
                               p->high_vm_count);
    }
    return NULL;
}

/* The VMs to try, best first: one that alone ends the overload for least
 * cost, else those that relieve most per cost. */
static void bal_order_for_cpu(GPtrArray *vms, double excess)
{
    g_autoptr(GPtrArray) enough = g_ptr_array_new();
    g_autoptr(GPtrArray) partial = g_ptr_array_new();

    for (guint i = 0; i < vms->len; i++) {
        MgrBalancerVm *v = g_ptr_array_index(vms, i);

        g_ptr_array_add(v->cpu_percent >= excess ? enough : partial, v);
    }
    /* both keep the cheapest-first order; partial by relief per cost */
    for (guint i = 1; i < partial->len; i++) {
        for (guint j = i; j > 0; j--) {
            MgrBalancerVm *a = g_ptr_array_index(partial, j - 1);
            MgrBalancerVm *b = g_ptr_array_index(partial, j);

            if (a->cpu_percent / MAX(bal_vm_cost(a), 1.0) >=
                b->cpu_percent / MAX(bal_vm_cost(b), 1.0)) {
                break;
            }
            partial->pdata[j - 1] = b;
            partial->pdata[j] = a;
        }
    }
    g_ptr_array_set_size(vms, 0);
    g_ptr_array_extend(vms, enough, NULL, NULL);
    g_ptr_array_extend(vms, partial, NULL, NULL);
}

static gint bal_compare_strings(gconstpointer a, gconstpointer b)
{
    return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

static void bal_note_stuck(BalPlan *plan, MgrBalancerHost *h, const char *why,
                           GPtrArray *unmovable)
{
    if (plan->stuck->len > 0) {
        return;
    }
    g_string_append_printf(plan->stuck, "%s, but ", why);
    /* what stays the same while the figures move: the host and the cause */
    g_string_assign(plan->stuck_key, h->load->host->id);
    g_string_append_c(plan->stuck_key, ':');
    plan->stuck_tail = plan->stuck->len;
    if (h->vms == NULL || bal_staying(plan, h) == 0) {
        g_string_append(plan->stuck, "it has no VMs to move");
    } else if (unmovable->len == 0) {
        g_string_append(plan->stuck,
                        "no other host can take any of its VMs without "
                        "going over the policy's limits");
    } else {
        /* in a stable order: the sentence is also the situation's key */
        g_ptr_array_sort(unmovable, bal_compare_strings);
        g_string_append(plan->stuck, "none of its VMs can move: ");
        for (guint i = 0; i < unmovable->len && i < 3; i++) {
            g_string_append_printf(plan->stuck, "%s%s", i ? "; " : "",
                                   (char *)g_ptr_array_index(unmovable, i));
        }
        if (unmovable->len > 3) {
            g_string_append_printf(plan->stuck, "; and %u more",
                                   unmovable->len - 3);
        }
    }
    g_string_append(plan->stuck_key, plan->stuck->str + plan->stuck_tail);
}

typedef enum {
    BAL_MOVED,
    BAL_NO_SLOT, /* the host already sends as many as it may */
    BAL_STUCK,   /* nothing can move anywhere */
} BalShed;

/* One move off @h. */
static BalShed bal_shed_one(BalPlan *plan, MgrBalancerHost *h, const char *why)
{
    const MgrBalancerParams *p = plan->p;
    g_autoptr(GPtrArray) vms = bal_movable(plan, h);
    g_autoptr(GPtrArray) unmovable = g_ptr_array_new_with_free_func(g_free);
    BalGuard guard = {.preference = BAL_SPREAD};

    if (p->policy == MGR_BALANCER_VM_EVENLY_DISTRIBUTED) {
        guard.preference = BAL_FEWEST_VMS;
    } else if (h->load->cpu_percent >= p->high_utilization) {
        bal_order_for_cpu(vms, h->load->cpu_percent - p->high_utilization);
    }
    if (h->load->outgoing >= plan->in->cluster->max_outgoing_migrations) {
        return BAL_NO_SLOT;
    }
    for (guint i = 0; i < vms->len; i++) {
        MgrBalancerVm *v = g_ptr_array_index(vms, i);
        double cpu_after = 0;
        guint dst_before;
        double dst_cpu_before;
        MgrBalancerHost *dst = bal_destination(plan, &guard, h, v, &cpu_after);

        if (dst == NULL) {
            continue;
        }
        dst_before = dst->load->vm_count;
        dst_cpu_before = dst->load->cpu_percent;
        if (p->policy == MGR_BALANCER_VM_EVENLY_DISTRIBUTED) {
            bal_migrate(plan, h, dst, v, FALSE,
                        g_strdup_printf("%s: moving %s (%" G_GINT64_FORMAT
                                        " MiB) to %s (%u → %u VMs)",
                                        why, bal_vm_name(v), v->memory_mib,
                                        bal_host_name(dst), dst_before,
                                        dst_before + 1));
        } else {
            g_autofree char *vm_cpu = bal_percent(v->cpu_percent);
            g_autofree char *before = bal_percent(dst_cpu_before);
            g_autofree char *after = bal_percent(cpu_after);

            bal_migrate(plan, h, dst, v, FALSE,
                        g_strdup_printf("%s: moving %s (%s CPU, "
                                        "%" G_GINT64_FORMAT " MiB) to %s "
                                        "(%s → %s CPU)",
                                        why, bal_vm_name(v), vm_cpu,
                                        v->memory_mib, bal_host_name(dst),
                                        before, after));
        }
        return BAL_MOVED;
    }
    for (guint i = 0; h->vms != NULL && i < h->vms->len; i++) {
        MgrBalancerVm *v = g_ptr_array_index(h->vms, i);
        const char *no = bal_vm_unmovable(plan, v);

        if (no != NULL && !g_hash_table_contains(plan->moved, v)) {
            g_ptr_array_add(unmovable,
                            g_strdup_printf("%s %s", bal_vm_name(v), no));
        }
    }
    bal_note_stuck(plan, h, why, unmovable);
    return BAL_STUCK;
}

/* The most over-used host not yet given up on, and why; or NULL. */
static MgrBalancerHost *bal_worst_overused(BalPlan *plan, char **why)
{
    MgrBalancerHost *worst = NULL;

    *why = NULL;
    for (guint i = 0; i < plan->in->hosts->len; i++) {
        MgrBalancerHost *h = g_ptr_array_index(plan->in->hosts, i);
        g_autofree char *reason = NULL;

        if (!bal_host_usable(plan, h) || g_hash_table_contains(plan->done, h)) {
            continue;
        }
        reason = bal_overused(plan, h);
        if (reason != NULL && (worst == NULL || h->load->cpu_percent >
                                                    worst->load->cpu_percent)) {
            worst = h;
            g_free(*why);
            *why = g_steal_pointer(&reason);
        }
    }
    return worst;
}

/* TRUE when some over-used host could not be relieved. */
static gboolean bal_shed_overused(BalPlan *plan)
{
    gboolean stuck = FALSE;

    while (bal_may_migrate(plan)) {
        g_autofree char *why = NULL;
        MgrBalancerHost *h = bal_worst_overused(plan, &why);

        if (h == NULL) {
            break;
        }
        switch (bal_shed_one(plan, h, why)) {
        case BAL_MOVED:
            break;
        case BAL_STUCK:
            stuck = TRUE;
            /* fall through */
        case BAL_NO_SLOT:
            g_hash_table_add(plan->done, h);
            break;
        }
    }
    return stuck;
}

/* ---- VM counts ---- */

/*
 * Sources are tried fullest first, and a source with fewer VMs may only
 * send to a subset of the hosts the fuller one could: after this many in a
 * row searched for a destination in vain, the others are not tried, so
 * that a cluster at rest costs a few searches per pass rather than one per
 * host.  Sources with nothing that may move cost no search and do not
 * count: hosts full of pinned VMs must not hide one that could shed.
 */
#define BAL_MAX_FAILED_SOURCES 8

static void bal_even_vm_counts(BalPlan *plan)
{
    const MgrBalancerParams *p = plan->p;
    guint failed = 0;

    while (bal_may_migrate(plan)) {
        MgrBalancerHost *src = NULL;
        MgrBalancerHost *least = NULL;
        g_autofree char *why = NULL;

        for (guint i = 0; i < plan->in->hosts->len; i++) {
            MgrBalancerHost *h = g_ptr_array_index(plan->in->hosts, i);

            if (!bal_host_usable(plan, h)) {
                continue;
            }
            if (least == NULL || h->load->vm_count < least->load->vm_count) {
                least = h;
            }
            if (!g_hash_table_contains(plan->done, h) &&
                (src == NULL || h->load->vm_count > src->load->vm_count)) {
                src = h;
            }
        }
        /* one apart is as even as it gets: a move would only swap them */
        if (src == NULL || least == NULL ||
            (double)src->load->vm_count <= p->high_vm_count ||
            (double)(src->load->vm_count - least->load->vm_count) <
                p->migration_threshold ||
            src->load->vm_count < least->load->vm_count + 2) {
            break;
        }
        why = g_strdup_printf(
            "%s runs %u VMs, more than high_vm_count (%.0f) "
            "and %u more than %s",
            bal_host_name(src), src->load->vm_count, p->high_vm_count,
            src->load->vm_count - least->load->vm_count, bal_host_name(least));
        if (bal_shed_one(plan, src, why) == BAL_MOVED) {
            failed = 0;
            continue;
        }
        g_hash_table_add(plan->done, src);
        if (bal_has_movable(plan, src) && ++failed >= BAL_MAX_FAILED_SOURCES) {
            break;
        }
    }
}

/* ---- power saving ---- */

static gboolean bal_is_spare(const MgrBalancerHost *h)
{
    return h->load->vm_count == 0 && h->load->incoming == 0 &&
           h->load->outgoing == 0;
}

/* Empty hosts that are up or coming up, but @except. */
static guint bal_spares(BalPlan *plan, const MgrBalancerHost *except)
{
    guint n = 0;

    for (guint i = 0; i < plan->in->hosts->len; i++) {
        MgrBalancerHost *h = g_ptr_array_index(plan->in->hosts, i);

        if (h == except) {
            continue;
        }
        if ((bal_host_up(h) && bal_is_spare(h)) || h->powering_on) {
            n++;
        }
    }
    return n;
}

static MgrBalancerHost *bal_powered_off(BalPlan *plan)
{
    for (guint i = 0; i < plan->in->hosts->len; i++) {
        MgrBalancerHost *h = g_ptr_array_index(plan->in->hosts, i);

        if (h->powered_off && !h->powering_on && h->can_power) {
            return h;
        }
    }
    return NULL;
}

static gboolean bal_underused(BalPlan *plan, MgrBalancerHost *h)
{
    const MgrBalancerParams *p = plan->p;
    MgrHostLoad *load = h->load;
    gboolean low =
        load->cpu_percent < p->low_utilization ||
        (p->low_vm_count > 0 && (double)load->vm_count < p->low_vm_count);

    if (!bal_host_usable(plan, h) || load->vm_count == 0 ||
        load->incoming > 0 || !low) {
        return FALSE;
    }
    return p->min_free_memory_for_under_utilized < 0 ||
           (double)load->free_memory_mib >=
               p->min_free_memory_for_under_utilized;
}

/* Whether every VM of @h fits elsewhere (loads restored afterwards). */
static gboolean bal_can_empty(BalPlan *plan, MgrBalancerHost *h)
{
    GPtrArray *hosts = plan->in->hosts;
    g_autofree MgrHostLoad *saved = g_new(MgrHostLoad, hosts->len);
    g_autoptr(GPtrArray) tried = g_ptr_array_new();
    BalGuard guard = {
        .preference = BAL_CONSOLIDATE, .no_spare = TRUE, .ignore_slots = TRUE};
    gboolean ok = TRUE;

    for (guint i = 0; i < hosts->len; i++) {
        saved[i] = *((MgrBalancerHost *)g_ptr_array_index(hosts, i))->load;
    }
    for (guint i = 0; ok && h->vms != NULL && i < h->vms->len; i++) {
        MgrBalancerVm *v = g_ptr_array_index(h->vms, i);
        MgrBalancerHost *dst;
        double cpu_after;

        if (g_hash_table_contains(plan->moved, v)) {
            continue;
        }
        ok = bal_vm_unmovable(plan, v) == NULL &&
             (dst = bal_destination(plan, &guard, h, v, &cpu_after)) != NULL;
        if (ok) {
            bal_apply(plan, h, dst, v);
            g_ptr_array_add(tried, v);
        }
    }
    /* a rehearsal: nothing of it stays */
    for (guint i = 0; i < hosts->len; i++) {
        *((MgrBalancerHost *)g_ptr_array_index(hosts, i))->load = saved[i];
    }
    for (guint i = 0; i < tried->len; i++) {
        g_hash_table_remove(plan->moved, g_ptr_array_index(tried, i));
    }
    for (guint i = 0; i < G_N_ELEMENTS(plan->order_stale); i++) {
        plan->order_stale[i] = TRUE;
    }
    return ok;
}

static void bal_empty_underused(BalPlan *plan)
{
    const MgrBalancerParams *p = plan->p;
    g_autoptr(GPtrArray) order = g_ptr_array_new();
    BalGuard guard = {.preference = BAL_CONSOLIDATE, .no_spare = TRUE};

    for (guint i = 0; i < plan->in->hosts->len; i++) {
        MgrBalancerHost *h = g_ptr_array_index(plan->in->hosts, i);

        if (bal_underused(plan, h)) {
            g_ptr_array_add(order, h);
        }
    }
    /* the one already being emptied, then the least used */
    for (guint i = 1; i < order->len; i++) {
        for (guint j = i; j > 0; j--) {
            MgrBalancerHost *a = g_ptr_array_index(order, j - 1);
            MgrBalancerHost *b = g_ptr_array_index(order, j);
            gboolean b_first =
                (b->emptying && !a->emptying) ||
                (b->emptying == a->emptying &&
                 (b->load->cpu_percent < a->load->cpu_percent ||
                  (b->load->cpu_percent == a->load->cpu_percent &&
                   b->load->vm_count < a->load->vm_count)));

            if (!b_first) {
                break;
            }
            order->pdata[j - 1] = b;
            order->pdata[j] = a;
        }
    }
    for (guint i = 0; i < order->len; i++) {
        MgrBalancerHost *h = g_ptr_array_index(order, i);
        g_autoptr(GPtrArray) vms = NULL;
        g_autofree char *cpu = NULL;
        g_autofree char *low = NULL;
        guint count = h->load->vm_count;

        if (!bal_can_empty(plan, h)) {
            continue;
        }
        cpu = bal_percent(h->load->cpu_percent);
        low = bal_percent(p->low_utilization);
        vms = bal_movable(plan, h);
        for (guint j = 0;
             j < vms->len && bal_may_migrate(plan) &&
             h->load->outgoing < plan->in->cluster->max_outgoing_migrations;
             j++) {
            MgrBalancerVm *v = g_ptr_array_index(vms, j);
            double cpu_after = 0;
            MgrBalancerHost *dst =
                bal_destination(plan, &guard, h, v, &cpu_after);
            g_autofree char *before = NULL;
            g_autofree char *after = NULL;

            if (dst == NULL) {
                continue;
            }
            before = bal_percent(dst->load->cpu_percent);
            after = bal_percent(cpu_after);
            bal_migrate(plan, h, dst, v, TRUE,
                        g_strdup_printf("%s is under-used (%s CPU, %u VM%s; "
                                        "low_utilization %s): emptying it "
                                        "to power it off; moving %s to %s "
                                        "(%s → %s CPU)",
                                        bal_host_name(h), cpu, count,
                                        count == 1 ? "" : "s", low,
                                        bal_vm_name(v), bal_host_name(dst),
                                        before, after));
        }
        return; /* one host at a time */
    }
}

static void bal_power_off_spare(BalPlan *plan)
{
    const MgrBalancerParams *p = plan->p;
    MgrBalancerHost *chosen = NULL;
    guint up = 0;

    for (guint i = 0; i < plan->in->hosts->len; i++) {
        MgrBalancerHost *h = g_ptr_array_index(plan->in->hosts, i);

        up += bal_host_up(h);
        if (!bal_host_usable(plan, h) || !h->can_power || !bal_is_spare(h) ||
            (double)bal_spares(plan, h) < p->hosts_in_reserve) {
            continue;
        }
        if (chosen == NULL || (h->emptying && !chosen->emptying)) {
            chosen = h;
        }
    }
    /* the cluster keeps at least one host, whatever the reserve */
    if (chosen == NULL || up < 2) {
        return;
    }
    bal_power(plan, chosen, MGR_BALANCER_POWER_OFF,
              g_strdup_printf("%s is empty and %u other empty host%s stay%s "
                              "up (hosts_in_reserve %.0f): powering it off "
                              "to save power",
                              bal_host_name(chosen), bal_spares(plan, chosen),
                              bal_spares(plan, chosen) == 1 ? "" : "s",
                              bal_spares(plan, chosen) == 1 ? "s" : "",
                              p->hosts_in_reserve));
}

static void bal_power_saving(BalPlan *plan)
{
    const MgrBalancerParams *p = plan->p;
    gboolean stuck = bal_shed_overused(plan);
    MgrBalancerHost *off = bal_powered_off(plan);
    guint spares = bal_spares(plan, NULL);

    if (off != NULL && stuck) {
        bal_power(plan, off, MGR_BALANCER_POWER_ON,
                  g_strdup_printf("%s; powering on %s", plan->stuck->str,
                                  bal_host_name(off)));
        g_string_truncate(plan->stuck, 0);
    } else if (off != NULL && (double)spares < p->hosts_in_reserve) {
        bal_power(plan, off, MGR_BALANCER_POWER_ON,
                  g_strdup_printf("%u empty host%s up, hosts_in_reserve is "
                                  "%.0f: powering on %s",
                                  spares, spares == 1 ? " is" : "s are",
                                  p->hosts_in_reserve, bal_host_name(off)));
    }
    if (plan->migrations == 0 && !plan->powered) {
        bal_empty_underused(plan);
    }
    if (!plan->powered) {
        bal_power_off_spare(plan);
    }
}

GPtrArray *mgr_balancer_plan(MgrBalancerInput *in, char **stuck,
                             char **stuck_key)
{
    BalPlan plan = {
        .in = in,
        .p = &in->params,
        .actions = g_ptr_array_new_with_free_func(
            (GDestroyNotify)mgr_balancer_action_free),
        .moved = g_hash_table_new(NULL, NULL),
        .skip = g_hash_table_new(NULL, NULL),
        .done = g_hash_table_new(NULL, NULL),
        .stuck = g_string_new(NULL),
        .stuck_key = g_string_new(NULL),
    };

    for (guint i = 0; i < in->hosts->len; i++) {
        MgrBalancerHost *h = g_ptr_array_index(in->hosts, i);

        /* a host with a migration in or out is left out of the pass */
        if (h->load->incoming > 0 || h->load->outgoing > 0) {
            g_hash_table_add(plan.skip, h);
        }
    }
    switch (in->params.policy) {
    case MGR_BALANCER_EVENLY_DISTRIBUTED:
        bal_shed_overused(&plan);
        break;
    case MGR_BALANCER_VM_EVENLY_DISTRIBUTED:
        bal_even_vm_counts(&plan);
        break;
    case MGR_BALANCER_POWER_SAVING:
        bal_power_saving(&plan);
        break;
    case MGR_BALANCER_NONE:
        break;
    }
    if (stuck != NULL) {
        *stuck = plan.stuck->len ? g_strdup(plan.stuck->str) : NULL;
    }
    if (stuck_key != NULL) {
        *stuck_key = plan.stuck->len ? g_strdup(plan.stuck_key->str) : NULL;
    }
    g_string_free(plan.stuck_key, TRUE);
    g_hash_table_unref(plan.moved);
    g_hash_table_unref(plan.skip);
    g_hash_table_unref(plan.done);
    g_string_free(plan.stuck, TRUE);
    for (guint i = 0; i < G_N_ELEMENTS(plan.order); i++) {
        g_clear_pointer(&plan.order[i], g_ptr_array_unref);
    }
    return plan.actions;
}
