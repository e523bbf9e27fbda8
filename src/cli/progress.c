#include "cli/progress.h"

#include <stdio.h>

#include "cli/output.h"
#include "common/error.h"
#include "common/json.h"

/* how long a start may leave the VM down before it counts as failed */
#define CLI_START_GRACE_US (10 * G_USEC_PER_SEC)
/* stop destroys after 30 s; a start or stop taking this long is stuck */
#define CLI_VM_WAIT_US (300 * G_USEC_PER_SEC)

/* ---- the display ---- */

typedef struct {
    char *text;        /* last line written */
    gint64 written_us; /* when */
} CliPlainLine;

struct _CliProgressView {
    gboolean tty;
    guint width;
    guint lines;       /* terminal: lines of the frame on screen */
    GHashTable *plain; /* elsewhere: migration id -> CliPlainLine */
};

static void cli_plain_line_free(gpointer data)
{
    CliPlainLine *line = data;

    g_free(line->text);
    g_free(line);
}

CliProgressView *cli_progress_view_new(gboolean tty, guint width)
{
    CliProgressView *view = g_new0(CliProgressView, 1);

    view->tty = tty;
    view->width = MAX(width ? width : 80, 2);
    view->plain = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                        cli_plain_line_free);
    return view;
}

void cli_progress_view_free(CliProgressView *view)
{
    if (view == NULL) {
        return;
    }
    g_hash_table_unref(view->plain);
    g_free(view);
}

/*
 * Redraw the frame: back to its first line, then every line cleared and
 * written.  The cursor stays at the end of the last line so that a one-bar
 * frame is just "\r" and the line.
 */
static void cli_progress_view_draw(CliProgressView *view, GString *out,
                                   GPtrArray *migrations)
{
    guint lines = MAX(migrations->len, view->lines);

    g_string_append_c(out, '\r');
    for (guint i = 1; i < view->lines; i++) {
        g_string_append(out, "\033[A");
    }
    for (guint i = 0; i < lines; i++) {
        if (i > 0) {
            g_string_append_c(out, '\n');
        }
        /* one column short: a full line would wrap on some terminals */
        g_string_append(out, "\033[K");
        if (i < migrations->len) {
            g_autofree char *line = cli_progress_line(
                g_ptr_array_index(migrations, i), TRUE, view->width - 1);
            glong chars = g_utf8_strlen(line, -1);

            /* a wrapped line would break the redraw: cut it instead */
            if (chars > (glong)view->width - 1) {
                g_autofree char *cut =
                    g_utf8_substring(line, 0, (glong)view->width - 1);

                g_string_append(out, cut);
            } else {
                g_string_append(out, line);
            }
        }
    }
    view->lines = lines;
}

char *cli_progress_view_update(CliProgressView *view, GPtrArray *migrations,
                               gint64 now_us)
{
    GString *out = g_string_new(NULL);

    if (view->tty) {
        if (migrations->len > 0 || view->lines > 0) {
            cli_progress_view_draw(view, out, migrations);
        }
        return g_string_free(out, FALSE);
    }
    for (guint i = 0; i < migrations->len; i++) {
        JsonObject *mig = g_ptr_array_index(migrations, i);
        const char *id = drv_json_string_or(mig, "id", "");
        CliPlainLine *last = g_hash_table_lookup(view->plain, id);
        g_autofree char *line = cli_progress_line(mig, FALSE, 0);

        if (last != NULL &&
            (g_str_equal(last->text, line) ||
             now_us - last->written_us < CLI_PLAIN_INTERVAL_US)) {
            continue;
        }
        if (last == NULL) {
            last = g_new0(CliPlainLine, 1);
            g_hash_table_insert(view->plain, g_strdup(id), last);
        }
        g_string_append_printf(out, "%s\n", line);
        g_free(last->text);
        last->text = g_steal_pointer(&line);
        last->written_us = now_us;
    }
    return g_string_free(out, FALSE);
}

char *cli_progress_view_finish(CliProgressView *view)
{
    if (view->tty && view->lines > 0) {
        view->lines = 0;
        return g_strdup("\n");
    }
    return g_strdup("");
}

static void cli_write(char *text)
{
    fputs(text, stdout);
    fflush(stdout);
    g_free(text);
}

