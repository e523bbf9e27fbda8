#include "cli/output.h"

#include <string.h>

#include "common/json.h"

/* ---- tables ---- */

struct _CliTable {
    guint columns;
    GPtrArray *rows; /* GStrv; the first holds the headers */
    gboolean *right;
};

CliTable *cli_table_new(const char *const *headers)
{
    CliTable *table = g_new0(CliTable, 1);

    table->columns = g_strv_length((char **)headers);
    table->rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
    table->right = g_new0(gboolean, table->columns);
    cli_table_add_rowv(table, headers);
    return table;
}

void cli_table_free(CliTable *table)
{
    if (table == NULL) {
        return;
    }
    g_ptr_array_unref(table->rows);
    g_free(table->right);
    g_free(table);
}

void cli_table_align_right(CliTable *table, guint column)
{
    g_return_if_fail(column < table->columns);
    table->right[column] = TRUE;
}

void cli_table_add_rowv(CliTable *table, const char *const *cells)
{
    char **row = g_new0(char *, table->columns + 1);

    for (guint i = 0; i < table->columns; i++) {
        const char *cell = cells[i];

        row[i] = g_strdup(cell != NULL && *cell != '\0' ? cell : "-");
    }
    g_ptr_array_add(table->rows, row);
}

void cli_table_add_row(CliTable *table, ...)
{
    g_autofree const char **cells = g_new0(const char *, table->columns + 1);
    va_list args;

    va_start(args, table);
    for (guint i = 0; i < table->columns; i++) {
        cells[i] = va_arg(args, const char *);
    }
    va_end(args);
    cli_table_add_rowv(table, cells);
}

guint cli_table_rows(CliTable *table)
{
    return table->rows->len - 1;
}

/* Width on a terminal: characters of valid UTF-8, else bytes. */
static gsize cli_text_width(const char *text)
{
    if (g_utf8_validate(text, -1, NULL)) {
        return (gsize)g_utf8_strlen(text, -1);
    }
    return strlen(text);
}

static void cli_pad(GString *out, gsize n)
{
    for (gsize i = 0; i < n; i++) {
        g_string_append_c(out, ' ');
    }
}

char *cli_table_render(CliTable *table)
{
    g_autofree gsize *widths = g_new0(gsize, table->columns);
    GString *out = g_string_new(NULL);

    for (guint r = 0; r < table->rows->len; r++) {
        char **row = g_ptr_array_index(table->rows, r);

        for (guint c = 0; c < table->columns; c++) {
            widths[c] = MAX(widths[c], cli_text_width(row[c]));
        }
    }
    for (guint r = 0; r < table->rows->len; r++) {
        char **row = g_ptr_array_index(table->rows, r);
        gsize line_start = out->len;

        for (guint c = 0; c < table->columns; c++) {
            gsize pad = widths[c] - cli_text_width(row[c]);

            if (c > 0) {
                g_string_append(out, "  ");
            }
            if (table->right[c]) {
                cli_pad(out, pad);
                g_string_append(out, row[c]);
            } else {
                g_string_append(out, row[c]);
                cli_pad(out, pad);
            }
        }
        /* the last column's padding is trailing space nobody wants */
        while (out->len > line_start && out->str[out->len - 1] == ' ') {
            g_string_truncate(out, out->len - 1);
        }
        g_string_append_c(out, '\n');
    }
    return g_string_free(out, FALSE);
}

/* ---- key: value blocks ---- */

struct _CliKv {
    GPtrArray *keys;
    GPtrArray *values;
};

CliKv *cli_kv_new(void)
{
    CliKv *kv = g_new0(CliKv, 1);

    kv->keys = g_ptr_array_new_with_free_func(g_free);
    kv->values = g_ptr_array_new_with_free_func(g_free);
    return kv;
}

void cli_kv_free(CliKv *kv)
{
    if (kv == NULL) {
        return;
    }
    g_ptr_array_unref(kv->keys);
    g_ptr_array_unref(kv->values);
    g_free(kv);
}

void cli_kv_add(CliKv *kv, const char *key, const char *value)
{
    g_ptr_array_add(kv->keys, g_strdup(key));
    g_ptr_array_add(kv->values,
                    g_strdup(value != NULL && *value != '\0' ? value : "-"));
}

void cli_kv_addf(CliKv *kv, const char *key, const char *format, ...)
{
    g_autofree char *value = NULL;
    va_list args;

    va_start(args, format);
    value = g_strdup_vprintf(format, args);
    va_end(args);
    cli_kv_add(kv, key, value);
}

