/*
 * The scheduler: every filter refuses with a reason naming the host and the
 * VM while the other hosts stay allowed, a refused host lists all its
 * reasons, START/MIGRATE/AUTOMATIC differ where they should, and the
 * weights pick exactly one host, deterministically, ignoring noise within a
 * band.
 */
#include "common/error.h"
#include "common/json.h"
#include "manager/scheduler.h"

/* What a healthy agent reports (GET /v1/host), reduced to what matters. */
static const char host_facts[] =
    "{\"cpu\": {\"cpus\": 2, \"utilization_percent\": 10},"
    " \"memory\": {\"free_for_vms_mib\": 4000, \"vm_overhead_mib\": 64},"
    " \"storage_domains\": [{\"name\": \"shared\", \"path\": \"/srv/shared\","
    " \"exists\": true, \"readable\": true, \"writable\": true}],"
    " \"networks\": [{\"name\": \"vmnet\", \"kind\": \"bridge\","
    " \"bridge\": \"br0\", \"available\": true}],"
    " \"qemu\": {\"cpu_models\": [\"qemu64\", \"Haswell\", \"max\"]},"
    " \"migration\": {\"max_incoming\": 2, \"incoming\": 0}}";

static const char vm_spec[] =
    "{\"id\": \"6f1c1d7e-1c4b-4b5e-9a53-0d5c1b2a3e4f\", \"name\": \"web1\","
    " \"memory_mib\": 128, \"vcpus\": 1, \"cpu_model\": \"qemu64\","
    " \"disks\": [{\"storage_domain\": \"shared\", \"path\": \"web1.qcow2\","
    " \"format\": \"qcow2\"}],"
    " \"nics\": [{\"network\": \"vmnet\", \"mac\": \"52:54:00:12:34:56\"}]}";

/* ---- objects ---- */

static MgrHost *th_host_new(const char *name)
{
    g_autofree char *id = g_strdup_printf("id-%s", name);
    MgrHost *host = mgr_host_new(id, name, "http://127.0.0.1:7001", "c1");
    g_autoptr(GError) error = NULL;

    host->status = MGR_HOST_UP;
    host->facts = drv_json_parse_object(host_facts, -1, &error);
    g_assert_no_error(error);
    return host;
}

static MgrVm *th_vm_new(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) obj = drv_json_parse_object(vm_spec, -1, &error);
    DrvVmSpec *spec;
    MgrVm *vm;

    g_assert_no_error(error);
    spec = drv_vm_spec_from_json(obj, FALSE, &error);
    g_assert_no_error(error);
    vm = mgr_vm_new("c1", spec);
    vm->status = MGR_VM_UP;
    vm->host_id = g_strdup("id-host1");
    return vm;
}

/*
 * Three equal hosts, web1 running on host1 and asked to move (MIGRATE),
 * using 20% of host1's two CPUs.
 */
typedef struct {
    MgrCluster *cluster;
    MgrVm *vm;
    GPtrArray *hosts; /* MgrHost *, owned */
    GPtrArray *loads; /* MgrHostLoad *, owned */
    MgrScheduleRequest req;
} Fixture;

static void fx_add_host(Fixture *fx, const char *name)
{
    MgrHost *host = th_host_new(name);
    MgrHostLoad *load = g_new0(MgrHostLoad, 1);

    load->host = host;
    load->cpu_percent = 10;
    load->cpus = 2;
    load->free_memory_mib = 4000;
    load->vm_count = 1;
    g_ptr_array_add(fx->hosts, host);
    g_ptr_array_add(fx->loads, load);
}

static Fixture *fx_new(void)
{
    Fixture *fx = g_new0(Fixture, 1);

    /* the defaults: baseline qemu64, 2 incoming, CPU at most 80% */
    fx->cluster = mgr_cluster_new("c1", "default");
    fx->vm = th_vm_new();
    fx->hosts = g_ptr_array_new_with_free_func((GDestroyNotify)mgr_host_free);
    fx->loads = g_ptr_array_new_with_free_func(g_free);
    fx_add_host(fx, "host1");
    fx_add_host(fx, "host2");
    fx_add_host(fx, "host3");
    fx->req.kind = MGR_SCHEDULE_MIGRATE;
    fx->req.vm = fx->vm;
    fx->req.cluster = fx->cluster;
    fx->req.source_host_id = "id-host1";
    fx->req.vm_cpu_percent = 20;
    fx->req.source_cpus = 2;
    fx->req.memory_overhead_mib = 64;
    return fx;
}

static void fx_free(Fixture *fx)
{
    g_ptr_array_unref(fx->loads);
    g_ptr_array_unref(fx->hosts);
    mgr_vm_free(fx->vm);
    mgr_cluster_free(fx->cluster);
    g_free(fx);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Fixture, fx_free)

/* host1 is index 0, host2 1, host3 2 */
static MgrHost *fx_host(Fixture *fx, guint i)
{
    return g_ptr_array_index(fx->hosts, i);
}

static MgrHostLoad *fx_load(Fixture *fx, guint i)
{
    return g_ptr_array_index(fx->loads, i);
}

static GPtrArray *fx_assess(Fixture *fx)
{
    return mgr_scheduler_assess(&fx->req, fx->loads);
}

static void fx_pin(Fixture *fx, const char *const *names)
{
    g_strfreev(fx->vm->spec->pinned_hosts);
    fx->vm->spec->pinned_hosts = g_strdupv((char **)names);
}

static void fx_set_mode(Fixture *fx, DrvMigrationMode mode)
{
    fx->vm->spec->migration_mode = mode;
}

/* ---- verdict checks ---- */

