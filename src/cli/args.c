#include "cli/args.h"

#include <math.h>
#include <string.h>

#include "cli/cli.h"
#include "common/json.h"

/* Split at the first ':' into two non-empty parts, or keep it whole. */
static void cli_split_colon(const char *text, char **first, char **rest)
{
    const char *colon = strchr(text, ':');

    if (colon == NULL) {
        *first = g_strdup(text);
        *rest = NULL;
        return;
    }
    *first = g_strndup(text, (gsize)(colon - text));
    *rest = g_strdup(colon + 1);
}

JsonObject *cli_parse_disk(const char *text, GError **error)
{
    g_autofree char *domain = NULL;
    g_autofree char *rest = NULL;
    g_autoptr(JsonObject) disk = json_object_new();
    char *format;

    cli_split_colon(text, &domain, &rest);
    if (*domain == '\0' || rest == NULL || *rest == '\0') {
        cli_usage_error(error,
                        "--disk '%s': expected DOMAIN:PATH[:FORMAT], like "
                        "shared:web1.qcow2:qcow2",
                        text);
        return NULL;
    }
    /* the last ':' of the rest starts the format: paths have no colon */
    format = strrchr(rest, ':');
    if (format != NULL) {
        *format++ = '\0';
        if (!g_str_equal(format, "raw") && !g_str_equal(format, "qcow2")) {
            cli_usage_error(error,
                            "--disk '%s': the format must be raw or qcow2, "
                            "not '%s'",
                            text, format);
            return NULL;
        }
    }
    if (*rest == '\0') {
        cli_usage_error(error, "--disk '%s': the path is empty", text);
        return NULL;
    }
    json_object_set_string_member(disk, "storage_domain", domain);
    json_object_set_string_member(disk, "path", rest);
    if (format != NULL) {
        json_object_set_string_member(disk, "format", format);
    }
    return g_steal_pointer(&disk);
}

JsonObject *cli_parse_nic(const char *text, GError **error)
{
    g_autofree char *network = NULL;
    g_autofree char *mac = NULL;
    g_autoptr(JsonObject) nic = json_object_new();

    cli_split_colon(text, &network, &mac);
    if (*network == '\0' || (mac != NULL && *mac == '\0')) {
        cli_usage_error(error,
                        "--nic '%s': expected NETWORK[:MAC], like "
                        "vmnet:52:54:00:12:34:56",
                        text);
        return NULL;
    }
    json_object_set_string_member(nic, "network", network);
    if (mac != NULL) {
        /* the server checks the address; here only its place */
        json_object_set_string_member(nic, "mac", mac);
    }
    return g_steal_pointer(&nic);
}

/* ---- cluster set ---- */

typedef enum {
    CLI_SETTING_STRING,
    CLI_SETTING_INT,
    CLI_SETTING_BOOL,   /* or "inherit" */
    CLI_SETTING_NUMBER, /* or "default" (null) */
} CliSettingType;

static const struct {
    const char *key;
    CliSettingType type;
} cli_settings[] = {
    {"cpu_baseline", CLI_SETTING_STRING},
    {"max_outgoing_migrations", CLI_SETTING_INT},
    {"max_incoming_migrations", CLI_SETTING_INT},
    {"max_cpu_percent", CLI_SETTING_INT},
    {"migration.policy", CLI_SETTING_STRING},
    {"migration.bandwidth_mbps", CLI_SETTING_INT},
    {"migration.auto_converge", CLI_SETTING_BOOL},
    {"migration.compression", CLI_SETTING_BOOL},
    {"migration.post_copy", CLI_SETTING_BOOL},
    {"scheduling_policy", CLI_SETTING_STRING},
    /* "scheduling.*": the policy's parameters, checked by droverd */
};

const char *cli_cluster_setting_keys(void)
{
    return "cpu_baseline, max_outgoing_migrations, max_incoming_migrations, "
           "max_cpu_percent, migration.policy, migration.bandwidth_mbps, "
           "migration.auto_converge, migration.compression, "
           "migration.post_copy, scheduling_policy, scheduling.PARAMETER";
}

static gboolean cli_parse_bool(const char *text, gboolean *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};

    for (guint i = 0; i < G_N_ELEMENTS(yes); i++) {
        if (g_ascii_strcasecmp(text, yes[i]) == 0) {
            *out = TRUE;
            return TRUE;
        }
        if (g_ascii_strcasecmp(text, no[i]) == 0) {
            *out = FALSE;
            return TRUE;
        }
    }
    return FALSE;
}

