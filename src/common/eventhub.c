#include "common/eventhub.h"

#include "common/error.h"
#include "common/json.h"

typedef struct {
    guint64 seq;
    char *text; /* the event as JSON */
    char *type;
} DrvHubEvent;

struct _DrvEventHub {
    guint64 next_seq;
    guint ring_size;
    guint max_subscribers;
    gsize max_backlog;
    GQueue ring;            /* DrvHubEvent, oldest first */
    GPtrArray *subscribers; /* DrvHttpRequest (held) */
    guint keepalive_id;
};

static void drv_hub_event_free(gpointer p)
{
    DrvHubEvent *event = p;

    g_free(event->text);
    g_free(event->type);
    g_free(event);
}

/* Drop the subscribers that went away or could not keep up. */
static gboolean drv_event_hub_keepalive(gpointer user_data)
{
    DrvEventHub *hub = user_data;

    for (guint i = hub->subscribers->len; i > 0; i--) {
        DrvHttpRequest *req = g_ptr_array_index(hub->subscribers, i - 1);

        if (!drv_http_stream_send(req, NULL, NULL, NULL)) {
            g_ptr_array_remove_index(hub->subscribers, i - 1);
        }
    }
    return G_SOURCE_CONTINUE;
}

DrvEventHub *drv_event_hub_new(guint ring, guint max_subscribers,
                               gsize max_backlog)
{
    DrvEventHub *hub = g_new0(DrvEventHub, 1);

    hub->next_seq = 1;
    hub->ring_size = MAX(ring, 1);
    hub->max_subscribers = max_subscribers;
    hub->max_backlog = max_backlog;
    g_queue_init(&hub->ring);
    hub->subscribers =
        g_ptr_array_new_with_free_func((GDestroyNotify)drv_http_request_unref);
    hub->keepalive_id = g_timeout_add_seconds(DRV_EVENT_HUB_KEEPALIVE_S,
                                              drv_event_hub_keepalive, hub);
    return hub;
}

void drv_event_hub_free(DrvEventHub *hub)
{
    if (hub == NULL) {
        return;
    }
    g_source_remove(hub->keepalive_id);
    for (guint i = 0; i < hub->subscribers->len; i++) {
        drv_http_stream_end(g_ptr_array_index(hub->subscribers, i));
    }
    g_ptr_array_unref(hub->subscribers);
    g_queue_clear_full(&hub->ring, drv_hub_event_free);
    g_free(hub);
}

guint64 drv_event_hub_next_seq(DrvEventHub *hub)
{
    return hub->next_seq;
}

static gboolean drv_event_hub_send(DrvHttpRequest *req, DrvHubEvent *event)
{
    g_autofree char *id = g_strdup_printf("%" G_GUINT64_FORMAT, event->seq);

    return drv_http_stream_send(req, event->type, id, event->text);
}

void drv_event_hub_publish(DrvEventHub *hub, guint64 seq, const char *type,
                           JsonObject *event)
{
    g_autoptr(JsonObject) owned = event;
    DrvHubEvent *entry = g_new0(DrvHubEvent, 1);

    entry->seq = seq;
    entry->type = g_strdup(type);
    entry->text = drv_json_object_to_string(owned, FALSE);
    hub->next_seq = MAX(hub->next_seq, seq + 1);
    g_queue_push_tail(&hub->ring, entry);
    while (hub->ring.length > hub->ring_size) {
        drv_hub_event_free(g_queue_pop_head(&hub->ring));
    }
    for (guint i = hub->subscribers->len; i > 0; i--) {
        DrvHttpRequest *req = g_ptr_array_index(hub->subscribers, i - 1);

        if (!drv_event_hub_send(req, entry)) {
            g_ptr_array_remove_index(hub->subscribers, i - 1);
        }
    }
}

JsonObject *drv_event_hub_list(DrvEventHub *hub, guint64 from, guint max)
{
    JsonObject *out = json_object_new();
    JsonArray *list = json_array_new();
    guint64 next = from;

    for (GList *l = hub->ring.head; l && json_array_get_length(list) < max;
         l = l->next) {
        DrvHubEvent *event = l->data;

        if (event->seq < from) {
            continue;
        }
        json_array_add_element(list, drv_json_parse(event->text, -1, NULL));
        next = event->seq + 1;
    }
    json_object_set_array_member(out, "events", list);
    json_object_set_int_member(out, "next", (gint64)next);
    json_object_set_int_member(out, "last", (gint64)hub->next_seq - 1);
    return out;
}

gboolean drv_event_hub_subscribe(DrvEventHub *hub, DrvHttpRequest *req,
                                 guint64 from, GError **error)
{
    DrvHttpRequest *held;

    for (guint i = hub->subscribers->len; i > 0; i--) {
        if (drv_http_request_is_gone(
                g_ptr_array_index(hub->subscribers, i - 1))) {
            g_ptr_array_remove_index(hub->subscribers, i - 1);
        }
    }
    if (hub->subscribers->len >= hub->max_subscribers) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_BUSY,
                    "too many event subscribers (at most %u)",
                    hub->max_subscribers);
        return FALSE;
    }
    held = drv_http_request_hold(req);
    drv_http_stream_begin(held, hub->max_backlog);
    for (GList *l = hub->ring.head; l; l = l->next) {
        DrvHubEvent *event = l->data;

        if (event->seq >= from && !drv_event_hub_send(held, event)) {
            drv_http_request_unref(held);
            return TRUE;
        }
    }
    g_ptr_array_add(hub->subscribers, held);
    return TRUE;
}