static MgrVerdict *verdict_of(GPtrArray *verdicts, const char *name)
{
    for (guint i = 0; i < verdicts->len; i++) {
        MgrVerdict *verdict = g_ptr_array_index(verdicts, i);

        if (g_strcmp0(verdict->host_name, name) == 0) {
            return verdict;
        }
    }
    g_assert_not_reached();
}

static guint count_best(GPtrArray *verdicts)
{
    guint n = 0;

    for (guint i = 0; i < verdicts->len; i++) {
        MgrVerdict *verdict = g_ptr_array_index(verdicts, i);

        n += verdict->best;
        /* best is only ever given to an allowed host */
        g_assert_true(!verdict->best || verdict->allowed);
    }
    return n;
}

static void assert_allowed(GPtrArray *verdicts, const char *name)
{
    MgrVerdict *verdict = verdict_of(verdicts, name);

    if (verdict->reasons->len > 0) {
        g_test_message("%s refused: %s", name,
                       (char *)g_ptr_array_index(verdict->reasons, 0));
    }
    g_assert_true(verdict->allowed);
    g_assert_cmpuint(verdict->reasons->len, ==, 0);
}

/* Refused, with @expected among its reasons, and every reason names it. */
static void assert_refused(GPtrArray *verdicts, const char *name,
                           const char *expected)
{
    MgrVerdict *verdict = verdict_of(verdicts, name);
    gboolean found = FALSE;

    g_assert_false(verdict->allowed);
    g_assert_false(verdict->best);
    g_assert_cmpuint(verdict->reasons->len, >, 0);
    for (guint i = 0; i < verdict->reasons->len; i++) {
        const char *reason = g_ptr_array_index(verdict->reasons, i);

        g_assert_nonnull(strstr(reason, name));
        found = found || strstr(reason, expected) != NULL;
    }
    if (!found) {
        g_test_message("%s: expected \"%s\" in \"%s\"", name, expected,
                       (char *)g_ptr_array_index(verdict->reasons, 0));
    }
    g_assert_true(found);
}

/* ---- every filter, one at a time, on host2 ---- */

typedef struct {
    const char *path;
    void (*mutate)(Fixture *fx);
    const char *reason; /* the whole reason, or a part of it */
    gboolean exact;
} FilterCase;

static void mut_maintenance(Fixture *fx)
{
    fx_host(fx, 1)->status = MGR_HOST_MAINTENANCE;
}

static void mut_non_operational(Fixture *fx)
{
    fx_host(fx, 1)->status = MGR_HOST_NON_OPERATIONAL;
    fx_host(fx, 1)->status_reason = g_strdup("cannot run CPU model qemu64");
}

static void mut_non_responsive(Fixture *fx)
{
    fx_host(fx, 1)->status = MGR_HOST_NON_RESPONSIVE;
}

static void mut_connecting(Fixture *fx)
{
    fx_host(fx, 1)->status = MGR_HOST_CONNECTING;
}

static void mut_pinned(Fixture *fx)
{
    const char *const pins[] = {"host3", NULL};

    fx_pin(fx, pins);
}

static JsonObject *host2_facts(Fixture *fx)
{
    return fx_host(fx, 1)->facts;
}

static void set_cpu_models(JsonObject *facts, const char *const *models)
{
    JsonArray *array = json_array_new();

    for (guint i = 0; models[i] != NULL; i++) {
        json_array_add_string_element(array, models[i]);
    }
    json_object_set_array_member(drv_json_object_or_null(facts, "qemu"),
                                 "cpu_models", array);
}

static void mut_vm_cpu_model(Fixture *fx)
{
    const char *const models[] = {"qemu64", "max", NULL};

    g_free(fx->vm->spec->cpu_model);
    fx->vm->spec->cpu_model = g_strdup("Haswell");
    set_cpu_models(host2_facts(fx), models);
}

static void mut_baseline(Fixture *fx)
{
    const char *const with[] = {"qemu64", "Nehalem", NULL};

    g_free(fx->cluster->cpu_baseline);
    fx->cluster->cpu_baseline = g_strdup("Nehalem");
    set_cpu_models(fx_host(fx, 2)->facts, with);
}

static JsonObject *host2_domain(Fixture *fx)
{
    JsonArray *domains =
        drv_json_array_or_null(host2_facts(fx), "storage_domains");

    return json_array_get_object_element(domains, 0);
}

static void mut_storage_missing(Fixture *fx)
{
    json_object_set_string_member(host2_domain(fx), "name", "other");
}

static void mut_storage_absent(Fixture *fx)
{
    json_object_set_boolean_member(host2_domain(fx), "exists", FALSE);
    json_object_set_boolean_member(host2_domain(fx), "readable", FALSE);
    json_object_set_boolean_member(host2_domain(fx), "writable", FALSE);
}

static void mut_storage_read_only(Fixture *fx)
{
    json_object_set_boolean_member(host2_domain(fx), "writable", FALSE);
}

static void mut_storage_no_access(Fixture *fx)
{
    json_object_set_boolean_member(host2_domain(fx), "readable", FALSE);
    json_object_set_boolean_member(host2_domain(fx), "writable", FALSE);
}

static JsonObject *host2_network(Fixture *fx)
{
    JsonArray *networks = drv_json_array_or_null(host2_facts(fx), "networks");

    return json_array_get_object_element(networks, 0);
}

static void mut_network_missing(Fixture *fx)
{
    json_object_set_string_member(host2_network(fx), "name", "other");
}

static void mut_network_unavailable(Fixture *fx)
{
    json_object_set_boolean_member(host2_network(fx), "available", FALSE);
    json_object_set_string_member(host2_network(fx), "reason",
                                  "bridge br0 does not exist");
}

