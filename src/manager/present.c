/*
 * The JSON the API answers with (docs/manager-api.md).  One function per
 * object, so that the API, the event stream and the CLI's --json all see
 * the same shape.
 */
#include "common/json.h"
#include "manager/balancer.h"
#include "manager/manager.h"
#include "manager/power.h"

char *mgr_format_time(gint64 time_us)
{
    g_autoptr(GDateTime) dt = NULL;

    if (time_us <= 0) {
        return NULL;
    }
    dt = g_date_time_new_from_unix_utc(time_us / G_USEC_PER_SEC);
    if (dt == NULL) {
        return NULL;
    }
    return g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ");
}

static void mgr_set_time(JsonObject *obj, const char *member, gint64 time_us)
{
    g_autofree char *text = mgr_format_time(time_us);

    if (text != NULL) {
        json_object_set_string_member(obj, member, text);
    } else {
        json_object_set_null_member(obj, member);
    }
}

static void mgr_set_string_or_null(JsonObject *obj, const char *member,
                                   const char *value)
{
    if (value != NULL) {
        json_object_set_string_member(obj, member, value);
    } else {
        json_object_set_null_member(obj, member);
    }
}

JsonObject *mgr_present_ref(const char *id, const char *name)
{
    JsonObject *ref = json_object_new();

    json_object_set_string_member(ref, "id", id);
    json_object_set_string_member(ref, "name", name ? name : id);
    return ref;
}

static void mgr_set_ref(JsonObject *obj, const char *member, const char *id,
                        const char *name)
{
    if (id != NULL) {
        json_object_set_object_member(obj, member, mgr_present_ref(id, name));
    } else {
        json_object_set_null_member(obj, member);
    }
}

static void mgr_set_host_ref(Mgr *mgr, JsonObject *obj, const char *member,
                             const char *host_id)
{
    mgr_set_ref(obj, member, host_id,
                host_id ? mgr_host_name(mgr, host_id) : NULL);
}

JsonObject *mgr_present_cluster(Mgr *mgr, MgrCluster *cluster)
{
    JsonObject *obj = json_object_new();
    JsonObject *mig = json_object_new();
    JsonObject *sched = json_object_new();
    g_autoptr(GPtrArray) hosts = mgr_cluster_hosts(mgr, cluster->id);
    MgrBalancerParams params;
    GHashTableIter iter;
    gpointer value;
    gint64 vms = 0;

    json_object_set_string_member(obj, "id", cluster->id);
    json_object_set_string_member(obj, "name", cluster->name);
    json_object_set_string_member(obj, "cpu_baseline", cluster->cpu_baseline);
    json_object_set_string_member(mig, "policy", cluster->migration_policy);
    json_object_set_int_member(mig, "bandwidth_mbps",
                               cluster->migration_bandwidth_mbps);
    drv_json_set_tristate(mig, "auto_converge", cluster->auto_converge);
    drv_json_set_tristate(mig, "compression", cluster->compression);
    drv_json_set_tristate(mig, "post_copy", cluster->post_copy);
    json_object_set_object_member(obj, "migration", mig);
    json_object_set_int_member(obj, "max_outgoing_migrations",
                               cluster->max_outgoing_migrations);
    json_object_set_int_member(obj, "max_incoming_migrations",
                               cluster->max_incoming_migrations);
    json_object_set_int_member(obj, "max_cpu_percent",
                               cluster->max_cpu_percent);
    json_object_set_string_member(sched, "name", cluster->scheduling_policy);
    /* every parameter the policy takes, with its effective value */
    if (mgr_balancer_params_parse(cluster->scheduling_policy,
                                  cluster->scheduling_params, &params, NULL)) {
        json_object_set_object_member(sched, "parameters",
                                      mgr_balancer_params_to_json(&params));
    } else {
        json_object_set_object_member(
            sched, "parameters",
            cluster->scheduling_params
                ? json_object_ref(cluster->scheduling_params)
                : json_object_new());
    }
    json_object_set_object_member(obj, "scheduling_policy", sched);
    json_object_set_int_member(obj, "host_count", hosts->len);
    g_hash_table_iter_init(&iter, mgr->vms);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        vms += g_strcmp0(((MgrVm *)value)->cluster_id, cluster->id) == 0;
    }
    json_object_set_int_member(obj, "vm_count", vms);
    mgr_set_time(obj, "created", cluster->created_us);
    return obj;
}

