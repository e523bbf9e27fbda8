/* drover host list | show | add | maintenance | activate | remove */
#include <stdio.h>

#include "cli/cli.h"
#include "cli/output.h"
#include "cli/progress.h"
#include "common/json.h"

static char *cli_mib(JsonObject *obj, const char *member)
{
    gint64 mib = drv_json_int_or(obj, member, -1);

    return mib < 0 ? NULL : cli_format_bytes(mib * 1024 * 1024);
}

static gboolean host_list(CliContext *ctx, char **argv, GError **error)
{
    static const char *const headers[] = {"NAME",    "STATUS", "CLUSTER",
                                          "VMS",     "CPU",    "FREE MEMORY",
                                          "ADDRESS", NULL};
    g_auto(GStrv) rest =
        cli_parse("host list", "", NULL, &ctx->json, argv, 0, 0, error);
    g_autoptr(JsonObject) answer = NULL;
    g_autoptr(CliTable) table = NULL;
    g_autofree char *text = NULL;
    g_autoptr(GPtrArray) hosts = NULL;

    if (rest == NULL) {
        return FALSE;
    }
    answer = cli_client_get(ctx->client, "/api/hosts", error);
    if (answer == NULL) {
        return FALSE;
    }
    if (ctx->json) {
        cli_print_object(answer);
        return TRUE;
    }
    table = cli_table_new(headers);
    cli_table_align_right(table, 3);
    cli_table_align_right(table, 4);
    cli_table_align_right(table, 5);
    hosts = cli_objects(answer, "hosts");
    for (guint i = 0; i < hosts->len; i++) {
        JsonObject *host = g_ptr_array_index(hosts, i);
        JsonObject *cpu = drv_json_object_or_null(host, "cpu");
        g_autofree char *vms = g_strdup_printf(
            "%" G_GINT64_FORMAT, drv_json_int_or(host, "vm_count", 0));
        g_autofree char *use = NULL;
        g_autofree char *free_mem = cli_mib(
            drv_json_object_or_null(host, "memory"), "free_for_vms_mib");

        if (cpu != NULL &&
            drv_json_double_or(cpu, "utilization_percent", -1) >= 0) {
            use = g_strdup_printf(
                "%.0f%%", drv_json_double_or(cpu, "utilization_percent", 0));
        }
        cli_table_add_row(table, drv_json_string_or(host, "name", NULL),
                          drv_json_string_or(host, "status", NULL),
                          cli_ref_name(host, "cluster"), vms, use, free_mem,
                          drv_json_string_or(host, "address", NULL));
    }
    text = cli_table_render(table);
    fputs(text, stdout);
    return TRUE;
}

static void host_show_maintenance(CliKv *kv, JsonObject *maintenance)
{
    JsonArray *remaining = drv_json_array_or_null(maintenance, "remaining_vms");
    g_autoptr(GString) names = g_string_new(NULL);

    cli_kv_add(kv, "maintenance by",
               drv_json_string_or(maintenance, "user", NULL));
    cli_kv_add(kv, "maintenance since",
               drv_json_string_or(maintenance, "started", NULL));
    cli_kv_add(kv, "correlation id",
               drv_json_string_or(maintenance, "correlation_id", NULL));
    for (guint i = 0; remaining && i < json_array_get_length(remaining); i++) {
        JsonNode *node = json_array_get_element(remaining, i);
        const char *name = NULL;

        if (JSON_NODE_HOLDS_OBJECT(node)) {
            JsonObject *vm = json_node_get_object(node);

            name = drv_json_string_or(vm, "name",
                                      drv_json_string_or(vm, "id", NULL));
        } else if (JSON_NODE_HOLDS_VALUE(node) &&
                   json_node_get_value_type(node) == G_TYPE_STRING) {
            name = json_node_get_string(node);
        }
        if (name != NULL) {
            g_string_append_printf(names, "%s%s", names->len ? ", " : "", name);
        }
    }
    cli_kv_add(kv, "remaining VMs", names->str);
    cli_kv_add(kv, "next retry",
               drv_json_string_or(maintenance, "next_retry", NULL));
}