static void mut_memory(Fixture *fx)
{
    fx_load(fx, 1)->free_memory_mib = 180;
}

static void mut_cpu(Fixture *fx)
{
    fx_load(fx, 1)->cpu_percent = 73;
}

static void mut_slots(Fixture *fx)
{
    fx_load(fx, 1)->incoming = 2;
}

static void mut_no_facts(Fixture *fx)
{
    g_clear_pointer(&fx_host(fx, 1)->facts, json_object_unref);
}

static void mut_no_qemu(Fixture *fx)
{
    json_object_remove_member(host2_facts(fx), "qemu");
}

static void mut_no_storage(Fixture *fx)
{
    json_object_remove_member(host2_facts(fx), "storage_domains");
}

static void mut_no_networks(Fixture *fx)
{
    json_object_remove_member(host2_facts(fx), "networks");
}

static void mut_no_cpus(Fixture *fx)
{
    fx_load(fx, 1)->cpus = 0;
}

static const FilterCase filter_cases[] = {
    {"maintenance", mut_maintenance, "host2 is in maintenance", TRUE},
    {"non-operational", mut_non_operational,
     "host2 is non_operational: cannot run CPU model qemu64", TRUE},
    {"non-responsive", mut_non_responsive, "host2 is non_responsive", TRUE},
    {"connecting", mut_connecting, "host2 is still connecting", TRUE},
    {"pinned", mut_pinned, "web1 is pinned to host3, not to host2", TRUE},
    {"vm-cpu-model", mut_vm_cpu_model,
     "host2 cannot run CPU model Haswell, which web1 uses", TRUE},
    {"cpu-baseline", mut_baseline,
     "host2 cannot run the cluster's CPU baseline Nehalem", FALSE},
    {"storage-missing", mut_storage_missing,
     "storage domain shared, which web1's disks use, is not configured on "
     "host2",
     TRUE},
    {"storage-absent", mut_storage_absent,
     "storage domain shared (/srv/shared) does not exist on host2; web1's "
     "disks use it",
     TRUE},
    {"storage-read-only", mut_storage_read_only,
     "storage domain shared (/srv/shared) is not writable on host2", FALSE},
    {"storage-no-access", mut_storage_no_access,
     "is not readable or writable on host2", FALSE},
    {"network-missing", mut_network_missing,
     "network vmnet, which web1's NICs use, is not configured on host2", TRUE},
    {"network-unavailable", mut_network_unavailable,
     "network vmnet is not available on host2 (bridge br0 does not exist); "
     "web1's NICs use it",
     TRUE},
    {"memory", mut_memory,
     "host2 has 180 MiB free for VMs; web1 needs 192 MiB (128 MiB + 64 MiB "
     "overhead)",
     TRUE},
    {"cpu", mut_cpu,
     "host2 would be at 93% CPU with web1, above the cluster's maximum of "
     "80%",
     TRUE},
    {"slots", mut_slots,
     "host2 already receives 2 migrations, the cluster's maximum of 2", FALSE},
    {"no-facts", mut_no_facts, "host2 has not reported its facts yet", FALSE},
    {"no-cpu-models", mut_no_qemu,
     "host2 has not reported the CPU models its QEMU can run", FALSE},
    {"no-storage-domains", mut_no_storage,
     "host2 has not reported its storage domains", FALSE},
    {"no-networks", mut_no_networks, "host2 has not reported its networks",
     FALSE},
    {"no-cpu-count", mut_no_cpus, "the number of CPUs of host2 is not known",
     FALSE},
};

static void test_filter(gconstpointer data)
{
    const FilterCase *tc = data;
    g_autoptr(Fixture) fx = fx_new();
    g_autoptr(GPtrArray) verdicts = NULL;
    MgrVerdict *host2;

    tc->mutate(fx);
    verdicts = fx_assess(fx);
    g_assert_cmpuint(verdicts->len, ==, 3);
    assert_refused(verdicts, "host2", tc->reason);
    host2 = verdict_of(verdicts, "host2");
    /* that filter alone refuses it */
    g_assert_cmpuint(host2->reasons->len, ==, 1);
    if (tc->exact) {
        g_assert_cmpstr(g_ptr_array_index(host2->reasons, 0), ==, tc->reason);
    }
    assert_allowed(verdicts, "host3");
    g_assert_true(verdict_of(verdicts, "host3")->best);
    g_assert_cmpuint(count_best(verdicts), ==, 1);
    g_assert_true(mgr_scheduler_best(verdicts) ==
                  verdict_of(verdicts, "host3"));
}

/* ---- the rest ---- */

static void test_all_allowed(void)
{
    g_autoptr(Fixture) fx = fx_new();
    g_autoptr(GPtrArray) verdicts = fx_assess(fx);
    MgrVerdict *host1;
    MgrVerdict *host2;

    g_assert_cmpuint(verdicts->len, ==, 3);
    /* same order as the hosts */
    for (guint i = 0; i < 3; i++) {
        MgrVerdict *verdict = g_ptr_array_index(verdicts, i);

        g_assert_cmpstr(verdict->host_id, ==, fx_host(fx, i)->id);
        g_assert_cmpstr(verdict->host_name, ==, fx_host(fx, i)->name);
    }
    host1 = verdict_of(verdicts, "host1");
    g_assert_false(host1->allowed);
    g_assert_cmpuint(host1->reasons->len, ==, 1);
    g_assert_cmpstr(g_ptr_array_index(host1->reasons, 0), ==,
                    "host1 is where web1 runs");
    assert_allowed(verdicts, "host2");
    assert_allowed(verdicts, "host3");
    /* equal hosts: the name decides */
    host2 = mgr_scheduler_best(verdicts);
    g_assert_nonnull(host2);
    g_assert_cmpstr(host2->host_name, ==, "host2");
    g_assert_cmpuint(count_best(verdicts), ==, 1);
    g_assert_cmpfloat_with_epsilon(host2->cpu_after_percent, 30.0, 1e-9);
    g_assert_cmpint(host2->free_memory_mib, ==, 4000);
    g_assert_cmpuint(host2->vm_count, ==, 1);
}

