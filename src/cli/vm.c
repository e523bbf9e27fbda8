/* drover vm list | show | create | start | stop | remove (migrate.c: more) */
#include <stdio.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/migrate.h"
#include "cli/output.h"
#include "cli/progress.h"
#include "common/json.h"

/* "migrating 42.5%" for a VM on the move, else its status. */
static char *vm_status_text(JsonObject *vm)
{
    JsonObject *mig = drv_json_object_or_null(vm, "migration");
    const char *status = drv_json_string_or(vm, "status", NULL);
    g_autofree char *pct = NULL;

    if (mig == NULL || g_strcmp0(status, "migrating") != 0) {
        return g_strdup(status);
    }
    pct = cli_format_percent(drv_json_double_or(mig, "progress", 0));
    return g_strdup_printf("migrating %s", pct);
}

/* "host1", or "host1 -> host2" while migrating. */
static char *vm_host_text(JsonObject *vm)
{
    JsonObject *mig = drv_json_object_or_null(vm, "migration");
    const char *host = cli_ref_name(vm, "host");
    const char *to = cli_ref_name(mig, "destination");

    if (to != NULL) {
        return g_strdup_printf("%s -> %s", host ? host : "?", to);
    }
    return g_strdup(host);
}

static gboolean vm_list(CliContext *ctx, char **argv, GError **error)
{
    static const char *const headers[] = {"NAME",  "STATUS",   "HOST", "MEMORY",
                                          "VCPUS", "PRIORITY", "CPU",  NULL};
    g_auto(GStrv) rest =
        cli_parse("vm list", "", NULL, &ctx->json, argv, 0, 0, error);
    g_autoptr(JsonObject) answer = NULL;
    g_autoptr(CliTable) table = NULL;
    g_autoptr(GPtrArray) vms = NULL;
    g_autofree char *text = NULL;

    if (rest == NULL) {
        return FALSE;
    }
    answer = cli_client_get(ctx->client, "/api/vms", error);
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
    cli_table_align_right(table, 6);
    vms = cli_objects(answer, "vms");
    for (guint i = 0; i < vms->len; i++) {
        JsonObject *vm = g_ptr_array_index(vms, i);
        g_autofree char *status = vm_status_text(vm);
        g_autofree char *host = vm_host_text(vm);
        g_autofree char *memory = g_strdup_printf(
            "%" G_GINT64_FORMAT " MiB", drv_json_int_or(vm, "memory_mib", 0));
        g_autofree char *vcpus = g_strdup_printf(
            "%" G_GINT64_FORMAT, drv_json_int_or(vm, "vcpus", 0));
        g_autofree char *cpu = NULL;

        if (g_strcmp0(drv_json_string_or(vm, "status", NULL), "down") != 0) {
            cpu = g_strdup_printf("%.1f%%",
                                  drv_json_double_or(vm, "cpu_percent", 0));
        }
        cli_table_add_row(table, drv_json_string_or(vm, "name", NULL), status,
                          host, memory, vcpus,
                          drv_json_string_or(vm, "priority", NULL), cpu);
    }
    text = cli_table_render(table);
    fputs(text, stdout);
    return TRUE;
}

static char *vm_join(GPtrArray *items, char *(*describe)(JsonObject *))
{
    GString *out = g_string_new(NULL);

    for (guint i = 0; i < items->len; i++) {
        g_autofree char *one = describe(g_ptr_array_index(items, i));

        g_string_append_printf(out, "%s%s", i ? ", " : "", one);
    }
    return g_string_free(out, FALSE);
}

static char *vm_describe_disk(JsonObject *disk)
{
    return g_strdup_printf("%s:%s (%s)",
                           drv_json_string_or(disk, "storage_domain", "?"),
                           drv_json_string_or(disk, "path", "?"),
                           drv_json_string_or(disk, "format", "raw"));
}

static char *vm_describe_nic(JsonObject *nic)
{
    return g_strdup_printf("%s %s", drv_json_string_or(nic, "network", "?"),
                           drv_json_string_or(nic, "mac", ""));
}

static char *vm_describe_string(JsonArray *array)
{
    GString *out = g_string_new(NULL);

    for (guint i = 0; array && i < json_array_get_length(array); i++) {
        JsonNode *node = json_array_get_element(array, i);

        if (JSON_NODE_HOLDS_VALUE(node) &&
            json_node_get_value_type(node) == G_TYPE_STRING) {
            g_string_append_printf(out, "%s%s", out->len ? ", " : "",
                                   json_node_get_string(node));
        }
    }
    return g_string_free(out, FALSE);
}

