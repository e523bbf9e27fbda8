/*
 * Strict JSON access: parse errors, typed getters with their type and
 * bound errors, member checks, the lenient readers, files.
 */
#include <glib/gstdio.h>

#include "common/error.h"
#include "common/json.h"

static JsonObject *parse(const char *text)
{
    g_autoptr(GError) error = NULL;
    JsonObject *obj = drv_json_parse_object(text, -1, &error);

    g_assert_no_error(error);
    g_assert_nonnull(obj);
    return obj;
}

static void test_parse_object_errors(void)
{
    const struct {
        const char *text;
        gssize len;
        const char *message;
    } cases[] = {
        {"", -1, "empty body"},
        {"{}", 0, "empty body"},
        {"   \n", -1, "empty body"},
        {"{", -1, "malformed JSON"},
        {"{\"a\": }", -1, "malformed JSON"},
        {"{\"a\": 1} trailing", -1, "malformed JSON"},
        {"[1, 2]", -1, "expected a JSON object"},
        {"\"text\"", -1, "expected a JSON object"},
        {"42", -1, "expected a JSON object"},
        {"null", -1, "expected a JSON object"},
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonObject) obj =
            drv_json_parse_object(cases[i].text, cases[i].len, &error);

        g_assert_null(obj);
        g_assert_error(error, DRV_ERROR, DRV_ERROR_INVALID);
        if (!g_str_has_prefix(error->message, cases[i].message)) {
            g_error("'%s': '%s' does not start with '%s'", cases[i].text,
                    error->message, cases[i].message);
        }
    }
    {
        g_autoptr(GError) error = NULL;

        g_assert_null(drv_json_parse_object(NULL, -1, &error));
        g_assert_error(error, DRV_ERROR, DRV_ERROR_INVALID);
    }
}

static void test_parse_with_length(void)
{
    g_autoptr(GError) error = NULL;
    /* only the first 8 bytes are the document */
    g_autoptr(JsonObject) obj =
        drv_json_parse_object("{\"a\": 1}garbage", 8, &error);
    g_autoptr(JsonNode) node = drv_json_parse("[1, \"x\"]", -1, &error);

    g_assert_no_error(error);
    g_assert_cmpint(json_object_get_int_member(obj, "a"), ==, 1);
    g_assert_true(JSON_NODE_HOLDS_ARRAY(node));
}

static void test_get_string(void)
{
    g_autoptr(JsonObject) obj =
        parse("{\"s\": \"text\", \"n\": 5, \"b\": true, \"z\": null}");
    g_autoptr(GError) error = NULL;
    const char *out = "untouched";

    g_assert_true(drv_json_get_string(obj, "thing", "s", TRUE, &out, &error));
    g_assert_no_error(error);
    g_assert_cmpstr(out, ==, "text");

    /* missing: fine unless required, and *out is left alone */
    out = "untouched";
    g_assert_true(
        drv_json_get_string(obj, "thing", "absent", FALSE, &out, &error));
    g_assert_cmpstr(out, ==, "untouched");
    g_assert_false(
        drv_json_get_string(obj, "thing", "absent", TRUE, &out, &error));
    g_assert_error(error, DRV_ERROR, DRV_ERROR_INVALID);
    g_assert_cmpstr(error->message, ==, "thing: 'absent' is required");
    g_clear_error(&error);

    g_assert_false(drv_json_get_string(obj, "thing", "n", FALSE, &out, &error));
    g_assert_error(error, DRV_ERROR, DRV_ERROR_INVALID);
    g_assert_cmpstr(error->message, ==,
                    "thing: 'n' must be a string, not a number");
    g_clear_error(&error);
    g_assert_false(drv_json_get_string(obj, "thing", "b", FALSE, &out, &error));
    g_assert_cmpstr(error->message, ==,
                    "thing: 'b' must be a string, not a boolean");
    g_clear_error(&error);
    g_assert_false(drv_json_get_string(obj, "thing", "z", FALSE, &out, &error));
    g_assert_cmpstr(error->message, ==,
                    "thing: 'z' must be a string, not null");
    g_assert_cmpstr(out, ==, "untouched");
}

