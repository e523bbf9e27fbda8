/*
 * droverd: the manager.  One GMainContext; the objects of model.h live in
 * the hash tables below and are written through to the store on every
 * change.  The modules:
 *
 *   monitor.c      polls every agent: host status and facts, VM placement
 *   queue.c        the migration queue and its running migrations
 *   maintenance.c  host maintenance and evacuation of failing hosts
 *   balancing.c    clusters' scheduling policies (balancer.c decides)
 *   power.c        host power management: on, off, status commands
 *   vmctl.c        VM start and stop
 *   events.c       the audit log (store + stream + system log)
 *   present.c      the JSON of the API
 *   api.c          the REST API
 */
#pragma once

#include <libsoup/soup.h>

#include "common/eventhub.h"
#include "common/http.h"
#include "manager/config.h"
#include "manager/model.h"
#include "manager/scheduler.h"
#include "manager/store.h"

G_BEGIN_DECLS

#define MGR_SYSTEM_USER "system"
/* QEMU's memory beyond the guest's, when an agent does not say */
#define MGR_DEFAULT_OVERHEAD_MIB 64

typedef struct _MgrMonitor MgrMonitor;
typedef struct _MgrQueue MgrQueue;
typedef struct _MgrBalancing MgrBalancing;

typedef struct _Mgr {
    MgrConfig *config;
    MgrStore *store;
    GHashTable *clusters;   /* id -> MgrCluster */
    GHashTable *hosts;      /* id -> MgrHost */
    GHashTable *vms;        /* id -> MgrVm */
    GHashTable *migrations; /* id -> MgrMigration (active and recent) */
    DrvEventHub *events;
    MgrMonitor *monitor;
    MgrQueue *queue;
    MgrBalancing *balancing;
    guint maintenance_timer;
    guint housekeeping_timer;
    SoupServer *server;
    DrvHttpRouter *router;
    SoupSession *session; /* calls to agents */
} Mgr;

Mgr *mgr_new(MgrConfig *config, GError **error);
void mgr_free(Mgr *mgr);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Mgr, mgr_free)

/* Load the store, resume monitoring, the queue and maintenances, listen. */
gboolean mgr_start(Mgr *mgr, GError **error);

/* ---- lookups ---- */

MgrCluster *mgr_cluster_lookup(Mgr *mgr, const char *id, GError **error);
MgrHost *mgr_host_lookup(Mgr *mgr, const char *id, GError **error);
MgrVm *mgr_vm_lookup(Mgr *mgr, const char *id, GError **error);
MgrMigration *mgr_migration_lookup(Mgr *mgr, const char *id, GError **error);
MgrCluster *mgr_cluster_by_name(Mgr *mgr, const char *name);
MgrHost *mgr_host_by_name(Mgr *mgr, const char *name);
MgrVm *mgr_vm_by_name(Mgr *mgr, const char *name);

/*
 * An object reference from a request: {"id": ...} or {"name": ...}.
 * @what names it in errors ("host").
 */
MgrCluster *mgr_cluster_resolve(Mgr *mgr, JsonObject *ref, GError **error);
MgrHost *mgr_host_resolve(Mgr *mgr, JsonObject *ref, GError **error);

/* The host's name, or its id when unknown (for messages). */
const char *mgr_host_name(Mgr *mgr, const char *host_id);
const char *mgr_vm_name(Mgr *mgr, const char *vm_id);

/* @strings (char *) joined with @separator. */
char *mgr_join(GPtrArray *strings, const char *separator);

/* The hosts of a cluster, sorted by name. */
GPtrArray *mgr_cluster_hosts(Mgr *mgr, const char *cluster_id);
/* The VMs on a host, sorted by priority (high first), then name. */
GPtrArray *mgr_host_vms(Mgr *mgr, const char *host_id);
/* The VM's queued or running migration, or NULL. */
MgrMigration *mgr_vm_active_migration(Mgr *mgr, const char *vm_id);

/* ---- persistence: write-through, a failure is logged ---- */

void mgr_save_cluster(Mgr *mgr, MgrCluster *cluster);
void mgr_save_host(Mgr *mgr, MgrHost *host);
void mgr_save_vm(Mgr *mgr, MgrVm *vm);
void mgr_save_migration(Mgr *mgr, MgrMigration *mig);