/* @obj's object member @name, created when absent. */
static JsonObject *cli_child(JsonObject *obj, const char *name)
{
    JsonObject *child = drv_json_object_or_null(obj, name);

    if (child == NULL) {
        child = json_object_new();
        json_object_set_object_member(obj, name, child);
    }
    return child;
}

/*
 * The member to set: @body itself, its "migration" object, or its
 * "scheduling_policy" object ("name") and that object's "parameters".
 */
static JsonObject *cli_setting_target(JsonObject *body, const char *key,
                                      const char **member)
{
    if (g_str_has_prefix(key, "migration.")) {
        *member = key + strlen("migration.");
        return cli_child(body, "migration");
    }
    if (g_str_equal(key, "scheduling_policy")) {
        *member = "name";
        return cli_child(body, "scheduling_policy");
    }
    if (g_str_has_prefix(key, "scheduling.")) {
        *member = key + strlen("scheduling.");
        return cli_child(cli_child(body, "scheduling_policy"), "parameters");
    }
    *member = key;
    return body;
}

JsonObject *cli_parse_cluster_settings(const char *const *pairs, GError **error)
{
    g_autoptr(JsonObject) body = json_object_new();
    g_autoptr(GHashTable) seen =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

    if (pairs == NULL || pairs[0] == NULL) {
        cli_usage_error(error, "nothing to set: give KEY=VALUE (keys: %s)",
                        cli_cluster_setting_keys());
        return NULL;
    }
    for (guint i = 0; pairs[i] != NULL; i++) {
        const char *eq = strchr(pairs[i], '=');
        g_autofree char *key = NULL;
        const char *value;
        const char *member;
        JsonObject *target;
        int found = -1;
        CliSettingType type;

        if (eq == NULL || eq == pairs[i]) {
            cli_usage_error(error, "expected KEY=VALUE, not '%s'", pairs[i]);
            return NULL;
        }
        key = g_strndup(pairs[i], (gsize)(eq - pairs[i]));
        value = eq + 1;
        for (guint k = 0; k < G_N_ELEMENTS(cli_settings); k++) {
            if (g_str_equal(cli_settings[k].key, key)) {
                found = (int)k;
            }
        }
        if (found >= 0) {
            type = cli_settings[found].type;
        } else if (g_str_has_prefix(key, "scheduling.") &&
                   key[strlen("scheduling.")] != '\0') {
            type = CLI_SETTING_NUMBER;
        } else {
            cli_usage_error(error, "unknown cluster setting '%s' (keys: %s)",
                            key, cli_cluster_setting_keys());
            return NULL;
        }
        if (!g_hash_table_add(seen, g_strdup(key))) {
            cli_usage_error(error, "'%s' is given twice", key);
            return NULL;
        }
        target = cli_setting_target(body, key, &member);
        switch (type) {
        case CLI_SETTING_STRING:
            if (*value == '\0') {
                cli_usage_error(error, "'%s' needs a value", key);
                return NULL;
            }
            json_object_set_string_member(target, member, value);
            break;
        case CLI_SETTING_INT: {
            guint64 number;

            /* bounds are the server's to check, and to explain */
            if (!g_ascii_string_to_unsigned(value, 10, 0, G_MAXINT64, &number,
                                            NULL)) {
                cli_usage_error(error, "'%s' must be a whole number, not '%s'",
                                key, value);
                return NULL;
            }
            json_object_set_int_member(target, member, (gint64)number);
            break;
        }
        case CLI_SETTING_BOOL: {
            gboolean flag;

            if (g_ascii_strcasecmp(value, "inherit") == 0) {
                json_object_set_string_member(target, member, "inherit");
                break;
            }
            if (!cli_parse_bool(value, &flag)) {
                cli_usage_error(error,
                                "'%s' must be true, false or inherit, not '%s'",
                                key, value);
                return NULL;
            }
            json_object_set_boolean_member(target, member, flag);
            break;
        }
        case CLI_SETTING_NUMBER: {
            char *end = NULL;
            double number;

            if (g_ascii_strcasecmp(value, "default") == 0) {
                json_object_set_null_member(target, member);
                break;
            }
            number = g_ascii_strtod(value, &end);
            if (*value == '\0' || end == NULL || *end != '\0' ||
                !isfinite(number)) {
                cli_usage_error(error,
                                "'%s' must be a number or default, not '%s'",
                                key, value);
                return NULL;
            }
            if (number == floor(number) && fabs(number) < 1e15) {
                json_object_set_int_member(target, member, (gint64)number);
            } else {
                json_object_set_double_member(target, member, number);
            }
            break;
        }
        }
    }
    return g_steal_pointer(&body);
}