JsonObject *mgr_present_host(Mgr *mgr, MgrHost *host, gboolean with_facts)
{
    JsonObject *obj = json_object_new();
    JsonObject *cpu = json_object_new();
    JsonObject *mem = json_object_new();
    JsonObject *migs = json_object_new();
    JsonObject *fcpu = drv_json_object_or_null(host->facts, "cpu");
    JsonObject *fmem = drv_json_object_or_null(host->facts, "memory");
    MgrCluster *cluster = g_hash_table_lookup(mgr->clusters, host->cluster_id);
    g_autoptr(GPtrArray) vms = mgr_host_vms(mgr, host->id);

    json_object_set_string_member(obj, "id", host->id);
    json_object_set_string_member(obj, "name", host->name);
    json_object_set_string_member(obj, "address", host->address);
    mgr_set_ref(obj, "cluster", host->cluster_id,
                cluster ? cluster->name : NULL);
    json_object_set_string_member(obj, "status",
                                  mgr_host_status_name(host->status));
    mgr_set_string_or_null(obj, "status_reason", host->status_reason);
    json_object_set_string_member(cpu, "model",
                                  drv_json_string_or(fcpu, "model", ""));
    json_object_set_int_member(cpu, "cpus", drv_json_int_or(fcpu, "cpus", 0));
    json_object_set_double_member(
        cpu, "utilization_percent",
        drv_json_double_or(fcpu, "utilization_percent", 0));
    json_object_set_object_member(obj, "cpu", cpu);
    json_object_set_int_member(mem, "total_mib",
                               drv_json_int_or(fmem, "total_mib", 0));
    json_object_set_int_member(mem, "free_for_vms_mib",
                               drv_json_int_or(fmem, "free_for_vms_mib", 0));
    json_object_set_object_member(obj, "memory", mem);
    json_object_set_int_member(obj, "vm_count", vms->len);
    json_object_set_int_member(migs, "incoming",
                               mgr_queue_running_to(mgr, host->id));
    json_object_set_int_member(migs, "outgoing",
                               mgr_queue_running_from(mgr, host->id));
    json_object_set_object_member(obj, "migrations", migs);
    if (host->status == MGR_HOST_PREPARING_FOR_MAINTENANCE) {
        JsonObject *maint = json_object_new();
        JsonArray *remaining = json_array_new();

        json_object_set_string_member(maint, "correlation_id",
                                      host->maintenance_correlation_id);
        mgr_set_string_or_null(maint, "user", host->maintenance_user);
        mgr_set_time(maint, "next_retry", host->maintenance_next_retry_us);
        for (guint i = 0; i < vms->len; i++) {
            MgrVm *vm = g_ptr_array_index(vms, i);

            json_array_add_object_element(
                remaining, mgr_present_ref(vm->id, vm->spec->name));
        }
        json_object_set_array_member(maint, "remaining_vms", remaining);
        json_object_set_object_member(obj, "maintenance", maint);
    } else {
        json_object_set_null_member(obj, "maintenance");
    }
    if (mgr_host_can_power(host)) {
        JsonObject *power = json_object_new();

        json_object_set_string_member(power, "on", host->power_on_cmd);
        json_object_set_string_member(power, "off", host->power_off_cmd);
        mgr_set_string_or_null(power, "status", host->power_status_cmd);
        json_object_set_object_member(obj, "power_management", power);
    } else {
        json_object_set_null_member(obj, "power_management");
    }
    json_object_set_string_member(obj, "power_state",
                                  mgr_host_power_state(host));
    mgr_set_time(obj, "last_seen", host->last_seen_us);
    mgr_set_time(obj, "created", host->created_us);
    if (with_facts) {
        if (host->facts != NULL) {
            json_object_set_object_member(obj, "facts",
                                          json_object_ref(host->facts));
        } else {
            json_object_set_null_member(obj, "facts");
        }
    }
    return obj;
}

JsonObject *mgr_present_vm(Mgr *mgr, MgrVm *vm)
{
    JsonObject *obj = json_object_new();
    JsonArray *pinned = json_array_new();
    MgrCluster *cluster = g_hash_table_lookup(mgr->clusters, vm->cluster_id);
    MgrMigration *mig = mgr_vm_active_migration(mgr, vm->id);
    DrvVmSpec *spec = vm->spec;

    json_object_set_string_member(obj, "id", vm->id);
    json_object_set_string_member(obj, "name", spec->name);
    mgr_set_ref(obj, "cluster", vm->cluster_id, cluster ? cluster->name : NULL);
    json_object_set_string_member(obj, "status",
                                  mgr_vm_status_name(vm->status));
    mgr_set_string_or_null(obj, "status_reason", vm->status_reason);
    mgr_set_host_ref(mgr, obj, "host", vm->host_id);
    json_object_set_int_member(obj, "memory_mib", spec->memory_mib);
    json_object_set_int_member(obj, "vcpus", spec->vcpus);
    json_object_set_string_member(obj, "cpu_model", spec->cpu_model);
    json_object_set_string_member(obj, "priority",
                                  drv_priority_name(spec->priority));
    json_object_set_string_member(
        obj, "migration_mode", drv_migration_mode_name(spec->migration_mode));
    json_object_set_boolean_member(obj, "highly_available",
                                   spec->highly_available);
    for (guint i = 0; spec->pinned_hosts && spec->pinned_hosts[i]; i++) {
        json_array_add_string_element(pinned, spec->pinned_hosts[i]);
    }
    json_object_set_array_member(obj, "pinned_hosts", pinned);
    json_object_set_double_member(obj, "cpu_percent", vm->cpu_percent);
    if (vm->dirty_rate_bps >= 0) {
        json_object_set_int_member(obj, "dirty_rate_bps", vm->dirty_rate_bps);
    } else {
        json_object_set_null_member(obj, "dirty_rate_bps");
    }
    if (mig != NULL) {
        JsonObject *m = json_object_new();

        json_object_set_string_member(m, "id", mig->id);
        json_object_set_string_member(m, "state",
                                      mgr_migration_state_name(mig->state));
        json_object_set_double_member(
            m, "progress", drv_json_double_or(mig->progress, "percent", 0));
        mgr_set_host_ref(mgr, m, "source", mig->source_host_id);
        mgr_set_host_ref(mgr, m, "destination", mig->destination_host_id);
        json_object_set_object_member(obj, "migration", m);
    } else {
        json_object_set_null_member(obj, "migration");
    }
    json_object_set_object_member(obj, "spec", drv_vm_spec_to_json(spec));
    mgr_set_time(obj, "created", vm->created_us);
    return obj;
}

