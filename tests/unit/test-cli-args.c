/*
 * Arguments that become request bodies: --disk and --nic values, "vm
 * create" options over a --file spec, "cluster set" KEY=VALUE pairs with
 * their types; malformed ones are usage errors (exit status 2).
 */
#include <glib/gstdio.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "common/json.h"

static char *to_json(JsonObject *obj)
{
    return drv_json_object_to_string(obj, FALSE);
}

static void test_disk(void)
{
    const struct {
        const char *arg;
        const char *json;
    } good[] = {
        {"shared:web1.qcow2:qcow2",
         "{\"storage_domain\":\"shared\",\"path\":\"web1.qcow2\","
         "\"format\":\"qcow2\"}"},
        {"shared:web1.img",
         "{\"storage_domain\":\"shared\",\"path\":\"web1.img\"}"},
        {"nfs:dir/sub/web1.raw:raw",
         "{\"storage_domain\":\"nfs\",\"path\":\"dir/sub/web1.raw\","
         "\"format\":\"raw\"}"},
    };
    const char *bad[] = {
        "shared",        "shared:", ":web1.img", "shared:web1.img:vmdk",
        "shared::qcow2", "",
    };

    for (guint i = 0; i < G_N_ELEMENTS(good); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonObject) disk = cli_parse_disk(good[i].arg, &error);
        g_autofree char *text = NULL;

        g_assert_no_error(error);
        text = to_json(disk);
        g_assert_cmpstr(text, ==, good[i].json);
    }
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;

        g_assert_null(cli_parse_disk(bad[i], &error));
        g_assert_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED);
        g_assert_true(g_str_has_prefix(error->message, "--disk '"));
    }
}

static void test_nic(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) plain = cli_parse_nic("vmnet", &error);
    g_autoptr(JsonObject) mac = cli_parse_nic("vmnet:52:54:00:12:34:56", NULL);
    g_autofree char *a = to_json(plain);
    g_autofree char *b = to_json(mac);
    const char *bad[] = {"", ":52:54:00:12:34:56", "vmnet:"};

    g_assert_cmpstr(a, ==, "{\"network\":\"vmnet\"}");
    g_assert_cmpstr(b, ==,
                    "{\"network\":\"vmnet\",\"mac\":\"52:54:00:12:34:56\"}");
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) local = NULL;

        g_assert_null(cli_parse_nic(bad[i], &local));
        g_assert_error(local, G_OPTION_ERROR, G_OPTION_ERROR_FAILED);
    }
}

static void test_cluster_settings_types(void)
{
    const char *pairs[] = {"cpu_baseline=Nehalem",
                           "max_outgoing_migrations=4",
                           "max_cpu_percent=90",
                           "migration.policy=post_copy",
                           "migration.bandwidth_mbps=0",
                           "migration.auto_converge=yes",
                           "migration.compression=False",
                           "migration.post_copy=Inherit",
                           NULL};
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) body = cli_parse_cluster_settings(pairs, &error);
    g_autofree char *text = NULL;

    g_assert_no_error(error);
    text = to_json(body);
    g_assert_cmpstr(text, ==,
                    "{\"cpu_baseline\":\"Nehalem\","
                    "\"max_outgoing_migrations\":4,\"max_cpu_percent\":90,"
                    "\"migration\":{\"policy\":\"post_copy\","
                    "\"bandwidth_mbps\":0,\"auto_converge\":true,"
                    "\"compression\":false,\"post_copy\":\"inherit\"}}");
}

static void test_cluster_scheduling_settings(void)
{
    const char *pairs[] = {"scheduling_policy=power_saving",
                           "scheduling.high_utilization=70",
                           "scheduling.overcommit_duration_minutes=0.5",
                           "scheduling.min_free_memory_for_under_utilized="
                           "Default",
                           NULL};
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) body = cli_parse_cluster_settings(pairs, &error);
    g_autofree char *text = NULL;

    g_assert_no_error(error);
    text = to_json(body);
    g_assert_cmpstr(text, ==,
                    "{\"scheduling_policy\":{\"name\":\"power_saving\","
                    "\"parameters\":{\"high_utilization\":70,"
                    "\"overcommit_duration_minutes\":0.5,"
                    "\"min_free_memory_for_under_utilized\":null}}}");
}

