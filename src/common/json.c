#include "common/json.h"

#include "common/error.h"
#include "common/fileutil.h"

JsonNode *drv_json_parse(const char *data, gssize len, GError **error)
{
    g_autoptr(JsonParser) parser = json_parser_new_immutable();
    g_autoptr(GError) local = NULL;

    if (data == NULL || (len == 0) || (len < 0 && *data == '\0')) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "empty body: a JSON document is required");
        return NULL;
    }
    if (!json_parser_load_from_data(parser, data, len, &local)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID, "malformed JSON: %s",
                    local->message);
        return NULL;
    }
    if (json_parser_get_root(parser) == NULL) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "empty body: a JSON document is required");
        return NULL;
    }
    return json_parser_steal_root(parser);
}

JsonObject *drv_json_parse_object(const char *data, gssize len, GError **error)
{
    g_autoptr(JsonNode) root = drv_json_parse(data, len, error);

    if (root == NULL) {
        return NULL;
    }
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "expected a JSON object");
        return NULL;
    }
    return json_node_dup_object(root);
}

char *drv_json_to_string(JsonNode *node, gboolean pretty)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();

    json_generator_set_root(gen, node);
    json_generator_set_pretty(gen, pretty);
    return json_generator_to_data(gen, NULL);
}

char *drv_json_object_to_string(JsonObject *object, gboolean pretty)
{
    g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), object);

    return drv_json_to_string(node, pretty);
}

static const char *drv_json_type_name(JsonNode *node)
{
    if (JSON_NODE_HOLDS_NULL(node)) {
        return "null";
    }
    if (JSON_NODE_HOLDS_OBJECT(node)) {
        return "an object";
    }
    if (JSON_NODE_HOLDS_ARRAY(node)) {
        return "an array";
    }
    switch (json_node_get_value_type(node)) {
    case G_TYPE_STRING:
        return "a string";
    case G_TYPE_BOOLEAN:
        return "a boolean";
    case G_TYPE_INT64:
    case G_TYPE_DOUBLE:
        return "a number";
    default:
        return "a value";
    }
}

/*
 * The member's node, or NULL if absent (an error then only if @required).
 * Sets *@failed when an error was set.
 */
static JsonNode *drv_json_member(JsonObject *obj, const char *what,
                                 const char *member, gboolean required,
                                 gboolean *failed, GError **error)
{
    JsonNode *node = json_object_get_member(obj, member);

    *failed = FALSE;
    if (node == NULL && required) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID, "%s: '%s' is required",
                    what, member);
        *failed = TRUE;
    }
    return node;
}

static gboolean drv_json_type_error(JsonNode *node, const char *what,
                                    const char *member, const char *expected,
                                    GError **error)
{
    g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                "%s: '%s' must be %s, not %s", what, member, expected,
                drv_json_type_name(node));
    return FALSE;
}

gboolean drv_json_get_string(JsonObject *obj, const char *what,
                             const char *member, gboolean required,
                             const char **out, GError **error)
{
    gboolean failed;
    JsonNode *node =
        drv_json_member(obj, what, member, required, &failed, error);

    if (node == NULL) {
        return !failed;
    }
    if (!JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_STRING) {
        return drv_json_type_error(node, what, member, "a string", error);
    }
    *out = json_node_get_string(node);
    return TRUE;
}

gboolean drv_json_get_int(JsonObject *obj, const char *what, const char *member,
                          gboolean required, gint64 min, gint64 max,
                          gint64 *out, GError **error)
{
    gboolean failed;
    JsonNode *node =
        drv_json_member(obj, what, member, required, &failed, error);
    gint64 value;

    if (node == NULL) {
        return !failed;
    }
    if (!JSON_NODE_HOLDS_VALUE(node)) {
        return drv_json_type_error(node, what, member, "an integer", error);
    }
    if (json_node_get_value_type(node) == G_TYPE_INT64) {
        value = json_node_get_int(node);
    } else if (json_node_get_value_type(node) == G_TYPE_DOUBLE) {
        double d = json_node_get_double(node);

        /* 128.0 is an integer; 1.5 and 1e300 are not */
        if (d != (double)(gint64)d || d > (double)G_MAXINT64 ||
            d < (double)G_MININT64) {
            return drv_json_type_error(node, what, member, "an integer", error);
        }
        value = (gint64)d;
    } else {
        return drv_json_type_error(node, what, member, "an integer", error);
    }
    if (value < min || value > max) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "%s: '%s' is %" G_GINT64_FORMAT
                    ", outside [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]",
                    what, member, value, min, max);
        return FALSE;
    }
    *out = value;
    return TRUE;
}