JsonObject *mgr_present_migration(Mgr *mgr, MgrMigration *mig)
{
    JsonObject *obj = json_object_new();

    json_object_set_string_member(obj, "id", mig->id);
    json_object_set_object_member(
        obj, "vm", mgr_present_ref(mig->vm_id, mgr_vm_name(mgr, mig->vm_id)));
    json_object_set_string_member(obj, "state",
                                  mgr_migration_state_name(mig->state));
    json_object_set_string_member(obj, "reason", mig->reason);
    json_object_set_boolean_member(obj, "automatic", mig->automatic);
    json_object_set_string_member(obj, "priority",
                                  drv_priority_name(mig->priority));
    json_object_set_string_member(obj, "user", mig->user);
    mgr_set_string_or_null(obj, "correlation_id", mig->correlation_id);
    mgr_set_host_ref(mgr, obj, "source", mig->source_host_id);
    mgr_set_host_ref(mgr, obj, "destination", mig->destination_host_id);
    mgr_set_host_ref(mgr, obj, "requested_destination", mig->requested_host_id);
    json_object_set_int_member(obj, "attempts", mig->attempts);
    /* what the source agent was asked: the resolved policy and settings */
    if (mig->parameters != NULL) {
        json_object_set_object_member(obj, "parameters",
                                      json_object_ref(mig->parameters));
    } else {
        json_object_set_null_member(obj, "parameters");
    }
    if (mig->progress != NULL) {
        json_object_set_object_member(obj, "progress",
                                      json_object_ref(mig->progress));
    } else {
        json_object_set_null_member(obj, "progress");
    }
    if (mig->result != NULL) {
        json_object_set_object_member(obj, "result",
                                      json_object_ref(mig->result));
    } else {
        json_object_set_null_member(obj, "result");
    }
    if (mig->error_message != NULL) {
        JsonObject *err = json_object_new();

        json_object_set_string_member(
            err, "code", mig->error_code ? mig->error_code : "internal");
        json_object_set_string_member(err, "message", mig->error_message);
        json_object_set_object_member(obj, "error", err);
    } else {
        json_object_set_null_member(obj, "error");
    }
    mgr_set_time(obj, "created", mig->created_us);
    mgr_set_time(obj, "started", mig->started_us);
    mgr_set_time(obj, "ended", mig->ended_us);
    return obj;
}

JsonObject *mgr_present_event(Mgr *mgr, const MgrEvent *event)
{
    JsonObject *obj = json_object_new();
    MgrCluster *cluster =
        event->cluster_id
            ? g_hash_table_lookup(mgr->clusters, event->cluster_id)
            : NULL;

    json_object_set_int_member(obj, "index", event->seq);
    mgr_set_time(obj, "time", event->time_us);
    json_object_set_int_member(obj, "time_us", event->time_us);
    json_object_set_string_member(obj, "severity",
                                  mgr_severity_name(event->severity));
    json_object_set_string_member(obj, "code", event->code);
    json_object_set_string_member(obj, "message", event->message);
    json_object_set_string_member(obj, "user", event->user);
    mgr_set_string_or_null(obj, "correlation_id", event->correlation_id);
    mgr_set_ref(obj, "vm", event->vm_id,
                event->vm_id ? mgr_vm_name(mgr, event->vm_id) : NULL);
    mgr_set_host_ref(mgr, obj, "host", event->host_id);
    mgr_set_ref(obj, "cluster", event->cluster_id,
                cluster ? cluster->name : NULL);
    mgr_set_string_or_null(obj, "migration_id", event->migration_id);
    json_object_set_object_member(obj, "data",
                                  event->data ? json_object_ref(event->data)
                                              : json_object_new());
    return obj;
}
