/*
 * The manager's objects: constructors with the defaults of
 * docs/manager-api.md, destructors, and the lowercase names the API, the
 * store and the events use for every enum.
 */
#include "manager/model.h"

static const char *const mgr_host_status_names[] = {
    [MGR_HOST_CONNECTING] = "connecting",
    [MGR_HOST_UP] = "up",
    [MGR_HOST_PREPARING_FOR_MAINTENANCE] = "preparing_for_maintenance",
    [MGR_HOST_MAINTENANCE] = "maintenance",
    [MGR_HOST_NON_OPERATIONAL] = "non_operational",
    [MGR_HOST_NON_RESPONSIVE] = "non_responsive",
    [MGR_HOST_DOWN] = "down",
};

static const char *const mgr_vm_status_names[] = {
    [MGR_VM_DOWN] = "down",
    [MGR_VM_POWERING_UP] = "powering_up",
    [MGR_VM_UP] = "up",
    [MGR_VM_PAUSED] = "paused",
    [MGR_VM_MIGRATING] = "migrating",
    [MGR_VM_POWERING_DOWN] = "powering_down",
    [MGR_VM_NOT_RESPONDING] = "not_responding",
    [MGR_VM_UNKNOWN] = "unknown",
};

static const char *const mgr_migration_state_names[] = {
    [MGR_MIGRATION_QUEUED] = "queued",
    [MGR_MIGRATION_RUNNING] = "running",
    [MGR_MIGRATION_COMPLETED] = "completed",
    [MGR_MIGRATION_FAILED] = "failed",
    [MGR_MIGRATION_CANCELLED] = "cancelled",
};

static const char *const mgr_severity_names[] = {
    [MGR_SEVERITY_INFO] = "info",
    [MGR_SEVERITY_WARNING] = "warning",
    [MGR_SEVERITY_ERROR] = "error",
};

/* The name of @value in @names; NULL for a value out of range. */
static const char *mgr_name_of(const char *const *names, guint n, guint value)
{
    return value < n ? names[value] : NULL;
}

/* Index of @name in @names into *@out; FALSE when unknown (or NULL). */
static gboolean mgr_index_of(const char *const *names, guint n,
                             const char *name, guint *out)
{
    if (name == NULL) {
        return FALSE;
    }
    for (guint i = 0; i < n; i++) {
        if (g_str_equal(names[i], name)) {
            *out = i;
            return TRUE;
        }
    }
    return FALSE;
}

const char *mgr_host_status_name(MgrHostStatus status)
{
    return mgr_name_of(mgr_host_status_names,
                       G_N_ELEMENTS(mgr_host_status_names), (guint)status);
}

gboolean mgr_host_status_from_name(const char *name, MgrHostStatus *out)
{
    guint i;

    if (!mgr_index_of(mgr_host_status_names,
                      G_N_ELEMENTS(mgr_host_status_names), name, &i)) {
        return FALSE;
    }
    *out = (MgrHostStatus)i;
    return TRUE;
}

const char *mgr_vm_status_name(MgrVmStatus status)
{
    return mgr_name_of(mgr_vm_status_names, G_N_ELEMENTS(mgr_vm_status_names),
                       (guint)status);
}

gboolean mgr_vm_status_from_name(const char *name, MgrVmStatus *out)
{
    guint i;

    if (!mgr_index_of(mgr_vm_status_names, G_N_ELEMENTS(mgr_vm_status_names),
                      name, &i)) {
        return FALSE;
    }
    *out = (MgrVmStatus)i;
    return TRUE;
}

const char *mgr_migration_state_name(MgrMigrationState state)
{
    return mgr_name_of(mgr_migration_state_names,
                       G_N_ELEMENTS(mgr_migration_state_names), (guint)state);
}

gboolean mgr_migration_state_from_name(const char *name, MgrMigrationState *out)
{
    guint i;

    if (!mgr_index_of(mgr_migration_state_names,
                      G_N_ELEMENTS(mgr_migration_state_names), name, &i)) {
        return FALSE;
    }
    *out = (MgrMigrationState)i;
    return TRUE;
}

const char *mgr_severity_name(MgrSeverity severity)
{
    return mgr_name_of(mgr_severity_names, G_N_ELEMENTS(mgr_severity_names),
                       (guint)severity);
}

gboolean mgr_severity_from_name(const char *name, MgrSeverity *out)
{
    guint i;

    if (!mgr_index_of(mgr_severity_names, G_N_ELEMENTS(mgr_severity_names),
                      name, &i)) {
        return FALSE;
    }
    *out = (MgrSeverity)i;
    return TRUE;
}

static char *mgr_id_or_new(const char *id)
{
    return id != NULL ? g_strdup(id) : g_uuid_string_random();
}

/* ---- clusters ---- */

