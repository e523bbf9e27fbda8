/*
 * The VM spec of DESIGN.md §4: the example parses and round-trips, every
 * bound and every refusal is DRV_ERROR_INVALID naming the member.
 */
#include "common/error.h"
#include "common/json.h"
#include "common/vmspec.h"

static const char design_example[] =
    "{\"id\": \"6f1c1d7e-1c4b-4b5e-9a53-0d5c1b2a3e4f\", \"name\": \"web1\","
    " \"memory_mib\": 128, \"vcpus\": 1, \"cpu_model\": \"qemu64\","
    " \"kernel\": \"guest/drover-testguest.elf\","
    " \"append\": \"wss=16 rate=20\","
    " \"disks\": [{\"storage_domain\": \"shared\", \"path\": \"web1.qcow2\","
    " \"format\": \"qcow2\"}],"
    " \"nics\":  [{\"network\": \"vmnet\", \"mac\": \"52:54:00:12:34:56\"}],"
    " \"migration\": {\"mode\": \"manual_and_automatic\","
    " \"policy\": \"inherit\", \"auto_converge\": \"inherit\","
    " \"compression\": \"inherit\"},"
    " \"priority\": \"medium\", \"highly_available\": false,"
    " \"pinned_hosts\": []}";

/* The smallest valid spec, as a base for the refusal cases. */
static const char minimal[] =
    "{\"id\": \"6f1c1d7e-1c4b-4b5e-9a53-0d5c1b2a3e4f\", \"name\": \"vm\","
    " \"memory_mib\": 64}";

static JsonObject *parse(const char *text)
{
    g_autoptr(GError) error = NULL;
    JsonObject *obj = drv_json_parse_object(text, -1, &error);

    g_assert_no_error(error);
    return obj;
}

static DrvVmSpec *spec_from_text(const char *text, gboolean generate_id,
                                 GError **error)
{
    g_autoptr(JsonObject) obj = parse(text);

    return drv_vm_spec_from_json(obj, generate_id, error);
}

static char *spec_to_text(const DrvVmSpec *spec)
{
    g_autoptr(JsonObject) obj = drv_vm_spec_to_json(spec);

    return drv_json_object_to_string(obj, FALSE);
}

static void test_design_example(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(DrvVmSpec) spec = spec_from_text(design_example, FALSE, &error);
    DrvDiskSpec *disk;
    DrvNicSpec *nic;

    g_assert_no_error(error);
    g_assert_nonnull(spec);
    g_assert_cmpstr(spec->id, ==, "6f1c1d7e-1c4b-4b5e-9a53-0d5c1b2a3e4f");
    g_assert_cmpstr(spec->name, ==, "web1");
    g_assert_cmpuint(spec->memory_mib, ==, 128);
    g_assert_cmpuint(spec->vcpus, ==, 1);
    g_assert_cmpstr(spec->cpu_model, ==, "qemu64");
    g_assert_cmpstr(spec->kernel, ==, "guest/drover-testguest.elf");
    g_assert_cmpstr(spec->append, ==, "wss=16 rate=20");
    g_assert_cmpuint(spec->disks->len, ==, 1);
    disk = g_ptr_array_index(spec->disks, 0);
    g_assert_cmpstr(disk->storage_domain, ==, "shared");
    g_assert_cmpstr(disk->path, ==, "web1.qcow2");
    g_assert_cmpint(disk->format, ==, DRV_DISK_FORMAT_QCOW2);
    g_assert_cmpuint(spec->nics->len, ==, 1);
    nic = g_ptr_array_index(spec->nics, 0);
    g_assert_cmpstr(nic->network, ==, "vmnet");
    g_assert_cmpstr(nic->mac, ==, "52:54:00:12:34:56");
    g_assert_cmpint(spec->migration_mode, ==,
                    DRV_MIGRATION_MODE_MANUAL_AND_AUTOMATIC);
    g_assert_cmpstr(spec->migration_policy, ==, "inherit");
    g_assert_cmpint(spec->auto_converge, ==, DRV_TRISTATE_INHERIT);
    g_assert_cmpint(spec->compression, ==, DRV_TRISTATE_INHERIT);
    g_assert_cmpint(spec->post_copy, ==, DRV_TRISTATE_INHERIT);
    g_assert_cmpuint(spec->bandwidth_mbps, ==, 0);
    g_assert_cmpint(spec->priority, ==, DRV_PRIORITY_MEDIUM);
    g_assert_false(spec->highly_available);
    g_assert_cmpuint(g_strv_length(spec->pinned_hosts), ==, 0);
}

