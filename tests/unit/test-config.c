/*
 * drover-agent configuration: every key read, defaults, each invalid value
 * refused with a message naming its key.
 */
#include <glib/gstdio.h>

#include "agent/config.h"
#include "common/error.h"
#include "drover-config.h"

static const char full[] = "[agent]\n"
                           "name=host1\n"
                           "listen=127.0.1.1:7101\n"
                           "migration_address=10.0.0.1\n"
                           "state_dir=/var/lib/drover/host1\n"
                           "run_dir=/run/drover/h1\n"
                           "hooks_dir=/etc/drover/hooks\n"
                           "qemu_binary=/usr/bin/qemu-system-x86_64\n"
                           "kernel_dir=/srv/kernels\n"
                           "accel=tcg\n"
                           "migration_bandwidth_mbps=2500\n"
                           "max_incoming_migrations=3\n"
                           "max_outgoing_migrations=4\n"
                           "memory_reserve_mib=512\n"
                           "memory_overhead_mib=32\n"
                           "shutdown_timeout_s=45\n"
                           "hook_timeout_s=20\n"
                           "migration_timeout_s=600\n"
                           "dirty_rate_interval_s=15\n"
                           "incoming_prealloc=true\n"
                           "console_log_max_kib=128\n"
                           "cpu_models=qemu64,Haswell-v4,EPYC\n"
                           "[storage]\n"
                           "shared=/srv/drover/shared\n"
                           "local=/srv/drover/local/\n"
                           "[networks]\n"
                           "vmnet=user\n"
                           "lan=br0\n";

static const char minimal[] = "[agent]\n"
                              "name=host1\n"
                              "state_dir=/var/lib/drover/host1\n";

static void test_full(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(AgentConfig) config =
        agent_config_parse(full, "full.conf", &error);
    const char *const models[] = {"qemu64", "Haswell-v4", "EPYC", NULL};

    g_assert_no_error(error);
    g_assert_nonnull(config);
    g_assert_cmpstr(config->name, ==, "host1");
    g_assert_cmpstr(config->listen, ==, "127.0.1.1:7101");
    g_assert_cmpstr(config->url, ==, "http://127.0.1.1:7101");
    g_assert_cmpstr(config->migration_address, ==, "10.0.0.1");
    g_assert_cmpstr(config->state_dir, ==, "/var/lib/drover/host1");
    g_assert_cmpstr(config->run_dir, ==, "/run/drover/h1");
    g_assert_cmpstr(config->hooks_dir, ==, "/etc/drover/hooks");
    g_assert_cmpstr(config->qemu_binary, ==, "/usr/bin/qemu-system-x86_64");
    g_assert_cmpstr(config->kernel_dir, ==, "/srv/kernels");
    g_assert_cmpstr(config->accel, ==, "tcg");
    g_assert_cmpuint(config->migration_bandwidth_mbps, ==, 2500);
    g_assert_cmpuint(config->max_incoming_migrations, ==, 3);
    g_assert_cmpuint(config->max_outgoing_migrations, ==, 4);
    g_assert_cmpuint(config->memory_reserve_mib, ==, 512);
    g_assert_cmpuint(config->memory_overhead_mib, ==, 32);
    g_assert_cmpuint(config->shutdown_timeout_s, ==, 45);
    g_assert_cmpuint(config->hook_timeout_s, ==, 20);
    g_assert_cmpuint(config->migration_timeout_s, ==, 600);
    g_assert_cmpuint(config->dirty_rate_interval_s, ==, 15);
    g_assert_true(config->incoming_prealloc);
    g_assert_cmpuint(config->console_log_max_kib, ==, 128);
    g_assert_true(
        g_strv_equal((const char *const *)config->cpu_models, models));
    g_assert_cmpuint(g_hash_table_size(config->storage), ==, 2);
    g_assert_cmpstr(g_hash_table_lookup(config->storage, "shared"), ==,
                    "/srv/drover/shared");
    /* paths are canonical */
    g_assert_cmpstr(g_hash_table_lookup(config->storage, "local"), ==,
                    "/srv/drover/local");
    g_assert_cmpuint(g_hash_table_size(config->networks), ==, 2);
    g_assert_cmpstr(g_hash_table_lookup(config->networks, "vmnet"), ==, "user");
    g_assert_cmpstr(g_hash_table_lookup(config->networks, "lan"), ==, "br0");
}

