/*
 * The QEMU command line and file resolution of drover-agent: what a VM spec
 * turns into, and what is refused before QEMU is ever started.
 */
#include <glib/gstdio.h>

#include "agent/config.h"
#include "agent/qemu.h"
#include "common/error.h"
#include "common/json.h"

typedef struct {
    char *dir;
    char *shared;
    AgentConfig *config;
} Fixture;

static const char *spec_text =
    "{\"id\": \"6f1b7c2e-0d6a-4b51-9b1e-3f1f0c8e2a10\", \"name\": \"web1\","
    " \"memory_mib\": 128, \"vcpus\": 2, \"cpu_model\": \"Westmere\","
    " \"kernel\": \"guest.elf\", \"append\": \"wss=16 rate=20\","
    " \"disks\": [{\"storage_domain\": \"shared\", \"path\": "
    "\"vms/web1.qcow2\", \"format\": \"qcow2\"}],"
    " \"nics\": [{\"network\": \"vmnet\", \"mac\": \"52:54:00:12:34:56\"},"
    " {\"network\": \"prod\", \"mac\": \"52:54:00:12:34:57\"}]}";

static DrvVmSpec *parse_spec(const char *text)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) obj = drv_json_parse_object(text, -1, &error);
    DrvVmSpec *spec;

    g_assert_no_error(error);
    spec = drv_vm_spec_from_json(obj, FALSE, &error);
    g_assert_no_error(error);
    return spec;
}

static void touch(const char *path)
{
    g_autofree char *dir = g_path_get_dirname(path);

    g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
    g_assert_true(g_file_set_contents(path, "x", 1, NULL));
}

static void fixture_setup(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;
    g_autofree char *disk = NULL;
    g_autofree char *kernel = NULL;

    f->dir = g_dir_make_tmp("drv-qemu-XXXXXX", &error);
    g_assert_no_error(error);
    f->shared = g_build_filename(f->dir, "shared", NULL);
    text = g_strdup_printf("[agent]\nname=host1\nstate_dir=%s/state\n"
                           "kernel_dir=%s\n[storage]\nshared=%s\n"
                           "[networks]\nvmnet=user\nprod=br0\n",
                           f->dir, f->dir, f->shared);
    f->config = agent_config_parse(text, "test", &error);
    g_assert_no_error(error);
    disk = g_build_filename(f->shared, "vms", "web1.qcow2", NULL);
    kernel = g_build_filename(f->dir, "guest.elf", NULL);
    touch(disk);
    touch(kernel);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", f->dir);

    g_assert_cmpint(system(cmd), ==, 0);
    agent_config_free(f->config);
    g_free(f->shared);
    g_free(f->dir);
}

static AgentQemuCaps caps_of(const char *accel, const char *version)
{
    AgentQemuCaps caps = {0};

    caps.accel = (char *)accel;
    caps.version = (char *)version;
    return caps;
}

static void test_ram_size(void)
{
    AgentQemuCaps tcg_old = caps_of("tcg", "7.2.22");
    AgentQemuCaps tcg_new = caps_of("tcg", "9.0.0");
    AgentQemuCaps kvm_old = caps_of("kvm", "7.2.22");
    AgentQemuCaps unknown = caps_of("tcg", NULL);

    /* the size QEMU 7.2's TCG migrates correctly is off the 256 KiB grid */
    g_assert_cmpuint(agent_qemu_ram_kib(&tcg_old, 128), ==, 131200);
    g_assert_cmpuint(agent_qemu_ram_kib(&tcg_old, 128) % 256, !=, 0);
    g_assert_cmpuint(agent_qemu_ram_kib(&unknown, 64), ==, 65664);
    g_assert_cmpuint(agent_qemu_ram_kib(&tcg_new, 128), ==, 131072);
    g_assert_cmpuint(agent_qemu_ram_kib(&kvm_old, 128), ==, 131072);

    g_assert_true(agent_qemu_ram_kib_valid(128, 131072));
    g_assert_true(agent_qemu_ram_kib_valid(128, 131200));
    g_assert_false(agent_qemu_ram_kib_valid(128, 131073));
    g_assert_false(agent_qemu_ram_kib_valid(128, 262144));
    g_assert_false(agent_qemu_ram_kib_valid(128, 0));
}

