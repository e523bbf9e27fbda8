/*
 * Host maintenance: a host is emptied by live migration, high-priority VMs
 * first, each VM's destination chosen when its migration starts; once
 * empty it is in maintenance.  A VM that cannot leave keeps the host
 * preparing, with an event saying which and why, and is tried again every
 * maintenance_retry_s until the host is activated.  Non-operational hosts
 * are evacuated the same way, where possible.
 */
#include "common/error.h"
#include "common/glib-extra.h"
#include "common/json.h"
#include "manager/manager.h"

/* VMs that keep @host from maintenance for a reason no retry changes. */
static char *mgr_maintenance_blockers(Mgr *mgr, MgrHost *host, GPtrArray *vms)
{
    g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);

    for (guint i = 0; i < vms->len; i++) {
        MgrVm *vm = g_ptr_array_index(vms, i);
        g_autofree char *why =
            mgr_scheduler_cannot_migrate(vm, host, MGR_SCHEDULE_AUTOMATIC);

        if (why != NULL && vm->status != MGR_VM_DOWN) {
            g_ptr_array_add(problems, g_steal_pointer(&why));
        }
    }
    return problems->len > 0 ? mgr_join(problems, "; ") : NULL;
}

static gboolean mgr_maintenance_other_host_up(Mgr *mgr, MgrHost *host)
{
    g_autoptr(GPtrArray) hosts = mgr_cluster_hosts(mgr, host->cluster_id);

    for (guint i = 0; i < hosts->len; i++) {
        MgrHost *other = g_ptr_array_index(hosts, i);

        if (other != host && other->status == MGR_HOST_UP) {
            return TRUE;
        }
    }
    return FALSE;
}

/* Queue a migration for each VM of @host that has none. */
static void mgr_maintenance_submit(Mgr *mgr, MgrHost *host, const char *reason,
                                   const char *user, const char *correlation_id)
{
    g_autoptr(GPtrArray) vms = mgr_host_vms(mgr, host->id);

    for (guint i = 0; i < vms->len; i++) {
        MgrVm *vm = g_ptr_array_index(vms, i);
        g_autoptr(GError) error = NULL;

        if (vm->status == MGR_VM_DOWN ||
            mgr_vm_active_migration(mgr, vm->id) != NULL) {
            continue;
        }
        if (mgr_queue_submit(mgr, vm, NULL, reason, TRUE, user, correlation_id,
                             &error) == NULL) {
            mgr_event(mgr, MGR_SEVERITY_ERROR, "host_maintenance_failed", user,
                      correlation_id, vm->id, host->id, NULL, NULL,
                      "VM %s cannot leave host %s: %s", vm->spec->name,
                      host->name, error->message);
        }
    }
}

gboolean mgr_maintenance_start(Mgr *mgr, MgrHost *host, const char *user,
                               GError **error)
{
    g_autoptr(GPtrArray) vms = mgr_host_vms(mgr, host->id);
    g_autofree char *blockers = NULL;
    guint running = 0;

    if (host->status == MGR_HOST_MAINTENANCE ||
        host->status == MGR_HOST_PREPARING_FOR_MAINTENANCE) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_CONFLICT,
                    "host %s is already %s", host->name,
                    mgr_host_status_name(host->status));
        return FALSE;
    }
    /* its status belongs to power management until it is up again */
    if (host->status == MGR_HOST_DOWN) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_CONFLICT,
                    "host %s is powered off: power it on first", host->name);
        return FALSE;
    }
    for (guint i = 0; i < vms->len; i++) {
        running += ((MgrVm *)g_ptr_array_index(vms, i))->status != MGR_VM_DOWN;
    }
    blockers = mgr_maintenance_blockers(mgr, host, vms);
    if (blockers != NULL) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_REFUSED,
                    "host %s cannot go into maintenance: %s", host->name,
                    blockers);
        return FALSE;
    }
    if (running > 0 && !mgr_maintenance_other_host_up(mgr, host)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_REFUSED,
                    "host %s cannot go into maintenance: no other host of "
                    "its cluster is up to take its %u VMs",
                    host->name, running);
        return FALSE;
    }
    g_free(host->maintenance_correlation_id);
    host->maintenance_correlation_id = g_uuid_string_random();
    g_free(host->maintenance_user);
    host->maintenance_user = g_strdup(user);
    host->maintenance_next_retry_us = 0;
    mgr_set_host_status(mgr, host, MGR_HOST_PREPARING_FOR_MAINTENANCE, NULL);
    mgr_save_host(mgr, host);
    mgr_event(mgr, MGR_SEVERITY_INFO, "host_maintenance_started", user,
              host->maintenance_correlation_id, NULL, host->id, NULL, NULL,
              "host %s is preparing for maintenance: %u VMs to move",
              host->name, running);
    mgr_maintenance_submit(mgr, host, "maintenance", user,
                           host->maintenance_correlation_id);
    mgr_maintenance_update(mgr);
    return TRUE;
}