char *cli_kv_render(CliKv *kv)
{
    GString *out = g_string_new(NULL);
    gsize width = 0;

    for (guint i = 0; i < kv->keys->len; i++) {
        width = MAX(width, cli_text_width(g_ptr_array_index(kv->keys, i)));
    }
    for (guint i = 0; i < kv->keys->len; i++) {
        const char *key = g_ptr_array_index(kv->keys, i);

        g_string_append_printf(out, "%s:", key);
        cli_pad(out, width - cli_text_width(key) + 1);
        g_string_append_printf(out, "%s\n",
                               (char *)g_ptr_array_index(kv->values, i));
    }
    return g_string_free(out, FALSE);
}

/* ---- quantities ---- */

char *cli_format_bytes(gint64 bytes)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    double value;
    guint unit = 0;

    if (bytes < 0) {
        return g_strdup("unknown");
    }
    if (bytes < 1024) {
        return g_strdup_printf("%" G_GINT64_FORMAT " B", bytes);
    }
    value = (double)bytes / 1024.0;
    /* 1023.96 KiB would print as "1024.0 KiB": move up a unit first */
    while (value >= 1023.95 && unit + 1 < G_N_ELEMENTS(units)) {
        value /= 1024.0;
        unit++;
    }
    return g_strdup_printf("%.1f %s", value, units[unit]);
}

char *cli_format_duration_ms(gint64 ms)
{
    gint64 tenths;
    gint64 s;

    if (ms < 0) {
        return g_strdup("unknown");
    }
    if (ms < 1000) {
        return g_strdup_printf("%" G_GINT64_FORMAT " ms", ms);
    }
    /* integer rounding, so that 59.96 s does not print as "60.0 s" */
    tenths = (ms + 50) / 100;
    if (tenths < 600) {
        return g_strdup_printf("%" G_GINT64_FORMAT ".%" G_GINT64_FORMAT " s",
                               tenths / 10, tenths % 10);
    }
    s = (ms + 500) / 1000;
    if (s < 3600) {
        return g_strdup_printf(
            "%" G_GINT64_FORMAT " min %" G_GINT64_FORMAT " s", s / 60, s % 60);
    }
    return g_strdup_printf("%" G_GINT64_FORMAT " h %" G_GINT64_FORMAT " min",
                           s / 3600, (s % 3600) / 60);
}

char *cli_format_throughput(double mbps)
{
    if (mbps < 0) {
        mbps = 0;
    }
    if (mbps >= 999.5) {
        return g_strdup_printf("%.1f Gbit/s", mbps / 1000.0);
    }
    return g_strdup_printf("%.0f Mbit/s", mbps);
}

char *cli_format_percent(double percent)
{
    if (percent >= 100.0) {
        return g_strdup("100%");
    }
    if (percent < 0) {
        percent = 0;
    }
    /* never round a running migration up to "100.0%" */
    return g_strdup_printf("%.1f%%", MIN(percent, 99.9));
}

/* ---- JSON helpers ---- */

const char *cli_ref_name(JsonObject *obj, const char *member)
{
    JsonObject *ref = drv_json_object_or_null(obj, member);

    if (ref == NULL) {
        return NULL;
    }
    return drv_json_string_or(ref, "name", drv_json_string_or(ref, "id", NULL));
}

GPtrArray *cli_objects(JsonObject *obj, const char *member)
{
    JsonArray *array = drv_json_array_or_null(obj, member);
    GPtrArray *out = g_ptr_array_new();

    for (guint i = 0; array && i < json_array_get_length(array); i++) {
        JsonNode *node = json_array_get_element(array, i);

        if (JSON_NODE_HOLDS_OBJECT(node)) {
            g_ptr_array_add(out, json_node_get_object(node));
        }
    }
    return out;
}

/* ---- migrations ---- */

gboolean cli_migration_state_is_final(const char *state)
{
    return state != NULL &&
           (g_str_equal(state, "completed") || g_str_equal(state, "failed") ||
            g_str_equal(state, "cancelled"));
}

