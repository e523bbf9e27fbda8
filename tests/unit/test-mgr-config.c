/*
 * droverd configuration: every key read, defaults, each invalid value
 * refused with a message naming its key.
 */
#include "common/error.h"
#include "manager/config.h"

static const char full[] = "[manager]\n"
                           "listen=0.0.0.0:9090\n"
                           "database=/var/lib/drover/drover.db\n"
                           "web_dir=/usr/share/drover/web\n"
                           "poll_interval_s=5\n"
                           "host_timeout_s=30\n"
                           "agent_timeout_ms=2000\n"
                           "maintenance_retry_s=60\n"
                           "migration_attempts=4\n"
                           "migration_poll_ms=250\n"
                           "migration_history=500\n"
                           "events_kept=1000\n"
                           "balance_interval_s=5\n"
                           "power_command_timeout_s=20\n"
                           "power_on_timeout_s=120\n"
                           "migration_policy=minimal_downtime\n"
                           "migration_post_copy=false\n"
                           "migration_auto_converge=true\n"
                           "migration_compression=false\n";

static void test_full(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(MgrConfig) config = mgr_config_parse(full, "full.conf", &error);

    g_assert_no_error(error);
    g_assert_cmpstr(config->listen, ==, "0.0.0.0:9090");
    g_assert_cmpstr(config->database, ==, "/var/lib/drover/drover.db");
    g_assert_cmpstr(config->web_dir, ==, "/usr/share/drover/web");
    g_assert_cmpuint(config->poll_interval_s, ==, 5);
    g_assert_cmpuint(config->host_timeout_s, ==, 30);
    g_assert_cmpuint(config->agent_timeout_ms, ==, 2000);
    g_assert_cmpuint(config->maintenance_retry_s, ==, 60);
    g_assert_cmpuint(config->migration_attempts, ==, 4);
    g_assert_cmpuint(config->migration_poll_ms, ==, 250);
    g_assert_cmpuint(config->migration_history, ==, 500);
    g_assert_cmpuint(config->events_kept, ==, 1000);
    g_assert_cmpuint(config->balance_interval_s, ==, 5);
    g_assert_cmpuint(config->power_command_timeout_s, ==, 20);
    g_assert_cmpuint(config->power_on_timeout_s, ==, 120);
    g_assert_cmpstr(config->migration_policy, ==, "minimal_downtime");
    g_assert_false(config->migration_post_copy);
    g_assert_cmpint(config->migration_auto_converge, ==, DRV_TRISTATE_TRUE);
    g_assert_cmpint(config->migration_compression, ==, DRV_TRISTATE_FALSE);
}

static void test_defaults(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(MgrConfig) config =
        mgr_config_parse("[manager]\ndatabase=:memory:\n", "min.conf", &error);

    g_assert_no_error(error);
    g_assert_cmpstr(config->listen, ==, "127.0.0.1:8080");
    g_assert_null(config->web_dir);
    g_assert_cmpuint(config->poll_interval_s, ==, 3);
    g_assert_cmpuint(config->agent_timeout_ms, ==, 5000);
    g_assert_cmpuint(config->balance_interval_s, ==, 60);
    g_assert_cmpuint(config->power_command_timeout_s, ==, 60);
    g_assert_cmpuint(config->power_on_timeout_s, ==, 600);
    g_assert_cmpstr(config->migration_policy, ==, "adaptive");
    g_assert_true(config->migration_post_copy);
    g_assert_cmpint(config->migration_auto_converge, ==, DRV_TRISTATE_INHERIT);
    g_assert_cmpint(config->migration_compression, ==, DRV_TRISTATE_INHERIT);
}

static void test_errors(void)
{
    const struct {
        const char *line;
        const char *message;
    } cases[] = {
        {"listen=8080", "listen must be ADDRESS:PORT"},
        {"poll_interval_s=0", "poll_interval_s must be an integer in [1, 300]"},
        {"migration_attempts=many", "migration_attempts must be an integer"},
        {"balance_interval_s=0", "balance_interval_s must be an integer in "
                                 "[1, 3600]"},
        {"power_on_timeout_s=5", "power_on_timeout_s must be an integer"},
        {"migration_policy=fast",
         "[manager] migration_policy must be one of adaptive, legacy, "
         "minimal_downtime, post_copy, suspend_workload, not 'fast'"},
        {"migration_policy=inherit", "migration_policy must be one of"},
        {"migration_post_copy=maybe", "migration_post_copy must be true or"},
        {"migration_auto_converge=yes",
         "migration_auto_converge must be policy, true or false"},
        {"migration_compression=1", "migration_compression must be policy"},
        {"colour=blue", "unknown key 'colour'"},
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *text = g_strdup_printf(
            "[manager]\ndatabase=:memory:\n%s\n", cases[i].line);
        g_autoptr(GError) error = NULL;
        g_autoptr(MgrConfig) config =
            mgr_config_parse(text, "bad.conf", &error);

        g_assert_null(config);
        g_assert_error(error, DRV_ERROR, DRV_ERROR_INVALID);
        if (!g_str_has_prefix(error->message, "bad.conf: ") ||
            strstr(error->message, cases[i].message) == NULL) {
            g_error("'%s': '%s' lacks '%s'", cases[i].line, error->message,
                    cases[i].message);
        }
    }
    {
        g_autoptr(GError) error = NULL;

        g_assert_null(mgr_config_parse("[manager]\n", "nodb.conf", &error));
        g_assert_error(error, DRV_ERROR, DRV_ERROR_INVALID);
        g_assert_nonnull(strstr(error->message, "database is required"));
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/mgr-config/full", test_full);
    g_test_add_func("/mgr-config/defaults", test_defaults);
    g_test_add_func("/mgr-config/errors", test_errors);
    return g_test_run();
}