gboolean mgr_maintenance_activate(Mgr *mgr, MgrHost *host, const char *user,
                                  GError **error)
{
    GHashTableIter iter;
    gpointer value;
    g_autofree char *reason = NULL;
    gboolean was_preparing = host->status == MGR_HOST_PREPARING_FOR_MAINTENANCE;

    if (host->status != MGR_HOST_MAINTENANCE && !was_preparing) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_CONFLICT,
                    "host %s is %s, not in maintenance", host->name,
                    mgr_host_status_name(host->status));
        return FALSE;
    }
    /* queued moves of this maintenance have no reason to happen now */
    g_hash_table_iter_init(&iter, mgr->migrations);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        MgrMigration *mig = value;

        if (mig->state == MGR_MIGRATION_QUEUED &&
            host->maintenance_correlation_id != NULL &&
            g_strcmp0(mig->correlation_id, host->maintenance_correlation_id) ==
                0) {
            mgr_queue_cancel(mgr, mig, user, NULL);
        }
    }
    g_clear_pointer(&host->maintenance_correlation_id, g_free);
    g_clear_pointer(&host->maintenance_user, g_free);
    host->maintenance_next_retry_us = 0;
    if (host->facts != NULL &&
        mgr_monitor_host_operational(mgr, host, &reason)) {
        mgr_set_host_status(mgr, host, MGR_HOST_UP, NULL);
    } else {
        /* the next poll says what it is */
        mgr_set_host_status(mgr, host, MGR_HOST_CONNECTING, NULL);
    }
    mgr_save_host(mgr, host);
    mgr_event(mgr, MGR_SEVERITY_INFO, "host_activated", user, NULL, NULL,
              host->id, NULL, NULL, "host %s was activated%s", host->name,
              was_preparing ? "; its maintenance was abandoned" : "");
    return TRUE;
}

/* The reasons the last migrations of @host's VMs in @correlation failed. */
static char *mgr_maintenance_failures(Mgr *mgr, MgrHost *host, GPtrArray *vms,
                                      gboolean *pending)
{
    g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);

    *pending = FALSE;
    for (guint i = 0; i < vms->len; i++) {
        MgrVm *vm = g_ptr_array_index(vms, i);
        MgrMigration *last = NULL;
        GHashTableIter iter;
        gpointer value;

        if (vm->status == MGR_VM_DOWN) {
            continue;
        }
        if (mgr_vm_active_migration(mgr, vm->id) != NULL) {
            *pending = TRUE;
            continue;
        }
        g_hash_table_iter_init(&iter, mgr->migrations);
        while (g_hash_table_iter_next(&iter, NULL, &value)) {
            MgrMigration *mig = value;

            if (g_strcmp0(mig->vm_id, vm->id) == 0 &&
                g_strcmp0(mig->correlation_id,
                          host->maintenance_correlation_id) == 0 &&
                (last == NULL || mig->seq > last->seq)) {
                last = mig;
            }
        }
        g_ptr_array_add(lines,
                        g_strdup_printf("VM %s: %s", vm->spec->name,
                                        last && last->error_message
                                            ? last->error_message
                                            : "its migration did not happen"));
    }
    return lines->len > 0 ? mgr_join(lines, "; ") : NULL;
}

