/* drover cluster list | show | set */
#include <stdio.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/output.h"
#include "common/error.h"
#include "common/json.h"

/* "inherit" defers to droverd's configuration (docs/policies.md). */
static const char *cluster_yes_no(JsonObject *obj, const char *member)
{
    if (g_strcmp0(drv_json_string_or(obj, member, NULL), "inherit") == 0) {
        return "inherit (droverd's setting)";
    }
    return drv_json_bool_or(obj, member, FALSE) ? "yes" : "no";
}

static gboolean cluster_list(CliContext *ctx, char **argv, GError **error)
{
    static const char *const headers[] = {"NAME",   "CPU BASELINE", "HOSTS",
                                          "VMS",    "POLICY",       "MAX OUT",
                                          "MAX IN", "MAX CPU",      NULL};
    g_auto(GStrv) rest =
        cli_parse("cluster list", "", NULL, &ctx->json, argv, 0, 0, error);
    g_autoptr(JsonObject) answer = NULL;
    g_autoptr(CliTable) table = NULL;
    g_autoptr(GPtrArray) clusters = NULL;
    g_autofree char *text = NULL;

    if (rest == NULL) {
        return FALSE;
    }
    answer = cli_client_get(ctx->client, "/api/clusters", error);
    if (answer == NULL) {
        return FALSE;
    }
    if (ctx->json) {
        cli_print_object(answer);
        return TRUE;
    }
    table = cli_table_new(headers);
    for (guint c = 2; c < 8; c++) {
        if (c != 4) {
            cli_table_align_right(table, c);
        }
    }
    clusters = cli_objects(answer, "clusters");
    for (guint i = 0; i < clusters->len; i++) {
        JsonObject *cluster = g_ptr_array_index(clusters, i);
        g_autofree char *hosts = g_strdup_printf(
            "%" G_GINT64_FORMAT, drv_json_int_or(cluster, "host_count", 0));
        g_autofree char *vms = g_strdup_printf(
            "%" G_GINT64_FORMAT, drv_json_int_or(cluster, "vm_count", 0));
        g_autofree char *out = g_strdup_printf(
            "%" G_GINT64_FORMAT,
            drv_json_int_or(cluster, "max_outgoing_migrations", 0));
        g_autofree char *in = g_strdup_printf(
            "%" G_GINT64_FORMAT,
            drv_json_int_or(cluster, "max_incoming_migrations", 0));
        g_autofree char *cpu =
            g_strdup_printf("%" G_GINT64_FORMAT "%%",
                            drv_json_int_or(cluster, "max_cpu_percent", 0));

        cli_table_add_row(
            table, drv_json_string_or(cluster, "name", NULL),
            drv_json_string_or(cluster, "cpu_baseline", NULL), hosts, vms,
            drv_json_string_or(drv_json_object_or_null(cluster, "migration"),
                               "policy", NULL),
            out, in, cpu);
    }
    text = cli_table_render(table);
    fputs(text, stdout);
    return TRUE;
}