static gboolean host_show(CliContext *ctx, char **argv, GError **error)
{
    g_auto(GStrv) rest =
        cli_parse("host show", "HOST", NULL, &ctx->json, argv, 1, 1, error);
    g_autoptr(JsonObject) host = NULL;
    g_autoptr(CliKv) kv = NULL;
    g_autofree char *text = NULL;
    g_autofree char *total = NULL;
    g_autofree char *free_mem = NULL;
    JsonObject *cpu;
    JsonObject *memory;
    JsonObject *migrations;
    JsonObject *maintenance;

    if (rest == NULL) {
        return FALSE;
    }
    host = cli_client_lookup(ctx->client, CLI_KIND_HOST, rest[0], NULL, error);
    if (host == NULL) {
        return FALSE;
    }
    if (ctx->json) {
        cli_print_object(host);
        return TRUE;
    }
    cpu = drv_json_object_or_null(host, "cpu");
    memory = drv_json_object_or_null(host, "memory");
    migrations = drv_json_object_or_null(host, "migrations");
    maintenance = drv_json_object_or_null(host, "maintenance");
    total = cli_mib(memory, "total_mib");
    free_mem = cli_mib(memory, "free_for_vms_mib");
    kv = cli_kv_new();
    cli_kv_add(kv, "name", drv_json_string_or(host, "name", NULL));
    cli_kv_add(kv, "id", drv_json_string_or(host, "id", NULL));
    cli_kv_add(kv, "status", drv_json_string_or(host, "status", NULL));
    if (drv_json_string_or(host, "status_reason", NULL) != NULL) {
        cli_kv_add(kv, "reason",
                   drv_json_string_or(host, "status_reason", NULL));
    }
    cli_kv_add(kv, "address", drv_json_string_or(host, "address", NULL));
    cli_kv_add(kv, "cluster", cli_ref_name(host, "cluster"));
    cli_kv_add(kv, "cpu model", drv_json_string_or(cpu, "model", NULL));
    cli_kv_addf(kv, "cpus", "%" G_GINT64_FORMAT,
                drv_json_int_or(cpu, "cpus", 0));
    cli_kv_addf(kv, "cpu use", "%.1f%%",
                drv_json_double_or(cpu, "utilization_percent", 0));
    cli_kv_add(kv, "memory", total);
    cli_kv_add(kv, "free for VMs", free_mem);
    cli_kv_addf(kv, "VMs", "%" G_GINT64_FORMAT,
                drv_json_int_or(host, "vm_count", 0));
    cli_kv_addf(kv, "migrations",
                "%" G_GINT64_FORMAT " incoming, %" G_GINT64_FORMAT " outgoing",
                drv_json_int_or(migrations, "incoming", 0),
                drv_json_int_or(migrations, "outgoing", 0));
    if (maintenance != NULL) {
        host_show_maintenance(kv, maintenance);
    }
    cli_kv_add(kv, "last seen", drv_json_string_or(host, "last_seen", NULL));
    cli_kv_add(kv, "created", drv_json_string_or(host, "created", NULL));
    text = cli_kv_render(kv);
    fputs(text, stdout);
    return TRUE;
}

static gboolean host_add(CliContext *ctx, char **argv, GError **error)
{
    g_autofree char *cluster = NULL;
    const GOptionEntry entries[] = {
        {"cluster", 0, 0, G_OPTION_ARG_STRING, &cluster,
         "The cluster (default: default)", "NAME"},
        {NULL},
    };
    g_auto(GStrv) rest = cli_parse("host add", "NAME ADDRESS [--cluster NAME]",
                                   entries, &ctx->json, argv, 2, 2, error);
    g_autoptr(JsonObject) body = NULL;
    g_autoptr(JsonObject) host = NULL;

    if (rest == NULL) {
        return FALSE;
    }
    body = json_object_new();
    json_object_set_string_member(body, "name", rest[0]);
    json_object_set_string_member(body, "address", rest[1]);
    if (cluster != NULL) {
        g_autofree char *id = NULL;
        g_autoptr(JsonObject) found = cli_client_lookup(
            ctx->client, CLI_KIND_CLUSTER, cluster, &id, error);
        JsonObject *ref = json_object_new();

        json_object_set_object_member(body, "cluster", ref);
        if (found == NULL) {
            return FALSE;
        }
        json_object_set_string_member(ref, "id", id);
    }
    host =
        cli_client_call_object(ctx->client, "POST", "/api/hosts", body, error);
    if (host == NULL) {
        return FALSE;
    }
    if (ctx->json) {
        cli_print_object(host);
    } else {
        printf("host %s added to cluster %s (status %s)\n",
               drv_json_string_or(host, "name", rest[0]),
               cli_ref_name(host, "cluster") ? cli_ref_name(host, "cluster")
                                             : "-",
               drv_json_string_or(host, "status", "unknown"));
    }
    return TRUE;
}

