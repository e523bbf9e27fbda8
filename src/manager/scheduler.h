/*
 * The scheduler: which hosts may take a VM, and which of them should.
 *
 * Pure functions over snapshots: the caller (queue, maintenance, the API)
 * describes each host's state and load, including migrations already
 * heading there, and gets a verdict per host with the reasons a person can
 * act on ("host3 has 180 MiB free for VMs; web1 needs 192 MiB").
 *
 * Filters, in order: host up; not the source; migration mode (disabled: no
 * migration; manual_only: no automatic one); pinned hosts; CPU model (the
 * VM's and the cluster baseline runnable there); storage domains reachable;
 * networks available; memory free for the VM; CPU after the move under the
 * cluster maximum; migration slots free (incoming).
 *
 * Weights (among allowed hosts): least CPU after the move (in 10-point
 * bands, so that measurement noise does not decide), then most free memory
 * (in 512 MiB bands), then fewest VMs, then name.
 */
#pragma once

#include "manager/model.h"

G_BEGIN_DECLS

#define MGR_SCHEDULER_CPU_BAND 10.0
#define MGR_SCHEDULER_MEMORY_BAND_MIB 512

/* A host as the scheduler sees it. */
typedef struct {
    const MgrHost *host;    /* status, name, facts (agent GET /v1/host) */
    double cpu_percent;     /* current utilization of the whole host */
    guint cpus;             /* logical CPUs */
    gint64 free_memory_mib; /* free for VMs, minus what is on its way in */
    guint vm_count;         /* VMs running + on their way in */
    guint incoming;         /* migrations running towards it */
    guint outgoing;         /* migrations running from it */
} MgrHostLoad;

typedef enum {
    MGR_SCHEDULE_START,     /* place a VM that is down */
    MGR_SCHEDULE_MIGRATE,   /* move a running VM, asked by a person */
    MGR_SCHEDULE_AUTOMATIC, /* move a running VM, decided by the system */
} MgrScheduleKind;

typedef struct {
    MgrScheduleKind kind;
    const MgrVm *vm;
    const MgrCluster *cluster;
    const char *source_host_id; /* the VM's host when migrating */
    double vm_cpu_percent;      /* share of the source host's CPUs */
    guint source_cpus;          /* to rescale vm_cpu_percent */
    guint memory_overhead_mib;  /* QEMU's overhead per VM */
    /*
     * Optional, for searches over many hosts: whether the VM can run on
     * hosts reporting the same CPU models, storage and networks, worked
     * out once per kind of host (g_hash_table_new(NULL, NULL), owned by
     * the caller, only for this VM and cluster).
     */
    GHashTable *memo;
} MgrScheduleRequest;

typedef struct {
    char *host_id;
    char *host_name;
    gboolean allowed;
    GPtrArray *reasons;       /* char *, why not (empty when allowed) */
    double cpu_after_percent; /* the host's CPU with the VM */
    gint64 free_memory_mib;   /* before the VM */
    guint vm_count;
    gboolean best; /* the one the scheduler picks */
} MgrVerdict;

void mgr_verdict_free(MgrVerdict *verdict);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MgrVerdict, mgr_verdict_free)

/*
 * One verdict per element of @hosts (MgrHostLoad *, the cluster's hosts),
 * in the same order; at most one has best set.  A host that is not allowed
 * lists every reason, not only the first.
 */
GPtrArray *mgr_scheduler_assess(const MgrScheduleRequest *req,
                                GPtrArray *hosts);

/*
 * Whether @load's host may take the VM of @req: the same filters as
 * mgr_scheduler_assess() without building the reasons, for searching many
 * hosts (the balancer).  *@cpu_after, when not NULL, gets the host's CPU
 * with the VM.
 */
gboolean mgr_scheduler_allows(const MgrScheduleRequest *req,
                              const MgrHostLoad *load, double *cpu_after);

/*
 * The host mgr_scheduler_assess() would mark best, or NULL when none is
 * allowed — without a verdict per host: what placing a VM among thousands
 * of hosts costs.  Explain a NULL with mgr_scheduler_assess().
 */
MgrHostLoad *mgr_scheduler_pick(const MgrScheduleRequest *req,
                                GPtrArray *hosts);

/* The verdict with best set, or NULL (borrowed from @verdicts). */
MgrVerdict *mgr_scheduler_best(GPtrArray *verdicts);

/*
 * A sentence for an error: "no host can take VM web1: host2 is in
 * maintenance; host3 has 180 MiB free ..." (every reason of every refused
 * host; each names its host).  For refusing a request when nothing is
 * allowed; should some host be allowed, it starts "only host1 can take ...".
 */
char *mgr_scheduler_explain(const MgrScheduleRequest *req, GPtrArray *verdicts);

/*
 * The same for one host (a host named in a request): "host2 cannot take VM
 * web1: ...", or NULL when @verdict allows it.
 */
char *mgr_scheduler_explain_host(const MgrScheduleRequest *req,
                                 const MgrVerdict *verdict);

/*
 * Reasons the VM cannot be migrated at all, whatever the host (migration
 * mode disabled, manual_only for an AUTOMATIC move, pinned to its host
 * alone), joined by "; ", or NULL.  Always NULL for MGR_SCHEDULE_START.
 */
char *mgr_scheduler_cannot_migrate(const MgrVm *vm, const MgrHost *source,
                                   MgrScheduleKind kind);

G_END_DECLS