char *cli_progress_line(JsonObject *migration, gboolean bar, guint width)
{
    JsonObject *progress = drv_json_object_or_null(migration, "progress");
    const char *vm = cli_ref_name(migration, "vm");
    const char *state = drv_json_string_or(migration, "state", "unknown");
    double percent = drv_json_double_or(progress, "percent", 0);
    gboolean numbers = progress != NULL && !g_str_equal(state, "queued");
    g_autofree char *pct = NULL;
    g_autofree char *moved = NULL;
    g_autofree char *rate = NULL;
    g_autofree char *head = NULL;
    g_autofree char *tail = NULL;
    GString *out;
    gsize bar_width;
    gsize filled;

    vm = vm ? vm : "?";
    if (g_str_equal(state, "completed")) {
        percent = 100;
    }
    pct = cli_format_percent(percent);
    moved = cli_format_bytes(drv_json_int_or(progress, "transferred_bytes", 0));
    rate = cli_format_throughput(
        drv_json_double_or(progress, "throughput_mbps", 0));
    if (!bar) {
        if (!numbers) {
            return g_strdup_printf("%s: %s", vm, state);
        }
        return g_strdup_printf(
            "%s: %s %s, %s transferred, %s, pass %" G_GINT64_FORMAT, vm, state,
            pct, moved, rate, drv_json_int_or(progress, "pass", 0));
    }
    head = g_strdup_printf("%s %s ", vm, state);
    tail = numbers ? g_strdup_printf("  %s  %s  %s  pass %" G_GINT64_FORMAT,
                                     pct, moved, rate,
                                     drv_json_int_or(progress, "pass", 0))
                   : g_strdup("");
    /* what is left of the line for the bar, within reason */
    bar_width = cli_text_width(head) + cli_text_width(tail) + 2;
    bar_width = width > bar_width ? width - bar_width : 0;
    bar_width = CLAMP(bar_width, 10, 40);
    filled = (gsize)(CLAMP(percent, 0, 100) / 100.0 * (double)bar_width);
    out = g_string_new(head);
    g_string_append_c(out, '[');
    for (gsize i = 0; i < bar_width; i++) {
        if (i < filled) {
            g_string_append_c(out, '=');
        } else if (i == filled && filled > 0) {
            g_string_append_c(out, '>');
        } else {
            g_string_append_c(out, ' ');
        }
    }
    g_string_append_c(out, ']');
    g_string_append(out, tail);
    return g_string_free(out, FALSE);
}

char *cli_migration_result_line(JsonObject *migration)
{
    JsonObject *result = drv_json_object_or_null(migration, "result");
    JsonObject *progress = drv_json_object_or_null(migration, "progress");
    const char *vm = cli_ref_name(migration, "vm");
    const char *source = cli_ref_name(migration, "source");
    const char *destination = cli_ref_name(migration, "destination");
    g_autofree char *total =
        cli_format_duration_ms(drv_json_int_or(result, "total_time_ms", -1));
    g_autofree char *downtime =
        cli_format_duration_ms(drv_json_int_or(result, "downtime_ms", -1));
    /* a guest paused before it moved saw no pause of the migration's */
    g_autofree char *pause = drv_json_bool_or(result, "was_running", TRUE)
                                 ? g_strdup_printf("downtime %s", downtime)
                                 : g_strdup("paused throughout");
    g_autofree char *moved = cli_format_bytes(
        drv_json_int_or(result, "transferred_bytes",
                        drv_json_int_or(progress, "transferred_bytes", -1)));

    GString *out = g_string_new(NULL);
    const char *policy = drv_json_string_or(result, "policy", NULL);
    JsonObject *prediction = drv_json_object_or_null(result, "prediction");

    g_string_append_printf(
        out, "%s migrated from %s to %s in %s, %s, %s transferred",
        vm ? vm : "?", source ? source : "?", destination ? destination : "?",
        total, pause, moved);
    if (policy != NULL) {
        gint64 throttle = drv_json_int_or(result, "max_throttle_percent", 0);
        gint64 xbzrle_pages = drv_json_int_or(result, "xbzrle_pages", 0);

        g_string_append_printf(out, " (policy %s, ", policy);
        if (drv_json_bool_or(result, "postcopy", FALSE)) {
            g_string_append(out, "post-copy");
        } else if (throttle > 0) {
            g_string_append_printf(
                out, "throttled up to %" G_GINT64_FORMAT "%%", throttle);
        } else {
            g_string_append(out, "pre-copy");
        }
        if (xbzrle_pages > 0) {
            double ratio = drv_json_double_or(result, "xbzrle_ratio", 0);

            g_string_append_printf(
                out, ", %" G_GINT64_FORMAT " pages as XBZRLE deltas",
                xbzrle_pages);
            if (ratio > 0) {
                g_string_append_printf(out, " %.1fx smaller", ratio);
            }
        }
        if (prediction != NULL) {
            g_autofree char *p_total = cli_format_duration_ms(
                drv_json_int_or(prediction, "total_ms", -1));
            g_autofree char *p_down = cli_format_duration_ms(
                drv_json_int_or(prediction, "downtime_ms", -1));

            g_string_append_printf(out, "; predicted %s, downtime %s", p_total,
                                   p_down);
        }
        g_string_append_c(out, ')');
    }
    return g_string_free(out, FALSE);
}