static void cluster_print(JsonObject *cluster)
{
    JsonObject *mig = drv_json_object_or_null(cluster, "migration");
    JsonObject *sched = drv_json_object_or_null(cluster, "scheduling_policy");
    JsonObject *params = NULL;
    g_autoptr(GList) members = NULL;
    gint64 bandwidth = drv_json_int_or(mig, "bandwidth_mbps", 0);
    g_autoptr(CliKv) kv = cli_kv_new();
    g_autofree char *text = NULL;

    cli_kv_add(kv, "name", drv_json_string_or(cluster, "name", NULL));
    cli_kv_add(kv, "id", drv_json_string_or(cluster, "id", NULL));
    cli_kv_add(kv, "cpu baseline",
               drv_json_string_or(cluster, "cpu_baseline", NULL));
    cli_kv_add(kv, "migration policy", drv_json_string_or(mig, "policy", NULL));
    if (bandwidth > 0) {
        cli_kv_addf(kv, "migration bandwidth", "%" G_GINT64_FORMAT " Mbit/s",
                    bandwidth);
    } else {
        cli_kv_add(kv, "migration bandwidth", "each host's own");
    }
    cli_kv_add(kv, "auto-converge", cluster_yes_no(mig, "auto_converge"));
    cli_kv_add(kv, "compression", cluster_yes_no(mig, "compression"));
    cli_kv_add(kv, "post-copy", cluster_yes_no(mig, "post_copy"));
    cli_kv_addf(kv, "max outgoing migrations", "%" G_GINT64_FORMAT,
                drv_json_int_or(cluster, "max_outgoing_migrations", 0));
    cli_kv_addf(kv, "max incoming migrations", "%" G_GINT64_FORMAT,
                drv_json_int_or(cluster, "max_incoming_migrations", 0));
    cli_kv_addf(kv, "max cpu", "%" G_GINT64_FORMAT "%%",
                drv_json_int_or(cluster, "max_cpu_percent", 0));
    cli_kv_add(kv, "scheduling policy",
               drv_json_string_or(sched, "name", NULL));
    params = drv_json_object_or_null(sched, "parameters");
    members = params ? json_object_get_members(params) : NULL;
    for (GList *l = members; l != NULL; l = l->next) {
        g_autofree char *key = g_strdup_printf("  %s", (char *)l->data);
        JsonNode *node = json_object_get_member(params, l->data);

        if (JSON_NODE_HOLDS_NULL(node)) {
            cli_kv_add(kv, key, "not set");
        } else {
            cli_kv_addf(kv, key, "%g", json_node_get_double(node));
        }
    }
    cli_kv_addf(kv, "hosts", "%" G_GINT64_FORMAT,
                drv_json_int_or(cluster, "host_count", 0));
    cli_kv_addf(kv, "VMs", "%" G_GINT64_FORMAT,
                drv_json_int_or(cluster, "vm_count", 0));
    cli_kv_add(kv, "created", drv_json_string_or(cluster, "created", NULL));
    text = cli_kv_render(kv);
    fputs(text, stdout);
}

/*
 * Without a name: the only cluster, or the one named "default" (every new
 * store has it).
 */
static JsonObject *cluster_default(CliContext *ctx, GError **error)
{
    g_autoptr(JsonObject) answer =
        cli_client_get(ctx->client, "/api/clusters", error);
    g_autoptr(GPtrArray) clusters = NULL;

    if (answer == NULL) {
        return NULL;
    }
    clusters = cli_objects(answer, "clusters");
    if (clusters->len == 1) {
        return json_object_ref(g_ptr_array_index(clusters, 0));
    }
    for (guint i = 0; i < clusters->len; i++) {
        JsonObject *cluster = g_ptr_array_index(clusters, i);

        if (g_strcmp0(drv_json_string_or(cluster, "name", NULL), "default") ==
            0) {
            return json_object_ref(cluster);
        }
    }
    g_set_error(error, DRV_ERROR, DRV_ERROR_NOT_FOUND,
                "there are %u clusters and none is named default: name one",
                clusters->len);
    return NULL;
}

static gboolean cluster_show(CliContext *ctx, char **argv, GError **error)
{
    g_auto(GStrv) rest = cli_parse("cluster show", "[CLUSTER]", NULL,
                                   &ctx->json, argv, 0, 1, error);
    g_autoptr(JsonObject) cluster = NULL;

    if (rest == NULL) {
        return FALSE;
    }
    cluster = rest[0] ? cli_client_lookup(ctx->client, CLI_KIND_CLUSTER,
                                          rest[0], NULL, error)
                      : cluster_default(ctx, error);
    if (cluster == NULL) {
        return FALSE;
    }
    if (ctx->json) {
        cli_print_object(cluster);
    } else {
        cluster_print(cluster);
    }
    return TRUE;
}

