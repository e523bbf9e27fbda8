#include "agent/events.h"

#include "common/error.h"
#include "common/json.h"

/* Subscribers get a comment line this often, so dead peers are noticed. */
#define AGENT_EVENTS_KEEPALIVE_S 15

typedef struct {
    guint64 seq;
    char *text; /* the event as JSON */
    char *type;
} AgentEvent;

struct _AgentEvents {
    guint64 next_seq;
    GQueue ring;            /* AgentEvent, oldest first */
    GPtrArray *subscribers; /* DrvHttpRequest (held) */
    guint keepalive_id;
};

static void agent_event_free(gpointer p)
{
    AgentEvent *event = p;

    g_free(event->text);
    g_free(event->type);
    g_free(event);
}

static gboolean agent_events_keepalive(gpointer user_data)
{
    AgentEvents *events = user_data;

    for (guint i = events->subscribers->len; i > 0; i--) {
        DrvHttpRequest *req = g_ptr_array_index(events->subscribers, i - 1);

        if (!drv_http_stream_send(req, NULL, NULL, NULL)) {
            g_ptr_array_remove_index(events->subscribers, i - 1);
        }
    }
    return G_SOURCE_CONTINUE;
}

AgentEvents *agent_events_new(void)
{
    AgentEvents *events = g_new0(AgentEvents, 1);

    events->next_seq = 1;
    g_queue_init(&events->ring);
    events->subscribers =
        g_ptr_array_new_with_free_func((GDestroyNotify)drv_http_request_unref);
    events->keepalive_id = g_timeout_add_seconds(
        AGENT_EVENTS_KEEPALIVE_S, agent_events_keepalive, events);
    return events;
}

void agent_events_free(AgentEvents *events)
{
    if (events == NULL) {
        return;
    }
    g_source_remove(events->keepalive_id);
    for (guint i = 0; i < events->subscribers->len; i++) {
        drv_http_stream_end(g_ptr_array_index(events->subscribers, i));
    }
    g_ptr_array_unref(events->subscribers);
    g_queue_clear_full(&events->ring, agent_event_free);
    g_free(events);
}

static gboolean agent_events_send(DrvHttpRequest *req, AgentEvent *event)
{
    g_autofree char *id = g_strdup_printf("%" G_GUINT64_FORMAT, event->seq);

    return drv_http_stream_send(req, event->type, id, event->text);
}

void agent_events_emit(AgentEvents *events, const char *type, JsonObject *data)
{
    g_autoptr(JsonObject) owned = data;
    g_autoptr(JsonObject) wrapper = json_object_new();
    AgentEvent *event = g_new0(AgentEvent, 1);

    event->seq = events->next_seq++;
    event->type = g_strdup(type);
    json_object_set_int_member(wrapper, "seq", (gint64)event->seq);
    json_object_set_int_member(wrapper, "time_us", g_get_real_time());
    json_object_set_string_member(wrapper, "type", type);
    json_object_set_object_member(wrapper, "data", json_object_ref(owned));
    event->text = drv_json_object_to_string(wrapper, FALSE);
    g_queue_push_tail(&events->ring, event);
    while (events->ring.length > AGENT_EVENTS_RING) {
        agent_event_free(g_queue_pop_head(&events->ring));
    }
    for (guint i = events->subscribers->len; i > 0; i--) {
        DrvHttpRequest *req = g_ptr_array_index(events->subscribers, i - 1);

        if (!agent_events_send(req, event)) {
            g_ptr_array_remove_index(events->subscribers, i - 1);
        }
    }
}

JsonObject *agent_events_list(AgentEvents *events, guint64 from, guint max)
{
    JsonObject *out = json_object_new();
    JsonArray *list = json_array_new();
    guint64 next = from;

    for (GList *l = events->ring.head; l && json_array_get_length(list) < max;
         l = l->next) {
        AgentEvent *event = l->data;
        g_autoptr(JsonNode) node = NULL;

        if (event->seq < from) {
            continue;
        }
        node = drv_json_parse(event->text, -1, NULL);
        json_array_add_element(list, g_steal_pointer(&node));
        next = event->seq + 1;
    }
    json_object_set_array_member(out, "events", list);
    json_object_set_int_member(out, "next", (gint64)next);
    json_object_set_int_member(out, "last", (gint64)events->next_seq - 1);
    return out;
}

gboolean agent_events_subscribe(AgentEvents *events, DrvHttpRequest *req,
                                guint64 from, GError **error)
{
    DrvHttpRequest *held;

    /* drop subscribers that went away before counting */
    for (guint i = events->subscribers->len; i > 0; i--) {
        if (drv_http_request_is_gone(
                g_ptr_array_index(events->subscribers, i - 1))) {
            g_ptr_array_remove_index(events->subscribers, i - 1);
        }
    }
    if (events->subscribers->len >= AGENT_EVENTS_MAX_SUBSCRIBERS) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_BUSY,
                    "too many event subscribers (at most %d)",
                    AGENT_EVENTS_MAX_SUBSCRIBERS);
        return FALSE;
    }
    held = drv_http_request_hold(req);
    drv_http_stream_begin(held, AGENT_EVENTS_MAX_BACKLOG);
    for (GList *l = events->ring.head; l; l = l->next) {
        AgentEvent *event = l->data;

        if (event->seq >= from && !agent_events_send(held, event)) {
            drv_http_request_unref(held);
            return TRUE;
        }
    }
    g_ptr_array_add(events->subscribers, held);
    return TRUE;
}