/* ---- one migration ---- */

gboolean cli_wait_migration(CliContext *ctx, const char *id, GError **error)
{
    g_autoptr(CliProgressView) view =
        cli_progress_view_new(ctx->tty, cli_terminal_width());
    g_autofree char *escaped = g_uri_escape_string(id, NULL, FALSE);

    for (;;) {
        g_autoptr(JsonObject) mig =
            cli_client_getf(ctx->client, error, "/api/migrations/%s", escaped);
        g_autoptr(GPtrArray) list = g_ptr_array_new();
        const char *state;

        if (mig == NULL) {
            cli_write(cli_progress_view_finish(view));
            return FALSE;
        }
        state = drv_json_string_or(mig, "state", "");
        if (cli_migration_state_is_final(state)) {
            cli_write(cli_progress_view_finish(view));
            if (!g_str_equal(state, "completed")) {
                g_autofree char *line = cli_migration_failure_line(mig);

                g_set_error_literal(error, DRV_ERROR,
                                    g_str_equal(state, "cancelled")
                                        ? DRV_ERROR_CANCELLED
                                        : DRV_ERROR_MIGRATION,
                                    line);
                return FALSE;
            }
            if (ctx->json) {
                cli_print_object(mig);
            } else {
                g_autofree char *line = cli_migration_result_line(mig);

                printf("%s\n", line);
            }
            return TRUE;
        }
        if (!ctx->json) {
            g_ptr_array_add(list, mig);
            cli_write(
                cli_progress_view_update(view, list, g_get_monotonic_time()));
        }
        g_usleep(CLI_POLL_MS * 1000);
    }
}

/* ---- a host's maintenance ---- */

/* The migrations of @list ({"migrations": [...]}) with @correlation_id. */
static GPtrArray *cli_migrations_of(JsonObject *list,
                                    const char *correlation_id)
{
    JsonArray *items = drv_json_array_or_null(list, "migrations");
    GPtrArray *out =
        g_ptr_array_new_with_free_func((GDestroyNotify)json_object_unref);

    for (guint i = 0; items && i < json_array_get_length(items); i++) {
        JsonNode *node = json_array_get_element(items, i);
        JsonObject *mig;

        if (!JSON_NODE_HOLDS_OBJECT(node)) {
            continue;
        }
        mig = json_node_get_object(node);
        /* without an id from the server, the host's maintenance moves */
        if (correlation_id != NULL
                ? g_strcmp0(drv_json_string_or(mig, "correlation_id", NULL),
                            correlation_id) == 0
                : g_strcmp0(drv_json_string_or(mig, "reason", NULL),
                            "maintenance") == 0) {
            g_ptr_array_add(out, json_object_ref(mig));
        }
    }
    return out;
}

/*
 * Whether the maintenance can make no more progress: nothing queued or
 * running and something failed.  *@why gets the failures, one per VM.
 */
static gboolean cli_maintenance_stuck(GPtrArray *migrations, char **why)
{
    g_autoptr(GString) reasons = g_string_new(NULL);

    for (guint i = 0; i < migrations->len; i++) {
        JsonObject *mig = g_ptr_array_index(migrations, i);
        const char *state = drv_json_string_or(mig, "state", "");

        if (!cli_migration_state_is_final(state)) {
            return FALSE;
        }
        if (!g_str_equal(state, "completed")) {
            g_autofree char *line = cli_migration_failure_line(mig);

            g_string_append_printf(reasons, "%s%s", reasons->len ? "; " : "",
                                   line);
        }
    }
    if (reasons->len == 0) {
        return FALSE;
    }
    *why = g_strdup(reasons->str);
    return TRUE;
}