static void test_boundaries(void)
{
    g_autoptr(Fixture) fx = fx_new();
    g_autoptr(GPtrArray) verdicts = NULL;

    /* exactly enough memory, exactly the maximum CPU, one slot left */
    fx_load(fx, 1)->free_memory_mib = 192;
    fx_load(fx, 1)->cpu_percent = 60;
    fx_load(fx, 1)->incoming = 1;
    /* just over each limit on host3 */
    fx_load(fx, 2)->free_memory_mib = 191;
    fx_load(fx, 2)->cpu_percent = 60.4;
    fx_load(fx, 2)->incoming = 2;
    verdicts = fx_assess(fx);
    assert_allowed(verdicts, "host2");
    assert_refused(verdicts, "host3", "host3 has 191 MiB free for VMs");
    /* 80.4 is not shown as 80%, which would read as within the maximum */
    assert_refused(verdicts, "host3", "host3 would be at 80.4% CPU");
    assert_refused(verdicts, "host3", "already receives 2 migrations");
    g_assert_cmpuint(verdict_of(verdicts, "host3")->reasons->len, ==, 3);
}

/*
 * The quick check the balancer searches with says what the full
 * assessment says, over many random hosts and requests.
 */
static void test_allows_agrees(void)
{
    g_autoptr(Fixture) fx = fx_new();
    GRand *rand = g_rand_new_with_seed(42);
    const MgrHostStatus statuses[] = {MGR_HOST_UP, MGR_HOST_UP, MGR_HOST_UP,
                                      MGR_HOST_MAINTENANCE};
    const char *const pins[] = {"host2", NULL};
    /* the facts a host may report: each facts filter's refusal, and none */
    const char *const variants[] = {
        host_facts,
        "{\"qemu\": {\"cpu_models\": [\"max\"]},"
        " \"storage_domains\": [{\"name\": \"shared\", \"exists\": true,"
        " \"readable\": true, \"writable\": true}],"
        " \"networks\": [{\"name\": \"vmnet\", \"available\": true}]}",
        "{\"qemu\": {\"cpu_models\": [\"qemu64\"]},"
        " \"storage_domains\": [{\"name\": \"shared\", \"exists\": true,"
        " \"readable\": true, \"writable\": false}],"
        " \"networks\": [{\"name\": \"vmnet\", \"available\": true}]}",
        "{\"qemu\": {\"cpu_models\": [\"qemu64\"]},"
        " \"storage_domains\": [{\"name\": \"shared\", \"exists\": true,"
        " \"readable\": true, \"writable\": true}],"
        " \"networks\": [{\"name\": \"vmnet\", \"available\": false}]}",
        "{\"qemu\": {\"cpu_models\": [\"qemu64\"]}, \"networks\": []}",
        NULL,
    };
    g_autoptr(GHashTable) memo = g_hash_table_new(NULL, NULL);
    guint allowed = 0;

    for (guint round = 0; round < 500; round++) {
        g_autoptr(GPtrArray) verdicts = NULL;
        MgrVerdict *best;
        MgrHostLoad *expected = NULL;

        fx->req.kind = g_rand_int_range(rand, 0, 3);
        fx->req.vm_cpu_percent = g_rand_double_range(rand, 0, 60);
        fx->req.source_host_id =
            fx->req.kind == MGR_SCHEDULE_START ? NULL : "id-host1";
        g_strfreev(fx->vm->spec->pinned_hosts);
        fx->vm->spec->pinned_hosts =
            g_rand_int_range(rand, 0, 4) == 0 ? g_strdupv((char **)pins) : NULL;
        for (guint i = 0; i < 3; i++) {
            MgrHostLoad *load = fx_load(fx, i);
            const char *facts =
                variants[g_rand_int_range(rand, 0, G_N_ELEMENTS(variants))];

            fx_host(fx, i)->status =
                statuses[g_rand_int_range(rand, 0, G_N_ELEMENTS(statuses))];
            g_clear_pointer(&fx_host(fx, i)->facts, json_object_unref);
            if (facts != NULL) {
                fx_host(fx, i)->facts = drv_json_parse_object(facts, -1, NULL);
            }
            load->cpu_percent = g_rand_double_range(rand, 0, 90);
            load->free_memory_mib = g_rand_int_range(rand, 0, 400);
            load->incoming = g_rand_int_range(rand, 0, 3);
        }
        verdicts = fx_assess(fx);
        best = mgr_scheduler_best(verdicts);
        for (guint i = 0; i < 3; i++) {
            MgrVerdict *v = g_ptr_array_index(verdicts, i);
            double cpu_after = -1;

            g_assert_cmpint(
                mgr_scheduler_allows(&fx->req, fx_load(fx, i), &cpu_after), ==,
                v->allowed);
            g_assert_cmpfloat(cpu_after, ==, v->cpu_after_percent);
            allowed += v->allowed;
            if (v == best) {
                expected = fx_load(fx, i);
            }
        }
        /* remembering what each kind of host allows changes nothing */
        g_hash_table_remove_all(memo);
        fx->req.memo = memo;
        for (guint i = 0; i < 3; i++) {
            MgrVerdict *v = g_ptr_array_index(verdicts, i);

            g_assert_cmpint(
                mgr_scheduler_allows(&fx->req, fx_load(fx, i), NULL), ==,
                v->allowed);
        }
        /* and the quick pick is the assessment's best */
        g_assert_true(mgr_scheduler_pick(&fx->req, fx->loads) == expected);
        fx->req.memo = NULL;
    }
    /* both answers came up */
    g_assert_cmpuint(allowed, >, 10);
    g_assert_cmpuint(allowed, <, 1450);
    g_rand_free(rand);
}