static void test_round_trip(void)
{
    const char *const texts[] = {
        design_example,
        minimal,
        "{\"id\": \"6F1C1D7E-1C4B-4B5E-9A53-0D5C1B2A3E4F\", \"name\": \"db\","
        " \"memory_mib\": 4096, \"vcpus\": 4, \"cpu_model\": \"Haswell-v4\","
        " \"disks\": [{\"storage_domain\": \"a\", \"path\": \"x/y.img\"},"
        " {\"storage_domain\": \"b\", \"path\": \"x/y.img\","
        " \"format\": \"raw\"}],"
        " \"nics\": [{\"network\": \"n1\", \"mac\": \"52:54:00:AB:CD:EF\"},"
        " {\"network\": \"n2\"}],"
        " \"migration\": {\"mode\": \"manual_only\", \"policy\": \"suspend_workload\","
        " \"auto_converge\": true, \"compression\": false,"
        " \"post_copy\": true, \"bandwidth_mbps\": 500},"
        " \"priority\": \"high\", \"highly_available\": true,"
        " \"pinned_hosts\": [\"host1\", \"host2\"]}",
    };

    for (guint i = 0; i < G_N_ELEMENTS(texts); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(DrvVmSpec) spec = spec_from_text(texts[i], FALSE, &error);
        g_autoptr(DrvVmSpec) again = NULL;
        g_autoptr(DrvVmSpec) copy = NULL;
        g_autofree char *first = NULL;
        g_autofree char *second = NULL;
        g_autofree char *copied = NULL;

        g_assert_no_error(error);
        first = spec_to_text(spec);
        again = spec_from_text(first, FALSE, &error);
        g_assert_no_error(error);
        second = spec_to_text(again);
        g_assert_cmpstr(first, ==, second);
        copy = drv_vm_spec_copy(spec);
        copied = spec_to_text(copy);
        g_assert_cmpstr(first, ==, copied);
    }
}

static void test_values_kept(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(DrvVmSpec) spec = spec_from_text(
        "{\"id\": \"6F1C1D7E-1C4B-4B5E-9A53-0D5C1B2A3E4F\", \"name\": \"db\","
        " \"memory_mib\": 4096, \"vcpus\": 256,"
        " \"nics\": [{\"network\": \"n1\", \"mac\": \"52:54:00:AB:CD:EF\"}],"
        " \"migration\": {\"mode\": \"disabled\", \"policy\": \"suspend_workload\","
        " \"auto_converge\": true, \"compression\": false,"
        " \"bandwidth_mbps\": 500},"
        " \"priority\": \"low\", \"pinned_hosts\": [\"host1\"]}",
        FALSE, &error);

    g_assert_no_error(error);
    /* ids and MACs are normalized to lowercase */
    g_assert_cmpstr(spec->id, ==, "6f1c1d7e-1c4b-4b5e-9a53-0d5c1b2a3e4f");
    g_assert_cmpstr(((DrvNicSpec *)g_ptr_array_index(spec->nics, 0))->mac, ==,
                    "52:54:00:ab:cd:ef");
    g_assert_cmpuint(spec->vcpus, ==, 256);
    g_assert_cmpint(spec->migration_mode, ==, DRV_MIGRATION_MODE_DISABLED);
    g_assert_cmpstr(spec->migration_policy, ==, "suspend_workload");
    g_assert_cmpint(spec->auto_converge, ==, DRV_TRISTATE_TRUE);
    g_assert_cmpint(spec->compression, ==, DRV_TRISTATE_FALSE);
    g_assert_cmpuint(spec->bandwidth_mbps, ==, 500);
    g_assert_cmpint(spec->priority, ==, DRV_PRIORITY_LOW);
    g_assert_cmpstr(spec->pinned_hosts[0], ==, "host1");
    /* defaults */
    g_assert_cmpstr(spec->cpu_model, ==, "qemu64");
    g_assert_null(spec->kernel);
    g_assert_false(spec->highly_available);
}

/*
 * @members: JSON text spliced into the minimal spec (replacing its
 * memory_mib when it sets one).  The error must name @needle.
 */
