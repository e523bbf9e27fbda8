#include "agent/links.h"

#include "common/error.h"
#include "common/json.h"

typedef struct {
    char *peer;
    double bps;
    gint64 measured_us;
} AgentLink;

struct _AgentLinks {
    char *path;
    GPtrArray *list; /* of AgentLink, newest first */
};

static void agent_link_free(AgentLink *link)
{
    if (link == NULL) {
        return;
    }
    g_free(link->peer);
    g_free(link);
}

AgentLinks *agent_links_new(const char *path)
{
    AgentLinks *links = g_new0(AgentLinks, 1);

    links->path = g_strdup(path);
    links->list =
        g_ptr_array_new_with_free_func((GDestroyNotify)agent_link_free);
    return links;
}

void agent_links_free(AgentLinks *links)
{
    if (links == NULL) {
        return;
    }
    g_ptr_array_unref(links->list);
    g_free(links->path);
    g_free(links);
}

static gint agent_links_find(AgentLinks *links, const char *peer)
{
    for (guint i = 0; i < links->list->len; i++) {
        AgentLink *link = g_ptr_array_index(links->list, i);

        if (g_strcmp0(link->peer, peer) == 0) {
            return (gint)i;
        }
    }
    return -1;
}

static void agent_links_put(AgentLinks *links, const char *peer, double bps,
                            gint64 measured_us)
{
    AgentLink *link = g_new0(AgentLink, 1);
    gint old = agent_links_find(links, peer);

    if (old >= 0) {
        g_ptr_array_remove_index(links->list, (guint)old);
    }
    link->peer = g_strdup(peer);
    link->bps = bps;
    link->measured_us = measured_us;
    g_ptr_array_insert(links->list, 0, link);
    if (links->list->len > AGENT_LINKS_MAX_PEERS) {
        g_ptr_array_set_size(links->list, AGENT_LINKS_MAX_PEERS);
    }
}

JsonArray *agent_links_to_json(AgentLinks *links)
{
    JsonArray *out = json_array_new();

    for (guint i = 0; i < links->list->len; i++) {
        AgentLink *link = g_ptr_array_index(links->list, i);
        JsonObject *obj = json_object_new();

        json_object_set_string_member(obj, "peer", link->peer);
        json_object_set_int_member(obj, "mbps",
                                   (gint64)(link->bps * 8.0 / 1e6 + 0.5));
        json_object_set_int_member(obj, "measured_us", link->measured_us);
        json_array_add_object_element(out, obj);
    }
    return out;
}

gboolean agent_links_load(AgentLinks *links, GError **error)
{
    g_autoptr(JsonObject) obj = NULL;
    g_autoptr(GError) local = NULL;
    JsonArray *list;

    if (links->path == NULL) {
        return TRUE;
    }
    obj = drv_json_load_object_file(links->path, &local);
    if (obj == NULL) {
        if (g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
            return TRUE;
        }
        g_propagate_error(error, g_steal_pointer(&local));
        return FALSE;
    }
    list = drv_json_array_or_null(obj, "links");
    /* oldest last in the file: put them first so the order is kept */
    for (guint i = list ? json_array_get_length(list) : 0; i > 0; i--) {
        JsonNode *node = json_array_get_element(list, i - 1);
        JsonObject *item;
        const char *peer;
        gint64 mbps;

        if (!JSON_NODE_HOLDS_OBJECT(node)) {
            continue;
        }
        item = json_node_get_object(node);
        peer = drv_json_string_or(item, "peer", NULL);
        mbps = drv_json_int_or(item, "mbps", 0);
        if (peer != NULL && mbps > 0) {
            agent_links_put(links, peer, (double)mbps * 1e6 / 8.0,
                            drv_json_int_or(item, "measured_us", 0));
        }
    }
    return TRUE;
}

gboolean agent_links_learn(AgentLinks *links, const char *peer, double bps,
                           gint64 now_us, GError **error)
{
    g_autoptr(JsonObject) obj = json_object_new();

    g_return_val_if_fail(peer != NULL && bps > 0, FALSE);
    agent_links_put(links, peer, bps, now_us);
    if (links->path == NULL) {
        return TRUE;
    }
    json_object_set_array_member(obj, "links", agent_links_to_json(links));
    return drv_json_save_object_file(links->path, obj, error);
}

gboolean agent_links_lookup(AgentLinks *links, const char *peer, gint64 now_us,
                            double *bps, gint64 *age_us)
{
    gint at = agent_links_find(links, peer);
    AgentLink *link;

    if (at < 0) {
        return FALSE;
    }
    link = g_ptr_array_index(links->list, (guint)at);
    if (now_us - link->measured_us > AGENT_LINKS_MAX_AGE_S * G_USEC_PER_SEC) {
        return FALSE;
    }
    *bps = link->bps;
    if (age_us != NULL) {
        *age_us = now_us - link->measured_us;
    }
    return TRUE;
}
