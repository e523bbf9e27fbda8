/*
 * drover host list | show | add | set | maintenance | activate | remove |
 * power
 */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/output.h"
#include "cli/progress.h"
#include "common/error.h"
#include "common/json.h"

static char *cli_mib(JsonObject *obj, const char *member)
{
    gint64 mib = drv_json_int_or(obj, member, -1);

    return mib < 0 ? NULL : cli_format_bytes(mib * 1024 * 1024);
}

/*
 * The host @name_or_id names (its id in *@id), and in *@path the API path
 * of @suffix ("/power", or "") on it.
 */
static JsonObject *host_find(CliContext *ctx, const char *name_or_id,
                             const char *suffix, char **id, char **path,
                             GError **error)
{
    JsonObject *host =
        cli_client_lookup(ctx->client, CLI_KIND_HOST, name_or_id, id, error);
    g_autofree char *escaped = NULL;

    if (host == NULL) {
        return NULL;
    }
    escaped = g_uri_escape_string(*id, NULL, FALSE);
    *path = g_strdup_printf("/api/hosts/%s%s", escaped, suffix);
    return host;
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

static void host_show_power(CliKv *kv, JsonObject *host)
{
    JsonObject *power = drv_json_object_or_null(host, "power_management");

    cli_kv_add(kv, "power", drv_json_string_or(host, "power_state", NULL));
    if (power == NULL) {
        cli_kv_add(kv, "power management", "none");
        return;
    }
    cli_kv_add(kv, "power on", drv_json_string_or(power, "on", NULL));
    cli_kv_add(kv, "power off", drv_json_string_or(power, "off", NULL));
    cli_kv_add(kv, "power status", drv_json_string_or(power, "status", "none"));
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
    host_show_power(kv, host);
    cli_kv_add(kv, "last seen", drv_json_string_or(host, "last_seen", NULL));
    cli_kv_add(kv, "created", drv_json_string_or(host, "created", NULL));
    text = cli_kv_render(kv);
    fputs(text, stdout);
    return TRUE;
}

#define HOST_POWER_PARAMS \
    "[--power-on CMD --power-off CMD [--power-status CMD]]"
typedef struct {
    char *on;
    char *off;
    char *status;
    gboolean none;
} HostPowerOptions;

static void host_power_options_clear(HostPowerOptions *power)
{
    g_free(power->on);
    g_free(power->off);
    g_free(power->status);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(HostPowerOptions, host_power_options_clear)

#define HOST_POWER_N_ENTRIES 3

/* The power options of "add" and "set" into @entries. */
static void host_power_entries(GOptionEntry *entries, HostPowerOptions *power)
{
    const GOptionEntry mine[HOST_POWER_N_ENTRIES] = {
        {"power-on", 0, 0, G_OPTION_ARG_STRING, &power->on,
         "The command that powers the host on ({name}, {address}, {host} "
         "and {id} are replaced)",
         "CMD"},
        {"power-off", 0, 0, G_OPTION_ARG_STRING, &power->off,
         "The command that powers the host off", "CMD"},
        {"power-status", 0, 0, G_OPTION_ARG_STRING, &power->status,
         "The command that tells: exit status 0 on, 2 off", "CMD"},
    };

    memcpy(entries, mine, sizeof(mine));
}

static gboolean host_add(CliContext *ctx, char **argv, GError **error)
{
    g_autofree char *cluster = NULL;
    g_auto(HostPowerOptions) power = {NULL};
    GOptionEntry entries[HOST_POWER_N_ENTRIES + 2] = {
        {"cluster", 0, 0, G_OPTION_ARG_STRING, &cluster,
         "The cluster (default: default)", "NAME"},
    };
    g_auto(GStrv) rest = NULL;
    g_autoptr(JsonObject) body = NULL;
    g_autoptr(JsonObject) host = NULL;

    host_power_entries(&entries[1], &power);
    rest = cli_parse("host add",
                     "NAME ADDRESS [--cluster NAME] " HOST_POWER_PARAMS,
                     entries, &ctx->json, argv, 2, 2, error);

    if (rest == NULL) {
        return FALSE;
    }
    body = json_object_new();
    json_object_set_string_member(body, "name", rest[0]);
    json_object_set_string_member(body, "address", rest[1]);
    if (!cli_host_power_options(body, power.on, power.off, power.status, FALSE,
                                error)) {
        return FALSE;
    }
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

static gboolean host_set(CliContext *ctx, char **argv, GError **error)
{
    g_auto(HostPowerOptions) power = {NULL};
    GOptionEntry entries[HOST_POWER_N_ENTRIES + 2] = {
        {"no-power", 0, 0, G_OPTION_ARG_NONE, &power.none,
         "Remove the host's power management", NULL},
    };
    g_auto(GStrv) rest = NULL;
    g_autoptr(JsonObject) body = NULL;
    g_autoptr(JsonObject) found = NULL;
    g_autoptr(JsonObject) host = NULL;
    g_autofree char *id = NULL;
    g_autofree char *path = NULL;

    host_power_entries(&entries[1], &power);
    rest = cli_parse("host set",
                     "HOST [--power-on CMD] [--power-off CMD] "
                     "[--power-status CMD] | --no-power",
                     entries, &ctx->json, argv, 1, 1, error);
    if (rest == NULL) {
        return FALSE;
    }
    body = json_object_new();
    if (!cli_host_power_options(body, power.on, power.off, power.status,
                                power.none, error)) {
        return FALSE;
    }
    if (json_object_get_size(body) == 0) {
        cli_usage_error(error, "nothing to set: give --power-on, --power-off, "
                               "--power-status or --no-power");
        return FALSE;
    }
    found = host_find(ctx, rest[0], "", &id, &path, error);
    if (found == NULL) {
        return FALSE;
    }
    host = cli_client_call_object(ctx->client, "PUT", path, body, error);
    if (host == NULL) {
        return FALSE;
    }
    if (ctx->json) {
        cli_print_object(host);
    } else {
        printf("%s: power management %s\n",
               drv_json_string_or(host, "name", rest[0]),
               drv_json_object_or_null(host, "power_management") ? "set"
                                                                 : "none");
    }
    return TRUE;
}

/* The index the next event will have. */
static gint64 host_next_event(CliContext *ctx, GError **error)
{
    g_autoptr(JsonObject) page =
        cli_client_get(ctx->client, "/api/events?max=1", error);

    return page ? drv_json_int_or(page, "last", 0) + 1 : -1;
}

/* The message of the last host_power_failed of @host_id since @from. */
static char *host_power_failure(CliContext *ctx, const char *host_id,
                                gint64 from)
{
    g_autoptr(JsonObject) page =
        cli_client_getf(ctx->client, NULL,
                        "/api/events?from=%" G_GINT64_FORMAT "&max=1000", from);
    JsonArray *events = drv_json_array_or_null(page, "events");
    char *message = NULL;

    for (guint i = 0; events && i < json_array_get_length(events); i++) {
        JsonObject *event = json_array_get_object_element(events, i);

        if (g_strcmp0(drv_json_string_or(event, "code", NULL),
                      "host_power_failed") == 0 &&
            g_strcmp0(drv_json_string_or(drv_json_object_or_null(event, "host"),
                                         "id", NULL),
                      host_id) == 0) {
            g_free(message);
            message = g_strdup(drv_json_string_or(event, "message", NULL));
        }
    }
    return message;
}

/*
 * Poll the host until its power action is over: powered on and up, or
 * powered off.  The manager ends every action (the command's timeout,
 * then power_on_timeout_s), so this ends too.
 */
static gboolean host_power_wait(CliContext *ctx, const char *id,
                                const char *action, gint64 events_from,
                                GError **error)
{
    g_autofree char *escaped = g_uri_escape_string(id, NULL, FALSE);
    const char *busy =
        g_str_equal(action, "on") ? "powering_on" : "powering_off";

    for (;;) {
        g_autoptr(JsonObject) host =
            cli_client_getf(ctx->client, error, "/api/hosts/%s", escaped);
        g_autofree char *failure = NULL;
        const char *state;
        const char *status;
        const char *name;
        const char *reason;

        if (host == NULL) {
            return FALSE;
        }
        state = drv_json_string_or(host, "power_state", "");
        status = drv_json_string_or(host, "status", "");
        name = drv_json_string_or(host, "name", id);
        reason = drv_json_string_or(host, "status_reason", NULL);
        if (g_str_equal(state, busy)) {
            g_usleep(CLI_POLL_MS * 1000);
            continue;
        }
        if (g_str_equal(state, action) &&
            (g_str_equal(action, "off") || g_str_equal(status, "up"))) {
            if (ctx->json) {
                cli_print_object(host);
            } else {
                printf("%s is %s\n", name,
                       g_str_equal(action, "on") ? "powered on and up"
                                                 : "powered off");
            }
            return TRUE;
        }
        if (g_str_equal(state, action)) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_CONFLICT,
                        "%s is powered on but %s%s%s", name, status,
                        reason ? ": " : "", reason ? reason : "");
            return FALSE;
        }
        failure = host_power_failure(ctx, id, events_from);
        g_set_error(error, DRV_ERROR, DRV_ERROR_CONFLICT, "%s",
                    failure ? failure : "the power action failed");
        return FALSE;
    }
}

static gboolean host_power_status(CliContext *ctx, const char *path,
                                  const char *name, GError **error)
{
    g_autoptr(JsonObject) body = json_object_new();
    g_autoptr(JsonObject) answer = NULL;
    const char *output;

    json_object_set_string_member(body, "action", "status");
    answer = cli_client_call_object(ctx->client, "POST", path, body, error);
    if (answer == NULL) {
        return FALSE;
    }
    if (ctx->json) {
        cli_print_object(answer);
        return TRUE;
    }
    output = drv_json_string_or(answer, "output", "");
    printf("%s: power %s\n", name, drv_json_string_or(answer, "power", "?"));
    if (g_str_equal(drv_json_string_or(answer, "power", ""), "unknown") &&
        *output != '\0') {
        printf("%s\n", output);
    }
    return TRUE;
}

static gboolean host_power(CliContext *ctx, char **argv, GError **error)
{
    gboolean wait = FALSE;
    const GOptionEntry entries[] = {
        {"wait", 0, 0, G_OPTION_ARG_NONE, &wait,
         "Wait until the host is up (on) or its power-off command ended (off)",
         NULL},
        {NULL},
    };
    g_auto(GStrv) rest = cli_parse("host power", "HOST on|off|status [--wait]",
                                   entries, &ctx->json, argv, 2, 2, error);
    g_autoptr(JsonObject) host = NULL;
    g_autoptr(JsonObject) body = NULL;
    g_autoptr(JsonObject) answer = NULL;
    g_autofree char *id = NULL;
    g_autofree char *path = NULL;
    const char *action;
    const char *name;
    gint64 events_from = 0;

    if (rest == NULL) {
        return FALSE;
    }
    action = rest[1];
    if (!g_str_equal(action, "on") && !g_str_equal(action, "off") &&
        !g_str_equal(action, "status")) {
        cli_usage_error(error, "host power: on, off or status, not '%s'",
                        action);
        return FALSE;
    }
    host = host_find(ctx, rest[0], "/power", &id, &path, error);
    if (host == NULL) {
        return FALSE;
    }
    name = drv_json_string_or(host, "name", rest[0]);
    if (g_str_equal(action, "status")) {
        return host_power_status(ctx, path, name, error);
    }
    /* where to look for the failure event, should it fail */
    if (wait && (events_from = host_next_event(ctx, error)) < 0) {
        return FALSE;
    }
    body = json_object_new();
    json_object_set_string_member(body, "action", action);
    answer = cli_client_call_object(ctx->client, "POST", path, body, error);
    if (answer == NULL) {
        return FALSE;
    }
    if (wait) {
        return host_power_wait(ctx, id, action, events_from, error);
    }
    if (ctx->json) {
        cli_print_object(answer);
    } else {
        printf("%s is being powered %s (%s)\n", name, action,
               drv_json_string_or(answer, "status", "unknown"));
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
    const char *name;
    const char *correlation_id;

    if (rest == NULL) {
        return FALSE;
    }
    host = host_find(ctx, rest[0], "/deactivate", &id, &path, error);
    if (host == NULL) {
        return FALSE;
    }
    name = drv_json_string_or(host, "name", rest[0]);
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
    g_autofree char *path = NULL;
    const char *name;

    if (rest == NULL) {
        return FALSE;
    }
    host = host_find(ctx, rest[0], action ? action : "", &id, &path, error);
    if (host == NULL) {
        return FALSE;
    }
    name = drv_json_string_or(host, "name", rest[0]);
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
    {"add", host_add, "NAME ADDRESS [--cluster NAME] " HOST_POWER_PARAMS,
     "Add a host: its agent's URL, like http://127.0.1.1:7001"},
    {"set", host_set,
     "HOST [--power-on CMD] [--power-off CMD] [--power-status CMD] | "
     "--no-power",
     "Change a host's power management"},
    {"maintenance", host_maintenance, "HOST [--wait]",
     "Move every VM away, then put the host in maintenance"},
    {"activate", host_activate, "HOST", "Bring a host back from maintenance"},
    {"remove", host_remove, "HOST",
     "Remove a host in maintenance (or powered off)"},
    {"power", host_power, "HOST on|off|status [--wait]",
     "Power a host on or off, or ask its power status"},
    {NULL},
};