/* ---- state changes that others watch ---- */

void mgr_set_host_status(Mgr *mgr, MgrHost *host, MgrHostStatus status,
                         const char *reason);
void mgr_set_vm_status(Mgr *mgr, MgrVm *vm, MgrVmStatus status,
                       const char *host_id, const char *reason);

/* ---- scheduling ---- */

/*
 * What the scheduler needs to know about each host of @cluster_id, counting
 * migrations already heading to a host.  Elements are MgrHostLoad.
 */
GPtrArray *mgr_host_loads(Mgr *mgr, const char *cluster_id);
/* The request for placing or moving @vm. */
/*
 * Where a VM goes among @loads: @host when the scheduler allows it, or
 * (@host NULL) the scheduler's pick — without assessing every host.  NULL
 * when there is none; *@verdicts then holds every host's verdict, to say
 * why (mgr_scheduler_explain()).
 */
MgrHost *mgr_schedule_place(const MgrScheduleRequest *req, GPtrArray *loads,
                            MgrHost *host, GPtrArray **verdicts);
void mgr_schedule_request_init(Mgr *mgr, MgrScheduleRequest *req,
                               MgrScheduleKind kind, const MgrVm *vm);

/* ---- agents ---- */

/* An asynchronous JSON call to @host's agent: @path under its URL. */
void mgr_agent_call(Mgr *mgr, const MgrHost *host, const char *method,
                    const char *path, JsonObject *body,
                    GAsyncReadyCallback callback, gpointer user_data);

/* ---- the other modules ---- */

/* events.c */
/*
 * Record an event: stored, streamed and logged.  Any of the object ids may
 * be NULL; @data (ownership taken) may be NULL.
 */
void mgr_event(Mgr *mgr, MgrSeverity severity, const char *code,
               const char *user, const char *correlation_id, const char *vm_id,
               const char *host_id, const char *migration_id, JsonObject *data,
               const char *format, ...) G_GNUC_PRINTF(10, 11);
JsonObject *mgr_events_list(Mgr *mgr, gint64 from, guint max, GError **error);

/* monitor.c */
MgrMonitor *mgr_monitor_new(Mgr *mgr);
void mgr_monitor_free(MgrMonitor *monitor);
void mgr_monitor_add_host(MgrMonitor *monitor, MgrHost *host);
void mgr_monitor_remove_host(MgrMonitor *monitor, const char *host_id);
/* Whether @host can run the VMs it has (CPU baseline, storage, nets). */
gboolean mgr_monitor_host_operational(Mgr *mgr, MgrHost *host, char **reason);

/* queue.c */
MgrQueue *mgr_queue_new(Mgr *mgr);
void mgr_queue_free(MgrQueue *queue);
/* Resume the running migrations a previous run left (after loading). */
void mgr_queue_resume(MgrQueue *queue);
/*
 * Whether a migration of @vm (to @host, or NULL for the scheduler's pick)
 * would be queued: the VM runs, has no migration, may move, and a named
 * host takes it now or once a migration slot frees.
 */
gboolean mgr_queue_check(Mgr *mgr, MgrVm *vm, MgrHost *host, gboolean automatic,
                         GError **error);
/*
 * Queue a migration of @vm (to @host, or NULL for the scheduler's pick).
 * Refused at once when the VM cannot move, or a named host refuses it.
 */
MgrMigration *mgr_queue_submit(Mgr *mgr, MgrVm *vm, MgrHost *host,
                               const char *reason, gboolean automatic,
                               const char *user, const char *correlation_id,
                               GError **error);
gboolean mgr_queue_cancel(Mgr *mgr, MgrMigration *mig, const char *user,
                          GError **error);
/* Try to start queued migrations (coalesced, from an idle callback). */
void mgr_queue_kick(Mgr *mgr);
/* Running migrations from / to @host_id. */
guint mgr_queue_running_from(Mgr *mgr, const char *host_id);
/*
 * The migration parameters a move of @vm gets (docs/policies.md): its own
 * settings over its cluster's over droverd's, and the smaller of the two
 * hosts' link shares counting @starting more migrations on each.
 */
JsonObject *mgr_queue_migration_settings(Mgr *mgr, MgrVm *vm, MgrHost *source,
                                         MgrHost *dest, guint starting);