gboolean cli_wait_maintenance(CliContext *ctx, const char *host_id,
                              const char *host_name, const char *correlation_id,
                              GError **error)
{
    g_autoptr(CliProgressView) view =
        cli_progress_view_new(ctx->tty, cli_terminal_width());
    g_autofree char *escaped = g_uri_escape_string(host_id, NULL, FALSE);
    g_autofree char *stuck_before = NULL;

    for (;;) {
        g_autoptr(JsonObject) host = NULL;
        g_autoptr(JsonObject) list = NULL;
        g_autoptr(GPtrArray) migrations = NULL;
        g_autofree char *why = NULL;
        const char *status;

        host = cli_client_getf(ctx->client, error, "/api/hosts/%s", escaped);
        list = host ? cli_client_getf(ctx->client, error,
                                      "/api/migrations?host=%s", escaped)
                    : NULL;
        if (list == NULL) {
            cli_write(cli_progress_view_finish(view));
            return FALSE;
        }
        migrations = cli_migrations_of(list, correlation_id);
        status = drv_json_string_or(host, "status", "");
        if (!ctx->json) {
            cli_write(cli_progress_view_update(view, migrations,
                                               g_get_monotonic_time()));
        }
        if (g_str_equal(status, "maintenance")) {
            cli_write(cli_progress_view_finish(view));
            if (ctx->json) {
                cli_print_object(host);
                return TRUE;
            }
            for (guint i = 0; i < migrations->len; i++) {
                JsonObject *mig = g_ptr_array_index(migrations, i);
                g_autofree char *line = NULL;

                if (g_str_equal(drv_json_string_or(mig, "state", ""),
                                "completed")) {
                    line = cli_migration_result_line(mig);
                    printf("%s\n", line);
                }
            }
            printf("%s is in maintenance\n", host_name);
            return TRUE;
        }
        if (!g_str_equal(status, "preparing_for_maintenance")) {
            cli_write(cli_progress_view_finish(view));
            g_set_error(error, DRV_ERROR, DRV_ERROR_CONFLICT,
                        "maintenance of %s ended: the host is %s", host_name,
                        status);
            return FALSE;
        }
        /*
         * Seen twice in a row, so that a migration the manager queues again
         * right after a failure is not mistaken for the end.
         */
        if (cli_maintenance_stuck(migrations, &why)) {
            if (stuck_before != NULL && g_str_equal(stuck_before, why)) {
                cli_write(cli_progress_view_finish(view));
                g_set_error(error, DRV_ERROR, DRV_ERROR_MIGRATION,
                            "maintenance of %s failed: %s", host_name, why);
                return FALSE;
            }
            g_free(stuck_before);
            stuck_before = g_steal_pointer(&why);
        } else {
            g_clear_pointer(&stuck_before, g_free);
        }
        g_usleep(CLI_POLL_MS * 1000);
    }
}

/* ---- VM status ---- */

gboolean cli_wait_vm_status(CliContext *ctx, const char *vm_id,
                            const char *want, GError **error)
{
    g_autofree char *escaped = g_uri_escape_string(vm_id, NULL, FALSE);
    gint64 start = g_get_monotonic_time();
    gboolean starting = g_str_equal(want, "up");
    gboolean moved = FALSE;
    g_autofree char *last = NULL;

    for (;;) {
        g_autoptr(JsonObject) vm =
            cli_client_getf(ctx->client, error, "/api/vms/%s", escaped);
        const char *status;
        const char *name;
        const char *reason;
        gint64 waited;

        if (vm == NULL) {
            return FALSE;
        }
        status = drv_json_string_or(vm, "status", "");
        name = drv_json_string_or(vm, "name", vm_id);
        reason = drv_json_string_or(vm, "status_reason", NULL);
        waited = g_get_monotonic_time() - start;
        if (g_str_equal(status, want)) {
            if (ctx->json) {
                cli_print_object(vm);
            } else {
                printf("%s is %s\n", name, status);
            }
            return TRUE;
        }
        if (!ctx->json && !ctx->tty && g_strcmp0(last, status) != 0) {
            printf("%s: %s\n", name, status);
            fflush(stdout);
        }
        g_free(last);
        last = g_strdup(status);
        moved = moved || !g_str_equal(status, "down");
        if (starting && g_str_equal(status, "down") &&
            (moved || waited > CLI_START_GRACE_US)) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_CONFLICT,
                        "%s did not start%s%s", name, reason ? ": " : "",
                        reason ? reason : "");
            return FALSE;
        }
        if (waited > CLI_VM_WAIT_US) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_TIMEOUT,
                        "%s is still %s after %d s", name, status,
                        (int)(CLI_VM_WAIT_US / G_USEC_PER_SEC));
            return FALSE;
        }
        g_usleep(CLI_POLL_MS * 1000);
    }
}