/* The argument following @flag, or NULL. */
static const char *arg_after(GStrv argv, const char *flag, guint nth)
{
    for (guint i = 0; argv[i] && argv[i + 1]; i++) {
        if (g_str_equal(argv[i], flag) && nth-- == 0) {
            return argv[i + 1];
        }
    }
    return NULL;
}

static void test_argv(Fixture *f, gconstpointer data)
{
    g_autoptr(DrvVmSpec) spec = parse_spec(spec_text);
    g_autoptr(GError) error = NULL;
    g_autofree char *vm_dir = g_build_filename(f->dir, "vm", NULL);
    g_autoptr(AgentQemuPaths) paths =
        agent_qemu_paths_new(f->config, spec, vm_dir, &error);
    g_auto(GStrv) argv = NULL;
    g_auto(GStrv) incoming = NULL;
    g_autofree char *disk = NULL;

    g_assert_no_error(error);
    argv = agent_qemu_build_argv(f->config, "tcg", spec, "pc-i440fx-7.2",
                                 131200, paths, AGENT_QEMU_RUN, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(argv[0], ==, "qemu-system-x86_64");
    g_assert_cmpstr(arg_after(argv, "-uuid", 0), ==, spec->id);
    g_assert_cmpstr(arg_after(argv, "-machine", 0), ==, "pc-i440fx-7.2");
    g_assert_cmpstr(arg_after(argv, "-accel", 0), ==, "tcg");
    g_assert_cmpstr(arg_after(argv, "-cpu", 0), ==, "Westmere");
    g_assert_cmpstr(arg_after(argv, "-m", 0), ==, "131200K");
    g_assert_cmpstr(arg_after(argv, "-smp", 0), ==, "2");
    g_assert_cmpstr(arg_after(argv, "-append", 0), ==, "wss=16 rate=20");
    g_assert_true(
        g_str_has_suffix(arg_after(argv, "-kernel", 0), "/guest.elf"));
    /* paused until the agent has the console, always */
    g_assert_true(g_strv_contains((const char *const *)argv, "-S"));
    g_assert_true(g_strv_contains((const char *const *)argv, "-daemonize"));
    g_assert_false(g_strv_contains((const char *const *)argv, "-incoming"));
    g_assert_false(g_strv_contains((const char *const *)argv, "-mem-prealloc"));

    disk = g_strdup_printf("file=%s/vms/web1.qcow2,format=qcow2,if=none,"
                           "id=drive0,cache=none,aio=threads",
                           f->shared);
    g_assert_cmpstr(arg_after(argv, "-drive", 0), ==, disk);
    g_assert_cmpstr(arg_after(argv, "-netdev", 0), ==, "user,id=net0");
    g_assert_cmpstr(arg_after(argv, "-netdev", 1), ==, "bridge,id=net1,br=br0");
    g_assert_cmpstr(arg_after(argv, "-device", 1), ==,
                    "virtio-net-pci,netdev=net0,mac=52:54:00:12:34:56,"
                    "id=nic0");
    g_assert_cmpstr(arg_after(argv, "-device", 2), ==,
                    "virtio-net-pci,netdev=net1,mac=52:54:00:12:34:57,"
                    "id=nic1");

    incoming =
        agent_qemu_build_argv(f->config, "tcg", spec, "pc-i440fx-7.2", 131200,
                              paths, AGENT_QEMU_INCOMING, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(arg_after(incoming, "-incoming", 0), ==, "defer");
    g_assert_false(
        g_strv_contains((const char *const *)incoming, "-mem-prealloc"));
    g_clear_pointer(&incoming, g_strfreev);
    /* the destination's RAM allocated before the stream arrives */
    incoming =
        agent_qemu_build_argv(f->config, "tcg", spec, "pc-i440fx-7.2", 131200,
                              paths, AGENT_QEMU_INCOMING_PREALLOC, &error);
    g_assert_cmpstr(arg_after(incoming, "-incoming", 0), ==, "defer");
    g_assert_true(
        g_strv_contains((const char *const *)incoming, "-mem-prealloc"));
}

static void test_unknown_network(Fixture *f, gconstpointer data)
{
    g_autoptr(DrvVmSpec) spec = parse_spec(spec_text);
    g_autoptr(GError) error = NULL;
    g_autofree char *vm_dir = g_build_filename(f->dir, "vm", NULL);
    g_autoptr(AgentQemuPaths) paths =
        agent_qemu_paths_new(f->config, spec, vm_dir, &error);
    g_auto(GStrv) argv = NULL;

    g_hash_table_remove(f->config->networks, "prod");
    argv = agent_qemu_build_argv(f->config, "tcg", spec, "pc", 131072, paths,
                                 AGENT_QEMU_RUN, &error);
    g_assert_null(argv);
    g_assert_error(error, DRV_ERROR, DRV_ERROR_NO_NETWORK);
    g_assert_nonnull(strstr(error->message, "prod"));
}

static void expect_paths_error(Fixture *f, const char *from, const char *to,
                               int code, const char *word)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) parts = g_strsplit(spec_text, from, 2);
    g_autoptr(DrvVmSpec) spec = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *vm_dir = g_build_filename(f->dir, "vm", NULL);
    g_autoptr(AgentQemuPaths) paths = NULL;

    g_assert_nonnull(parts[1]);
    text = g_strjoin(to, parts[0], parts[1], NULL);
    spec = parse_spec(text);
    paths = agent_qemu_paths_new(f->config, spec, vm_dir, &error);
    g_assert_null(paths);
    g_assert_error(error, DRV_ERROR, code);
    g_assert_nonnull(strstr(error->message, word));
}