static void vm_show_spec(CliKv *kv, JsonObject *vm)
{
    JsonObject *spec = drv_json_object_or_null(vm, "spec");
    g_autoptr(GPtrArray) disks = cli_objects(spec, "disks");
    g_autoptr(GPtrArray) nics = cli_objects(spec, "nics");
    g_autofree char *disk_text = vm_join(disks, vm_describe_disk);
    g_autofree char *nic_text = vm_join(nics, vm_describe_nic);

    cli_kv_add(kv, "kernel", drv_json_string_or(spec, "kernel", NULL));
    cli_kv_add(kv, "append", drv_json_string_or(spec, "append", NULL));
    cli_kv_add(kv, "disks", disk_text);
    cli_kv_add(kv, "nics", nic_text);
}

static gboolean vm_show(CliContext *ctx, char **argv, GError **error)
{
    g_auto(GStrv) rest =
        cli_parse("vm show", "VM", NULL, &ctx->json, argv, 1, 1, error);
    g_autoptr(JsonObject) vm = NULL;
    g_autoptr(CliKv) kv = NULL;
    g_autofree char *text = NULL;
    g_autofree char *status = NULL;
    g_autofree char *pinned = NULL;
    JsonObject *mig;

    if (rest == NULL) {
        return FALSE;
    }
    vm = cli_client_lookup(ctx->client, CLI_KIND_VM, rest[0], NULL, error);
    if (vm == NULL) {
        return FALSE;
    }
    if (ctx->json) {
        cli_print_object(vm);
        return TRUE;
    }
    mig = drv_json_object_or_null(vm, "migration");
    status = vm_status_text(vm);
    pinned = vm_describe_string(drv_json_array_or_null(vm, "pinned_hosts"));
    kv = cli_kv_new();
    cli_kv_add(kv, "name", drv_json_string_or(vm, "name", NULL));
    cli_kv_add(kv, "id", drv_json_string_or(vm, "id", NULL));
    cli_kv_add(kv, "status", status);
    if (drv_json_string_or(vm, "status_reason", NULL) != NULL) {
        cli_kv_add(kv, "reason", drv_json_string_or(vm, "status_reason", NULL));
    }
    cli_kv_add(kv, "host", cli_ref_name(vm, "host"));
    cli_kv_add(kv, "cluster", cli_ref_name(vm, "cluster"));
    cli_kv_addf(kv, "memory", "%" G_GINT64_FORMAT " MiB",
                drv_json_int_or(vm, "memory_mib", 0));
    cli_kv_addf(kv, "vcpus", "%" G_GINT64_FORMAT,
                drv_json_int_or(vm, "vcpus", 0));
    cli_kv_add(kv, "cpu model", drv_json_string_or(vm, "cpu_model", NULL));
    cli_kv_addf(kv, "cpu use", "%.1f%%",
                drv_json_double_or(vm, "cpu_percent", 0));
    cli_kv_add(kv, "priority", drv_json_string_or(vm, "priority", NULL));
    cli_kv_add(kv, "migration mode",
               drv_json_string_or(vm, "migration_mode", NULL));
    cli_kv_add(kv, "highly available",
               drv_json_bool_or(vm, "highly_available", FALSE) ? "yes" : "no");
    cli_kv_add(kv, "pinned to", pinned);
    vm_show_spec(kv, vm);
    if (mig != NULL) {
        g_autofree char *pct =
            cli_format_percent(drv_json_double_or(mig, "progress", 0));

        cli_kv_addf(
            kv, "migration", "%s %s, %s -> %s (id %s)",
            drv_json_string_or(mig, "state", "?"), pct,
            cli_ref_name(mig, "source") ? cli_ref_name(mig, "source") : "?",
            cli_ref_name(mig, "destination") ? cli_ref_name(mig, "destination")
                                             : "?",
            drv_json_string_or(mig, "id", "?"));
    }
    cli_kv_add(kv, "created", drv_json_string_or(vm, "created", NULL));
    text = cli_kv_render(kv);
    fputs(text, stdout);
    return TRUE;
}

