#include "cli/migrate.h"

#include <stdio.h>

#include "cli/output.h"
#include "cli/progress.h"
#include "common/json.h"

/* POST /api/vms/{id}/@action for the VM named @arg; *@vm gets the VM. */
static JsonObject *migrate_post(CliContext *ctx, const char *arg,
                                const char *action, JsonObject *body,
                                JsonObject **vm, GError **error)
{
    g_autofree char *id = NULL;
    g_autofree char *escaped = NULL;
    g_autofree char *path = NULL;

    *vm = cli_client_lookup(ctx->client, CLI_KIND_VM, arg, &id, error);
    if (*vm == NULL) {
        return NULL;
    }
    escaped = g_uri_escape_string(id, NULL, FALSE);
    path = g_strdup_printf("/api/vms/%s/%s", escaped, action);
    return cli_client_call_object(ctx->client, "POST", path, body, error);
}

/* GET /api/vms/{id}/migration_estimate, printed. */
static gboolean migrate_estimate(CliContext *ctx, const char *arg,
                                 const char *host_id, GError **error)
{
    g_autofree char *id = NULL;
    g_autofree char *escaped = NULL;
    g_autofree char *host_escaped = NULL;
    g_autoptr(JsonObject) vm = NULL;
    g_autoptr(JsonObject) estimate = NULL;
    g_autofree char *text = NULL;

    vm = cli_client_lookup(ctx->client, CLI_KIND_VM, arg, &id, error);
    if (vm == NULL) {
        return FALSE;
    }
    escaped = g_uri_escape_string(id, NULL, FALSE);
    host_escaped = g_uri_escape_string(host_id ? host_id : "", NULL, FALSE);
    estimate = cli_client_getf(ctx->client, error,
                               "/api/vms/%s/migration_estimate?host=%s",
                               escaped, host_escaped);
    if (estimate == NULL) {
        return FALSE;
    }
    if (ctx->json) {
        cli_print_object(estimate);
        return TRUE;
    }
    text = cli_migration_estimate_text(estimate);
    fputs(text, stdout);
    return TRUE;
}

gboolean cli_vm_migrate(CliContext *ctx, char **argv, GError **error)
{
    g_autofree char *to = NULL;
    gboolean wait = FALSE;
    gboolean dry_run = FALSE;
    const GOptionEntry entries[] = {
        {"to", 0, 0, G_OPTION_ARG_STRING, &to,
         "The destination (default: the scheduler's choice)", "HOST"},
        {"wait", 0, 0, G_OPTION_ARG_NONE, &wait,
         "Follow the migration to its end", NULL},
        {"dry-run", 0, 0, G_OPTION_ARG_NONE, &dry_run,
         "Measure the guest and predict the migration; move nothing", NULL},
        {NULL},
    };
    g_auto(GStrv) rest =
        cli_parse("vm migrate", "VM [--to HOST] [--wait | --dry-run]", entries,
                  &ctx->json, argv, 1, 1, error);
    g_autoptr(JsonObject) body = json_object_new();
    g_autoptr(JsonObject) vm = NULL;
    g_autoptr(JsonObject) mig = NULL;
    g_autofree char *host_id = NULL;
    const char *destination;

    if (rest == NULL) {
        return FALSE;
    }
    if (wait && dry_run) {
        cli_usage_error(error, "--wait and --dry-run exclude each other");
        return FALSE;
    }
    if (to != NULL) {
        g_autoptr(JsonObject) host =
            cli_client_lookup(ctx->client, CLI_KIND_HOST, to, &host_id, error);
        JsonObject *ref;

        if (host == NULL) {
            return FALSE;
        }
        ref = json_object_new();
        json_object_set_string_member(ref, "id", host_id);
        json_object_set_object_member(body, "host", ref);
    }
    if (dry_run) {
        return migrate_estimate(ctx, rest[0], to ? host_id : NULL, error);
    }
    mig = migrate_post(ctx, rest[0], "migrate", body, &vm, error);
    if (mig == NULL) {
        return FALSE;
    }

    if (wait) {
        return cli_wait_migration(ctx, drv_json_string_or(mig, "id", ""),
                                  error);
    }
    if (ctx->json) {
        cli_print_object(mig);
        return TRUE;
    }
    destination = cli_ref_name(mig, "destination");
    if (destination == NULL) {
        destination = cli_ref_name(mig, "requested_destination");
    }
    if (destination == NULL) {
        destination = to;
    }
    printf("migration of %s to %s is %s (id %s)\n",
           drv_json_string_or(vm, "name", rest[0]),
           destination ? destination : "the scheduler's choice",
           drv_json_string_or(mig, "state", "queued"),
           drv_json_string_or(mig, "id", "-"));
    return TRUE;
}

gboolean cli_vm_cancel_migration(CliContext *ctx, char **argv, GError **error)
{
    g_auto(GStrv) rest = cli_parse("vm cancel-migration", "VM", NULL,
                                   &ctx->json, argv, 1, 1, error);
    g_autoptr(JsonObject) vm = NULL;
    g_autoptr(JsonObject) mig = NULL;

    if (rest == NULL) {
        return FALSE;
    }
    mig = migrate_post(ctx, rest[0], "cancelmigration", NULL, &vm, error);
    if (mig == NULL) {
        return FALSE;
    }
    if (ctx->json) {
        cli_print_object(mig);
    } else {
        printf("migration of %s is %s\n",
               drv_json_string_or(vm, "name", rest[0]),
               drv_json_string_or(mig, "state", "cancelled"));
    }
    return TRUE;
}