static void mgr_maintenance_check(Mgr *mgr, MgrHost *host)
{
    g_autoptr(GPtrArray) vms = mgr_host_vms(mgr, host->id);
    g_autofree char *failures = NULL;
    gboolean pending = FALSE;
    gint64 now = g_get_real_time();
    guint running = 0;

    for (guint i = 0; i < vms->len; i++) {
        running += ((MgrVm *)g_ptr_array_index(vms, i))->status != MGR_VM_DOWN;
    }
    if (running == 0) {
        g_autofree char *correlation =
            g_strdup(host->maintenance_correlation_id);

        host->maintenance_next_retry_us = 0;
        mgr_set_host_status(mgr, host, MGR_HOST_MAINTENANCE, NULL);
        mgr_event(mgr, MGR_SEVERITY_INFO, "host_maintenance_done",
                  host->maintenance_user, correlation, NULL, host->id, NULL,
                  NULL, "host %s is in maintenance", host->name);
        return;
    }
    failures = mgr_maintenance_failures(mgr, host, vms, &pending);
    if (pending) {
        return;
    }
    if (host->maintenance_next_retry_us == 0) {
        /* every move that could be tried was: report, and wait */
        host->maintenance_next_retry_us =
            now + (gint64)mgr->config->maintenance_retry_s * G_USEC_PER_SEC;
        mgr_save_host(mgr, host);
        mgr_event(mgr, MGR_SEVERITY_ERROR, "host_maintenance_failed",
                  host->maintenance_user, host->maintenance_correlation_id,
                  NULL, host->id, NULL, NULL,
                  "host %s cannot finish preparing for maintenance: %s; "
                  "trying again in %u s",
                  host->name, failures ? failures : "VMs remain",
                  mgr->config->maintenance_retry_s);
        return;
    }
    if (now >= host->maintenance_next_retry_us) {
        host->maintenance_next_retry_us = 0;
        mgr_save_host(mgr, host);
        mgr_maintenance_submit(mgr, host, "maintenance", host->maintenance_user,
                               host->maintenance_correlation_id);
    }
}

void mgr_maintenance_update(Mgr *mgr)
{
    g_autoptr(GPtrArray) hosts = drv_hash_table_values(mgr->hosts);

    for (guint i = 0; i < hosts->len; i++) {
        MgrHost *host = g_ptr_array_index(hosts, i);

        if (host->status == MGR_HOST_PREPARING_FOR_MAINTENANCE) {
            mgr_maintenance_check(mgr, host);
        }
    }
}

void mgr_maintenance_evacuate(Mgr *mgr, MgrHost *host)
{
    g_autoptr(GPtrArray) vms = mgr_host_vms(mgr, host->id);
    g_autofree char *correlation = NULL;
    guint movable = 0;

    for (guint i = 0; i < vms->len; i++) {
        MgrVm *vm = g_ptr_array_index(vms, i);

        movable += vm->status == MGR_VM_UP &&
                   mgr_vm_active_migration(mgr, vm->id) == NULL;
    }
    if (movable == 0) {
        return;
    }
    correlation = g_uuid_string_random();
    mgr_event(mgr, MGR_SEVERITY_WARNING, "host_evacuation_started", NULL,
              correlation, NULL, host->id, NULL, NULL,
              "moving %u VMs off non-operational host %s", movable, host->name);
    mgr_maintenance_submit(mgr, host, "non_operational", MGR_SYSTEM_USER,
                           correlation);
}