static void test_defaults(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(AgentConfig) config =
        agent_config_parse(minimal, "min.conf", &error);

    g_assert_no_error(error);
    g_assert_cmpstr(config->name, ==, "host1");
    g_assert_cmpstr(config->listen, ==, "127.0.0.1:7001");
    g_assert_cmpstr(config->url, ==, "http://127.0.0.1:7001");
    /* the listen address's host */
    g_assert_cmpstr(config->migration_address, ==, "127.0.0.1");
    g_assert_cmpstr(config->run_dir, ==, "/var/lib/drover/host1/run");
    g_assert_null(config->hooks_dir);
    g_assert_cmpstr(config->qemu_binary, ==, DROVER_QEMU);
    g_assert_cmpstr(config->kernel_dir, ==, DROVER_BUILD_ROOT);
    g_assert_null(config->accel);
    /* not set: the agent takes the NIC's speed when it starts */
    g_assert_cmpuint(config->migration_bandwidth_mbps, ==, 0);
    g_assert_cmpuint(config->max_incoming_migrations, ==, 2);
    g_assert_cmpuint(config->max_outgoing_migrations, ==, 2);
    g_assert_cmpuint(config->memory_reserve_mib, ==, 256);
    g_assert_cmpuint(config->memory_overhead_mib, ==, 64);
    g_assert_cmpuint(config->shutdown_timeout_s, ==, 30);
    g_assert_cmpuint(config->hook_timeout_s, ==, 30);
    g_assert_cmpuint(config->migration_timeout_s, ==, 900);
    g_assert_cmpuint(config->dirty_rate_interval_s, ==, 0);
    g_assert_false(config->incoming_prealloc);
    g_assert_cmpuint(config->console_log_max_kib, ==, 4096);
    g_assert_null(config->cpu_models);
    g_assert_cmpuint(g_hash_table_size(config->storage), ==, 0);
    g_assert_cmpuint(g_hash_table_size(config->networks), ==, 0);
}

static void test_migration_address_from_listen(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(AgentConfig) config = agent_config_parse(
        "[agent]\nname=h\nstate_dir=/s\nlisten=127.0.1.2:7002\n", "c", &error);

    g_assert_no_error(error);
    g_assert_cmpstr(config->migration_address, ==, "127.0.1.2");
    g_assert_cmpstr(config->url, ==, "http://127.0.1.2:7002");
}

/*
 * @agent_lines replace or extend the minimal [agent] section; @extra is
 * appended as is.  The error must be DRV_ERROR_INVALID naming @key and the
 * origin.
 */
static void assert_invalid(const char *agent_lines, const char *extra,
                           const char *key)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;
    g_autoptr(AgentConfig) config = NULL;
    gboolean sets_name = g_str_has_prefix(agent_lines, "name=");
    gboolean sets_state = g_str_has_prefix(agent_lines, "state_dir=");

    text =
        g_strdup_printf("[agent]\n%s%s%s\n%s", sets_name ? "" : "name=host1\n",
                        sets_state ? "" : "state_dir=/var/lib/drover\n",
                        agent_lines, extra ? extra : "");
    config = agent_config_parse(text, "test.conf", &error);
    if (config != NULL) {
        g_error("accepted:\n%s", text);
    }
    g_assert_error(error, DRV_ERROR, DRV_ERROR_INVALID);
    if (strstr(error->message, key) == NULL ||
        !g_str_has_prefix(error->message, "test.conf: ")) {
        g_error("error for '%s' does not name '%s': %s", agent_lines, key,
                error->message);
    }
}

static void test_invalid_values(void)
{
    assert_invalid("name=", NULL, "name");
    assert_invalid("name=-host", NULL, "name");
    assert_invalid("name=host 1", NULL, "name");
    assert_invalid("name=host/1", NULL, "name");
    assert_invalid("state_dir=", NULL, "state_dir");
    assert_invalid("state_dir=var/lib/drover", NULL, "state_dir");
    assert_invalid("listen=localhost", NULL, "listen");
    assert_invalid("listen=:7001", NULL, "listen");
    assert_invalid("accel=hvf", NULL, "accel");
    assert_invalid("accel=KVM", NULL, "accel");
}