/* ---- vm create ---- */

static gboolean cli_parse_count(const char *option, const char *text,
                                guint64 max, gint64 *out, GError **error)
{
    guint64 value;

    if (!g_ascii_string_to_unsigned(text, 10, 1, max, &value, NULL)) {
        cli_usage_error(error,
                        "%s must be a whole number from 1 to %" G_GUINT64_FORMAT
                        ", not '%s'",
                        option, max, text);
        return FALSE;
    }
    *out = (gint64)value;
    return TRUE;
}

static gboolean cli_check_choice(const char *option, const char *value,
                                 const char *const *choices, GError **error)
{
    g_autofree char *list = NULL;

    if (g_strv_contains(choices, value)) {
        return TRUE;
    }
    list = g_strjoinv(", ", (char **)choices);
    cli_usage_error(error, "%s must be one of %s, not '%s'", option, list,
                    value);
    return FALSE;
}

static JsonArray *cli_strv_to_array(GStrv values)
{
    JsonArray *array = json_array_new();

    for (guint i = 0; values && values[i]; i++) {
        json_array_add_string_element(array, values[i]);
    }
    return array;
}

JsonObject *cli_vm_create_body(char **argv, gboolean *json, GError **error)
{
    static const char *const priorities[] = {"low", "medium", "high", NULL};
    static const char *const modes[] = {"manual_and_automatic", "manual_only",
                                        "disabled", NULL};
    g_autofree char *name = NULL;
    g_autofree char *memory = NULL;
    g_autofree char *vcpus = NULL;
    g_autofree char *cpu_model = NULL;
    g_autofree char *kernel = NULL;
    g_autofree char *append = NULL;
    g_autofree char *priority = NULL;
    g_autofree char *mode = NULL;
    g_autofree char *cluster = NULL;
    g_autofree char *file = NULL;
    g_auto(GStrv) disks = NULL;
    g_auto(GStrv) nics = NULL;
    g_auto(GStrv) pins = NULL;
    const GOptionEntry entries[] = {
        {"name", 0, 0, G_OPTION_ARG_STRING, &name, "The VM's name", "N"},
        {"memory", 0, 0, G_OPTION_ARG_STRING, &memory, "Memory in MiB", "MIB"},
        {"vcpus", 0, 0, G_OPTION_ARG_STRING, &vcpus, "Virtual CPUs", "N"},
        {"cpu-model", 0, 0, G_OPTION_ARG_STRING, &cpu_model,
         "QEMU CPU model (default: the cluster's baseline)", "M"},
        {"kernel", 0, 0, G_OPTION_ARG_STRING, &kernel, "Kernel to boot",
         "PATH"},
        {"append", 0, 0, G_OPTION_ARG_STRING, &append, "Kernel command line",
         "TEXT"},
        {"disk", 0, 0, G_OPTION_ARG_STRING_ARRAY, &disks, "A disk (repeatable)",
         "DOMAIN:PATH[:FORMAT]"},
        {"nic", 0, 0, G_OPTION_ARG_STRING_ARRAY, &nics, "A NIC (repeatable)",
         "NETWORK[:MAC]"},
        {"priority", 0, 0, G_OPTION_ARG_STRING, &priority, "Migration priority",
         "low|medium|high"},
        {"migration-mode", 0, 0, G_OPTION_ARG_STRING, &mode, "Migration mode",
         "manual_and_automatic|manual_only|disabled"},
        {"pin", 0, 0, G_OPTION_ARG_STRING_ARRAY, &pins,
         "A host the VM may run on (repeatable)", "HOST"},
        {"cluster", 0, 0, G_OPTION_ARG_STRING, &cluster,
         "The cluster (default: default)", "NAME"},
        {"file", 0, 0, G_OPTION_ARG_FILENAME, &file,
         "A spec to start from (JSON)", "SPEC.json"},
        {NULL},
    };
    g_auto(GStrv) rest = NULL;
    g_autoptr(JsonObject) body = NULL;

    rest = cli_parse("vm create", "--name N --memory MIB [OPTION...]", entries,
                     json, argv, 0, 0, error);
    if (rest == NULL) {
        return NULL;
    }
    if (file != NULL) {
        body = drv_json_load_object_file(file, error);
        if (body == NULL) {
            g_prefix_error(error, "--file %s: ", file);
            return NULL;
        }
    } else {
        body = json_object_new();
    }
    if (name != NULL) {
        json_object_set_string_member(body, "name", name);
    }
    if (!json_object_has_member(body, "name")) {
        cli_usage_error(error, "vm create needs --name (or a name in --file)");
        return NULL;
    }
    if (memory != NULL) {
        gint64 mib;

        if (!cli_parse_count("--memory", memory, G_MAXINT32, &mib, error)) {
            return NULL;
        }
        json_object_set_int_member(body, "memory_mib", mib);
    }
    if (!json_object_has_member(body, "memory_mib")) {
        cli_usage_error(error,
                        "vm create needs --memory (or memory_mib in --file)");
        return NULL;
    }
    if (vcpus != NULL) {
        gint64 n;

        if (!cli_parse_count("--vcpus", vcpus, 1024, &n, error)) {
            return NULL;
        }
        json_object_set_int_member(body, "vcpus", n);
    }
    if (cpu_model != NULL) {
        json_object_set_string_member(body, "cpu_model", cpu_model);
    }
    if (kernel != NULL) {
        json_object_set_string_member(body, "kernel", kernel);
    }
    if (append != NULL) {
        json_object_set_string_member(body, "append", append);
    }
    if (disks != NULL) {
        JsonArray *array = json_array_new();

        json_object_set_array_member(body, "disks", array);
        for (guint i = 0; disks[i] != NULL; i++) {
            JsonObject *disk = cli_parse_disk(disks[i], error);

            if (disk == NULL) {
                return NULL;
            }
            json_array_add_object_element(array, disk);
        }
    }
    if (nics != NULL) {
        JsonArray *array = json_array_new();

        json_object_set_array_member(body, "nics", array);
        for (guint i = 0; nics[i] != NULL; i++) {
            JsonObject *nic = cli_parse_nic(nics[i], error);

            if (nic == NULL) {
                return NULL;
            }
            json_array_add_object_element(array, nic);
        }
    }
    if (priority != NULL) {
        if (!cli_check_choice("--priority", priority, priorities, error)) {
            return NULL;
        }
        json_object_set_string_member(body, "priority", priority);
    }
    if (mode != NULL) {
        JsonObject *migration = drv_json_object_or_null(body, "migration");

        if (!cli_check_choice("--migration-mode", mode, modes, error)) {
            return NULL;
        }
        if (migration == NULL) {
            migration = json_object_new();
            json_object_set_object_member(body, "migration", migration);
        }
        json_object_set_string_member(migration, "mode", mode);
    }
    if (pins != NULL) {
        json_object_set_array_member(body, "pinned_hosts",
                                     cli_strv_to_array(pins));
    }
    if (cluster != NULL) {
        JsonObject *ref = json_object_new();

        json_object_set_string_member(ref, "name", cluster);
        json_object_set_object_member(body, "cluster", ref);
    }
    return g_steal_pointer(&body);
}

gboolean cli_host_power_options(JsonObject *body, const char *on,
                                const char *off, const char *status,
                                gboolean none, GError **error)
{
    const char *const values[] = {on, off, status};
    const char *const members[] = {"on", "off", "status"};
    JsonObject *power;

    if (none) {
        if (on != NULL || off != NULL || status != NULL) {
            cli_usage_error(error, "--no-power removes every power command: "
                                   "give it alone");
            return FALSE;
        }
        json_object_set_null_member(body, "power_management");
        return TRUE;
    }
    if (on == NULL && off == NULL && status == NULL) {
        return TRUE;
    }
    power = json_object_new();
    for (guint i = 0; i < G_N_ELEMENTS(values); i++) {
        if (values[i] != NULL) {
            json_object_set_string_member(power, members[i], values[i]);
        }
    }
    json_object_set_object_member(body, "power_management", power);
    return TRUE;
}