/* Names or ids of hosts in "pinned_hosts" become names, checked. */
static gboolean vm_resolve_pins(CliContext *ctx, JsonObject *body,
                                GError **error)
{
    JsonArray *found = drv_json_array_or_null(body, "pinned_hosts");
    /* replacing the member below would free the array being read */
    g_autoptr(JsonArray) pins = found ? json_array_ref(found) : NULL;
    JsonArray *names;

    if (pins == NULL) {
        return TRUE;
    }
    names = json_array_new();
    json_object_set_array_member(body, "pinned_hosts", names);
    for (guint i = 0; i < json_array_get_length(pins); i++) {
        JsonNode *node = json_array_get_element(pins, i);
        g_autoptr(JsonObject) host = NULL;
        const char *pin;

        if (!JSON_NODE_HOLDS_VALUE(node) ||
            json_node_get_value_type(node) != G_TYPE_STRING) {
            /* not a name: the server says what is wrong with it */
            json_array_add_element(names, json_node_copy(node));
            continue;
        }
        pin = json_node_get_string(node);
        host = cli_client_lookup(ctx->client, CLI_KIND_HOST, pin, NULL, error);
        if (host == NULL) {
            return FALSE;
        }
        json_array_add_string_element(names,
                                      drv_json_string_or(host, "name", pin));
    }
    return TRUE;
}

static gboolean vm_create(CliContext *ctx, char **argv, GError **error)
{
    g_autoptr(JsonObject) body = cli_vm_create_body(argv, &ctx->json, error);
    g_autoptr(JsonObject) vm = NULL;
    JsonObject *cluster;

    if (body == NULL) {
        return FALSE;
    }
    if (!vm_resolve_pins(ctx, body, error)) {
        return FALSE;
    }
    cluster = drv_json_object_or_null(body, "cluster");
    if (drv_json_string_or(cluster, "name", NULL) != NULL) {
        g_autofree char *id = NULL;
        g_autoptr(JsonObject) found = cli_client_lookup(
            ctx->client, CLI_KIND_CLUSTER,
            drv_json_string_or(cluster, "name", NULL), &id, error);

        if (found == NULL) {
            return FALSE;
        }
        json_object_remove_member(cluster, "name");
        json_object_set_string_member(cluster, "id", id);
    }
    vm = cli_client_call_object(ctx->client, "POST", "/api/vms", body, error);
    if (vm == NULL) {
        return FALSE;
    }
    if (ctx->json) {
        cli_print_object(vm);
    } else {
        printf("VM %s created (id %s, status %s)\n",
               drv_json_string_or(vm, "name", "?"),
               drv_json_string_or(vm, "id", "?"),
               drv_json_string_or(vm, "status", "down"));
    }
    return TRUE;
}

/*
 * POST /api/vms/{id}/@action with @body for the VM @arg, then either wait
 * for @want or say what the answer says.
 */
static gboolean vm_act(CliContext *ctx, const char *arg, const char *action,
                       JsonObject *body, gboolean wait, const char *want,
                       GError **error)
{
    g_autoptr(JsonObject) vm = NULL;
    g_autoptr(JsonNode) answer = NULL;
    g_autofree char *id = NULL;
    g_autofree char *escaped = NULL;
    g_autofree char *path = NULL;
    JsonObject *reply;

    vm = cli_client_lookup(ctx->client, CLI_KIND_VM, arg, &id, error);
    if (vm == NULL) {
        return FALSE;
    }
    escaped = g_uri_escape_string(id, NULL, FALSE);
    path = g_strdup_printf("/api/vms/%s/%s", escaped, action);
    if (!cli_client_call(ctx->client, "POST", path, body, &answer, error)) {
        return FALSE;
    }
    if (wait) {
        return cli_wait_vm_status(ctx, id, want, error);
    }
    if (ctx->json) {
        cli_print_json(answer);
        return TRUE;
    }
    reply = answer && JSON_NODE_HOLDS_OBJECT(answer)
                ? json_node_get_object(answer)
                : NULL;
    printf("%s is %s\n", drv_json_string_or(vm, "name", arg),
           drv_json_string_or(reply, "status",
                              g_str_equal(action, "start") ? "starting"
                                                           : "stopping"));
    return TRUE;
}