guint mgr_queue_running_to(Mgr *mgr, const char *host_id);

/* estimate.c */
/*
 * What migrating @vm to @host (NULL: the scheduler's pick) would take:
 * refused as mgr_queue_check() refuses, else the source agent measures
 * the guest's dirty rate for @seconds and the predictor answers
 * (docs/manager-api.md, "dry run").
 */
#define MGR_ESTIMATE_MAX_SECONDS 10
void mgr_estimate_async(Mgr *mgr, MgrVm *vm, MgrHost *host, guint seconds,
                        GAsyncReadyCallback callback, gpointer user_data);
JsonObject *mgr_estimate_finish(GAsyncResult *result, GError **error);

/* power.c: host power management (docs/manager.md, "Power") */
/* Whether @host has the commands to be powered on and off. */
gboolean mgr_host_can_power(const MgrHost *host);
/* Powered off by drover (down, or going down); FALSE while powering on. */
gboolean mgr_host_is_powered_off(const MgrHost *host);
gboolean mgr_host_is_powering_on(const MgrHost *host);
/*
 * Power off an empty host (no VMs, no migration): it is down at once with
 * @reason, its power-off command runs in the background; events
 * host_power_off, then host_powered_off or host_power_failed.  Refused
 * (CONFLICT) with VMs or a migration, INVALID without power management.
 */
gboolean mgr_power_off(Mgr *mgr, MgrHost *host, const char *user,
                       const char *reason, GError **error);
/*
 * Power on a powered-off host: its power-on command runs; it stays down
 * ("powering on") until the monitor finds its agent, then is up
 * (host_powered_on), or host_power_failed after power_on_timeout_s.
 */
gboolean mgr_power_on(Mgr *mgr, MgrHost *host, const char *user,
                      const char *reason, GError **error);
/* Run the status command: {"power": "on"|"off"|"unknown", "output"}. */
void mgr_power_status_async(Mgr *mgr, MgrHost *host,
                            GAsyncReadyCallback callback, gpointer user_data);
JsonObject *mgr_power_status_finish(GAsyncResult *result, GError **error);

/* balancing.c: the balancing loop of clusters' scheduling policies */
MgrBalancing *mgr_balancing_new(Mgr *mgr);
void mgr_balancing_free(MgrBalancing *balancing);
/* After each poll of @host: how long it has been over its threshold. */
void mgr_balancing_observe(Mgr *mgr, MgrHost *host);
/* A migration from or to @host_id ended at @when_us: its load changes. */
void mgr_balancing_load_changed(Mgr *mgr, const char *host_id, gint64 when_us);

/* maintenance.c */
/* Refused (DRV_ERROR_REFUSED) with the VMs named when it cannot be done. */
gboolean mgr_maintenance_start(Mgr *mgr, MgrHost *host, const char *user,
                               GError **error);
gboolean mgr_maintenance_activate(Mgr *mgr, MgrHost *host, const char *user,
                                  GError **error);
/* Re-examine hosts in preparation (after migrations end, on a timer). */
void mgr_maintenance_update(Mgr *mgr);
/* Move the VMs off non-operational hosts where possible. */
void mgr_maintenance_evacuate(Mgr *mgr, MgrHost *host);

/* vmctl.c */
gboolean mgr_vm_start(Mgr *mgr, MgrVm *vm, MgrHost *host, const char *user,
                      GError **error);
gboolean mgr_vm_stop(Mgr *mgr, MgrVm *vm, gboolean force, guint timeout_s,
                     const char *user, GError **error);
/* The agent's state of a VM, as the manager's status. */
MgrVmStatus mgr_vm_status_from_agent(const char *agent_state);

/* present.c */
JsonObject *mgr_present_ref(const char *id, const char *name);
JsonObject *mgr_present_cluster(Mgr *mgr, MgrCluster *cluster);
JsonObject *mgr_present_host(Mgr *mgr, MgrHost *host, gboolean with_facts);
JsonObject *mgr_present_vm(Mgr *mgr, MgrVm *vm);
JsonObject *mgr_present_migration(Mgr *mgr, MgrMigration *mig);
JsonObject *mgr_present_event(Mgr *mgr, const MgrEvent *event);
char *mgr_format_time(gint64 time_us);

/* api.c */
void mgr_api_register(Mgr *mgr);

G_END_DECLS