gboolean drv_json_get_bool(JsonObject *obj, const char *what,
                           const char *member, gboolean required, gboolean *out,
                           GError **error)
{
    gboolean failed;
    JsonNode *node =
        drv_json_member(obj, what, member, required, &failed, error);

    if (node == NULL) {
        return !failed;
    }
    if (!JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_BOOLEAN) {
        return drv_json_type_error(node, what, member, "true or false", error);
    }
    *out = json_node_get_boolean(node);
    return TRUE;
}

gboolean drv_json_get_object(JsonObject *obj, const char *what,
                             const char *member, gboolean required,
                             JsonObject **out, GError **error)
{
    gboolean failed;
    JsonNode *node =
        drv_json_member(obj, what, member, required, &failed, error);

    if (node == NULL) {
        return !failed;
    }
    if (!JSON_NODE_HOLDS_OBJECT(node)) {
        return drv_json_type_error(node, what, member, "an object", error);
    }
    *out = json_node_get_object(node);
    return TRUE;
}

gboolean drv_json_get_array(JsonObject *obj, const char *what,
                            const char *member, gboolean required,
                            JsonArray **out, GError **error)
{
    gboolean failed;
    JsonNode *node =
        drv_json_member(obj, what, member, required, &failed, error);

    if (node == NULL) {
        return !failed;
    }
    if (!JSON_NODE_HOLDS_ARRAY(node)) {
        return drv_json_type_error(node, what, member, "an array", error);
    }
    *out = json_node_get_array(node);
    return TRUE;
}

gboolean drv_json_check_members(JsonObject *obj, const char *what,
                                const char *const *known, GError **error)
{
    JsonObjectIter iter;
    const char *name;
    JsonNode *node;

    json_object_iter_init(&iter, obj);
    while (json_object_iter_next(&iter, &name, &node)) {
        if (!g_strv_contains(known, name)) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                        "%s: unknown member '%s'", what, name);
            return FALSE;
        }
    }
    return TRUE;
}

const char *drv_json_string_or(JsonObject *obj, const char *member,
                               const char *fallback)
{
    JsonNode *node = obj ? json_object_get_member(obj, member) : NULL;

    if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_STRING) {
        return fallback;
    }
    return json_node_get_string(node);
}

gint64 drv_json_int_or(JsonObject *obj, const char *member, gint64 fallback)
{
    JsonNode *node = obj ? json_object_get_member(obj, member) : NULL;

    if (node == NULL || !JSON_NODE_HOLDS_VALUE(node)) {
        return fallback;
    }
    switch (json_node_get_value_type(node)) {
    case G_TYPE_INT64:
        return json_node_get_int(node);
    case G_TYPE_DOUBLE:
        return (gint64)json_node_get_double(node);
    case G_TYPE_BOOLEAN:
        return json_node_get_boolean(node);
    default:
        return fallback;
    }
}

double drv_json_double_or(JsonObject *obj, const char *member, double fallback)
{
    JsonNode *node = obj ? json_object_get_member(obj, member) : NULL;

    if (node == NULL || !JSON_NODE_HOLDS_VALUE(node)) {
        return fallback;
    }
    switch (json_node_get_value_type(node)) {
    case G_TYPE_INT64:
        return (double)json_node_get_int(node);
    case G_TYPE_DOUBLE:
        return json_node_get_double(node);
    default:
        return fallback;
    }
}

gboolean drv_json_bool_or(JsonObject *obj, const char *member,
                          gboolean fallback)
{
    JsonNode *node = obj ? json_object_get_member(obj, member) : NULL;

    if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_BOOLEAN) {
        return fallback;
    }
    return json_node_get_boolean(node);
}

JsonObject *drv_json_object_or_null(JsonObject *obj, const char *member)
{
    JsonNode *node = obj ? json_object_get_member(obj, member) : NULL;

    return node && JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node)
                                                : NULL;
}

JsonArray *drv_json_array_or_null(JsonObject *obj, const char *member)
{
    JsonNode *node = obj ? json_object_get_member(obj, member) : NULL;

    return node && JSON_NODE_HOLDS_ARRAY(node) ? json_node_get_array(node)
                                               : NULL;
}

JsonObject *drv_json_load_object_file(const char *path, GError **error)
{
    g_autofree char *data = NULL;
    gsize len;
    g_autoptr(GError) local = NULL;
    JsonObject *obj;

    if (!g_file_get_contents(path, &data, &len, error)) {
        return NULL;
    }
    obj = drv_json_parse_object(data, (gssize)len, &local);
    if (obj == NULL) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INTERNAL, "%s: %s", path,
                    local->message);
    }
    return obj;
}

gboolean drv_json_save_object_file(const char *path, JsonObject *object,
                                   GError **error)
{
    g_autofree char *data = drv_json_object_to_string(object, TRUE);

    return drv_file_write_atomic(path, data, strlen(data), error);
}