static void assert_invalid(const char *members, const char *needle)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;
    g_autoptr(DrvVmSpec) spec = NULL;

    if (strstr(members, "\"memory_mib\"") != NULL) {
        text = g_strdup_printf("{\"id\": "
                               "\"6f1c1d7e-1c4b-4b5e-9a53-0d5c1b2a3e4f\", "
                               "\"name\": \"vm\", %s}",
                               members);
    } else if (strstr(members, "\"name\"") != NULL) {
        text = g_strdup_printf("{\"id\": "
                               "\"6f1c1d7e-1c4b-4b5e-9a53-0d5c1b2a3e4f\", "
                               "\"memory_mib\": 64, %s}",
                               members);
    } else {
        text = g_strdup_printf("{\"id\": "
                               "\"6f1c1d7e-1c4b-4b5e-9a53-0d5c1b2a3e4f\", "
                               "\"name\": \"vm\", \"memory_mib\": 64, %s}",
                               members);
    }
    spec = spec_from_text(text, FALSE, &error);
    if (spec != NULL) {
        g_error("accepted: %s", text);
    }
    g_assert_error(error, DRV_ERROR, DRV_ERROR_INVALID);
    if (strstr(error->message, needle) == NULL) {
        g_error("error for %s does not name '%s': %s", members, needle,
                error->message);
    }
}