char *cli_migration_estimate_text(JsonObject *estimate)
{
    JsonObject *params = drv_json_object_or_null(estimate, "parameters");
    JsonObject *measured = drv_json_object_or_null(estimate, "measured");
    JsonObject *p = drv_json_object_or_null(estimate, "prediction");
    const char *vm = cli_ref_name(estimate, "vm");
    const char *source = cli_ref_name(estimate, "source");
    const char *destination = cli_ref_name(estimate, "destination");
    g_autofree char *link = cli_format_throughput(
        (double)drv_json_int_or(measured, "link_bps", 0) * 8.0 / 1e6);
    g_autofree char *memory =
        cli_format_bytes(drv_json_int_or(measured, "memory_bytes", 0));
    g_autofree char *dirty =
        cli_format_bytes(drv_json_int_or(measured, "dirty_rate_bps", 0));
    g_autofree char *total =
        cli_format_duration_ms(drv_json_int_or(p, "total_ms", -1));
    g_autofree char *down =
        cli_format_duration_ms(drv_json_int_or(p, "downtime_ms", -1));
    JsonArray *list = drv_json_array_or_null(estimate, "warnings");
    GString *out = g_string_new(NULL);
    gint64 throttle = drv_json_int_or(p, "throttle_percent", 0);

    g_string_append_printf(
        out,
        "%s would migrate from %s to %s with policy %s at "
        "%s%s%s\n",
        vm ? vm : "?", source ? source : "?", destination ? destination : "?",
        drv_json_string_or(params, "policy", "?"), link,
        g_strcmp0(drv_json_string_or(measured, "link_basis", NULL),
                  "measured") == 0
            ? " (measured by the last migration)"
            : "",
        drv_json_bool_or(params, "post_copy", FALSE) ? ", post-copy allowed"
                                                     : "");
    g_string_append_printf(out,
                           "measured: the guest dirties %s/s of %s "
                           "(%" G_GINT64_FORMAT " s sample)\n",
                           dirty, memory,
                           drv_json_int_or(measured, "seconds", 0));
    g_string_append_printf(out, "predicted: %s, downtime %s, %s", total, down,
                           drv_json_string_or(p, "strategy", "?"));
    if (throttle > 0) {
        g_string_append_printf(out, " (guest throttled %" G_GINT64_FORMAT "%%)",
                               throttle);
    }
    g_string_append_printf(out, ", %" G_GINT64_FORMAT " pass%s\n",
                           drv_json_int_or(p, "passes", 0),
                           drv_json_int_or(p, "passes", 0) == 1 ? "" : "es");
    for (guint i = 0; list && i < json_array_get_length(list); i++) {
        JsonNode *node = json_array_get_element(list, i);

        if (JSON_NODE_HOLDS_VALUE(node) &&
            json_node_get_value_type(node) == G_TYPE_STRING) {
            g_string_append_printf(out, "warning: %s\n",
                                   json_node_get_string(node));
        }
    }
    return g_string_free(out, FALSE);
}

char *cli_migration_failure_line(JsonObject *migration)
{
    JsonObject *error = drv_json_object_or_null(migration, "error");
    JsonObject *result = drv_json_object_or_null(migration, "result");
    const char *vm = cli_ref_name(migration, "vm");
    const char *source = cli_ref_name(migration, "source");
    const char *destination = cli_ref_name(migration, "destination");
    const char *state = drv_json_string_or(migration, "state", "unknown");
    const char *message = drv_json_string_or(
        error, "message", drv_json_string_or(result, "reason", NULL));
    GString *out = g_string_new(NULL);

    if (destination == NULL) {
        destination = cli_ref_name(migration, "requested_destination");
    }
    g_string_append_printf(out, "migration of %s", vm ? vm : "?");
    if (source != NULL) {
        g_string_append_printf(out, " from %s", source);
    }
    if (destination != NULL) {
        g_string_append_printf(out, " to %s", destination);
    }
    if (g_str_equal(state, "cancelled")) {
        g_string_append(out, " was cancelled");
        if (message != NULL) {
            g_string_append_printf(out, ": %s", message);
        }
    } else if (g_str_equal(state, "failed")) {
        g_string_append_printf(out, " failed: %s",
                               message ? message : "no reason given");
    } else {
        g_string_append_printf(out, " is %s", state);
    }
    return g_string_free(out, FALSE);
}

/* ---- events ---- */

char *cli_event_line(JsonObject *event)
{
    return g_strdup_printf("%s  %-7s  %-24s  %s  (%s)",
                           drv_json_string_or(event, "time", "-"),
                           drv_json_string_or(event, "severity", "-"),
                           drv_json_string_or(event, "code", "-"),
                           drv_json_string_or(event, "message", ""),
                           drv_json_string_or(event, "user", "-"));
}

/* ---- errors ---- */

char *cli_error_line(const GError *error)
{
    g_autofree char *message =
        g_strdup(error && error->message ? error->message : "unknown error");

    /* one line, whatever the server or a library put in the message */
    g_strdelimit(message, "\r\n\t", ' ');
    g_strstrip(message);
    return g_strdup_printf("drover: %s", message);
}
