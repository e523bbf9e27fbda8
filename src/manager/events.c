/*
 * The audit log.  Every action, whoever asked, becomes an event: written to
 * the store (which numbers it), streamed to subscribers and logged to the
 * system log.
 */
#include <stdarg.h>

#include "common/error.h"
#include "manager/manager.h"

#define MGR_EVENTS_PAGE_MAX 1000

void mgr_event(Mgr *mgr, MgrSeverity severity, const char *code,
               const char *user, const char *correlation_id, const char *vm_id,
               const char *host_id, const char *migration_id, JsonObject *data,
               const char *format, ...)
{
    g_autoptr(MgrEvent) event = mgr_event_new(severity, code);
    g_autoptr(GError) error = NULL;
    MgrVm *vm = vm_id ? g_hash_table_lookup(mgr->vms, vm_id) : NULL;
    MgrHost *host = host_id ? g_hash_table_lookup(mgr->hosts, host_id) : NULL;
    va_list args;

    va_start(args, format);
    event->message = g_strdup_vprintf(format, args);
    va_end(args);
    event->user = g_strdup(user ? user : MGR_SYSTEM_USER);
    event->correlation_id = g_strdup(correlation_id);
    event->vm_id = g_strdup(vm_id);
    event->host_id = g_strdup(host_id);
    event->migration_id = g_strdup(migration_id);
    event->cluster_id = g_strdup(vm     ? vm->cluster_id
                                 : host ? host->cluster_id
                                        : NULL);
    event->data = data ? data : json_object_new();
    if (!mgr_store_append_event(mgr->store, event, &error)) {
        /* the audit log must not lose it silently: the journal has it */
        g_critical("cannot store event %s: %s", code, error->message);
        event->seq = (gint64)drv_event_hub_next_seq(mgr->events);
    }
    switch (severity) {
    case MGR_SEVERITY_ERROR:
        g_warning("[%s] %s (by %s)", code, event->message, event->user);
        break;
    case MGR_SEVERITY_WARNING:
        g_message("[%s] %s (by %s)", code, event->message, event->user);
        break;
    default:
        g_info("[%s] %s (by %s)", code, event->message, event->user);
        break;
    }
    drv_event_hub_publish(mgr->events, (guint64)event->seq, code,
                          mgr_present_event(mgr, event));
}

JsonObject *mgr_events_list(Mgr *mgr, gint64 from, guint max, GError **error)
{
    g_autoptr(GPtrArray) events = NULL;
    JsonObject *out;
    JsonArray *list;
    gint64 next = MAX(from, 1);

    events = mgr_store_list_events(mgr->store, MAX(from, 1),
                                   MIN(max, MGR_EVENTS_PAGE_MAX), error);
    if (events == NULL) {
        return NULL;
    }
    out = json_object_new();
    list = json_array_new();
    for (guint i = 0; i < events->len; i++) {
        MgrEvent *event = g_ptr_array_index(events, i);

        json_array_add_object_element(list, mgr_present_event(mgr, event));
        next = event->seq + 1;
    }
    json_object_set_array_member(out, "events", list);
    json_object_set_int_member(out, "next", next);
    json_object_set_int_member(out, "last",
                               mgr_store_last_event_seq(mgr->store));
    return out;
}