static void test_get_int(void)
{
    g_autoptr(JsonObject) obj =
        parse("{\"i\": 42, \"neg\": -3, \"whole\": 128.0, \"frac\": 1.5,"
              " \"huge\": 1e300, \"s\": \"42\", \"b\": false,"
              " \"o\": {}, \"a\": []}");
    g_autoptr(GError) error = NULL;
    gint64 out = 7;

    g_assert_true(drv_json_get_int(obj, "x", "i", TRUE, 0, 100, &out, &error));
    g_assert_cmpint(out, ==, 42);
    g_assert_true(
        drv_json_get_int(obj, "x", "neg", TRUE, -10, 0, &out, &error));
    g_assert_cmpint(out, ==, -3);
    g_assert_true(
        drv_json_get_int(obj, "x", "whole", TRUE, 0, 1000, &out, &error));
    g_assert_cmpint(out, ==, 128);
    g_assert_no_error(error);

    /* the bounds are inclusive */
    g_assert_true(drv_json_get_int(obj, "x", "i", TRUE, 42, 42, &out, &error));
    out = 7;
    g_assert_false(
        drv_json_get_int(obj, "x", "i", TRUE, 43, 100, &out, &error));
    g_assert_error(error, DRV_ERROR, DRV_ERROR_INVALID);
    g_assert_cmpstr(error->message, ==, "x: 'i' is 42, outside [43, 100]");
    g_assert_cmpint(out, ==, 7);
    g_clear_error(&error);
    g_assert_false(drv_json_get_int(obj, "x", "i", TRUE, 0, 41, &out, &error));
    g_assert_error(error, DRV_ERROR, DRV_ERROR_INVALID);
    g_clear_error(&error);

    {
        const char *const wrong[] = {"frac", "huge", "s", "b", "o", "a"};

        for (guint i = 0; i < G_N_ELEMENTS(wrong); i++) {
            g_assert_false(drv_json_get_int(obj, "x", wrong[i], TRUE,
                                            G_MININT64, G_MAXINT64, &out,
                                            &error));
            g_assert_error(error, DRV_ERROR, DRV_ERROR_INVALID);
            g_assert_nonnull(strstr(error->message, "must be an integer"));
            g_assert_nonnull(strstr(error->message, wrong[i]));
            g_clear_error(&error);
        }
    }
    g_assert_cmpint(out, ==, 7);
    g_assert_true(
        drv_json_get_int(obj, "x", "absent", FALSE, 0, 1, &out, &error));
    g_assert_cmpint(out, ==, 7);
}

static void test_get_bool_object_array(void)
{
    g_autoptr(JsonObject) obj =
        parse("{\"t\": true, \"one\": 1, \"o\": {\"k\": 1}, \"a\": [1, 2],"
              " \"s\": \"true\"}");
    g_autoptr(GError) error = NULL;
    gboolean b = FALSE;
    JsonObject *o = NULL;
    JsonArray *a = NULL;

    g_assert_true(drv_json_get_bool(obj, "x", "t", TRUE, &b, &error));
    g_assert_true(b);
    g_assert_false(drv_json_get_bool(obj, "x", "one", TRUE, &b, &error));
    g_assert_error(error, DRV_ERROR, DRV_ERROR_INVALID);
    g_assert_cmpstr(error->message, ==,
                    "x: 'one' must be true or false, not a number");
    g_clear_error(&error);
    g_assert_false(drv_json_get_bool(obj, "x", "s", TRUE, &b, &error));
    g_assert_error(error, DRV_ERROR, DRV_ERROR_INVALID);
    g_clear_error(&error);

    g_assert_true(drv_json_get_object(obj, "x", "o", TRUE, &o, &error));
    g_assert_cmpint(json_object_get_int_member(o, "k"), ==, 1);
    g_assert_false(drv_json_get_object(obj, "x", "a", TRUE, &o, &error));
    g_assert_error(error, DRV_ERROR, DRV_ERROR_INVALID);
    g_assert_cmpstr(error->message, ==,
                    "x: 'a' must be an object, not an array");
    g_clear_error(&error);
    g_assert_true(drv_json_get_object(obj, "x", "none", FALSE, &o, &error));

    g_assert_true(drv_json_get_array(obj, "x", "a", TRUE, &a, &error));
    g_assert_cmpuint(json_array_get_length(a), ==, 2);
    g_assert_false(drv_json_get_array(obj, "x", "o", TRUE, &a, &error));
    g_assert_error(error, DRV_ERROR, DRV_ERROR_INVALID);
    g_assert_cmpstr(error->message, ==,
                    "x: 'o' must be an array, not an object");
    g_clear_error(&error);
    g_assert_false(drv_json_get_array(obj, "x", "none", TRUE, &a, &error));
    g_assert_error(error, DRV_ERROR, DRV_ERROR_INVALID);
}

static void test_check_members(void)
{
    g_autoptr(JsonObject) obj = parse("{\"a\": 1, \"b\": 2, \"typo\": 3}");
    g_autoptr(JsonObject) empty = parse("{}");
    const char *const known[] = {"a", "b", "c", NULL};
    const char *const all[] = {"a", "b", "typo", NULL};
    g_autoptr(GError) error = NULL;

    g_assert_false(drv_json_check_members(obj, "body", known, &error));
    g_assert_error(error, DRV_ERROR, DRV_ERROR_INVALID);
    g_assert_cmpstr(error->message, ==, "body: unknown member 'typo'");
    g_clear_error(&error);
    g_assert_true(drv_json_check_members(obj, "body", all, &error));
    g_assert_true(drv_json_check_members(empty, "body", known, &error));
    g_assert_no_error(error);
}