static void test_all_reasons(void)
{
    g_autoptr(Fixture) fx = fx_new();
    g_autoptr(GPtrArray) verdicts = NULL;
    MgrVerdict *host2;
    const char *const expected[] = {
        "host2 is in maintenance",
        "network vmnet, which web1's NICs use, is not configured on host2",
        "host2 has 100 MiB free for VMs; web1 needs 192 MiB (128 MiB + 64 MiB "
        "overhead)",
        "host2 would be at 95% CPU with web1, above the cluster's maximum of "
        "80%",
        "host2 already receives 3 migrations, the cluster's maximum of 2; "
        "web1 has to wait",
    };

    mut_maintenance(fx);
    mut_network_missing(fx);
    fx_load(fx, 1)->free_memory_mib = 100;
    fx_load(fx, 1)->cpu_percent = 75;
    fx_load(fx, 1)->incoming = 3;
    verdicts = fx_assess(fx);
    host2 = verdict_of(verdicts, "host2");
    g_assert_false(host2->allowed);
    g_assert_cmpuint(host2->reasons->len, ==, G_N_ELEMENTS(expected));
    for (guint i = 0; i < G_N_ELEMENTS(expected); i++) {
        g_assert_cmpstr(g_ptr_array_index(host2->reasons, i), ==, expected[i]);
    }
    /* still reported for a refused host */
    g_assert_cmpfloat_with_epsilon(host2->cpu_after_percent, 95.0, 1e-9);
    g_assert_cmpint(host2->free_memory_mib, ==, 100);
    assert_allowed(verdicts, "host3");
}

static void test_one_reason_per_domain(void)
{
    g_autoptr(Fixture) fx = fx_new();
    g_autoptr(GPtrArray) verdicts = NULL;
    DrvVmSpec *spec = fx->vm->spec;
    DrvDiskSpec *first = g_ptr_array_index(spec->disks, 0);
    DrvNicSpec *first_nic = g_ptr_array_index(spec->nics, 0);
    DrvDiskSpec *disk = g_new0(DrvDiskSpec, 1);
    DrvNicSpec *nic = g_new0(DrvNicSpec, 1);
    MgrVerdict *host2;

    /* a second disk and NIC on the same storage domain and network */
    disk->storage_domain = g_strdup(first->storage_domain);
    disk->path = g_strdup("web1-data.qcow2");
    nic->network = g_strdup(first_nic->network);
    nic->mac = g_strdup("52:54:00:12:34:57");
    g_ptr_array_add(spec->disks, disk);
    g_ptr_array_add(spec->nics, nic);
    mut_storage_missing(fx);
    mut_network_missing(fx);
    verdicts = fx_assess(fx);
    host2 = verdict_of(verdicts, "host2");
    g_assert_cmpuint(host2->reasons->len, ==, 2);
    assert_refused(verdicts, "host2", "storage domain shared");
    assert_refused(verdicts, "host2", "network vmnet");
    assert_allowed(verdicts, "host3");
}

static void test_start(void)
{
    g_autoptr(Fixture) fx = fx_new();
    g_autoptr(GPtrArray) verdicts = NULL;

    /* a VM that is down: the source, the slots and the mode do not apply */
    fx->req.kind = MGR_SCHEDULE_START;
    fx->req.vm_cpu_percent = 0;
    fx_set_mode(fx, DRV_MIGRATION_MODE_DISABLED);
    for (guint i = 0; i < 3; i++) {
        fx_load(fx, i)->incoming = 5;
    }
    verdicts = fx_assess(fx);
    assert_allowed(verdicts, "host1");
    assert_allowed(verdicts, "host2");
    assert_allowed(verdicts, "host3");
    g_assert_cmpstr(mgr_scheduler_best(verdicts)->host_name, ==, "host1");
    g_assert_cmpfloat_with_epsilon(
        verdict_of(verdicts, "host1")->cpu_after_percent, 10.0, 1e-9);
    g_clear_pointer(&verdicts, g_ptr_array_unref);

    /* the same hosts for a migration */
    fx->req.kind = MGR_SCHEDULE_MIGRATE;
    fx_set_mode(fx, DRV_MIGRATION_MODE_MANUAL_AND_AUTOMATIC);
    verdicts = fx_assess(fx);
    assert_refused(verdicts, "host1", "host1 is where web1 runs");
    assert_refused(verdicts, "host2", "host2 already receives 5 migrations");
    assert_refused(verdicts, "host3", "host3 already receives 5 migrations");
    g_assert_null(mgr_scheduler_best(verdicts));
}

typedef struct {
    const char *path;
    DrvMigrationMode mode;
    MgrScheduleKind kind;
    const char *reason; /* NULL: host2 and host3 allowed */
} ModeCase;

