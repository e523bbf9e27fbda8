#include "agent/config.h"

#include "common/error.h"
#include "common/vmspec.h"
#include "drover-config.h"

void agent_config_free(AgentConfig *config)
{
    if (config == NULL) {
        return;
    }
    g_free(config->name);
    g_free(config->listen);
    g_free(config->url);
    g_free(config->migration_address);
    g_free(config->state_dir);
    g_free(config->run_dir);
    g_free(config->hooks_dir);
    g_free(config->qemu_binary);
    g_free(config->kernel_dir);
    g_free(config->accel);
    g_strfreev(config->cpu_models);
    g_clear_pointer(&config->storage, g_hash_table_unref);
    g_clear_pointer(&config->networks, g_hash_table_unref);
    g_free(config);
}

static gboolean agent_config_uint(GKeyFile *kf, const char *origin,
                                  const char *key, guint def, guint min,
                                  guint max, guint *out, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autofree char *text = g_key_file_get_string(kf, "agent", key, &local);
    guint64 value;

    if (text == NULL) {
        *out = def;
        return TRUE;
    }
    g_strstrip(text);
    if (!g_ascii_string_to_unsigned(text, 10, min, max, &value, NULL)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "%s: [agent] %s must be an integer in [%u, %u], not '%s'",
                    origin, key, min, max, text);
        return FALSE;
    }
    *out = (guint)value;
    return TRUE;
}

static gboolean agent_config_bool(GKeyFile *kf, const char *origin,
                                  const char *key, gboolean def, gboolean *out,
                                  GError **error)
{
    g_autofree char *text = g_key_file_get_string(kf, "agent", key, NULL);

    if (text == NULL) {
        *out = def;
        return TRUE;
    }
    g_strstrip(text);
    if (g_str_equal(text, "true")) {
        *out = TRUE;
    } else if (g_str_equal(text, "false")) {
        *out = FALSE;
    } else {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "%s: [agent] %s must be true or false, not '%s'", origin,
                    key, text);
        return FALSE;
    }
    return TRUE;
}

static char *agent_config_string(GKeyFile *kf, const char *key, const char *def)
{
    g_autofree char *value = g_key_file_get_string(kf, "agent", key, NULL);

    if (value != NULL) {
        g_strstrip(value);
        if (*value != '\0') {
            return g_steal_pointer(&value);
        }
    }
    return g_strdup(def);
}

static gboolean agent_config_section(GKeyFile *kf, const char *origin,
                                     const char *group, GHashTable *out,
                                     gboolean paths, GError **error)
{
    g_auto(GStrv) keys = NULL;

    if (!g_key_file_has_group(kf, group)) {
        return TRUE;
    }
    keys = g_key_file_get_keys(kf, group, NULL, NULL);
    for (guint i = 0; keys && keys[i]; i++) {
        g_autofree char *value =
            g_key_file_get_string(kf, group, keys[i], NULL);

        if (!drv_name_is_valid(keys[i])) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                        "%s: [%s] '%s' is not a valid name", origin, group,
                        keys[i]);
            return FALSE;
        }
        g_strstrip(value);
        if (paths && !g_path_is_absolute(value)) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                        "%s: [%s] %s must be an absolute directory, not '%s'",
                        origin, group, keys[i], value);
            return FALSE;
        }
        if (!paths && !g_str_equal(value, "user") &&
            !drv_name_is_valid(value)) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                        "%s: [%s] %s must be 'user' or a bridge name, not "
                        "'%s'",
                        origin, group, keys[i], value);
            return FALSE;
        }
        g_hash_table_insert(out, g_strdup(keys[i]),
                            paths ? g_canonicalize_filename(value, NULL)
                                  : g_steal_pointer(&value));
    }
    return TRUE;
}