static void test_lenient_readers(void)
{
    g_autoptr(JsonObject) obj =
        parse("{\"s\": \"x\", \"i\": 5, \"d\": 2.5, \"b\": true,"
              " \"o\": {\"k\": 1}, \"a\": [], \"z\": null}");

    g_assert_cmpstr(drv_json_string_or(obj, "s", "fb"), ==, "x");
    g_assert_cmpstr(drv_json_string_or(obj, "i", "fb"), ==, "fb");
    g_assert_cmpstr(drv_json_string_or(obj, "none", "fb"), ==, "fb");
    g_assert_cmpstr(drv_json_string_or(NULL, "s", "fb"), ==, "fb");
    g_assert_null(drv_json_string_or(obj, "z", NULL));

    g_assert_cmpint(drv_json_int_or(obj, "i", -1), ==, 5);
    g_assert_cmpint(drv_json_int_or(obj, "d", -1), ==, 2);
    g_assert_cmpint(drv_json_int_or(obj, "b", -1), ==, 1);
    g_assert_cmpint(drv_json_int_or(obj, "s", -1), ==, -1);
    g_assert_cmpint(drv_json_int_or(obj, "o", -1), ==, -1);
    g_assert_cmpint(drv_json_int_or(NULL, "i", -1), ==, -1);

    g_assert_cmpfloat(drv_json_double_or(obj, "d", -1), ==, 2.5);
    g_assert_cmpfloat(drv_json_double_or(obj, "i", -1), ==, 5.0);
    g_assert_cmpfloat(drv_json_double_or(obj, "s", -1), ==, -1);

    g_assert_true(drv_json_bool_or(obj, "b", FALSE));
    g_assert_false(drv_json_bool_or(obj, "i", FALSE));
    g_assert_true(drv_json_bool_or(obj, "none", TRUE));

    g_assert_nonnull(drv_json_object_or_null(obj, "o"));
    g_assert_null(drv_json_object_or_null(obj, "a"));
    g_assert_null(drv_json_object_or_null(NULL, "o"));
    g_assert_nonnull(drv_json_array_or_null(obj, "a"));
    g_assert_null(drv_json_array_or_null(obj, "o"));
    g_assert_null(drv_json_array_or_null(obj, "none"));
}

static void test_to_string(void)
{
    g_autoptr(JsonObject) obj = parse("{\"b\": [1, 2], \"a\": \"x\"}");
    g_autofree char *compact = drv_json_object_to_string(obj, FALSE);
    g_autofree char *pretty = drv_json_object_to_string(obj, TRUE);
    g_autoptr(JsonObject) back = parse(pretty);
    g_autofree char *again = drv_json_object_to_string(back, FALSE);

    /* member order is kept */
    g_assert_cmpstr(compact, ==, "{\"b\":[1,2],\"a\":\"x\"}");
    g_assert_nonnull(strchr(pretty, '\n'));
    g_assert_cmpstr(again, ==, compact);
}

static void test_file_round_trip(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *tmp = g_dir_make_tmp("drover-json-XXXXXX", &error);
    g_autofree char *path = g_build_filename(tmp, "state.json", NULL);
    g_autofree char *bad = g_build_filename(tmp, "bad.json", NULL);
    g_autofree char *missing = g_build_filename(tmp, "missing.json", NULL);
    g_autoptr(JsonObject) obj =
        parse("{\"name\": \"web1\", \"n\": 3, \"nested\": {\"list\": [true,"
              " null, 1.5, \"s\"]}, \"unicode\": \"\\u00e9\\u20ac\"}");
    g_autoptr(JsonObject) loaded = NULL;
    g_autofree char *before = NULL;
    g_autofree char *after = NULL;
    GStatBuf st;

    g_assert_no_error(error);
    g_assert_true(drv_json_save_object_file(path, obj, &error));
    g_assert_no_error(error);
    /* state files may hold secrets one day: owner only */
    g_assert_cmpint(g_stat(path, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0600);
    loaded = drv_json_load_object_file(path, &error);
    g_assert_no_error(error);
    before = drv_json_object_to_string(obj, FALSE);
    after = drv_json_object_to_string(loaded, FALSE);
    g_assert_cmpstr(before, ==, after);

    /* overwriting replaces the whole file */
    json_object_remove_member(obj, "nested");
    g_assert_true(drv_json_save_object_file(path, obj, &error));
    g_clear_pointer(&loaded, json_object_unref);
    loaded = drv_json_load_object_file(path, &error);
    g_assert_false(json_object_has_member(loaded, "nested"));

    g_assert_null(drv_json_load_object_file(missing, &error));
    g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
    g_clear_error(&error);

    g_assert_true(g_file_set_contents(bad, "[1]", -1, NULL));
    g_assert_null(drv_json_load_object_file(bad, &error));
    g_assert_nonnull(error);
    g_assert_nonnull(strstr(error->message, bad));
    g_clear_error(&error);

    g_unlink(path);
    g_unlink(bad);
    g_rmdir(tmp);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/json/parse-object-errors", test_parse_object_errors);
    g_test_add_func("/json/parse-with-length", test_parse_with_length);
    g_test_add_func("/json/get-string", test_get_string);
    g_test_add_func("/json/get-int", test_get_int);
    g_test_add_func("/json/get-bool-object-array", test_get_bool_object_array);
    g_test_add_func("/json/check-members", test_check_members);
    g_test_add_func("/json/lenient-readers", test_lenient_readers);
    g_test_add_func("/json/to-string", test_to_string);
    g_test_add_func("/json/file-round-trip", test_file_round_trip);
    return g_test_run();
}