static const ModeCase mode_cases[] = {
    {"disabled-migrate", DRV_MIGRATION_MODE_DISABLED, MGR_SCHEDULE_MIGRATE,
     "web1 cannot be migrated to host2: its migration mode is disabled"},
    {"disabled-automatic", DRV_MIGRATION_MODE_DISABLED, MGR_SCHEDULE_AUTOMATIC,
     "web1 cannot be migrated to host2: its migration mode is disabled"},
    {"disabled-start", DRV_MIGRATION_MODE_DISABLED, MGR_SCHEDULE_START, NULL},
    {"manual-only-migrate", DRV_MIGRATION_MODE_MANUAL_ONLY,
     MGR_SCHEDULE_MIGRATE, NULL},
    {"manual-only-automatic", DRV_MIGRATION_MODE_MANUAL_ONLY,
     MGR_SCHEDULE_AUTOMATIC,
     "web1 cannot be migrated to host2 automatically: its migration mode is "
     "manual_only"},
    {"both-automatic", DRV_MIGRATION_MODE_MANUAL_AND_AUTOMATIC,
     MGR_SCHEDULE_AUTOMATIC, NULL},
};

static void test_mode(gconstpointer data)
{
    const ModeCase *tc = data;
    g_autoptr(Fixture) fx = fx_new();
    g_autoptr(GPtrArray) verdicts = NULL;

    fx_set_mode(fx, tc->mode);
    fx->req.kind = tc->kind;
    verdicts = fx_assess(fx);
    if (tc->reason == NULL) {
        assert_allowed(verdicts, "host2");
        assert_allowed(verdicts, "host3");
        g_assert_cmpuint(count_best(verdicts), ==, 1);
        return;
    }
    assert_refused(verdicts, "host2", tc->reason);
    g_assert_cmpuint(verdict_of(verdicts, "host2")->reasons->len, ==, 1);
    assert_refused(verdicts, "host3", "host3");
    g_assert_null(mgr_scheduler_best(verdicts));
    g_assert_cmpuint(count_best(verdicts), ==, 0);
}

static void test_pinned(void)
{
    g_autoptr(Fixture) fx = fx_new();
    g_autoptr(GPtrArray) verdicts = NULL;
    const char *const two[] = {"host2", "host3", NULL};
    const char *const by_id[] = {"id-host3", NULL};
    const char *const home[] = {"host1", NULL};

    fx_pin(fx, two);
    verdicts = fx_assess(fx);
    assert_allowed(verdicts, "host2");
    assert_allowed(verdicts, "host3");
    g_clear_pointer(&verdicts, g_ptr_array_unref);

    fx_pin(fx, by_id);
    verdicts = fx_assess(fx);
    assert_refused(verdicts, "host2", "web1 is pinned to id-host3");
    assert_allowed(verdicts, "host3");
    g_clear_pointer(&verdicts, g_ptr_array_unref);

    /* starting a VM pinned to one host: that host only */
    fx_pin(fx, home);
    fx->req.kind = MGR_SCHEDULE_START;
    verdicts = fx_assess(fx);
    assert_allowed(verdicts, "host1");
    assert_refused(verdicts, "host2", "web1 is pinned to host1, not to host2");
    assert_refused(verdicts, "host3", "web1 is pinned to host1, not to host3");
    g_assert_cmpstr(mgr_scheduler_best(verdicts)->host_name, ==, "host1");
}

static void test_cpu_rescale(void)
{
    g_autoptr(Fixture) fx = fx_new();
    g_autoptr(GPtrArray) verdicts = NULL;

    /* web1 uses 40% of host1's 2 CPUs: 0.8 CPU */
    fx->req.vm_cpu_percent = 40;
    fx->req.source_cpus = 2;
    fx_load(fx, 1)->cpus = 8; /* 0.8 of 8 CPUs is 10% */
    fx_load(fx, 1)->cpu_percent = 70;
    fx_load(fx, 2)->cpus = 1; /* 0.8 of 1 CPU is 80% */
    fx_load(fx, 2)->cpu_percent = 10;
    verdicts = fx_assess(fx);
    g_assert_cmpfloat_with_epsilon(
        verdict_of(verdicts, "host2")->cpu_after_percent, 80.0, 1e-9);
    g_assert_cmpfloat_with_epsilon(
        verdict_of(verdicts, "host3")->cpu_after_percent, 90.0, 1e-9);
    assert_allowed(verdicts, "host2");
    assert_refused(verdicts, "host3",
                   "host3 would be at 90% CPU with web1, above the cluster's "
                   "maximum of 80%");
    g_clear_pointer(&verdicts, g_ptr_array_unref);

    /* unknown source CPUs: the share is taken as it is */
    fx->req.source_cpus = 0;
    fx_load(fx, 1)->cpu_percent = 10;
    verdicts = fx_assess(fx);
    g_assert_cmpfloat_with_epsilon(
        verdict_of(verdicts, "host2")->cpu_after_percent, 50.0, 1e-9);
}

typedef struct {
    const char *path;
    double cpu2;
    gint64 free2;
    guint vms2;
    double cpu3;
    gint64 free3;
    guint vms3;
    const char *best;
} WeightCase;

static const WeightCase weight_cases[] = {
    /* a lower CPU band wins over much more memory */
    {"cpu-band-beats-memory", 25, 1000, 1, 35, 8000, 0, "host2"},
    /* 29.9 and 30 are in different bands */
    {"cpu-band-edge", 29.9, 1000, 1, 30, 8000, 0, "host2"},
    /* 21% and 29% are the same band: memory decides */
    {"cpu-noise", 21, 2000, 1, 29, 4000, 1, "host3"},
    /* a higher memory band wins over more VMs */
    {"memory-band-beats-vms", 10, 4096, 10, 10, 3500, 0, "host2"},
    /* 4096 and 4600 MiB are the same band: the VM count decides */
    {"memory-noise", 10, 4096, 3, 10, 4600, 1, "host3"},
    {"vm-count", 10, 4000, 2, 10, 4000, 1, "host3"},
    /* noise in CPU and memory, same VMs: the name decides */
    {"name", 18, 4100, 1, 12, 4500, 1, "host2"},
};