static gboolean vm_start(CliContext *ctx, char **argv, GError **error)
{
    g_autofree char *on = NULL;
    gboolean wait = FALSE;
    const GOptionEntry entries[] = {
        {"on", 0, 0, G_OPTION_ARG_STRING, &on,
         "Start on this host (default: the scheduler's choice)", "HOST"},
        {"wait", 0, 0, G_OPTION_ARG_NONE, &wait, "Wait until it is up", NULL},
        {NULL},
    };
    g_auto(GStrv) rest = cli_parse("vm start", "VM [--on HOST] [--wait]",
                                   entries, &ctx->json, argv, 1, 1, error);
    g_autoptr(JsonObject) body = json_object_new();

    if (rest == NULL) {
        return FALSE;
    }
    if (on != NULL) {
        g_autofree char *host_id = NULL;
        g_autoptr(JsonObject) host =
            cli_client_lookup(ctx->client, CLI_KIND_HOST, on, &host_id, error);
        JsonObject *ref;

        if (host == NULL) {
            return FALSE;
        }
        ref = json_object_new();
        json_object_set_string_member(ref, "id", host_id);
        json_object_set_object_member(body, "host", ref);
    }
    return vm_act(ctx, rest[0], "start", body, wait, "up", error);
}

static gboolean vm_stop(CliContext *ctx, char **argv, GError **error)
{
    gboolean force = FALSE;
    gboolean wait = FALSE;
    const GOptionEntry entries[] = {
        {"force", 0, 0, G_OPTION_ARG_NONE, &force,
         "Destroy at once instead of an ACPI shutdown", NULL},
        {"wait", 0, 0, G_OPTION_ARG_NONE, &wait, "Wait until it is down", NULL},
        {NULL},
    };
    g_auto(GStrv) rest = cli_parse("vm stop", "VM [--force] [--wait]", entries,
                                   &ctx->json, argv, 1, 1, error);
    g_autoptr(JsonObject) body = json_object_new();

    if (rest == NULL) {
        return FALSE;
    }
    json_object_set_boolean_member(body, "force", force);
    return vm_act(ctx, rest[0], "stop", body, wait, "down", error);
}

static gboolean vm_remove(CliContext *ctx, char **argv, GError **error)
{
    g_auto(GStrv) rest =
        cli_parse("vm remove", "VM", NULL, &ctx->json, argv, 1, 1, error);
    g_autoptr(JsonObject) vm = NULL;
    g_autofree char *id = NULL;
    g_autofree char *escaped = NULL;
    g_autofree char *path = NULL;

    if (rest == NULL) {
        return FALSE;
    }
    vm = cli_client_lookup(ctx->client, CLI_KIND_VM, rest[0], &id, error);
    if (vm == NULL) {
        return FALSE;
    }
    escaped = g_uri_escape_string(id, NULL, FALSE);
    path = g_strdup_printf("/api/vms/%s", escaped);
    if (!cli_client_call(ctx->client, "DELETE", path, NULL, NULL, error)) {
        return FALSE;
    }
    if (!ctx->json) {
        printf("%s removed\n", drv_json_string_or(vm, "name", rest[0]));
    }
    return TRUE;
}

const CliCommand cli_vm_commands[] = {
    {"list", vm_list, NULL, "List the VMs"},
    {"show", vm_show, "VM", "Show a VM"},
    {"create", vm_create,
     "--name N --memory MIB [--vcpus N] [--cpu-model M] [--kernel PATH] "
     "[--append TEXT] [--disk DOMAIN:PATH[:FORMAT]]... "
     "[--nic NETWORK[:MAC]]... [--priority low|medium|high] "
     "[--migration-mode manual_and_automatic|manual_only|disabled] "
     "[--pin HOST]... [--cluster NAME] [--file SPEC.json]",
     "Define a VM (it stays down until started)"},
    {"start", vm_start, "VM [--on HOST] [--wait]", "Start a VM"},
    {"stop", vm_stop, "VM [--force] [--wait]", "Stop a VM"},
    {"remove", vm_remove, "VM", "Remove a VM that is down"},
    {"migrate", cli_vm_migrate, "VM [--to HOST] [--wait | --dry-run]",
     "Live-migrate a VM (to the scheduler's choice without --to)"},
    {"cancel-migration", cli_vm_cancel_migration, "VM",
     "Cancel a VM's queued or running migration"},
    {"targets", cli_vm_targets, "VM",
     "Which hosts could take a VM, and why not"},
    {NULL},
};