static void test_path_refusals(Fixture *f, gconstpointer data)
{
    expect_paths_error(f, "\"storage_domain\": \"shared\"",
                       "\"storage_domain\": \"gold\"", DRV_ERROR_NO_STORAGE,
                       "gold");
    expect_paths_error(f, "vms/web1.qcow2", "vms/none.qcow2",
                       DRV_ERROR_NOT_FOUND, "vms/none.qcow2");
    expect_paths_error(f, "\"kernel\": \"guest.elf\"",
                       "\"kernel\": \"missing.elf\"", DRV_ERROR_NOT_FOUND,
                       "missing.elf");
}

static void test_socket_path_bound(Fixture *f, gconstpointer data)
{
    g_autoptr(DrvVmSpec) spec = parse_spec(spec_text);
    g_autoptr(GError) error = NULL;
    g_autoptr(AgentQemuPaths) paths = NULL;

    g_free(f->config->run_dir);
    f->config->run_dir = g_strnfill(90, 'r');
    paths = agent_qemu_paths_new(f->config, spec, f->dir, &error);
    g_assert_null(paths);
    g_assert_error(error, DRV_ERROR, DRV_ERROR_INVALID);
    g_assert_nonnull(strstr(error->message, "run_dir"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qemu/ram-size", test_ram_size);
    g_test_add("/qemu/argv", Fixture, NULL, fixture_setup, test_argv,
               fixture_teardown);
    g_test_add("/qemu/unknown-network", Fixture, NULL, fixture_setup,
               test_unknown_network, fixture_teardown);
    g_test_add("/qemu/path-refusals", Fixture, NULL, fixture_setup,
               test_path_refusals, fixture_teardown);
    g_test_add("/qemu/socket-path-bound", Fixture, NULL, fixture_setup,
               test_socket_path_bound, fixture_teardown);
    return g_test_run();
}