MgrCluster *mgr_cluster_new(const char *id, const char *name)
{
    MgrCluster *cluster = g_new0(MgrCluster, 1);

    cluster->id = mgr_id_or_new(id);
    cluster->name = g_strdup(name);
    cluster->cpu_baseline = g_strdup("qemu64");
    cluster->migration_policy = g_strdup("inherit");
    cluster->auto_converge = DRV_TRISTATE_INHERIT;
    cluster->compression = DRV_TRISTATE_INHERIT;
    cluster->post_copy = DRV_TRISTATE_INHERIT;
    cluster->max_outgoing_migrations = 2;
    cluster->max_incoming_migrations = 2;
    cluster->max_cpu_percent = 80;
    cluster->scheduling_policy = g_strdup("none");
    cluster->scheduling_params = json_object_new();
    cluster->created_us = g_get_real_time();
    return cluster;
}

void mgr_cluster_free(MgrCluster *cluster)
{
    if (cluster == NULL) {
        return;
    }
    g_free(cluster->id);
    g_free(cluster->name);
    g_free(cluster->cpu_baseline);
    g_free(cluster->migration_policy);
    g_free(cluster->scheduling_policy);
    g_clear_pointer(&cluster->scheduling_params, json_object_unref);
    g_free(cluster);
}

/* ---- hosts ---- */

MgrHost *mgr_host_new(const char *id, const char *name, const char *address,
                      const char *cluster_id)
{
    MgrHost *host = g_new0(MgrHost, 1);

    host->id = mgr_id_or_new(id);
    host->name = g_strdup(name);
    host->address = g_strdup(address);
    host->cluster_id = g_strdup(cluster_id);
    host->status = MGR_HOST_CONNECTING;
    host->created_us = g_get_real_time();
    return host;
}

void mgr_host_free(MgrHost *host)
{
    if (host == NULL) {
        return;
    }
    g_free(host->id);
    g_free(host->name);
    g_free(host->address);
    g_free(host->cluster_id);
    g_free(host->status_reason);
    g_free(host->agent_host_id);
    g_clear_pointer(&host->facts, json_object_unref);
    g_free(host->maintenance_correlation_id);
    g_free(host->maintenance_user);
    g_free(host->power_on_cmd);
    g_free(host->power_off_cmd);
    g_free(host->power_status_cmd);
    g_free(host->power_action);
    if (host->sched_caps_free != NULL) {
        host->sched_caps_free(host->sched_caps);
    }
    g_free(host);
}

/* ---- VMs ---- */

MgrVm *mgr_vm_new(const char *cluster_id, DrvVmSpec *spec)
{
    MgrVm *vm = g_new0(MgrVm, 1);

    vm->id = g_strdup(spec->id);
    vm->cluster_id = g_strdup(cluster_id);
    vm->spec = spec;
    vm->status = MGR_VM_DOWN;
    vm->dirty_rate_bps = -1;
    vm->created_us = g_get_real_time();
    vm->updated_us = vm->created_us;
    return vm;
}

void mgr_vm_free(MgrVm *vm)
{
    if (vm == NULL) {
        return;
    }
    g_free(vm->id);
    g_free(vm->cluster_id);
    drv_vm_spec_free(vm->spec);
    g_free(vm->host_id);
    g_free(vm->status_reason);
    g_free(vm);
}

/* ---- migrations ---- */

MgrMigration *mgr_migration_new(const char *vm_id, const char *source_host_id)
{
    MgrMigration *mig = g_new0(MgrMigration, 1);

    mig->id = g_uuid_string_random();
    mig->vm_id = g_strdup(vm_id);
    mig->source_host_id = g_strdup(source_host_id);
    mig->state = MGR_MIGRATION_QUEUED;
    mig->priority = DRV_PRIORITY_MEDIUM;
    mig->reason = g_strdup("manual");
    mig->user = g_strdup("system");
    mig->created_us = g_get_real_time();
    return mig;
}

void mgr_migration_free(MgrMigration *mig)
{
    if (mig == NULL) {
        return;
    }
    g_free(mig->id);
    g_free(mig->vm_id);
    g_free(mig->source_host_id);
    g_free(mig->destination_host_id);
    g_free(mig->requested_host_id);
    g_free(mig->reason);
    g_free(mig->user);
    g_free(mig->correlation_id);
    g_strfreev(mig->tried_host_ids);
    g_free(mig->agent_migration_id);
    g_clear_pointer(&mig->parameters, json_object_unref);
    g_clear_pointer(&mig->progress, json_object_unref);
    g_clear_pointer(&mig->result, json_object_unref);
    g_free(mig->error_code);
    g_free(mig->error_message);
    g_free(mig);
}

gboolean mgr_migration_is_active(const MgrMigration *mig)
{
    return mig->state == MGR_MIGRATION_QUEUED ||
           mig->state == MGR_MIGRATION_RUNNING;
}

/* ---- events ---- */

MgrEvent *mgr_event_new(MgrSeverity severity, const char *code)
{
    MgrEvent *event = g_new0(MgrEvent, 1);

    event->severity = severity;
    event->code = g_strdup(code);
    return event;
}

void mgr_event_free(MgrEvent *event)
{
    if (event == NULL) {
        return;
    }
    g_free(event->code);
    g_free(event->message);
    g_free(event->user);
    g_free(event->correlation_id);
    g_free(event->vm_id);
    g_free(event->host_id);
    g_free(event->cluster_id);
    g_free(event->migration_id);
    g_clear_pointer(&event->data, json_object_unref);
    g_free(event);
}