static void test_cluster_settings_errors(void)
{
    const struct {
        const char *pair;
        const char *message;
    } cases[] = {
        {"max_cpu_percent", "expected KEY=VALUE"},
        {"=3", "expected KEY=VALUE"},
        {"colour=blue", "unknown cluster setting 'colour'"},
        {"migration.colour=blue", "unknown cluster setting"},
        {"max_cpu_percent=lots", "'max_cpu_percent' must be a whole number"},
        {"max_cpu_percent=-1", "'max_cpu_percent' must be a whole number"},
        {"max_cpu_percent=", "'max_cpu_percent' must be a whole number"},
        {"migration.post_copy=maybe",
         "'migration.post_copy' must be true, false or inherit"},
        {"cpu_baseline=", "'cpu_baseline' needs a value"},
        {"scheduling.high_utilization=lots",
         "'scheduling.high_utilization' must be a number or default"},
        {"scheduling.=3", "unknown cluster setting 'scheduling.'"},
        {"scheduling.x=", "'scheduling.x' must be a number or default"},
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        const char *pairs[] = {cases[i].pair, NULL};
        g_autoptr(GError) error = NULL;

        g_assert_null(cli_parse_cluster_settings(pairs, &error));
        g_assert_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED);
        if (!g_str_has_prefix(error->message, cases[i].message)) {
            g_error("'%s': '%s' does not start with '%s'", cases[i].pair,
                    error->message, cases[i].message);
        }
    }
    {
        const char *twice[] = {"max_cpu_percent=1", "max_cpu_percent=2", NULL};
        const char *none[] = {NULL};
        g_autoptr(GError) a = NULL;
        g_autoptr(GError) b = NULL;

        g_assert_null(cli_parse_cluster_settings(twice, &a));
        g_assert_error(a, G_OPTION_ERROR, G_OPTION_ERROR_FAILED);
        g_assert_null(cli_parse_cluster_settings(none, &b));
        g_assert_error(b, G_OPTION_ERROR, G_OPTION_ERROR_FAILED);
    }
}

static JsonObject *create_body(const char *const *argv, gboolean *json,
                               GError **error)
{
    return cli_vm_create_body((char **)argv, json, error);
}

static void test_vm_create_full(void)
{
    const char *argv[] = {"create",
                          "--name",
                          "web1",
                          "--memory",
                          "128",
                          "--vcpus",
                          "2",
                          "--cpu-model",
                          "Nehalem",
                          "--kernel",
                          "guest/drover-testguest.elf",
                          "--append",
                          "wss=16 rate=20",
                          "--disk",
                          "shared:web1.qcow2:qcow2",
                          "--disk=shared:data.img",
                          "--nic",
                          "vmnet:52:54:00:12:34:56",
                          "--nic",
                          "other",
                          "--priority",
                          "high",
                          "--migration-mode",
                          "manual_only",
                          "--pin",
                          "host1",
                          "--pin",
                          "host2",
                          "--cluster",
                          "prod",
                          "--json",
                          NULL};
    g_autoptr(GError) error = NULL;
    gboolean json = FALSE;
    g_autoptr(JsonObject) body = create_body(argv, &json, &error);
    g_autofree char *text = NULL;

    g_assert_no_error(error);
    g_assert_true(json);
    text = to_json(body);
    g_assert_cmpstr(
        text, ==,
        "{\"name\":\"web1\",\"memory_mib\":128,\"vcpus\":2,"
        "\"cpu_model\":\"Nehalem\",\"kernel\":\"guest/drover-testguest.elf\","
        "\"append\":\"wss=16 rate=20\",\"disks\":[{\"storage_domain\":"
        "\"shared\",\"path\":\"web1.qcow2\",\"format\":\"qcow2\"},"
        "{\"storage_domain\":\"shared\",\"path\":\"data.img\"}],"
        "\"nics\":[{\"network\":\"vmnet\",\"mac\":\"52:54:00:12:34:56\"},"
        "{\"network\":\"other\"}],\"priority\":\"high\","
        "\"migration\":{\"mode\":\"manual_only\"},"
        "\"pinned_hosts\":[\"host1\",\"host2\"],"
        "\"cluster\":{\"name\":\"prod\"}}");
}

static void test_vm_create_minimal(void)
{
    const char *argv[] = {"create", "--name", "a", "--memory", "64", NULL};
    g_autoptr(JsonObject) body = create_body(argv, NULL, NULL);
    g_autofree char *text = to_json(body);

    g_assert_cmpstr(text, ==, "{\"name\":\"a\",\"memory_mib\":64}");
}

static void test_vm_create_file(void)
{
    g_autofree char *dir = g_dir_make_tmp("test-cli-args-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "spec.json", NULL);
    const char *argv[] = {"create", "--file",           path,       "--memory",
                          "256",    "--migration-mode", "disabled", NULL};
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) body = NULL;
    g_autofree char *text = NULL;

    g_assert_true(g_file_set_contents(
        path,
        "{\"name\": \"db1\", \"memory_mib\": 128, \"migration\": "
        "{\"policy\": \"legacy\"}, \"nics\": [{\"network\": \"vmnet\"}]}",
        -1, NULL));
    body = create_body(argv, NULL, &error);
    g_assert_no_error(error);
    text = to_json(body);
    /* options override the file member by member */
    g_assert_cmpstr(text, ==,
                    "{\"name\":\"db1\",\"memory_mib\":256,\"migration\":"
                    "{\"policy\":\"legacy\",\"mode\":\"disabled\"},"
                    "\"nics\":[{\"network\":\"vmnet\"}]}");
    g_unlink(path);
    g_rmdir(dir);
}

