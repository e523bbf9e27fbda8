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

static char *agent_config_string(GKeyFile *kf, const char *key,
                                 const char *def)
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
        g_autofree char *value = g_key_file_get_string(kf, group, keys[i],
                                                       NULL);

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

static gboolean agent_config_read(AgentConfig *config, GKeyFile *kf,
                                  const char *origin, GError **error)
{
    g_autofree char *cpu_models = NULL;
    char *host_end;

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
    host_end = strrchr(config->listen, ':');
    if (host_end == NULL || host_end == config->listen) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "%s: [agent] listen must be ADDRESS:PORT, not '%s'",
                    origin, config->listen);
        return FALSE;
    }
    {
        g_autofree char *host = g_strndup(config->listen,
                                          host_end - config->listen);

        config->migration_address = agent_config_string(kf,
                                                        "migration_address",
                                                        host);
    }
    config->state_dir = agent_config_string(kf, "state_dir", NULL);
    if (config->state_dir == NULL || !g_path_is_absolute(config->state_dir)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "%s: [agent] state_dir is required and must be absolute",
                    origin);
        return FALSE;
    }
    {
        g_autofree char *def_run = g_build_filename(config->state_dir, "run",
                                                    NULL);

        config->run_dir = agent_config_string(kf, "run_dir", def_run);
    }
    config->hooks_dir = agent_config_string(kf, "hooks_dir", NULL);
    config->qemu_binary = agent_config_string(kf, "qemu_binary", DROVER_QEMU);
    config->kernel_dir = agent_config_string(kf, "kernel_dir",
                                             DROVER_BUILD_ROOT);
    config->accel = agent_config_string(kf, "accel", NULL);
    if (config->accel && !g_str_equal(config->accel, "kvm") &&
        !g_str_equal(config->accel, "tcg")) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "%s: [agent] accel must be kvm or tcg, not '%s'", origin,
                    config->accel);
        return FALSE;
    }
    cpu_models = agent_config_string(kf, "cpu_models", NULL);
    if (cpu_models != NULL) {
        config->cpu_models = g_strsplit_set(cpu_models, ", ", -1);
    }
    if (!agent_config_uint(kf, origin, "migration_bandwidth_mbps", 1000, 1,
                           1000000, &config->migration_bandwidth_mbps,
                           error) ||
        !agent_config_uint(kf, origin, "max_incoming_migrations", 2, 1, 64,
                           &config->max_incoming_migrations, error) ||
        !agent_config_uint(kf, origin, "max_outgoing_migrations", 2, 1, 64,
                           &config->max_outgoing_migrations, error) ||
        !agent_config_uint(kf, origin, "memory_reserve_mib", 256, 0,
                           G_MAXINT, &config->memory_reserve_mib, error) ||
        !agent_config_uint(kf, origin, "memory_overhead_mib", 64, 0, 65536,
                           &config->memory_overhead_mib, error) ||
        !agent_config_uint(kf, origin, "shutdown_timeout_s", 30, 1, 3600,
                           &config->shutdown_timeout_s, error) ||
        !agent_config_uint(kf, origin, "hook_timeout_s", 30, 1, 3600,
                           &config->hook_timeout_s, error) ||
        !agent_config_uint(kf, origin, "migration_timeout_s", 900, 10, 86400,
                           &config->migration_timeout_s, error) ||
        !agent_config_uint(kf, origin, "console_log_max_kib", 4096, 16,
                           1024 * 1024, &config->console_log_max_kib,
                           error)) {
        return FALSE;
    }
    config->storage = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                            g_free);
    config->networks = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                             g_free);
    return agent_config_section(kf, origin, "storage", config->storage, TRUE,
                                error) &&
           agent_config_section(kf, origin, "networks", config->networks,
                                FALSE, error);
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
