/*
 * Cluster scheduling policies and the balancer's decisions.
 *
 * Pure functions over a snapshot, like the scheduler: the caller
 * (balancing.c) describes each host of a cluster — its load, how long it
 * has been over its threshold, its VMs and whether it is powered off — and
 * gets back the migrations and power actions of one pass, each with the
 * sentence that explains it.  The plan simulates its own moves, so a pass
 * never sends two VMs to a host that has room for one.
 *
 * Policies (docs/scheduling.md), after oVirt's and vSphere DRS/DPM:
 *   none                   nothing moves on its own
 *   evenly_distributed     a host over high_utilization for
 *                          overcommit_duration_minutes sheds VMs
 *   vm_evenly_distributed  a host over high_vm_count VMs, and
 *                          migration_threshold more than the least
 *                          loaded, sheds VMs
 *   power_saving           over-used hosts shed VMs; under-used ones are
 *                          emptied and powered off, keeping
 *                          hosts_in_reserve empty hosts up; a powered-off
 *                          host comes back when the others cannot cope
 */
#pragma once

#include "manager/scheduler.h"

G_BEGIN_DECLS

typedef enum {
    MGR_BALANCER_NONE,
    MGR_BALANCER_EVENLY_DISTRIBUTED,
    MGR_BALANCER_VM_EVENLY_DISTRIBUTED,
    MGR_BALANCER_POWER_SAVING,
} MgrBalancerPolicy;

/* Effective parameters; memory limits are -1 when not set. */
typedef struct {
    MgrBalancerPolicy policy;
    double high_utilization;                   /* % CPU */
    double low_utilization;                    /* % CPU */
    double overcommit_duration_s;              /* from minutes */
    double high_vm_count;                      /* 0: no limit (power) */
    double low_vm_count;                       /* 0: not used */
    double migration_threshold;                /* VMs */
    double hosts_in_reserve;                   /* empty hosts kept up */
    double max_free_memory_for_over_utilized;  /* MiB */
    double min_free_memory_for_under_utilized; /* MiB */
    double max_migrations_per_pass;
    double cooldown_s; /* from minutes */
} MgrBalancerParams;

/* The policy names, NULL-terminated, "none" first. */
const char *const *mgr_balancer_policies(void);
gboolean mgr_balancer_policy_from_name(const char *name,
                                       MgrBalancerPolicy *out);
const char *mgr_balancer_policy_name(MgrBalancerPolicy policy);

/*
 * @parameters as given (NULL: none) over the policy's defaults.  Unknown
 * names, names the policy does not take, non-numbers and values out of
 * bounds are DRV_ERROR_INVALID naming the parameter.
 */
gboolean mgr_balancer_params_parse(const char *policy, JsonObject *parameters,
                                   MgrBalancerParams *out, GError **error);
/* Every parameter the policy takes, with its effective value. */
JsonObject *mgr_balancer_params_to_json(const MgrBalancerParams *params);
/*
 * [{"name", "description", "parameters": [{"name", "unit", "default",
 * "min", "max", "description"}]}] for GET /api/scheduling_policies.
 */
JsonArray *mgr_balancer_describe(void);

/* ---- one pass ---- */

typedef struct {
    const MgrVm *vm;
    double cpu_percent; /* share of its host's CPUs */
    gint64 memory_mib;
    gint64 dirty_rate_bps;   /* -1: not known */
    gint64 last_balanced_us; /* when the balancer last moved it, or 0 */
} MgrBalancerVm;

typedef struct {
    MgrHostLoad *load;    /* scheduler's view; updated as the plan moves */
    double over_for_s;    /* CPU above high_utilization this long; 0: not */
    gboolean powered_off; /* powered off (or going off) by drover */
    gboolean powering_on; /* powered off, being powered on */
    gboolean can_power;   /* has power management */
    gboolean emptying;    /* the balancer is emptying it to power it off */
    GPtrArray *vms;       /* MgrBalancerVm *, the VMs running on it */
} MgrBalancerHost;

typedef struct {
    const MgrCluster *cluster;
    MgrBalancerParams params;
    GPtrArray *hosts; /* MgrBalancerHost *, every host of the cluster */
    guint memory_overhead_mib;
    gint64 now_us;
} MgrBalancerInput;

typedef enum {
    MGR_BALANCER_MIGRATE,
    MGR_BALANCER_POWER_ON,
    MGR_BALANCER_POWER_OFF,
} MgrBalancerActionKind;

typedef struct {
    MgrBalancerActionKind kind;
    const MgrVm *vm;            /* MIGRATE */
    const MgrHost *host;        /* the source, or the host to power */
    const MgrHost *destination; /* MIGRATE */
    gboolean empties;           /* MIGRATE: emptying host to power it off */
    char *reason;               /* one sentence, for the event */
} MgrBalancerAction;

void mgr_balancer_action_free(MgrBalancerAction *action);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MgrBalancerAction, mgr_balancer_action_free)

/*
 * The actions of one pass (MgrBalancerAction *), in the order to take
 * them: at most max_migrations_per_pass migrations and one power action.
 * Hosts with a migration in or out (load->incoming, load->outgoing) are
 * left out.  Updates the loads of @in as it plans.  *@stuck, when not
 * NULL, gets the sentence for a host that needs relief nobody can give
 * (or NULL), for the caller to report once; *@stuck_key what identifies
 * that situation while its figures change (the host and the cause).
 */
GPtrArray *mgr_balancer_plan(MgrBalancerInput *in, char **stuck,
                             char **stuck_key);

G_END_DECLS