static void test_vm_create_errors(void)
{
    const struct {
        const char *argv[8];
        int code; /* G_OPTION_ERROR_* or -1 for another domain */
        const char *message;
    } cases[] = {
        {{"create", "--memory", "64", NULL},
         G_OPTION_ERROR_FAILED,
         "vm create needs --name"},
        {{"create", "--name", "a", NULL},
         G_OPTION_ERROR_FAILED,
         "vm create needs --memory"},
        {{"create", "--name", "a", "--memory", "lots", NULL},
         G_OPTION_ERROR_FAILED,
         "--memory must be a whole number"},
        {{"create", "--name", "a", "--memory", "0", NULL},
         G_OPTION_ERROR_FAILED,
         "--memory must be a whole number"},
        {{"create", "--name", "a", "--memory", "64", "--vcpus", "x", NULL},
         G_OPTION_ERROR_FAILED,
         "--vcpus must be"},
        {{"create", "--name", "a", "--memory", "64", "--priority", "urgent",
          NULL},
         G_OPTION_ERROR_FAILED,
         "--priority must be one of low, medium, high, not 'urgent'"},
        {{"create", "--name", "a", "--memory", "64", "--migration-mode", "no",
          NULL},
         G_OPTION_ERROR_FAILED,
         "--migration-mode must be one of"},
        {{"create", "--name", "a", "--memory", "64", "--disk", "x", NULL},
         G_OPTION_ERROR_FAILED,
         "--disk 'x'"},
        {{"create", "--name", "a", "--memory", "64", "extra", NULL},
         G_OPTION_ERROR_FAILED,
         "usage: drover vm create"},
        {{"create", "--colour", "blue", NULL},
         G_OPTION_ERROR_UNKNOWN_OPTION,
         "drover vm create: "},
        {{"create", "--file", "/nonexistent/spec.json", NULL},
         -1,
         "--file /nonexistent/spec.json: "},
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = NULL;

        g_assert_null(create_body(cases[i].argv, NULL, &error));
        g_assert_nonnull(error);
        if (cases[i].code >= 0) {
            g_assert_error(error, G_OPTION_ERROR, cases[i].code);
        } else {
            g_assert_true(error->domain != G_OPTION_ERROR);
        }
        if (!g_str_has_prefix(error->message, cases[i].message)) {
            g_error("case %u: '%s' does not start with '%s'", i, error->message,
                    cases[i].message);
        }
    }
}

static void test_parse_positional(void)
{
    gboolean wait = FALSE;
    gboolean json = FALSE;
    const GOptionEntry entries[] = {
        {"wait", 0, 0, G_OPTION_ARG_NONE, &wait, "", NULL},
        {NULL},
    };
    const char *argv[] = {"migrate", "web1", "--wait", "--json", NULL};
    const char *none[] = {"migrate", "--wait", NULL};
    const char *many[] = {"migrate", "a", "b", NULL};
    g_autoptr(GError) error = NULL;
    g_autoptr(GError) e1 = NULL;
    g_autoptr(GError) e2 = NULL;
    g_auto(GStrv) rest = cli_parse("vm migrate", "VM [--wait]", entries, &json,
                                   (char **)argv, 1, 1, &error);

    g_assert_no_error(error);
    g_assert_cmpuint(g_strv_length(rest), ==, 1);
    g_assert_cmpstr(rest[0], ==, "web1");
    g_assert_true(wait);
    g_assert_true(json);
    g_assert_null(cli_parse("vm migrate", "VM [--wait]", entries, &json,
                            (char **)none, 1, 1, &e1));
    g_assert_error(e1, G_OPTION_ERROR, G_OPTION_ERROR_FAILED);
    g_assert_cmpstr(e1->message, ==, "usage: drover vm migrate VM [--wait]");
    g_assert_null(cli_parse("vm migrate", "VM [--wait]", entries, &json,
                            (char **)many, 1, 1, &e2));
    g_assert_error(e2, G_OPTION_ERROR, G_OPTION_ERROR_FAILED);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cli/args/disk", test_disk);
    g_test_add_func("/cli/args/nic", test_nic);
    g_test_add_func("/cli/args/cluster-settings-types",
                    test_cluster_settings_types);
    g_test_add_func("/cli/args/cluster-scheduling",
                    test_cluster_scheduling_settings);
    g_test_add_func("/cli/args/cluster-settings-errors",
                    test_cluster_settings_errors);
    g_test_add_func("/cli/args/vm-create-full", test_vm_create_full);
    g_test_add_func("/cli/args/vm-create-minimal", test_vm_create_minimal);
    g_test_add_func("/cli/args/vm-create-file", test_vm_create_file);
    g_test_add_func("/cli/args/vm-create-errors", test_vm_create_errors);
    g_test_add_func("/cli/args/parse-positional", test_parse_positional);
    return g_test_run();
}