static void test_weights(gconstpointer data)
{
    const WeightCase *tc = data;
    g_autoptr(Fixture) fx = fx_new();
    g_autoptr(GPtrArray) verdicts = NULL;

    fx->req.vm_cpu_percent = 0;
    fx_load(fx, 1)->cpu_percent = tc->cpu2;
    fx_load(fx, 1)->free_memory_mib = tc->free2;
    fx_load(fx, 1)->vm_count = tc->vms2;
    fx_load(fx, 2)->cpu_percent = tc->cpu3;
    fx_load(fx, 2)->free_memory_mib = tc->free3;
    fx_load(fx, 2)->vm_count = tc->vms3;
    verdicts = fx_assess(fx);
    assert_allowed(verdicts, "host2");
    assert_allowed(verdicts, "host3");
    g_assert_cmpuint(count_best(verdicts), ==, 1);
    g_assert_cmpstr(mgr_scheduler_best(verdicts)->host_name, ==, tc->best);
}

static void test_one_best_of_equals(void)
{
    g_autoptr(Fixture) fx = fx_new();
    g_autoptr(GPtrArray) verdicts = NULL;
    g_autoptr(GPtrArray) reversed = g_ptr_array_new();
    const char *const names[] = {"hostF", "hostC", "hostA", "hostE", "hostB"};

    /* equal hosts in no particular order: the first name wins */
    g_ptr_array_set_size(fx->loads, 0);
    g_ptr_array_set_size(fx->hosts, 0);
    for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
        fx_add_host(fx, names[i]);
    }
    verdicts = fx_assess(fx);
    g_assert_cmpuint(verdicts->len, ==, G_N_ELEMENTS(names));
    g_assert_cmpuint(count_best(verdicts), ==, 1);
    g_assert_cmpstr(mgr_scheduler_best(verdicts)->host_name, ==, "hostA");
    g_clear_pointer(&verdicts, g_ptr_array_unref);

    /* the order of the array does not matter */
    for (guint i = fx->loads->len; i > 0; i--) {
        g_ptr_array_add(reversed, fx_load(fx, i - 1));
    }
    verdicts = mgr_scheduler_assess(&fx->req, reversed);
    /* verdicts follow the order given */
    g_assert_cmpstr(((MgrVerdict *)g_ptr_array_index(verdicts, 0))->host_name,
                    ==, "hostB");
    g_assert_cmpuint(count_best(verdicts), ==, 1);
    g_assert_cmpstr(mgr_scheduler_best(verdicts)->host_name, ==, "hostA");
}

static void test_no_best(void)
{
    g_autoptr(Fixture) fx = fx_new();
    g_autoptr(GPtrArray) verdicts = NULL;
    g_autoptr(GPtrArray) none = g_ptr_array_new();

    for (guint i = 0; i < 3; i++) {
        fx_host(fx, i)->status = MGR_HOST_MAINTENANCE;
    }
    verdicts = fx_assess(fx);
    g_assert_cmpuint(verdicts->len, ==, 3);
    g_assert_cmpuint(count_best(verdicts), ==, 0);
    g_assert_null(mgr_scheduler_best(verdicts));
    g_clear_pointer(&verdicts, g_ptr_array_unref);

    verdicts = mgr_scheduler_assess(&fx->req, none);
    g_assert_cmpuint(verdicts->len, ==, 0);
    g_assert_null(mgr_scheduler_best(verdicts));
    g_assert_null(mgr_scheduler_best(NULL));
    mgr_verdict_free(NULL);
}

static void test_explain(void)
{
    g_autoptr(Fixture) fx = fx_new();
    g_autoptr(GPtrArray) verdicts = NULL;
    g_autoptr(GPtrArray) none = g_ptr_array_new();
    g_autofree char *text = NULL;
    g_autofree char *empty = NULL;
    g_autofree char *one = NULL;

    mut_maintenance(fx);
    fx_load(fx, 2)->free_memory_mib = 180;
    fx_load(fx, 2)->cpu_percent = 75;
    verdicts = fx_assess(fx);
    text = mgr_scheduler_explain(&fx->req, verdicts);
    g_assert_cmpstr(
        text, ==,
        "no host can take VM web1: host1 is where web1 runs; host2 is in "
        "maintenance; host3 has 180 MiB free for VMs; web1 needs 192 MiB "
        "(128 MiB + 64 MiB overhead); host3 would be at 95% CPU with web1, "
        "above the cluster's maximum of 80%");
    /* every reason of every host */
    for (guint i = 0; i < verdicts->len; i++) {
        MgrVerdict *verdict = g_ptr_array_index(verdicts, i);

        for (guint j = 0; j < verdict->reasons->len; j++) {
            g_assert_nonnull(
                strstr(text, g_ptr_array_index(verdict->reasons, j)));
        }
    }

    one = mgr_scheduler_explain_host(&fx->req, verdict_of(verdicts, "host2"));
    g_assert_cmpstr(one, ==,
                    "host2 cannot take VM web1: host2 is in maintenance");

    empty = mgr_scheduler_explain(&fx->req, none);
    g_assert_cmpstr(empty, ==,
                    "no host can take VM web1: cluster default has no hosts");
}

static void test_explain_some_allowed(void)
{
    g_autoptr(Fixture) fx = fx_new();
    g_autoptr(GPtrArray) verdicts = NULL;
    g_autofree char *text = NULL;
    g_autofree char *one = NULL;

    mut_maintenance(fx);
    verdicts = fx_assess(fx);
    text = mgr_scheduler_explain(&fx->req, verdicts);
    g_assert_cmpstr(text, ==,
                    "only host3 can take VM web1: host1 is where web1 runs; "
                    "host2 is in maintenance");
    one = mgr_scheduler_explain_host(&fx->req, verdict_of(verdicts, "host3"));
    g_assert_null(one);
}