static void test_invalid_listen_port(void)
{
    const char *const bad[] = {"listen=127.0.0.1:", "listen=127.0.0.1:http",
                               "listen=127.0.0.1:70000", "listen=127.0.0.1:0"};
    guint accepted = 0;

    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;
        g_autofree char *text =
            g_strdup_printf("[agent]\nname=h\nstate_dir=/s\n%s\n", bad[i]);
        g_autoptr(AgentConfig) config = agent_config_parse(text, "c", &error);

        if (config != NULL) {
            g_test_message("accepted: %s", bad[i]);
            accepted++;
            continue;
        }
        g_assert_error(error, DRV_ERROR, DRV_ERROR_INVALID);
        g_assert_nonnull(strstr(error->message, "listen"));
    }
    g_assert_cmpuint(accepted, ==, 0);
}

static void test_integer_bounds(void)
{
    const struct {
        const char *key;
        const char *low;
        const char *high;
    } keys[] = {
        {"migration_bandwidth_mbps", "0", "1000001"},
        {"max_incoming_migrations", "0", "65"},
        {"max_outgoing_migrations", "0", "65"},
        {"memory_reserve_mib", "-1", "2147483648"},
        {"memory_overhead_mib", "-1", "65537"},
        {"shutdown_timeout_s", "0", "3601"},
        {"hook_timeout_s", "0", "3601"},
        {"migration_timeout_s", "9", "86401"},
        {"dirty_rate_interval_s", "-1", "86401"},
        {"console_log_max_kib", "15", "1048577"},
    };

    for (guint i = 0; i < G_N_ELEMENTS(keys); i++) {
        const char *const values[] = {keys[i].low, keys[i].high, "ten", "12abc",
                                      "1.5"};

        for (guint j = 0; j < G_N_ELEMENTS(values); j++) {
            g_autofree char *line =
                g_strdup_printf("%s=%s\n", keys[i].key, values[j]);

            assert_invalid(line, NULL, keys[i].key);
        }
    }
}

static void test_bool_invalid(void)
{
    const char *const values[] = {"yes", "1", "TRUE", ""};

    for (guint i = 0; i < G_N_ELEMENTS(values); i++) {
        g_autofree char *line =
            g_strdup_printf("incoming_prealloc=%s\n", values[i]);

        assert_invalid(line, NULL, "incoming_prealloc");
    }
}

static void test_integer_limits_accepted(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(AgentConfig) config = agent_config_parse(
        "[agent]\nname=h\nstate_dir=/s\n"
        "migration_bandwidth_mbps=1000000\nmax_incoming_migrations=1\n"
        "max_outgoing_migrations=64\nmemory_reserve_mib=0\n"
        "shutdown_timeout_s= 3600 \nmigration_timeout_s=10\n"
        "console_log_max_kib=16\n",
        "c", &error);

    g_assert_no_error(error);
    g_assert_cmpuint(config->migration_bandwidth_mbps, ==, 1000000);
    g_assert_cmpuint(config->max_incoming_migrations, ==, 1);
    g_assert_cmpuint(config->max_outgoing_migrations, ==, 64);
    g_assert_cmpuint(config->memory_reserve_mib, ==, 0);
    g_assert_cmpuint(config->shutdown_timeout_s, ==, 3600);
    g_assert_cmpuint(config->migration_timeout_s, ==, 10);
    g_assert_cmpuint(config->console_log_max_kib, ==, 16);
}

static void test_invalid_sections(void)
{
    assert_invalid("", "[storage]\nshared=srv/drover\n", "shared");
    assert_invalid("", "[storage]\nshared=\n", "shared");
    assert_invalid("", "[storage]\n-bad=/srv/x\n", "-bad");
    assert_invalid("", "[networks]\nvmnet=br 0\n", "vmnet");
    assert_invalid("", "[networks]\nvmnet=\n", "vmnet");
    assert_invalid("", "[networks]\nvmnet=../br0\n", "vmnet");
    assert_invalid("", "[networks]\nbad name=user\n", "bad name");
}

