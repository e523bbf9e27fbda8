/*
 * Strict JSON access for input that comes from outside: every getter says
 * which member is wrong and why, in a DRV_ERROR_INVALID error, rather than
 * letting json-glib warn and return a default.
 */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Parse @data as one JSON object; anything else is DRV_ERROR_INVALID. */
JsonObject *drv_json_parse_object(const char *data, gssize len, GError **error);
/* Parse @data as any JSON value. */
JsonNode *drv_json_parse(const char *data, gssize len, GError **error);

char *drv_json_to_string(JsonNode *node, gboolean pretty);
char *drv_json_object_to_string(JsonObject *object, gboolean pretty);

/*
 * Typed member getters.  A missing member leaves *out untouched and
 * succeeds unless @required; a member of the wrong type or out of bounds
 * fails.  @what names the object in messages ("spec", "disks[0]").
 */
gboolean drv_json_get_string(JsonObject *obj, const char *what,
                             const char *member, gboolean required,
                             const char **out, GError **error);
gboolean drv_json_get_int(JsonObject *obj, const char *what, const char *member,
                          gboolean required, gint64 min, gint64 max,
                          gint64 *out, GError **error);
gboolean drv_json_get_bool(JsonObject *obj, const char *what,
                           const char *member, gboolean required, gboolean *out,
                           GError **error);
/* Object and array getters return borrowed pointers, NULL when absent. */
gboolean drv_json_get_object(JsonObject *obj, const char *what,
                             const char *member, gboolean required,
                             JsonObject **out, GError **error);
gboolean drv_json_get_array(JsonObject *obj, const char *what,
                            const char *member, gboolean required,
                            JsonArray **out, GError **error);
/* Fail on any member of @obj that is not in the NULL-terminated @known. */
gboolean drv_json_check_members(JsonObject *obj, const char *what,
                                const char *const *known, GError **error);

/* Lenient readers for trusted data (QMP replies, our own state files). */
const char *drv_json_string_or(JsonObject *obj, const char *member,
                               const char *fallback);
gint64 drv_json_int_or(JsonObject *obj, const char *member, gint64 fallback);
double drv_json_double_or(JsonObject *obj, const char *member, double fallback);
gboolean drv_json_bool_or(JsonObject *obj, const char *member,
                          gboolean fallback);
JsonObject *drv_json_object_or_null(JsonObject *obj, const char *member);
JsonArray *drv_json_array_or_null(JsonObject *obj, const char *member);

/* Read a file holding one JSON object. */
JsonObject *drv_json_load_object_file(const char *path, GError **error);
/* Write @object to @path atomically (temporary file, fsync, rename). */
gboolean drv_json_save_object_file(const char *path, JsonObject *object,
                                   GError **error);

G_END_DECLS