static const char *const agent_config_keys[] = {
    "name",
    "listen",
    "migration_address",
    "state_dir",
    "run_dir",
    "hooks_dir",
    "qemu_binary",
    "kernel_dir",
    "accel",
    "cpu_source",
    "cpus",
    "cpu_models",
    "migration_bandwidth_mbps",
    "max_incoming_migrations",
    "max_outgoing_migrations",
    "memory_reserve_mib",
    "memory_overhead_mib",
    "shutdown_timeout_s",
    "hook_timeout_s",
    "migration_timeout_s",
    "dirty_rate_interval_s",
    "incoming_prealloc",
    "console_log_max_kib",
    NULL,
};

/* A misspelt key would otherwise fall back to its default unnoticed. */
static gboolean agent_config_check_known(GKeyFile *kf, const char *origin,
                                         GError **error)
{
    static const char *const groups[] = {"agent", "storage", "networks", NULL};
    g_auto(GStrv) names = g_key_file_get_groups(kf, NULL);
    g_auto(GStrv) keys = NULL;

    for (guint i = 0; names[i] != NULL; i++) {
        if (!g_strv_contains(groups, names[i])) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                        "%s: unknown section [%s]", origin, names[i]);
            return FALSE;
        }
    }
    keys = g_key_file_get_keys(kf, "agent", NULL, NULL);
    for (guint i = 0; keys && keys[i] != NULL; i++) {
        if (!g_strv_contains(agent_config_keys, keys[i])) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                        "%s: unknown key '%s' in [agent]", origin, keys[i]);
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean agent_config_listen(AgentConfig *config, const char *origin,
                                    char **host, GError **error)
{
    const char *colon = strrchr(config->listen, ':');
    guint64 port;

    if (colon == NULL || colon == config->listen ||
        !g_ascii_string_to_unsigned(colon + 1, 10, 1, 65535, &port, NULL)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "%s: [agent] listen must be ADDRESS:PORT with a port in "
                    "[1, 65535], not '%s'",
                    origin, config->listen);
        return FALSE;
    }
    *host = g_strndup(config->listen, colon - config->listen);
    return TRUE;
}

static gboolean agent_config_cpu_models(AgentConfig *config, GKeyFile *kf,
                                        const char *origin, GError **error)
{
    g_autofree char *text = agent_config_string(kf, "cpu_models", NULL);
    g_auto(GStrv) parts = NULL;
    g_autoptr(GStrvBuilder) models = g_strv_builder_new();

    if (text == NULL) {
        return TRUE;
    }
    parts = g_strsplit_set(text, ", \t", -1);
    for (guint i = 0; parts[i] != NULL; i++) {
        if (*parts[i] == '\0') {
            continue;
        }
        if (!drv_name_is_valid(parts[i])) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                        "%s: [agent] cpu_models: '%s' is not a CPU model "
                        "name",
                        origin, parts[i]);
            return FALSE;
        }
        g_strv_builder_add(models, parts[i]);
    }
    config->cpu_models = g_strv_builder_end(models);
    return TRUE;
}