static gboolean cluster_set(CliContext *ctx, char **argv, GError **error)
{
    g_auto(GStrv) rest = cli_parse("cluster set", "CLUSTER KEY=VALUE...", NULL,
                                   &ctx->json, argv, 2, -1, error);
    g_autoptr(JsonObject) body = NULL;
    g_autoptr(JsonObject) cluster = NULL;
    g_autoptr(JsonObject) updated = NULL;
    g_autofree char *id = NULL;
    g_autofree char *escaped = NULL;
    g_autofree char *path = NULL;

    if (rest == NULL) {
        return FALSE;
    }
    /* the pairs first: a typo is a usage error, whatever the server says */
    body = cli_parse_cluster_settings((const char *const *)rest + 1, error);
    if (body == NULL) {
        return FALSE;
    }
    cluster =
        cli_client_lookup(ctx->client, CLI_KIND_CLUSTER, rest[0], &id, error);
    if (cluster == NULL) {
        return FALSE;
    }
    escaped = g_uri_escape_string(id, NULL, FALSE);
    path = g_strdup_printf("/api/clusters/%s", escaped);
    updated = cli_client_call_object(ctx->client, "PUT", path, body, error);
    if (updated == NULL) {
        return FALSE;
    }
    if (ctx->json) {
        cli_print_object(updated);
    } else {
        cluster_print(updated);
    }
    return TRUE;
}

/* GET /api/scheduling_policies, one block per policy. */
static gboolean cluster_policies(CliContext *ctx, char **argv, GError **error)
{
    g_auto(GStrv) rest =
        cli_parse("cluster policies", "", NULL, &ctx->json, argv, 0, 0, error);
    g_autoptr(JsonObject) answer = NULL;
    g_autoptr(GPtrArray) policies = NULL;

    if (rest == NULL) {
        return FALSE;
    }
    answer = cli_client_get(ctx->client, "/api/scheduling_policies", error);
    if (answer == NULL) {
        return FALSE;
    }
    if (ctx->json) {
        cli_print_object(answer);
        return TRUE;
    }
    policies = cli_objects(answer, "policies");
    for (guint i = 0; i < policies->len; i++) {
        JsonObject *policy = g_ptr_array_index(policies, i);
        g_autoptr(GPtrArray) params = cli_objects(policy, "parameters");

        printf("%s%s: %s\n", i ? "\n" : "",
               drv_json_string_or(policy, "name", "?"),
               drv_json_string_or(policy, "description", ""));
        for (guint j = 0; j < params->len; j++) {
            JsonObject *p = g_ptr_array_index(params, j);
            JsonNode *def = json_object_get_member(p, "default");
            g_autofree char *shown =
                def == NULL || JSON_NODE_HOLDS_NULL(def)
                    ? g_strdup("not set")
                    : g_strdup_printf("%g", json_node_get_double(def));

            printf("  %s (%s, default %s): %s\n",
                   drv_json_string_or(p, "name", "?"),
                   drv_json_string_or(p, "unit", ""), shown,
                   drv_json_string_or(p, "description", ""));
        }
    }
    return TRUE;
}

const CliCommand cli_cluster_commands[] = {
    {"list", cluster_list, NULL, "List the clusters"},
    {"show", cluster_show, "[CLUSTER]",
     "Show a cluster (without a name: the default one)"},
    {"set", cluster_set, "CLUSTER KEY=VALUE...",
     "Change a cluster's settings: cpu_baseline, max_outgoing_migrations, "
     "max_incoming_migrations, max_cpu_percent, migration.policy, "
     "migration.bandwidth_mbps, migration.auto_converge, "
     "migration.compression, migration.post_copy, scheduling_policy, "
     "scheduling.PARAMETER (a number, or default)"},
    {"policies", cluster_policies, NULL,
     "List the scheduling policies and their parameters"},
    {NULL},
};