static gboolean host_maintenance(CliContext *ctx, char **argv, GError **error)
{
    gboolean wait = FALSE;
    const GOptionEntry entries[] = {
        {"wait", 0, 0, G_OPTION_ARG_NONE, &wait,
         "Follow the migrations until the host is in maintenance", NULL},
        {NULL},
    };
    g_auto(GStrv) rest = cli_parse("host maintenance", "HOST [--wait]", entries,
                                   &ctx->json, argv, 1, 1, error);
    g_autoptr(JsonObject) host = NULL;
    g_autoptr(JsonObject) answer = NULL;
    g_autofree char *id = NULL;
    g_autofree char *path = NULL;
    g_autofree char *escaped = NULL;
    const char *name;
    const char *correlation_id;

    if (rest == NULL) {
        return FALSE;
    }
    host = cli_client_lookup(ctx->client, CLI_KIND_HOST, rest[0], &id, error);
    if (host == NULL) {
        return FALSE;
    }
    name = drv_json_string_or(host, "name", rest[0]);
    escaped = g_uri_escape_string(id, NULL, FALSE);
    path = g_strdup_printf("/api/hosts/%s/deactivate", escaped);
    answer = cli_client_call_object(ctx->client, "POST", path, NULL, error);
    if (answer == NULL) {
        return FALSE;
    }
    correlation_id = drv_json_string_or(answer, "correlation_id", NULL);
    if (correlation_id == NULL) {
        correlation_id =
            drv_json_string_or(drv_json_object_or_null(answer, "maintenance"),
                               "correlation_id", NULL);
    }
    if (wait) {
        return cli_wait_maintenance(ctx, id, name, correlation_id, error);
    }
    if (ctx->json) {
        cli_print_object(answer);
    } else {
        printf("%s is %s (correlation id %s)\n", name,
               drv_json_string_or(answer, "status", "unknown"),
               correlation_id ? correlation_id : "-");
    }
    return TRUE;
}

/* activate and remove: a call on the host, a sentence about it */
static gboolean host_simple(CliContext *ctx, char **argv, const char *command,
                            const char *method, const char *action,
                            GError **error)
{
    g_autofree char *usage = g_strdup_printf("host %s", command);
    g_auto(GStrv) rest =
        cli_parse(usage, "HOST", NULL, &ctx->json, argv, 1, 1, error);
    g_autoptr(JsonObject) host = NULL;
    g_autoptr(JsonNode) answer = NULL;
    g_autofree char *id = NULL;
    g_autofree char *escaped = NULL;
    g_autofree char *path = NULL;
    const char *name;

    if (rest == NULL) {
        return FALSE;
    }
    host = cli_client_lookup(ctx->client, CLI_KIND_HOST, rest[0], &id, error);
    if (host == NULL) {
        return FALSE;
    }
    name = drv_json_string_or(host, "name", rest[0]);
    escaped = g_uri_escape_string(id, NULL, FALSE);
    path = g_strdup_printf("/api/hosts/%s%s", escaped, action ? action : "");
    if (!cli_client_call(ctx->client, method, path, NULL, &answer, error)) {
        return FALSE;
    }
    if (ctx->json) {
        if (answer != NULL) {
            cli_print_json(answer);
        }
    } else if (answer != NULL && JSON_NODE_HOLDS_OBJECT(answer)) {
        printf("%s is %s\n", name,
               drv_json_string_or(json_node_get_object(answer), "status",
                                  "unknown"));
    } else {
        printf("%s removed\n", name);
    }
    return TRUE;
}

static gboolean host_activate(CliContext *ctx, char **argv, GError **error)
{
    return host_simple(ctx, argv, "activate", "POST", "/activate", error);
}

static gboolean host_remove(CliContext *ctx, char **argv, GError **error)
{
    return host_simple(ctx, argv, "remove", "DELETE", NULL, error);
}

const CliCommand cli_host_commands[] = {
    {"list", host_list, NULL, "List the hosts"},
    {"show", host_show, "HOST", "Show a host"},
    {"add", host_add, "NAME ADDRESS [--cluster NAME]",
     "Add a host: its agent's URL, like http://127.0.1.1:7001"},
    {"maintenance", host_maintenance, "HOST [--wait]",
     "Move every VM away, then put the host in maintenance"},
    {"activate", host_activate, "HOST", "Bring a host back from maintenance"},
    {"remove", host_remove, "HOST", "Remove a host in maintenance"},
    {NULL},
};