static gboolean agent_config_read(AgentConfig *config, GKeyFile *kf,
                                  const char *origin, GError **error)
{
    g_autofree char *host = NULL;
    g_autofree char *def_run = NULL;

    if (!agent_config_check_known(kf, origin, error)) {
        return FALSE;
    }
    config->name = agent_config_string(kf, "name", NULL);
    if (config->name == NULL || !drv_name_is_valid(config->name)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "%s: [agent] name is required: 1-64 letters, digits, "
                    "'.', '_' or '-'",
                    origin);
        return FALSE;
    }
    config->listen = agent_config_string(kf, "listen", "127.0.0.1:7001");
    config->url = g_strdup_printf("http://%s", config->listen);
    if (!agent_config_listen(config, origin, &host, error)) {
        return FALSE;
    }
    config->migration_address =
        agent_config_string(kf, "migration_address", host);
    config->state_dir = agent_config_string(kf, "state_dir", NULL);
    if (config->state_dir == NULL || !g_path_is_absolute(config->state_dir)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "%s: [agent] state_dir is required and must be absolute",
                    origin);
        return FALSE;
    }
    def_run = g_build_filename(config->state_dir, "run", NULL);
    config->run_dir = agent_config_string(kf, "run_dir", def_run);
    config->hooks_dir = agent_config_string(kf, "hooks_dir", NULL);
    config->qemu_binary = agent_config_string(kf, "qemu_binary", DROVER_QEMU);
    config->kernel_dir =
        agent_config_string(kf, "kernel_dir", DROVER_BUILD_ROOT);
    config->accel = agent_config_string(kf, "accel", NULL);
    if (config->accel && !g_str_equal(config->accel, "kvm") &&
        !g_str_equal(config->accel, "tcg")) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "%s: [agent] accel must be kvm or tcg, not '%s'", origin,
                    config->accel);
        return FALSE;
    }
    {
        g_autofree char *source = agent_config_string(kf, "cpu_source", "host");

        if (!g_str_equal(source, "host") && !g_str_equal(source, "vms")) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                        "%s: [agent] cpu_source must be host or vms, not "
                        "'%s'",
                        origin, source);
            return FALSE;
        }
        config->cpu_from_vms = g_str_equal(source, "vms");
    }
    if (!agent_config_uint(kf, origin, "cpus", g_get_num_processors(), 1, 4096,
                           &config->cpus, error) ||
        !agent_config_cpu_models(config, kf, origin, error) ||
        !agent_config_uint(kf, origin, "migration_bandwidth_mbps", 0, 1,
                           1000000, &config->migration_bandwidth_mbps, error) ||
        !agent_config_uint(kf, origin, "max_incoming_migrations", 2, 1, 64,
                           &config->max_incoming_migrations, error) ||
        !agent_config_uint(kf, origin, "max_outgoing_migrations", 2, 1, 64,
                           &config->max_outgoing_migrations, error) ||
        !agent_config_uint(kf, origin, "memory_reserve_mib", 256, 0, G_MAXINT,
                           &config->memory_reserve_mib, error) ||
        !agent_config_uint(kf, origin, "memory_overhead_mib", 64, 0, 65536,
                           &config->memory_overhead_mib, error) ||
        !agent_config_uint(kf, origin, "shutdown_timeout_s", 30, 1, 3600,
                           &config->shutdown_timeout_s, error) ||
        !agent_config_uint(kf, origin, "hook_timeout_s", 30, 1, 3600,
                           &config->hook_timeout_s, error) ||
        !agent_config_uint(kf, origin, "migration_timeout_s", 900, 10, 86400,
                           &config->migration_timeout_s, error) ||
        !agent_config_uint(kf, origin, "dirty_rate_interval_s", 0, 0, 86400,
                           &config->dirty_rate_interval_s, error) ||
        !agent_config_bool(kf, origin, "incoming_prealloc", FALSE,
                           &config->incoming_prealloc, error) ||
        !agent_config_uint(kf, origin, "console_log_max_kib", 4096, 16,
                           1024 * 1024, &config->console_log_max_kib, error)) {
        return FALSE;
    }
    config->storage =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    config->networks =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    return agent_config_section(kf, origin, "storage", config->storage, TRUE,
                                error) &&
           agent_config_section(kf, origin, "networks", config->networks, FALSE,
                                error);
}

AgentConfig *agent_config_parse(const char *data, const char *origin,
                                GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(AgentConfig) config = g_new0(AgentConfig, 1);
    g_autoptr(GError) local = NULL;

    if (!g_key_file_load_from_data(kf, data, (gsize)-1, G_KEY_FILE_NONE,
                                   &local)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID, "%s: %s", origin,
                    local->message);
        return NULL;
    }
    if (!agent_config_read(config, kf, origin, error)) {
        return NULL;
    }
    return g_steal_pointer(&config);
}

AgentConfig *agent_config_load(const char *path, GError **error)
{
    g_autofree char *data = NULL;

    if (!g_file_get_contents(path, &data, NULL, error)) {
        return NULL;
    }
    return agent_config_parse(data, path, error);
}