typedef struct {
    const char *path;
    DrvMigrationMode mode;
    MgrScheduleKind kind;
    const char *pins[3];
    gboolean no_source;
    const char *expected; /* NULL: can be migrated */
} CannotCase;

static const CannotCase cannot_cases[] = {
    {"free",
     DRV_MIGRATION_MODE_MANUAL_AND_AUTOMATIC,
     MGR_SCHEDULE_AUTOMATIC,
     {NULL},
     FALSE,
     NULL},
    {"disabled",
     DRV_MIGRATION_MODE_DISABLED,
     MGR_SCHEDULE_MIGRATE,
     {NULL},
     FALSE,
     "web1 cannot be migrated: its migration mode is disabled"},
    {"disabled-start",
     DRV_MIGRATION_MODE_DISABLED,
     MGR_SCHEDULE_START,
     {NULL},
     FALSE,
     NULL},
    {"manual-only-migrate",
     DRV_MIGRATION_MODE_MANUAL_ONLY,
     MGR_SCHEDULE_MIGRATE,
     {NULL},
     FALSE,
     NULL},
    {"manual-only-automatic",
     DRV_MIGRATION_MODE_MANUAL_ONLY,
     MGR_SCHEDULE_AUTOMATIC,
     {NULL},
     FALSE,
     "web1 cannot be migrated automatically: its migration mode is "
     "manual_only"},
    {"pinned-home",
     DRV_MIGRATION_MODE_MANUAL_AND_AUTOMATIC,
     MGR_SCHEDULE_MIGRATE,
     {"host1", NULL},
     FALSE,
     "web1 is pinned to host1, where it runs"},
    {"pinned-home-by-id",
     DRV_MIGRATION_MODE_MANUAL_AND_AUTOMATIC,
     MGR_SCHEDULE_AUTOMATIC,
     {"id-host1", NULL},
     FALSE,
     "web1 is pinned to host1, where it runs"},
    {"pinned-two",
     DRV_MIGRATION_MODE_MANUAL_AND_AUTOMATIC,
     MGR_SCHEDULE_MIGRATE,
     {"host1", "host2", NULL},
     FALSE,
     NULL},
    {"pinned-elsewhere",
     DRV_MIGRATION_MODE_MANUAL_AND_AUTOMATIC,
     MGR_SCHEDULE_MIGRATE,
     {"host2", NULL},
     FALSE,
     NULL},
    {"pinned-no-source",
     DRV_MIGRATION_MODE_MANUAL_AND_AUTOMATIC,
     MGR_SCHEDULE_MIGRATE,
     {"host1", NULL},
     TRUE,
     NULL},
    {"disabled-and-pinned",
     DRV_MIGRATION_MODE_DISABLED,
     MGR_SCHEDULE_MIGRATE,
     {"host1", NULL},
     FALSE,
     "web1 cannot be migrated: its migration mode is disabled; web1 is "
     "pinned to host1, where it runs"},
};

static void test_cannot_migrate(gconstpointer data)
{
    const CannotCase *tc = data;
    g_autoptr(Fixture) fx = fx_new();
    g_autofree char *why = NULL;

    fx_set_mode(fx, tc->mode);
    fx_pin(fx, tc->pins);
    why = mgr_scheduler_cannot_migrate(
        fx->vm, tc->no_source ? NULL : fx_host(fx, 0), tc->kind);
    g_assert_cmpstr(why, ==, tc->expected);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    for (guint i = 0; i < G_N_ELEMENTS(filter_cases); i++) {
        g_autofree char *path =
            g_strdup_printf("/scheduler/filter/%s", filter_cases[i].path);

        g_test_add_data_func(path, &filter_cases[i], test_filter);
    }
    for (guint i = 0; i < G_N_ELEMENTS(mode_cases); i++) {
        g_autofree char *path =
            g_strdup_printf("/scheduler/mode/%s", mode_cases[i].path);

        g_test_add_data_func(path, &mode_cases[i], test_mode);
    }
    for (guint i = 0; i < G_N_ELEMENTS(weight_cases); i++) {
        g_autofree char *path =
            g_strdup_printf("/scheduler/weights/%s", weight_cases[i].path);

        g_test_add_data_func(path, &weight_cases[i], test_weights);
    }
    for (guint i = 0; i < G_N_ELEMENTS(cannot_cases); i++) {
        g_autofree char *path = g_strdup_printf("/scheduler/cannot-migrate/%s",
                                                cannot_cases[i].path);

        g_test_add_data_func(path, &cannot_cases[i], test_cannot_migrate);
    }
    g_test_add_func("/scheduler/all-allowed", test_all_allowed);
    g_test_add_func("/scheduler/boundaries", test_boundaries);
    g_test_add_func("/scheduler/all-reasons", test_all_reasons);
    g_test_add_func("/scheduler/one-reason-per-domain",
                    test_one_reason_per_domain);
    g_test_add_func("/scheduler/start-vs-migrate", test_start);
    g_test_add_func("/scheduler/pinned", test_pinned);
    g_test_add_func("/scheduler/cpu-rescale", test_cpu_rescale);
    g_test_add_func("/scheduler/one-best-of-equals", test_one_best_of_equals);
    g_test_add_func("/scheduler/no-best", test_no_best);
    g_test_add_func("/scheduler/explain", test_explain);
    g_test_add_func("/scheduler/allows-agrees", test_allows_agrees);
    g_test_add_func("/scheduler/explain-some-allowed",
                    test_explain_some_allowed);
    return g_test_run();
}
