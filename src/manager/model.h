/*
 * The manager's objects: clusters, hosts, VMs, migrations and events.
 *
 * droverd keeps them in memory (the authority at run time) and writes every
 * change through to the store (store.h), from which they are loaded at
 * start.  These structs are plain data: what they mean in motion lives in
 * monitor.c, queue.c and maintenance.c.
 */
#pragma once

#include <json-glib/json-glib.h>

#include "common/vmspec.h"

G_BEGIN_DECLS

/* ---- clusters ---- */

typedef struct {
    char *id;
    char *name;
    char *cpu_baseline; /* a QEMU CPU model name, default "qemu64" */
    /* migration defaults for the cluster's VMs; "inherit": droverd's */
    char *migration_policy;         /* a policy name or "inherit" */
    guint migration_bandwidth_mbps; /* a cap; 0: the hosts' share only */
    DrvTristate auto_converge;
    DrvTristate compression;
    DrvTristate post_copy;         /* allowed */
    guint max_outgoing_migrations; /* per host, default 2 */
    guint max_incoming_migrations; /* per host, default 2 */
    guint max_cpu_percent;         /* destination CPU after a move, 80 */
    char *scheduling_policy;       /* "none" */
    JsonObject *scheduling_params; /* policy parameters, may be empty */
    gint64 created_us;
} MgrCluster;

MgrCluster *mgr_cluster_new(const char *id, const char *name);
void mgr_cluster_free(MgrCluster *cluster);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MgrCluster, mgr_cluster_free)

/* ---- hosts ---- */

typedef enum {
    MGR_HOST_CONNECTING,
    MGR_HOST_UP,
    MGR_HOST_PREPARING_FOR_MAINTENANCE,
    MGR_HOST_MAINTENANCE,
    MGR_HOST_NON_OPERATIONAL,
    MGR_HOST_NON_RESPONSIVE,
    MGR_HOST_DOWN,
} MgrHostStatus;

const char *mgr_host_status_name(MgrHostStatus status);
gboolean mgr_host_status_from_name(const char *name, MgrHostStatus *out);

typedef struct {
    char *id;
    char *name;
    char *address; /* the agent's URL, "http://127.0.1.1:7001" */
    char *cluster_id;
    MgrHostStatus status;
    char *status_reason; /* why non_operational / down, else NULL */
    char *agent_host_id; /* the agent's own identity, once seen */
    JsonObject *facts;   /* the last GET /v1/host, or NULL */
    gint64 last_seen_us; /* last successful poll */
    gint64 created_us;
    /* maintenance in progress (preparing_for_maintenance) */
    char *maintenance_correlation_id;
    char *maintenance_user;
    gint64 maintenance_next_retry_us;
    /*
     * Power management (power.c): command templates, NULL when the host
     * has none, and the power action under way ("on", "off") or NULL.
     */
    char *power_on_cmd;
    char *power_off_cmd;
    char *power_status_cmd;
    char *power_action;
    gint64 power_action_us;
    /* run time only */
    gint64 power_failed_us; /* the last power action that failed, or 0 */
    gint64 over_since_us;   /* CPU over its cluster's high_utilization */
    gint64 load_changed_us; /* a migration from or to it last ended */
    gboolean emptying;      /* being emptied by the balancer to power off */
    /* the scheduler's digest of @facts (scheduler.c), rebuilt when they change
     */
    gpointer sched_caps;
    const JsonObject *sched_caps_of;
    GDestroyNotify sched_caps_free;
} MgrHost;

MgrHost *mgr_host_new(const char *id, const char *name, const char *address,
                      const char *cluster_id);
void mgr_host_free(MgrHost *host);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MgrHost, mgr_host_free)

/* ---- VMs ---- */

typedef enum {
    MGR_VM_DOWN,
    MGR_VM_POWERING_UP,
    MGR_VM_UP,
    MGR_VM_PAUSED,
    MGR_VM_MIGRATING,
    MGR_VM_POWERING_DOWN,
    MGR_VM_NOT_RESPONDING,
    MGR_VM_UNKNOWN,
} MgrVmStatus;

const char *mgr_vm_status_name(MgrVmStatus status);
gboolean mgr_vm_status_from_name(const char *name, MgrVmStatus *out);

typedef struct {
    char *id;
    char *cluster_id;
    DrvVmSpec *spec; /* id and name are spec->id, spec->name */
    MgrVmStatus status;
    char *host_id; /* the host it runs on; NULL when down */
    char *status_reason;
    gint64 created_us;
    gint64 updated_us;
    /* run time only, from the agents */
    double cpu_percent;
    gint64 dirty_rate_bps;   /* the agent's last sample; -1: none */
    gint64 last_balanced_us; /* the balancer's last move of it, or 0 */
} MgrVm;

MgrVm *mgr_vm_new(const char *cluster_id, DrvVmSpec *spec);
void mgr_vm_free(MgrVm *vm);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MgrVm, mgr_vm_free)

/* ---- migrations ---- */

typedef enum {
    MGR_MIGRATION_QUEUED,
    MGR_MIGRATION_RUNNING,
    MGR_MIGRATION_COMPLETED,
    MGR_MIGRATION_FAILED,
    MGR_MIGRATION_CANCELLED,
} MgrMigrationState;

const char *mgr_migration_state_name(MgrMigrationState state);
gboolean mgr_migration_state_from_name(const char *name,
                                       MgrMigrationState *out);

typedef struct {
    char *id;
    char *vm_id;
    char *source_host_id;
    char *destination_host_id; /* chosen when it starts */
    char *requested_host_id;   /* the host asked for, or NULL */
    MgrMigrationState state;
    DrvPriority priority; /* the VM's, when queued */
    char *reason;         /* manual, maintenance, non_operational, ... */
    gboolean automatic;   /* retried elsewhere on failure */
    char *user;           /* who asked: a user name or "system" */
    char *correlation_id;
    guint attempts; /* destinations tried so far */
    GStrv tried_host_ids;
    char *agent_migration_id; /* the source agent's id of the attempt */
    JsonObject *parameters;   /* sent to the agent */
    JsonObject *progress;     /* last progress from the agent */
    JsonObject *result;       /* the agent's result of the last attempt */
    char *error_code;
    char *error_message;
    gint64 seq; /* arrival order */
    gint64 created_us;
    gint64 started_us;
    gint64 ended_us;
} MgrMigration;

MgrMigration *mgr_migration_new(const char *vm_id, const char *source_host_id);
void mgr_migration_free(MgrMigration *mig);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MgrMigration, mgr_migration_free)

gboolean mgr_migration_is_active(const MgrMigration *mig);

/* ---- events ---- */

typedef enum {
    MGR_SEVERITY_INFO,
    MGR_SEVERITY_WARNING,
    MGR_SEVERITY_ERROR,
} MgrSeverity;

const char *mgr_severity_name(MgrSeverity severity);
gboolean mgr_severity_from_name(const char *name, MgrSeverity *out);

typedef struct {
    gint64 seq; /* assigned by the store: 1, 2, ... */
    gint64 time_us;
    MgrSeverity severity;
    char *code;    /* vm_migration_started, host_maintenance_done, ... */
    char *message; /* one sentence a person reads */
    char *user;    /* who caused it: a user name or "system" */
    char *correlation_id;
    char *vm_id;
    char *host_id;
    char *cluster_id;
    char *migration_id;
    JsonObject *data; /* details (duration, downtime, reason, ...) */
} MgrEvent;

MgrEvent *mgr_event_new(MgrSeverity severity, const char *code);
void mgr_event_free(MgrEvent *event);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MgrEvent, mgr_event_free)

G_END_DECLS