gboolean cli_vm_targets(CliContext *ctx, char **argv, GError **error)
{
    static const char *const headers[] = {
        "HOST", "ALLOWED", "CPU AFTER", "FREE MEMORY", "VMS", "REASONS", NULL};
    g_auto(GStrv) rest =
        cli_parse("vm targets", "VM", NULL, &ctx->json, argv, 1, 1, error);
    g_autoptr(JsonObject) vm = NULL;
    g_autoptr(JsonObject) answer = NULL;
    g_autoptr(CliTable) table = NULL;
    g_autoptr(GPtrArray) hosts = NULL;
    g_autofree char *id = NULL;
    g_autofree char *escaped = NULL;
    g_autofree char *text = NULL;
    const char *best;

    if (rest == NULL) {
        return FALSE;
    }
    vm = cli_client_lookup(ctx->client, CLI_KIND_VM, rest[0], &id, error);
    if (vm == NULL) {
        return FALSE;
    }
    escaped = g_uri_escape_string(id, NULL, FALSE);
    answer = cli_client_getf(ctx->client, error,
                             "/api/vms/%s/migration_targets", escaped);
    if (answer == NULL) {
        return FALSE;
    }
    if (ctx->json) {
        cli_print_object(answer);
        return TRUE;
    }
    best = cli_ref_name(answer, "best");
    if (best == NULL) {
        /* "best" may be the verdict rather than the host itself */
        best = cli_ref_name(drv_json_object_or_null(answer, "best"), "host");
    }
    table = cli_table_new(headers);
    cli_table_align_right(table, 2);
    cli_table_align_right(table, 3);
    cli_table_align_right(table, 4);
    hosts = cli_objects(answer, "hosts");
    for (guint i = 0; i < hosts->len; i++) {
        JsonObject *verdict = g_ptr_array_index(hosts, i);
        const char *name = cli_ref_name(verdict, "host");
        gboolean allowed = drv_json_bool_or(verdict, "allowed", FALSE);
        JsonArray *reasons = drv_json_array_or_null(verdict, "reasons");
        g_autoptr(GString) why = g_string_new(NULL);
        g_autofree char *cpu = g_strdup_printf(
            "%.0f%%", drv_json_double_or(verdict, "cpu_after_percent", 0));
        g_autofree char *free_mem = cli_format_bytes(
            drv_json_int_or(verdict, "free_memory_mib", 0) * 1024 * 1024);
        g_autofree char *count = g_strdup_printf(
            "%" G_GINT64_FORMAT, drv_json_int_or(verdict, "vm_count", 0));

        for (guint r = 0; reasons && r < json_array_get_length(reasons); r++) {
            JsonNode *node = json_array_get_element(reasons, r);

            if (JSON_NODE_HOLDS_VALUE(node) &&
                json_node_get_value_type(node) == G_TYPE_STRING) {
                g_string_append_printf(why, "%s%s", why->len ? "; " : "",
                                       json_node_get_string(node));
            }
        }
        cli_table_add_row(
            table, name,
            allowed ? (g_strcmp0(best, name) == 0 ? "yes, best" : "yes") : "no",
            cpu, free_mem, count, why->str);
    }
    text = cli_table_render(table);
    fputs(text, stdout);
    return TRUE;
}

gboolean cli_migrations_command(CliContext *ctx, char **argv, GError **error)
{
    static const char *const headers[] = {"ID",       "VM",     "STATE",
                                          "PROGRESS", "SOURCE", "DESTINATION",
                                          "REASON",   "USER",   NULL};
    gboolean all = FALSE;
    const GOptionEntry entries[] = {
        {"all", 0, 0, G_OPTION_ARG_NONE, &all,
         "Also the finished ones (completed, failed, cancelled)", NULL},
        {NULL},
    };
    g_auto(GStrv) rest = cli_parse("migrations", "[--all]", entries, &ctx->json,
                                   argv, 0, 0, error);
    g_autoptr(JsonObject) answer = NULL;
    g_autoptr(JsonArray) shown = json_array_new();
    g_autoptr(CliTable) table = NULL;
    g_autoptr(GPtrArray) migrations = NULL;
    g_autofree char *text = NULL;

    if (rest == NULL) {
        return FALSE;
    }
    answer = cli_client_get(ctx->client, "/api/migrations", error);
    if (answer == NULL) {
        return FALSE;
    }
    table = cli_table_new(headers);
    cli_table_align_right(table, 3);
    migrations = cli_objects(answer, "migrations");
    for (guint i = 0; i < migrations->len; i++) {
        JsonObject *mig = g_ptr_array_index(migrations, i);
        const char *state = drv_json_string_or(mig, "state", "");
        g_autofree char *short_id =
            g_strndup(drv_json_string_or(mig, "id", "-"), 8);
        g_autofree char *pct = NULL;
        const char *destination = cli_ref_name(mig, "destination");

        if (!all && cli_migration_state_is_final(state)) {
            continue;
        }
        json_array_add_object_element(shown, json_object_ref(mig));
        if (g_str_equal(state, "running") || g_str_equal(state, "completed")) {
            pct = cli_format_percent(
                g_str_equal(state, "completed")
                    ? 100.0
                    : drv_json_double_or(
                          drv_json_object_or_null(mig, "progress"), "percent",
                          0));
        }
        cli_table_add_row(table, short_id, cli_ref_name(mig, "vm"), state, pct,
                          cli_ref_name(mig, "source"),
                          destination
                              ? destination
                              : cli_ref_name(mig, "requested_destination"),
                          drv_json_string_or(mig, "reason", NULL),
                          drv_json_string_or(mig, "user", NULL));
    }
    if (ctx->json) {
        g_autoptr(JsonObject) out = json_object_new();

        json_object_set_array_member(out, "migrations", json_array_ref(shown));
        cli_print_object(out);
        return TRUE;
    }
    text = cli_table_render(table);
    fputs(text, stdout);
    return TRUE;
}