static void test_memory_vcpus(void)
{
    g_autofree char *above =
        g_strdup_printf("\"memory_mib\": %d", DRV_VM_MEMORY_MAX_MIB + 1);
    g_autoptr(GError) error = NULL;
    g_autoptr(DrvVmSpec) low = NULL;

    assert_invalid("\"memory_mib\": 15", "memory_mib");
    assert_invalid("\"memory_mib\": 0", "memory_mib");
    assert_invalid("\"memory_mib\": -128", "memory_mib");
    assert_invalid(above, "memory_mib");
    assert_invalid("\"memory_mib\": \"128\"", "memory_mib");
    assert_invalid("\"memory_mib\": 128.5", "memory_mib");
    assert_invalid("\"memory_mib\": null", "memory_mib");
    assert_invalid("\"vcpus\": 0", "vcpus");
    assert_invalid("\"vcpus\": 257", "vcpus");
    assert_invalid("\"vcpus\": 1.5", "vcpus");
    assert_invalid("\"vcpus\": true", "vcpus");
    /* required */
    {
        g_autoptr(DrvVmSpec) none =
            spec_from_text("{\"id\": \"6f1c1d7e-1c4b-4b5e-9a53-0d5c1b2a3e4f\", "
                           "\"name\": \"vm\"}",
                           FALSE, &error);

        g_assert_null(none);
        g_assert_error(error, DRV_ERROR, DRV_ERROR_INVALID);
        g_assert_nonnull(strstr(error->message, "memory_mib"));
        g_clear_error(&error);
    }
    /* the bounds themselves are accepted; 128.0 is an integer */
    low = spec_from_text("{\"id\": \"6f1c1d7e-1c4b-4b5e-9a53-0d5c1b2a3e4f\","
                         " \"name\": \"vm\", \"memory_mib\": 16.0,"
                         " \"vcpus\": 256}",
                         FALSE, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(low->memory_mib, ==, 16);
}

static void test_names(void)
{
    g_autofree char *long_name = g_strnfill(DRV_NAME_MAX + 1, 'a');
    g_autofree char *too_long = g_strdup_printf("\"name\": \"%s\"", long_name);

    assert_invalid("\"name\": \"\"", "name");
    assert_invalid("\"name\": \"-web\"", "name");
    assert_invalid("\"name\": \".web\"", "name");
    assert_invalid("\"name\": \"web 1\"", "name");
    assert_invalid("\"name\": \"web/1\"", "name");
    assert_invalid("\"name\": \"wéb\"", "name");
    assert_invalid("\"name\": 7", "name");
    assert_invalid(too_long, "name");
    assert_invalid("\"cpu_model\": \"qemu64,+vmx\"", "cpu_model");
    g_assert_true(drv_name_is_valid("a"));
    g_assert_true(drv_name_is_valid("Web-1.prod_2"));
    long_name[DRV_NAME_MAX] = '\0';
    g_assert_true(drv_name_is_valid(long_name));
    g_assert_false(drv_name_is_valid(NULL));
}

static void test_macs(void)
{
    assert_invalid("\"nics\": [{\"network\": \"n\", \"mac\": \"52:54:00\"}]",
                   "nics[0]");
    assert_invalid("\"nics\": [{\"network\": \"n\","
                   " \"mac\": \"52-54-00-12-34-56\"}]",
                   "mac");
    assert_invalid("\"nics\": [{\"network\": \"n\","
                   " \"mac\": \"52:54:00:12:34:5g\"}]",
                   "mac");
    /* multicast: the low bit of the first octet */
    assert_invalid("\"nics\": [{\"network\": \"n\","
                   " \"mac\": \"01:00:5e:00:00:01\"}]",
                   "mac");
    assert_invalid("\"nics\": [{\"network\": \"n\","
                   " \"mac\": \"ff:ff:ff:ff:ff:ff\"}]",
                   "mac");
    assert_invalid("\"nics\": [{\"network\": \"n\","
                   " \"mac\": \"00:00:00:00:00:00\"}]",
                   "mac");
    /* the same MAC twice, whatever the case */
    assert_invalid("\"nics\": [{\"network\": \"a\","
                   " \"mac\": \"52:54:00:aa:bb:cc\"},"
                   " {\"network\": \"b\", \"mac\": \"52:54:00:AA:BB:CC\"}]",
                   "nics[0] and nics[1]");
    assert_invalid("\"nics\": [{\"network\": \"a\", \"mac\": 5}]", "mac");
    assert_invalid("\"nics\": [{\"mac\": \"52:54:00:aa:bb:cc\"}]", "network");
    assert_invalid("\"nics\": [\"vmnet\"]", "nics[0]");
    assert_invalid("\"nics\": {}", "nics");
    g_assert_true(drv_mac_is_valid("52:54:00:AB:cd:01"));
    g_assert_true(drv_mac_is_valid("02:00:00:00:00:01"));
    g_assert_false(drv_mac_is_valid("03:00:00:00:00:01"));
    g_assert_false(drv_mac_is_valid(NULL));
}

static void test_generated_mac(void)
{
    for (guint round = 0; round < 50; round++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(DrvVmSpec) spec = spec_from_text(
            "{\"id\": \"6f1c1d7e-1c4b-4b5e-9a53-0d5c1b2a3e4f\","
            " \"name\": \"vm\", \"memory_mib\": 64,"
            " \"nics\": [{\"network\": \"a\"}, {\"network\": \"b\"}]}",
            FALSE, &error);
        const char *mac;
        g_autofree char *lower = NULL;

        /* two random MACs may collide (1 in 2^24): that is a refusal */
        if (spec == NULL) {
            g_assert_error(error, DRV_ERROR, DRV_ERROR_INVALID);
            continue;
        }
        mac = ((DrvNicSpec *)g_ptr_array_index(spec->nics, 0))->mac;
        g_assert_true(drv_mac_is_valid(mac));
        g_assert_true(g_str_has_prefix(mac, "52:54:00:"));
        /* unicast, lowercase */
        lower = g_ascii_strdown(mac, -1);
        g_assert_cmpstr(mac, ==, lower);
        g_assert_cmpstr(mac, !=,
                        ((DrvNicSpec *)g_ptr_array_index(spec->nics, 1))->mac);
    }
}

static void test_disks(void)
{
    assert_invalid("\"disks\": [{\"storage_domain\": \"s\","
                   " \"path\": \"/etc/passwd\"}]",
                   "disks[0]");
    assert_invalid("\"disks\": [{\"storage_domain\": \"s\","
                   " \"path\": \"../other/x.img\"}]",
                   "disks[0]");
    assert_invalid("\"disks\": [{\"storage_domain\": \"s\","
                   " \"path\": \"a/../../x\"}]",
                   "escapes");
    assert_invalid("\"disks\": [{\"storage_domain\": \"s\","
                   " \"path\": \"a/..\"}]",
                   "storage domain itself");
    assert_invalid("\"disks\": [{\"storage_domain\": \"s\", \"path\": \".\"}]",
                   "storage domain itself");
    assert_invalid("\"disks\": [{\"storage_domain\": \"s\", \"path\": \"\"}]",
                   "disks[0]");
    assert_invalid("\"disks\": [{\"storage_domain\": \"s\","
                   " \"path\": \"a,b.img\"}]",
                   "comma");
    assert_invalid("\"disks\": [{\"storage_domain\": \"s\","
                   " \"path\": \"a.img\", \"format\": \"vmdk\"}]",
                   "format");
    assert_invalid("\"disks\": [{\"storage_domain\": \"../s\","
                   " \"path\": \"a.img\"}]",
                   "storage_domain");
    assert_invalid("\"disks\": [{\"path\": \"a.img\"}]", "storage_domain");
    assert_invalid("\"disks\": [{\"storage_domain\": \"s\"}]", "path");
    assert_invalid("\"disks\": [{\"storage_domain\": \"s\","
                   " \"path\": \"a.img\"}, {\"storage_domain\": \"s\","
                   " \"path\": \"a.img\"}]",
                   "disks[0] and disks[1]");
    assert_invalid("\"disks\": [{\"storage_domain\": \"s\","
                   " \"path\": \"a.img\", \"size\": 1}]",
                   "size");
}

static void test_disk_paths_inside(void)
{
    const char *const ok[] = {"a.img", "dir/a.img", "a/../b.img", "./a.img"};

    for (guint i = 0; i < G_N_ELEMENTS(ok); i++) {
        g_autoptr(GError) error = NULL;
        g_autofree char *text = g_strdup_printf(
            "{\"id\": \"6f1c1d7e-1c4b-4b5e-9a53-0d5c1b2a3e4f\","
            " \"name\": \"vm\", \"memory_mib\": 64,"
            " \"disks\": [{\"storage_domain\": \"s\", \"path\": \"%s\"}]}",
            ok[i]);
        g_autoptr(DrvVmSpec) spec = spec_from_text(text, FALSE, &error);

        g_assert_no_error(error);
        g_assert_nonnull(spec);
    }
}

static void test_unknown_members(void)
{
    assert_invalid("\"colour\": \"blue\"", "colour");
    assert_invalid("\"disks\": [{\"storage_domain\": \"s\","
                   " \"path\": \"a.img\", \"cache\": \"none\"}]",
                   "cache");
    assert_invalid("\"nics\": [{\"network\": \"n\", \"model\": \"e1000\"}]",
                   "model");
    assert_invalid("\"migration\": {\"downtime_ms\": 300}", "downtime_ms");
}

static void test_enums(void)
{
    assert_invalid("\"migration\": {\"mode\": \"automatic\"}", "mode");
    assert_invalid("\"migration\": {\"mode\": 1}", "mode");
    assert_invalid("\"migration\": {\"policy\": \"no such\"}", "policy");
    /* a name, but of no policy drover has */
    assert_invalid("\"migration\": {\"policy\": \"fastest\"}",
                   "minimal_downtime");
    assert_invalid("\"migration\": {\"auto_converge\": \"yes\"}",
                   "auto_converge");
    assert_invalid("\"migration\": {\"compression\": 1}", "compression");
    assert_invalid("\"migration\": {\"post_copy\": null}", "post_copy");
    assert_invalid("\"migration\": {\"bandwidth_mbps\": 0}", "bandwidth_mbps");
    assert_invalid("\"migration\": \"manual_only\"", "migration");
    assert_invalid("\"priority\": \"urgent\"", "priority");
    assert_invalid("\"priority\": 2", "priority");
    assert_invalid("\"highly_available\": \"yes\"", "highly_available");
}

static void test_pinned_hosts(void)
{
    g_autoptr(GString) many = g_string_new("\"pinned_hosts\": [");

    assert_invalid("\"pinned_hosts\": [\"host1\", 2]", "pinned_hosts[1]");
    assert_invalid("\"pinned_hosts\": [\"-host\"]", "pinned_hosts[0]");
    assert_invalid("\"pinned_hosts\": [\"\"]", "pinned_hosts[0]");
    assert_invalid("\"pinned_hosts\": [null]", "pinned_hosts[0]");
    assert_invalid("\"pinned_hosts\": \"host1\"", "pinned_hosts");
    for (guint i = 0; i <= DRV_VM_PINNED_MAX; i++) {
        g_string_append_printf(many, "%s\"h%u\"", i ? ", " : "", i);
    }
    g_string_append(many, "]");
    assert_invalid(many->str, "pinned_hosts");
}

static void test_text_members(void)
{
    g_autofree char *long_append = g_strnfill(DRV_VM_APPEND_MAX + 1, 'a');
    g_autofree char *append =
        g_strdup_printf("\"append\": \"%s\"", long_append);

    assert_invalid(append, "append");
    assert_invalid("\"append\": \"a\\nb\"", "append");
    assert_invalid("\"kernel\": \"\"", "kernel");
    assert_invalid("\"kernel\": \"k\\u0001\"", "kernel");
}

static void test_id(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(DrvVmSpec) spec = NULL;
    g_autoptr(DrvVmSpec) other = NULL;

    spec =
        spec_from_text("{\"name\": \"vm\", \"memory_mib\": 64}", FALSE, &error);
    g_assert_null(spec);
    g_assert_error(error, DRV_ERROR, DRV_ERROR_INVALID);
    g_assert_nonnull(strstr(error->message, "'id'"));
    g_clear_error(&error);

    spec =
        spec_from_text("{\"name\": \"vm\", \"memory_mib\": 64}", TRUE, &error);
    g_assert_no_error(error);
    g_assert_true(g_uuid_string_is_valid(spec->id));
    other =
        spec_from_text("{\"name\": \"vm\", \"memory_mib\": 64}", TRUE, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(spec->id, !=, other->id);

    /* a given id is kept even with generate_id */
    g_clear_pointer(&other, drv_vm_spec_free);
    other = spec_from_text(minimal, TRUE, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(other->id, ==, "6f1c1d7e-1c4b-4b5e-9a53-0d5c1b2a3e4f");

    g_clear_pointer(&other, drv_vm_spec_free);
    other = spec_from_text("{\"id\": \"not-a-uuid\", \"name\": \"vm\","
                           " \"memory_mib\": 64}",
                           FALSE, &error);
    g_assert_null(other);
    g_assert_error(error, DRV_ERROR, DRV_ERROR_INVALID);
    g_assert_nonnull(strstr(error->message, "'id'"));
}

static void test_limits_on_arrays(void)
{
    g_autoptr(GString) disks = g_string_new("\"disks\": [");
    g_autoptr(GString) nics = g_string_new("\"nics\": [");

    for (guint i = 0; i <= DRV_VM_DISKS_MAX; i++) {
        g_string_append_printf(disks,
                               "%s{\"storage_domain\": \"s\","
                               " \"path\": \"d%u.img\"}",
                               i ? ", " : "", i);
    }
    g_string_append(disks, "]");
    assert_invalid(disks->str, "disks");
    for (guint i = 0; i <= DRV_VM_NICS_MAX; i++) {
        g_string_append_printf(nics, "%s{\"network\": \"n\"}", i ? ", " : "");
    }
    g_string_append(nics, "]");
    assert_invalid(nics->str, "nics");
}

static void test_names_of_enums(void)
{
    DrvPriority priority;

    g_assert_cmpstr(drv_migration_mode_name(DRV_MIGRATION_MODE_MANUAL_ONLY), ==,
                    "manual_only");
    g_assert_cmpstr(drv_priority_name(DRV_PRIORITY_HIGH), ==, "high");
    g_assert_cmpstr(drv_disk_format_name(DRV_DISK_FORMAT_RAW), ==, "raw");
    g_assert_true(drv_priority_from_name("low", &priority));
    g_assert_cmpint(priority, ==, DRV_PRIORITY_LOW);
    g_assert_false(drv_priority_from_name("LOW", &priority));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/vmspec/design-example", test_design_example);
    g_test_add_func("/vmspec/round-trip", test_round_trip);
    g_test_add_func("/vmspec/values-kept", test_values_kept);
    g_test_add_func("/vmspec/memory-vcpus", test_memory_vcpus);
    g_test_add_func("/vmspec/names", test_names);
    g_test_add_func("/vmspec/macs", test_macs);
    g_test_add_func("/vmspec/generated-mac", test_generated_mac);
    g_test_add_func("/vmspec/disks", test_disks);
    g_test_add_func("/vmspec/disk-paths-inside", test_disk_paths_inside);
    g_test_add_func("/vmspec/unknown-members", test_unknown_members);
    g_test_add_func("/vmspec/enums", test_enums);
    g_test_add_func("/vmspec/pinned-hosts", test_pinned_hosts);
    g_test_add_func("/vmspec/text-members", test_text_members);
    g_test_add_func("/vmspec/id", test_id);
    g_test_add_func("/vmspec/limits-on-arrays", test_limits_on_arrays);
    g_test_add_func("/vmspec/names-of-enums", test_names_of_enums);
    return g_test_run();
}
