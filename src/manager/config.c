#include "manager/config.h"

#include "common/error.h"

static const char *const mgr_config_keys[] = {
    "listen",
    "database",
    "web_dir",
    "poll_interval_s",
    "host_timeout_s",
    "agent_timeout_ms",
    "maintenance_retry_s",
    "migration_attempts",
    "migration_poll_ms",
    "migration_history",
    "events_kept",
    "migration_policy",
    "migration_post_copy",
    "migration_auto_converge",
    "migration_compression",
    "balance_interval_s",
    "power_command_timeout_s",
    "power_on_timeout_s",
    NULL,
};

void mgr_config_free(MgrConfig *config)
{
    if (config == NULL) {
        return;
    }
    g_free(config->listen);
    g_free(config->database);
    g_free(config->web_dir);
    g_free(config->migration_policy);
    g_free(config);
}

static char *mgr_config_string(GKeyFile *kf, const char *key, const char *def)
{
    g_autofree char *value = g_key_file_get_string(kf, "manager", key, NULL);

    if (value != NULL) {
        g_strstrip(value);
        if (*value != '\0') {
            return g_steal_pointer(&value);
        }
    }
    return g_strdup(def);
}

static gboolean mgr_config_uint(GKeyFile *kf, const char *origin,
                                const char *key, guint def, guint min,
                                guint max, guint *out, GError **error)
{
    g_autofree char *text = mgr_config_string(kf, key, NULL);
    guint64 value;

    if (text == NULL) {
        *out = def;
        return TRUE;
    }
    if (!g_ascii_string_to_unsigned(text, 10, min, max, &value, NULL)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "%s: [manager] %s must be an integer in [%u, %u], not "
                    "'%s'",
                    origin, key, min, max, text);
        return FALSE;
    }
    *out = (guint)value;
    return TRUE;
}

/* A misspelt key would otherwise fall back to its default unnoticed. */
static gboolean mgr_config_check_known(GKeyFile *kf, const char *origin,
                                       GError **error)
{
    g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
    g_auto(GStrv) keys = NULL;

    for (guint i = 0; groups[i] != NULL; i++) {
        if (!g_str_equal(groups[i], "manager")) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                        "%s: unknown section [%s]", origin, groups[i]);
            return FALSE;
        }
    }
    keys = g_key_file_get_keys(kf, "manager", NULL, NULL);
    for (guint i = 0; keys && keys[i] != NULL; i++) {
        if (!g_strv_contains(mgr_config_keys, keys[i])) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                        "%s: unknown key '%s' in [manager]", origin, keys[i]);
            return FALSE;
        }
    }
    return TRUE;
}

/* "policy" (the policy decides), "true" or "false". */
static gboolean mgr_config_switch(GKeyFile *kf, const char *origin,
                                  const char *key, DrvTristate *out,
                                  GError **error)
{
    g_autofree char *text = mgr_config_string(kf, key, "policy");

    if (g_str_equal(text, "policy")) {
        *out = DRV_TRISTATE_INHERIT;
    } else if (g_str_equal(text, "true") || g_str_equal(text, "false")) {
        *out =
            g_str_equal(text, "true") ? DRV_TRISTATE_TRUE : DRV_TRISTATE_FALSE;
    } else {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "%s: [manager] %s must be policy, true or false, not "
                    "'%s'",
                    origin, key, text);
        return FALSE;
    }
    return TRUE;
}

static gboolean mgr_config_migration(MgrConfig *config, GKeyFile *kf,
                                     const char *origin, GError **error)
{
    g_autofree char *post_copy =
        mgr_config_string(kf, "migration_post_copy", "true");
    g_autoptr(GError) local = NULL;

    config->migration_policy =
        mgr_config_string(kf, "migration_policy", "adaptive");
    if (!drv_migration_policy_check("[manager] migration_policy",
                                    config->migration_policy, FALSE, &local)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID, "%s: %s", origin,
                    local->message);
        return FALSE;
    }
    if (!g_str_equal(post_copy, "true") && !g_str_equal(post_copy, "false")) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "%s: [manager] migration_post_copy must be true or false",
                    origin);
        return FALSE;
    }
    config->migration_post_copy = g_str_equal(post_copy, "true");
    return mgr_config_switch(kf, origin, "migration_auto_converge",
                             &config->migration_auto_converge, error) &&
           mgr_config_switch(kf, origin, "migration_compression",
                             &config->migration_compression, error);
}

MgrConfig *mgr_config_parse(const char *data, const char *origin,
                            GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(MgrConfig) config = g_new0(MgrConfig, 1);
    g_autoptr(GError) local = NULL;
    const char *colon;

    if (!g_key_file_load_from_data(kf, data, (gsize)-1, G_KEY_FILE_NONE,
                                   &local)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID, "%s: %s", origin,
                    local->message);
        return NULL;
    }
    if (!mgr_config_check_known(kf, origin, error)) {
        return NULL;
    }
    config->listen = mgr_config_string(kf, "listen", "127.0.0.1:8080");
    colon = strrchr(config->listen, ':');
    if (colon == NULL || colon == config->listen ||
        !g_ascii_string_to_unsigned(colon + 1, 10, 1, 65535, NULL, NULL)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "%s: [manager] listen must be ADDRESS:PORT, not '%s'",
                    origin, config->listen);
        return NULL;
    }
    config->database = mgr_config_string(kf, "database", NULL);
    if (config->database == NULL ||
        (!g_path_is_absolute(config->database) &&
         !g_str_equal(config->database, ":memory:"))) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "%s: [manager] database is required: an absolute path",
                    origin);
        return NULL;
    }
    config->web_dir = mgr_config_string(kf, "web_dir", NULL);
    if (!mgr_config_uint(kf, origin, "poll_interval_s", 3, 1, 300,
                         &config->poll_interval_s, error) ||
        !mgr_config_uint(kf, origin, "host_timeout_s", 10, 1, 3600,
                         &config->host_timeout_s, error) ||
        !mgr_config_uint(kf, origin, "agent_timeout_ms", 5000, 100, 120000,
                         &config->agent_timeout_ms, error) ||
        !mgr_config_uint(kf, origin, "maintenance_retry_s", 300, 1, 86400,
                         &config->maintenance_retry_s, error) ||
        !mgr_config_uint(kf, origin, "migration_attempts", 3, 1, 16,
                         &config->migration_attempts, error) ||
        !mgr_config_uint(kf, origin, "migration_poll_ms", 500, 100, 10000,
                         &config->migration_poll_ms, error) ||
        !mgr_config_uint(kf, origin, "migration_history", 1000, 10, 1000000,
                         &config->migration_history, error) ||
        !mgr_config_uint(kf, origin, "events_kept", 100000, 100, 100000000,
                         &config->events_kept, error) ||
        !mgr_config_uint(kf, origin, "balance_interval_s", 60, 1, 3600,
                         &config->balance_interval_s, error) ||
        !mgr_config_uint(kf, origin, "power_command_timeout_s", 60, 1, 3600,
                         &config->power_command_timeout_s, error) ||
        !mgr_config_uint(kf, origin, "power_on_timeout_s", 600, 10, 86400,
                         &config->power_on_timeout_s, error) ||
        !mgr_config_migration(config, kf, origin, error)) {
        return NULL;
    }
    return g_steal_pointer(&config);
}

MgrConfig *mgr_config_load(const char *path, GError **error)
{
    g_autofree char *data = NULL;

    if (!g_file_get_contents(path, &data, NULL, error)) {
        return NULL;
    }
    return mgr_config_parse(data, path, error);
}