static void test_cpu_models(void)
{
    const struct {
        const char *value;
        const char *const expected[4];
    } cases[] = {
        {"qemu64", {"qemu64", NULL}},
        {"qemu64,Haswell-v4", {"qemu64", "Haswell-v4", NULL}},
        {"qemu64 Haswell-v4 EPYC", {"qemu64", "Haswell-v4", "EPYC", NULL}},
        {"qemu64, Haswell-v4 ,EPYC", {"qemu64", "Haswell-v4", "EPYC", NULL}},
    };
    guint wrong = 0;

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = NULL;
        g_autofree char *text = g_strdup_printf(
            "[agent]\nname=h\nstate_dir=/s\ncpu_models=%s\n", cases[i].value);
        g_autoptr(AgentConfig) config = agent_config_parse(text, "c", &error);
        g_autofree char *got = NULL;

        g_assert_no_error(error);
        g_assert_nonnull(config->cpu_models);
        if (!g_strv_equal((const char *const *)config->cpu_models,
                          cases[i].expected)) {
            got = g_strjoinv("|", config->cpu_models);
            g_test_message("'%s' gives '%s'", cases[i].value, got);
            wrong++;
        }
    }
    g_assert_cmpuint(wrong, ==, 0);
}

static void test_unknown_keys(void)
{
    const struct {
        const char *text;
        const char *word;
    } cases[] = {
        {"[agent]\nname=h\nstate_dir=/s\nmigration_bandwith_mbps=5\n",
         "migration_bandwith_mbps"},
        {"[agent]\nname=h\nstate_dir=/s\n[storge]\nx=/y\n", "storge"},
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(AgentConfig) config =
            agent_config_parse(cases[i].text, "c", &error);

        g_assert_null(config);
        g_assert_error(error, DRV_ERROR, DRV_ERROR_INVALID);
        g_assert_nonnull(strstr(error->message, cases[i].word));
    }
}

static void test_malformed_file(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(AgentConfig) config = NULL;

    config = agent_config_parse("this is not a key file\n", "bad.conf", &error);
    g_assert_null(config);
    g_assert_error(error, DRV_ERROR, DRV_ERROR_INVALID);
    g_assert_true(g_str_has_prefix(error->message, "bad.conf: "));
    g_clear_error(&error);

    config = agent_config_parse("[storage]\nshared=/srv\n", "nosection.conf",
                                &error);
    g_assert_null(config);
    g_assert_error(error, DRV_ERROR, DRV_ERROR_INVALID);
    g_assert_nonnull(strstr(error->message, "name"));
}

static void test_load(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *tmp = g_dir_make_tmp("drover-config-XXXXXX", &error);
    g_autofree char *path = g_build_filename(tmp, "agent.conf", NULL);
    g_autofree char *missing = g_build_filename(tmp, "missing.conf", NULL);
    g_autoptr(AgentConfig) config = NULL;

    g_assert_no_error(error);
    g_assert_true(g_file_set_contents(path, full, -1, NULL));
    config = agent_config_load(path, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(config->name, ==, "host1");
    g_clear_pointer(&config, agent_config_free);

    g_assert_true(g_file_set_contents(path, "[agent]\nname=h\n", -1, NULL));
    config = agent_config_load(path, &error);
    g_assert_null(config);
    g_assert_error(error, DRV_ERROR, DRV_ERROR_INVALID);
    /* the file is named in the message */
    g_assert_true(g_str_has_prefix(error->message, path));
    g_clear_error(&error);

    config = agent_config_load(missing, &error);
    g_assert_null(config);
    g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT);

    g_unlink(path);
    g_rmdir(tmp);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/config/full", test_full);
    g_test_add_func("/config/defaults", test_defaults);
    g_test_add_func("/config/migration-address-from-listen",
                    test_migration_address_from_listen);
    g_test_add_func("/config/invalid-values", test_invalid_values);
    g_test_add_func("/config/invalid-listen-port", test_invalid_listen_port);
    g_test_add_func("/config/integer-bounds", test_integer_bounds);
    g_test_add_func("/config/bool-invalid", test_bool_invalid);
    g_test_add_func("/config/integer-limits-accepted",
                    test_integer_limits_accepted);
    g_test_add_func("/config/invalid-sections", test_invalid_sections);
    g_test_add_func("/config/cpu-models", test_cpu_models);
    g_test_add_func("/config/unknown-keys", test_unknown_keys);
    g_test_add_func("/config/malformed-file", test_malformed_file);
    g_test_add_func("/config/load", test_load);
    return g_test_run();
}
