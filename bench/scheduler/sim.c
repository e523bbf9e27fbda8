/*
 * The scheduler and balancer benchmark: synthetic clusters in memory, no
 * QEMU, no agents, no store.  See docs/benchmark-scheduler.md.
 *
 * For each cluster size it measures
 *   - one placement decision: mgr_scheduler_assess() over every host (what
 *     a manual migration and a VM start use), and the balancer's search, a
 *     walk with mgr_scheduler_allows() in its order that stops at the first
 *     host allowed; each typical and in the worst case, where the one host
 *     that can take the VM is the last the walk can reach;
 *   - one balancing pass, mgr_balancer_plan(), on an uneven cluster, per
 *     policy;
 *   - convergence: passes whose migrations complete in between, from the
 *     skewed start until a pass does nothing, against a lower bound on the
 *     number of moves.
 *
 * It prints a Markdown table per measurement and writes every figure to
 * the JSON file given by --out.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/json.h"
#include "common/vmspec.h"
#include "manager/balancer.h"
#include "manager/scheduler.h"

#define SIM_OVERHEAD_MIB 64
#define SIM_PASS_INTERVAL_US (60 * G_USEC_PER_SEC)
#define SIM_BATCH_TARGET_US 200.0
#define SIM_PICKS 4096
#define SIM_MIN_SAMPLES 30
#define SIM_MIN_PASSES 10

/* What QEMU 7.2 lists for x86 (query-cpu-definitions), in its order. */
static const char *const sim_cpu_models[] = {
    "486",
    "Broadwell",
    "Broadwell-IBRS",
    "Broadwell-noTSX",
    "Broadwell-noTSX-IBRS",
    "Cascadelake-Server",
    "Cascadelake-Server-noTSX",
    "Conroe",
    "Cooperlake",
    "EPYC",
    "EPYC-IBPB",
    "EPYC-Milan",
    "EPYC-Rome",
    "Haswell",
    "Haswell-IBRS",
    "Haswell-noTSX",
    "Haswell-noTSX-IBRS",
    "Icelake-Server",
    "Icelake-Server-noTSX",
    "IvyBridge",
    "IvyBridge-IBRS",
    "Nehalem",
    "Nehalem-IBRS",
    "Opteron_G4",
    "Opteron_G5",
    "Penryn",
    "SandyBridge",
    "SandyBridge-IBRS",
    "Skylake-Client",
    "Skylake-Client-IBRS",
    "Skylake-Server",
    "Skylake-Server-IBRS",
    "Skylake-Server-noTSX-IBRS",
    "Westmere",
    "Westmere-IBRS",
    "base",
    "host",
    "kvm64",
    "max",
    "qemu64",
};

static const char *const sim_machines[] = {
    "pc-i440fx-7.2", "pc-i440fx-7.1", "pc-i440fx-7.0", "pc-q35-7.2",
    "pc-q35-7.1",    "pc-q35-7.0",    "pc-q35-6.2",    "microvm",
};

static const char *const sim_domains[] = {"data-nfs1", "data-iscsi1",
                                          "data-iscsi2", "export"};
static const char *const sim_networks[] = {"ovirtmgmt", "vmnet", "storage",
                                           "migration"};

/* The VMs' disks and NICs, away from the front of the hosts' lists. */
#define SIM_VM_DOMAIN "data-iscsi2"
#define SIM_VM_NETWORK "vmnet"
#define SIM_ISOLATED_NETWORK "isolated-net"

static const char sim_vm_template[] =
    "{\"id\": \"00000000-0000-4000-8000-000000000000\", \"name\": \"vm\","
    " \"memory_mib\": 2048, \"vcpus\": 2, \"cpu_model\": \"qemu64\","
    " \"disks\": [{\"storage_domain\": \"" SIM_VM_DOMAIN "\","
    " \"path\": \"vm/disk0.qcow2\", \"format\": \"qcow2\"}],"
    " \"nics\": [{\"network\": \"" SIM_VM_NETWORK "\","
    " \"mac\": \"52:54:00:00:00:01\"}], \"priority\": \"medium\"}";

/* ---- options ---- */

typedef struct {
    guint *sizes;
    guint n_sizes;
    guint vms_per_host;
    guint32 seed;
    guint reps;      /* samples per placement measurement */
    guint pass_reps; /* passes per balancing-pass measurement */
    guint budget_s;  /* per measurement, once SIM_MIN_SAMPLES are taken */
    guint max_passes;
    gboolean decisions;
    gboolean passes;
    gboolean convergence;
} SimOptions;

/* ---- a synthetic cluster ---- */

typedef enum {
    SIM_NORMAL,
    SIM_MAINTENANCE,
    SIM_OVER,
    SIM_STUCK, /* over, and every VM pinned to it */
    SIM_UNDER,
} SimRole;

typedef struct {
    MgrBalancerVm *bv;
    MgrBalancerHost *host;
} SimVmRef;

typedef struct {
    guint n_hosts;
    GRand *rand;
    MgrCluster *cluster;
    GPtrArray *hosts;    /* MgrHost *, owned */
    GPtrArray *loads;    /* MgrHostLoad *, owned */
    GPtrArray *bhosts;   /* MgrBalancerHost *, owned (their VMs too) */
    GPtrArray *vms;      /* MgrVm *, owned */
    GHashTable *by_host; /* MgrHost * -> MgrBalancerHost * */
    GHashTable *moves;   /* MgrVm * -> times moved */
    double *background;  /* per host: CPU % used by the host itself */
    gint64 *memory_mib;  /* per host: free for VMs with none running */
    SimRole *roles;
    gint64 now_us;
    /* the worst case: a VM whose network only one host has */
    MgrBalancerVm *probe;
    MgrBalancerHost *probe_source;
    MgrBalancerHost *probe_target;
} Sim;

static void sim_bhost_free(MgrBalancerHost *h)
{
    g_ptr_array_unref(h->vms);
    g_free(h);
}

static void sim_free(Sim *sim)
{
    if (sim->probe != NULL) {
        mgr_vm_free((MgrVm *)sim->probe->vm);
        g_free(sim->probe);
    }
    g_hash_table_unref(sim->moves);
    g_hash_table_unref(sim->by_host);
    g_ptr_array_unref(sim->bhosts);
    g_ptr_array_unref(sim->loads);
    g_ptr_array_unref(sim->hosts);
    g_ptr_array_unref(sim->vms);
    mgr_cluster_free(sim->cluster);
    g_free(sim->background);
    g_free(sim->memory_mib);
    g_free(sim->roles);
    g_rand_free(sim->rand);
    g_free(sim);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Sim, sim_free)

static MgrBalancerHost *sim_host(Sim *sim, guint i)
{
    return g_ptr_array_index(sim->bhosts, i);
}

static char *sim_uuid(GRand *rand)
{
    return g_strdup_printf("%08x-%04x-4%03x-8%03x-%04x%08x", g_rand_int(rand),
                           g_rand_int(rand) & 0xffff, g_rand_int(rand) & 0xfff,
                           g_rand_int(rand) & 0xfff, g_rand_int(rand) & 0xffff,
                           g_rand_int(rand));
}

static JsonObject *sim_parse(const char *text)
{
    g_autoptr(GError) error = NULL;
    JsonObject *obj = drv_json_parse_object(text, -1, &error);

    if (obj == NULL) {
        g_error("sim: %s", error->message);
    }
    return obj;
}

/* What an agent reports (GET /v1/host), with every member it has. */
static JsonObject *sim_facts(guint index, const char *name, guint cpus,
                             gint64 memory_mib, double cpu_percent)
{
    g_autoptr(GString) s = g_string_new(NULL);

    g_string_append_printf(
        s,
        "{\"name\": \"%s\", \"cpu\": {\"model\": \"Intel(R) Xeon(R) Gold "
        "6338 CPU @ 2.00GHz\", \"flags\": [\"fpu\", \"vme\", \"sse4_2\","
        " \"avx2\", \"avx512f\", \"vmx\"], \"cpus\": %u,"
        " \"source\": \"host\", \"utilization_percent\": %.1f,"
        " \"load_1m\": %.2f, \"load_5m\": %.2f, \"load_15m\": %.2f},"
        " \"memory\": {\"total_mib\": %" G_GINT64_FORMAT
        ", \"available_mib\": %" G_GINT64_FORMAT ", \"reserved_mib\": 4096,"
        " \"committed_mib\": 0, \"free_for_vms_mib\": %" G_GINT64_FORMAT
        ", \"vm_overhead_mib\": %d},",
        name, cpus, cpu_percent, cpu_percent * cpus / 100.0,
        cpu_percent * cpus / 100.0, cpu_percent * cpus / 100.0,
        memory_mib + 4096, memory_mib, memory_mib, SIM_OVERHEAD_MIB);
    g_string_append(s, " \"storage_domains\": [");
    for (guint i = 0; i < G_N_ELEMENTS(sim_domains); i++) {
        g_string_append_printf(
            s,
            "%s{\"name\": \"%s\", \"path\": \"/rhev/data-center/mnt/%s\","
            " \"exists\": true, \"readable\": true, \"writable\": true}",
            i ? ", " : "", sim_domains[i], sim_domains[i]);
    }
    g_string_append(s, "], \"networks\": [");
    for (guint i = 0; i < G_N_ELEMENTS(sim_networks); i++) {
        g_string_append_printf(s,
                               "%s{\"name\": \"%s\", \"kind\": \"bridge\","
                               " \"bridge\": \"br-%s\", \"available\": true}",
                               i ? ", " : "", sim_networks[i], sim_networks[i]);
    }
    g_string_append(s,
                    "], \"qemu\": {\"binary\": "
                    "\"/usr/bin/qemu-system-x86_64\", \"version\": "
                    "\"7.2.0\", \"accelerator\": \"kvm\", "
                    "\"default_machine\": \"pc-q35-7.2\", \"cpu_models\": [");
    for (guint i = 0; i < G_N_ELEMENTS(sim_cpu_models); i++) {
        g_string_append_printf(s, "%s\"%s\"", i ? ", " : "", sim_cpu_models[i]);
    }
    g_string_append(s, "], \"machines\": [");
    for (guint i = 0; i < G_N_ELEMENTS(sim_machines); i++) {
        g_string_append_printf(s, "%s\"%s\"", i ? ", " : "", sim_machines[i]);
    }
    g_string_append_printf(s,
                           "]}, \"accelerator\": \"kvm\", \"migration\": "
                           "{\"address\": \"10.%u.%u.%u\", \"bandwidth_mbps\": "
                           "10000, \"max_incoming\": 2, \"incoming\": 0}}",
                           (index >> 16) & 0xff, (index >> 8) & 0xff,
                           index & 0xff);
    return sim_parse(s->str);
}

static void sim_shuffle(GRand *rand, guint *v, guint n)
{
    for (guint i = n; i > 1; i--) {
        guint j = (guint)g_rand_int_range(rand, 0, (gint32)i);
        guint t = v[i - 1];

        v[i - 1] = v[j];
        v[j] = t;
    }
}

static gint64 sim_vm_memory(GRand *rand)
{
    double u = g_rand_double(rand);

    return u < 0.25   ? 1024
           : u < 0.55 ? 2048
           : u < 0.80 ? 4096
           : u < 0.95 ? 8192
                      : 16384;
}

static MgrVm *sim_vm_new(Sim *sim, const DrvVmSpec *template,
                         MgrBalancerHost *h, guint host_index)
{
    DrvVmSpec *spec = drv_vm_spec_copy(template);
    DrvDiskSpec *disk = g_ptr_array_index(spec->disks, 0);
    DrvNicSpec *nic = g_ptr_array_index(spec->nics, 0);
    guint n = sim->vms->len + 1;
    double u = g_rand_double(sim->rand);
    MgrVm *vm;

    g_free(spec->id);
    spec->id = sim_uuid(sim->rand);
    g_free(spec->name);
    spec->name = g_strdup_printf("vm%u", n);
    g_free(disk->path);
    disk->path = g_strdup_printf("vm%u/disk0.qcow2", n);
    g_free(nic->mac);
    nic->mac = g_strdup_printf("52:54:00:%02x:%02x:%02x", (n >> 16) & 0xff,
                               (n >> 8) & 0xff, n & 0xff);
    spec->memory_mib = (guint)sim_vm_memory(sim->rand);
    if (g_rand_double(sim->rand) < 0.3) {
        g_free(spec->cpu_model);
        spec->cpu_model = g_strdup("Skylake-Server-IBRS");
    }
    if (sim->roles[host_index] == SIM_STUCK) {
        const char *pins[] = {h->load->host->name, NULL};

        spec->pinned_hosts = g_strdupv((char **)pins);
    } else if (u < 0.02) {
        guint other =
            (guint)g_rand_int_range(sim->rand, 0, (gint32)sim->n_hosts);
        const char *pins[] = {h->load->host->name,
                              sim_host(sim, other)->load->host->name, NULL};

        spec->pinned_hosts = g_strdupv((char **)pins);
    } else if (u < 0.05) {
        spec->migration_mode = DRV_MIGRATION_MODE_MANUAL_ONLY;
    } else if (u < 0.06) {
        spec->migration_mode = DRV_MIGRATION_MODE_DISABLED;
    }
    vm = mgr_vm_new("c1", spec);
    vm->status = MGR_VM_UP;
    vm->host_id = g_strdup(h->load->host->id);
    return vm;
}

/* @h's VMs, their CPU summing to @target with the host's own use. */
static void sim_fill_host(Sim *sim, const DrvVmSpec *template, guint i,
                          guint count, double target)
{
    MgrBalancerHost *h = sim_host(sim, i);
    g_autofree double *weight = g_new(double, MAX(count, 1));
    double sum = 0;

    for (guint j = 0; j < count; j++) {
        weight[j] = -log(1.0 - g_rand_double(sim->rand)) + 0.05;
        sum += weight[j];
    }
    for (guint j = 0; j < count; j++) {
        MgrVm *vm = sim_vm_new(sim, template, h, i);
        MgrBalancerVm *bv = g_new0(MgrBalancerVm, 1);

        vm->cpu_percent = (target - sim->background[i]) * weight[j] / sum;
        bv->vm = vm;
        bv->cpu_percent = vm->cpu_percent;
        bv->memory_mib = vm->spec->memory_mib;
        bv->dirty_rate_bps =
            g_rand_boolean(sim->rand)
                ? -1
                : (gint64)(g_rand_double(sim->rand) * 64 * 1024 * 1024);
        g_ptr_array_add(sim->vms, vm);
        g_ptr_array_add(h->vms, bv);
    }
}

/* Loads from the VMs, as the monitor sees them once migrations settled. */
static void sim_refresh(Sim *sim, const MgrBalancerParams *params)
{
    for (guint i = 0; i < sim->bhosts->len; i++) {
        MgrBalancerHost *h = sim_host(sim, i);
        MgrHostLoad *load = h->load;

        load->cpu_percent = h->vms->len > 0 ? sim->background[i] : 0;
        load->vm_count = h->vms->len;
        load->free_memory_mib = sim->memory_mib[i];
        load->incoming = 0;
        load->outgoing = 0;
        for (guint j = 0; j < h->vms->len; j++) {
            MgrBalancerVm *v = g_ptr_array_index(h->vms, j);

            load->cpu_percent += v->cpu_percent;
            load->free_memory_mib -= v->memory_mib + SIM_OVERHEAD_MIB;
        }
        /* over long enough as soon as it is over */
        h->over_for_s =
            params != NULL && load->cpu_percent >= params->high_utilization
                ? params->overcommit_duration_s + 1
                : 0;
    }
}

static gint sim_compare_spread(gconstpointer pa, gconstpointer pb)
{
    const MgrHostLoad *a = (*(MgrBalancerHost *const *)pa)->load;
    const MgrHostLoad *b = (*(MgrBalancerHost *const *)pb)->load;

    if (a->cpu_percent != b->cpu_percent) {
        return a->cpu_percent < b->cpu_percent ? -1 : 1;
    }
    return a->vm_count < b->vm_count ? -1 : a->vm_count > b->vm_count ? 1 : 0;
}

/* The hosts that are up, least loaded first: the balancer's walk. */
static GPtrArray *sim_spread_order(Sim *sim)
{
    GPtrArray *order = g_ptr_array_new();

    for (guint i = 0; i < sim->bhosts->len; i++) {
        MgrBalancerHost *h = sim_host(sim, i);

        if (h->load->host->status == MGR_HOST_UP && !h->powered_off) {
            g_ptr_array_add(order, h);
        }
    }
    g_ptr_array_sort(order, sim_compare_spread);
    return order;
}

/*
 * The worst case of a search: a VM on the least loaded host whose network
 * only one host has, the last host of the walk the cheap filters (CPU,
 * memory) let through; every host before it runs every filter to refuse.
 */
static void sim_add_probe(Sim *sim, const DrvVmSpec *template)
{
    g_autoptr(GPtrArray) order = sim_spread_order(sim);
    DrvVmSpec *spec = drv_vm_spec_copy(template);
    DrvNicSpec *nic = g_ptr_array_index(spec->nics, 0);
    JsonObject *network = json_object_new();
    MgrVm *vm;

    sim->probe_source = g_ptr_array_index(order, 0);
    for (guint i = order->len; i > 1; i--) {
        MgrBalancerHost *h = g_ptr_array_index(order, i - 1);

        if (h->load->cpu_percent + 1.0 <= sim->cluster->max_cpu_percent) {
            sim->probe_target = h;
            break;
        }
    }
    g_assert(sim->probe_target != NULL);
    g_free(spec->name);
    spec->name = g_strdup("probe");
    g_free(nic->network);
    nic->network = g_strdup(SIM_ISOLATED_NETWORK);
    spec->memory_mib = 1024;
    vm = mgr_vm_new("c1", spec);
    vm->status = MGR_VM_UP;
    vm->host_id = g_strdup(sim->probe_source->load->host->id);
    sim->probe = g_new0(MgrBalancerVm, 1);
    sim->probe->vm = vm;
    sim->probe->cpu_percent = 1.0;
    sim->probe->memory_mib = 1024;
    sim->probe->dirty_rate_bps = -1;
    json_object_set_string_member(network, "name", SIM_ISOLATED_NETWORK);
    json_object_set_string_member(network, "kind", "bridge");
    json_object_set_string_member(network, "bridge", "br-isolated");
    json_object_set_boolean_member(network, "available", TRUE);
    json_array_add_object_element(
        drv_json_array_or_null(sim->probe_target->load->host->facts,
                               "networks"),
        network);
}

/*
 * @n hosts: 2% in maintenance (no VMs), 9% over 80% CPU, 1% over it with
 * every VM pinned to them, 10% under-used (5-15%), the others at 30-65%.
 * VM counts: 10% of the hosts that are up run 1.5x @vms_per_host, 10% run
 * half of it, the others @vms_per_host, so the mean stays @vms_per_host.
 */
static Sim *sim_new(guint n, guint vms_per_host, guint32 seed)
{
    Sim *sim = g_new0(Sim, 1);
    g_autofree guint *perm = g_new(guint, n);
    g_autofree guint *counts = g_new(guint, n);
    g_autoptr(JsonObject) template_json = sim_parse(sim_vm_template);
    g_autoptr(GError) error = NULL;
    g_autoptr(DrvVmSpec) template = NULL;
    guint n_maint = n * 2 / 100;
    guint n_over = n * 9 / 100;
    guint n_stuck = MAX(n / 100, 1);
    guint n_under = n / 10;
    guint up = 0;

    template = drv_vm_spec_from_json(template_json, FALSE, &error);
    if (template == NULL) {
        g_error("sim: template: %s", error->message);
    }
    sim->n_hosts = n;
    sim->rand = g_rand_new_with_seed(seed);
    sim->cluster = mgr_cluster_new("c1", "default");
    sim->hosts = g_ptr_array_new_with_free_func((GDestroyNotify)mgr_host_free);
    sim->loads = g_ptr_array_new_with_free_func(g_free);
    sim->bhosts =
        g_ptr_array_new_with_free_func((GDestroyNotify)sim_bhost_free);
    sim->vms = g_ptr_array_new_with_free_func((GDestroyNotify)mgr_vm_free);
    sim->by_host = g_hash_table_new(NULL, NULL);
    sim->moves = g_hash_table_new(NULL, NULL);
    sim->background = g_new0(double, n);
    sim->memory_mib = g_new0(gint64, n);
    sim->roles = g_new0(SimRole, n);
    sim->now_us = 1000000 * (gint64)G_USEC_PER_SEC;

    for (guint i = 0; i < n; i++) {
        perm[i] = i;
    }
    sim_shuffle(sim->rand, perm, n);
    for (guint k = 0; k < n; k++) {
        sim->roles[perm[k]] = k < n_maint                      ? SIM_MAINTENANCE
                              : k < n_maint + n_over           ? SIM_OVER
                              : k < n_maint + n_over + n_stuck ? SIM_STUCK
                              : k < n_maint + n_over + n_stuck + n_under
                                  ? SIM_UNDER
                                  : SIM_NORMAL;
    }
    for (guint i = 0; i < n; i++) {
        g_autofree char *name = g_strdup_printf("host%u", i + 1);
        g_autofree char *id = sim_uuid(sim->rand);
        g_autofree char *address =
            g_strdup_printf("http://10.%u.%u.%u:7001", ((i + 1) >> 16) & 0xff,
                            ((i + 1) >> 8) & 0xff, (i + 1) & 0xff);
        MgrHost *host = mgr_host_new(id, name, address, "c1");
        MgrHostLoad *load = g_new0(MgrHostLoad, 1);
        MgrBalancerHost *h = g_new0(MgrBalancerHost, 1);
        guint cpus = g_rand_double(sim->rand) < 0.6 ? 32 : 64;

        sim->memory_mib[i] = (gint64)cpus * 8192 - 4096;
        sim->background[i] = g_rand_double_range(sim->rand, 1.0, 3.0);
        host->status = sim->roles[i] == SIM_MAINTENANCE ? MGR_HOST_MAINTENANCE
                                                        : MGR_HOST_UP;
        host->facts = sim_facts(i + 1, name, cpus, sim->memory_mib[i], 0);
        load->host = host;
        load->cpus = cpus;
        h->load = load;
        h->can_power = TRUE;
        h->vms = g_ptr_array_new_with_free_func(g_free);
        g_ptr_array_add(sim->hosts, host);
        g_ptr_array_add(sim->loads, load);
        g_ptr_array_add(sim->bhosts, h);
        g_hash_table_insert(sim->by_host, host, h);
    }
    /* VM counts over the hosts that are up, drawn apart from CPU roles */
    for (guint i = 0; i < n; i++) {
        if (sim->roles[i] != SIM_MAINTENANCE) {
            perm[up++] = i;
        }
        counts[i] = 0;
    }
    sim_shuffle(sim->rand, perm, up);
    for (guint k = 0; k < up; k++) {
        counts[perm[k]] = k < up / 10       ? vms_per_host + vms_per_host / 2
                          : k < 2 * up / 10 ? vms_per_host - vms_per_host / 2
                                            : vms_per_host;
    }
    for (guint i = 0; i < n; i++) {
        double target;

        switch (sim->roles[i]) {
        case SIM_OVER:
            target = g_rand_double_range(sim->rand, 85, 98);
            break;
        case SIM_STUCK:
            target = g_rand_double_range(sim->rand, 85, 95);
            break;
        case SIM_UNDER:
            target = g_rand_double_range(sim->rand, 5, 15);
            break;
        case SIM_MAINTENANCE:
            target = 0;
            break;
        case SIM_NORMAL:
        default:
            target = g_rand_double_range(sim->rand, 30, 65);
            break;
        }
        sim_fill_host(sim, template, i, counts[i], target);
    }
    sim_refresh(sim, NULL);
    for (guint i = 0; i < n; i++) {
        JsonObject *cpu =
            drv_json_object_or_null(sim_host(sim, i)->load->host->facts, "cpu");

        json_object_set_double_member(cpu, "utilization_percent",
                                      sim_host(sim, i)->load->cpu_percent);
    }
    sim_add_probe(sim, template);
    return sim;
}

static gboolean sim_vm_movable(const MgrBalancerVm *v)
{
    const DrvVmSpec *spec = v->vm->spec;

    return v->vm->status == MGR_VM_UP &&
           spec->migration_mode == DRV_MIGRATION_MODE_MANUAL_AND_AUTOMATIC &&
           (spec->pinned_hosts == NULL || spec->pinned_hosts[0] == NULL);
}

/* Carry out @action as if it completed. */
static void sim_apply(Sim *sim, const MgrBalancerAction *action)
{
    MgrBalancerHost *h = g_hash_table_lookup(sim->by_host, action->host);

    switch (action->kind) {
    case MGR_BALANCER_MIGRATE: {
        MgrBalancerHost *dst =
            g_hash_table_lookup(sim->by_host, action->destination);

        for (guint i = 0; i < h->vms->len; i++) {
            MgrBalancerVm *v = g_ptr_array_index(h->vms, i);
            MgrVm *vm = (MgrVm *)v->vm;

            if (v->vm != action->vm) {
                continue;
            }
            g_ptr_array_steal_index(h->vms, i);
            /* the same work is a smaller share of a host with more CPUs */
            v->cpu_percent =
                v->cpu_percent * h->load->cpus / (double)dst->load->cpus;
            vm->cpu_percent = v->cpu_percent;
            v->last_balanced_us = sim->now_us;
            vm->last_balanced_us = sim->now_us;
            g_free(vm->host_id);
            vm->host_id = g_strdup(dst->load->host->id);
            g_ptr_array_add(dst->vms, v);
            g_hash_table_insert(
                sim->moves, vm,
                GUINT_TO_POINTER(
                    GPOINTER_TO_UINT(g_hash_table_lookup(sim->moves, vm)) + 1));
            break;
        }
        h->emptying = action->empties;
        break;
    }
    case MGR_BALANCER_POWER_OFF:
        ((MgrHost *)h->load->host)->status = MGR_HOST_DOWN;
        h->powered_off = TRUE;
        h->emptying = FALSE;
        break;
    case MGR_BALANCER_POWER_ON:
        ((MgrHost *)h->load->host)->status = MGR_HOST_UP;
        h->powered_off = FALSE;
        break;
    }
}

/* ---- statistics ---- */

/*
 * The thread's CPU time, next to the wall clock: on a shared machine a
 * wall-clock mean far above it says the benchmark was waiting for a CPU.
 */
static gint64 sim_cpu_time_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (gint64)ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}

typedef struct {
    double mean;
    double p50;
    double p99;
    double min;
    double max;
    double cpu_mean; /* CPU time, same unit */
    guint samples;
    guint batch; /* operations per sample */
} Stats;

static gint sim_compare_double(gconstpointer a, gconstpointer b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return x < y ? -1 : x > y ? 1 : 0;
}

/* Nearest rank of a sorted array. */
static double sim_quantile(const double *sorted, guint n, double q)
{
    guint rank = (guint)ceil(q * n);

    return sorted[CLAMP(rank, 1, n) - 1];
}

static Stats sim_stats(double *v, guint n, guint batch)
{
    Stats s = {.samples = n, .batch = batch};
    double sum = 0;

    qsort(v, n, sizeof(double), sim_compare_double);
    for (guint i = 0; i < n; i++) {
        sum += v[i];
    }
    s.mean = sum / n;
    s.p50 = sim_quantile(v, n, 0.50);
    s.p99 = sim_quantile(v, n, 0.99);
    s.min = v[0];
    s.max = v[n - 1];
    return s;
}

/* ---- placement decisions ---- */

typedef enum {
    SIM_ASSESS,
    SIM_ASSESS_WORST,
    SIM_PICK,
    SIM_PICK_WORST,
    SIM_SEARCH,
    SIM_SEARCH_WORST,
    SIM_N_DECISIONS,
} SimDecision;

static const char *const sim_decision_names[] = {
    [SIM_ASSESS] = "assess", [SIM_ASSESS_WORST] = "assess_worst",
    [SIM_PICK] = "pick",     [SIM_PICK_WORST] = "pick_worst",
    [SIM_SEARCH] = "search", [SIM_SEARCH_WORST] = "search_worst",
};

static const char *const sim_decision_labels[] = {
    [SIM_ASSESS] = "assess, all hosts (verdict each)",
    [SIM_ASSESS_WORST] = "assess, all hosts; one allows",
    [SIM_PICK] = "pick, all hosts (best only)",
    [SIM_PICK_WORST] = "pick, all hosts; one allows",
    [SIM_SEARCH] = "search, first allowed (balancer)",
    [SIM_SEARCH_WORST] = "search; only the last allows",
};

/*
 * mgr_scheduler_pick() is measured where the tree has it (meson looks for
 * it in scheduler.h).
 */
static gboolean sim_decision_available(SimDecision kind)
{
#ifdef SIM_HAVE_PICK
    return TRUE;
#else
    return kind != SIM_PICK && kind != SIM_PICK_WORST;
#endif
}

static gboolean sim_decision_worst(SimDecision kind)
{
    return kind == SIM_ASSESS_WORST || kind == SIM_PICK_WORST ||
           kind == SIM_SEARCH_WORST;
}

static gboolean sim_decision_search(SimDecision kind)
{
    return kind == SIM_SEARCH || kind == SIM_SEARCH_WORST;
}

typedef struct {
    Sim *sim;
    SimDecision kind;
    GPtrArray *order; /* the walk of a search */
    SimVmRef *picks;  /* VMs to place, cycled through */
    guint n_picks;
    guint next;
    guint64 decisions;
    guint64 examined; /* hosts a search looked at */
    guint64 found;    /* decisions with a host allowed */
} SimDecide;

typedef struct {
    Stats stats;
    double examined; /* per decision */
    double found;    /* fraction with a host */
} SimDecisionResult;

static void sim_request(MgrScheduleRequest *req, Sim *sim, const SimVmRef *ref,
                        MgrScheduleKind kind)
{
    memset(req, 0, sizeof(*req));
    req->kind = kind;
    req->vm = ref->bv->vm;
    req->cluster = sim->cluster;
    req->source_host_id = ref->host->load->host->id;
    req->vm_cpu_percent = ref->bv->cpu_percent;
    req->source_cpus = ref->host->load->cpus;
    req->memory_overhead_mib = SIM_OVERHEAD_MIB;
}

static void sim_decide_one(SimDecide *d)
{
    const SimVmRef *ref = &d->picks[d->next];
    MgrScheduleRequest req;

    d->next = (d->next + 1) % d->n_picks;
    d->decisions++;
    if (d->kind == SIM_ASSESS || d->kind == SIM_ASSESS_WORST) {
        g_autoptr(GPtrArray) verdicts = NULL;

        sim_request(&req, d->sim, ref, MGR_SCHEDULE_MIGRATE);
        verdicts = mgr_scheduler_assess(&req, d->sim->loads);
        d->found += mgr_scheduler_best(verdicts) != NULL;
        return;
    }
#ifdef SIM_HAVE_PICK
    if (d->kind == SIM_PICK || d->kind == SIM_PICK_WORST) {
        sim_request(&req, d->sim, ref, MGR_SCHEDULE_MIGRATE);
        d->found += mgr_scheduler_pick(&req, d->sim->loads) != NULL;
        return;
    }
#endif
    sim_request(&req, d->sim, ref, MGR_SCHEDULE_AUTOMATIC);
    for (guint i = 0; i < d->order->len; i++) {
        MgrBalancerHost *h = g_ptr_array_index(d->order, i);

        if (h == ref->host) {
            continue;
        }
        d->examined++;
        if (mgr_scheduler_allows(&req, h->load, NULL)) {
            d->found++;
            return;
        }
    }
}

static SimDecisionResult sim_measure_decision(Sim *sim, SimDecision kind,
                                              guint reps, guint budget_s)
{
    g_autoptr(GPtrArray) order = sim_spread_order(sim);
    g_autofree SimVmRef *picks = NULL;
    g_autofree double *samples = g_new(double, reps);
    SimDecide d = {.sim = sim, .kind = kind, .order = order};
    SimDecisionResult r = {0};
    gint64 t0;
    guint calib = 0;
    guint batch;
    guint s;
    gint64 cpu;
    gint64 deadline;

    if (sim_decision_worst(kind)) {
        picks = g_new(SimVmRef, 1);
        picks[0].bv = sim->probe;
        picks[0].host = sim->probe_source;
        d.n_picks = 1;
    } else {
        /*
         * VMs drawn at random: for an assessment any a person may ask to
         * move (not those whose migration mode is disabled), for a search
         * those the balancer may move (it never searches for the others).
         */
        picks = g_new(SimVmRef, SIM_PICKS);
        while (d.n_picks < SIM_PICKS) {
            guint i =
                (guint)g_rand_int_range(sim->rand, 0, (gint32)sim->bhosts->len);
            MgrBalancerHost *h = sim_host(sim, i);
            MgrBalancerVm *v;

            if (h->vms->len == 0) {
                continue;
            }
            v = g_ptr_array_index(
                h->vms, g_rand_int_range(sim->rand, 0, (gint32)h->vms->len));
            if (kind == SIM_SEARCH ? !sim_vm_movable(v)
                                   : v->vm->spec->migration_mode ==
                                         DRV_MIGRATION_MODE_DISABLED) {
                continue;
            }
            picks[d.n_picks].host = h;
            picks[d.n_picks].bv = v;
            d.n_picks++;
        }
    }
    d.picks = picks;
    /* warm up, then size a batch so that it lasts ~200 µs */
    for (guint i = 0; i < 3; i++) {
        sim_decide_one(&d);
    }
    t0 = g_get_monotonic_time();
    while (g_get_monotonic_time() - t0 < 2000 && calib < 100000) {
        sim_decide_one(&d);
        calib++;
    }
    batch = (guint)ceil(SIM_BATCH_TARGET_US /
                        ((double)(g_get_monotonic_time() - t0) / calib));
    batch = CLAMP(batch, 1, 100000);
    d.decisions = d.examined = d.found = 0;
    cpu = sim_cpu_time_us();
    deadline = g_get_monotonic_time() + (gint64)budget_s * G_USEC_PER_SEC;
    for (s = 0; s < reps; s++) {
        gint64 start = g_get_monotonic_time();

        /* enough samples and the budget spent: stop there */
        if (s >= SIM_MIN_SAMPLES && start > deadline) {
            break;
        }

        for (guint j = 0; j < batch; j++) {
            sim_decide_one(&d);
        }
        samples[s] = (double)(g_get_monotonic_time() - start) / batch;
    }
    r.stats = sim_stats(samples, s, batch);
    r.stats.cpu_mean = (double)(sim_cpu_time_us() - cpu) / ((double)s * batch);
    r.examined = (double)d.examined / (double)d.decisions;
    r.found = (double)d.found / (double)d.decisions;
    return r;
}

/* ---- balancing passes ---- */

typedef struct {
    const char *label;
    const char *policy;
    const char *params;
} SimCase;

/*
 * Each is measured as one pass from the uneven start; the first
 * SIM_N_CONV, the policies whose balance has a lower bound, also run to
 * convergence.
 */
static const SimCase sim_cases[] = {
    {"evenly_distributed", "evenly_distributed", "{}"},
    {"evenly_distributed, 100/pass", "evenly_distributed",
     "{\"max_migrations_per_pass\": 100}"},
    {"vm_evenly_distributed", "vm_evenly_distributed", "{}"},
    {"vm_evenly_distributed, 100/pass", "vm_evenly_distributed",
     "{\"max_migrations_per_pass\": 100}"},
    {"power_saving", "power_saving", "{}"},
    {"power_saving, 100/pass", "power_saving",
     "{\"max_migrations_per_pass\": 100}"},
    {"power_saving, nothing over (empties a host)", "power_saving",
     "{\"high_utilization\": 99}"},
};

#define SIM_N_CONV 4

static MgrBalancerParams sim_params(const char *policy, const char *params)
{
    g_autoptr(JsonObject) given = sim_parse(params);
    g_autoptr(GError) error = NULL;
    MgrBalancerParams p;

    if (!mgr_balancer_params_parse(policy, given, &p, &error)) {
        g_error("sim: %s: %s", policy, error->message);
    }
    return p;
}

typedef struct {
    Stats stats; /* ms */
    guint migrations;
    guint power;
    gboolean stuck;
} SimPassResult;

static SimPassResult sim_measure_pass(Sim *sim, const SimCase *c, guint reps,
                                      guint budget_s)
{
    MgrBalancerInput in = {
        .cluster = sim->cluster,
        .params = sim_params(c->policy, c->params),
        .hosts = sim->bhosts,
        .memory_overhead_mib = SIM_OVERHEAD_MIB,
        .now_us = sim->now_us,
    };
    g_autofree double *samples = g_new(double, reps);
    SimPassResult r = {0};
    gint64 cpu_total = 0;
    gint64 deadline =
        g_get_monotonic_time() + (gint64)budget_s * G_USEC_PER_SEC;
    guint n = 0;

    /* the first pass warms up and says what a pass decides */
    for (guint s = 0; s < reps + 1; s++) {
        g_autoptr(GPtrArray) actions = NULL;
        g_autofree char *stuck = NULL;
        g_autofree char *stuck_key = NULL;
        gint64 start;
        gint64 end;
        gint64 cpu;

        if (n >= SIM_MIN_PASSES && g_get_monotonic_time() > deadline) {
            break;
        }
        sim_refresh(sim, &in.params);
        cpu = sim_cpu_time_us();
        start = g_get_monotonic_time();
        actions = mgr_balancer_plan(&in, &stuck, &stuck_key);
        end = g_get_monotonic_time();
        cpu = sim_cpu_time_us() - cpu;
        if (s > 0) {
            samples[n++] = (double)(end - start) / 1000.0;
            cpu_total += cpu;
            continue;
        }
        for (guint i = 0; i < actions->len; i++) {
            const MgrBalancerAction *a = g_ptr_array_index(actions, i);

            r.migrations += a->kind == MGR_BALANCER_MIGRATE;
            r.power += a->kind != MGR_BALANCER_MIGRATE;
        }
        r.stuck = stuck != NULL;
    }
    sim_refresh(sim, NULL);
    r.stats = sim_stats(samples, n, 1);
    r.stats.cpu_mean = (double)cpu_total / 1000.0 / n;
    return r;
}

/* ---- convergence ---- */

typedef struct {
    guint moves_simple; /* vm_evenly: excess over the target alone */
    guint moves;        /* the bound used */
    guint passes;
    guint target;      /* vm_evenly: the per-host maximum */
    guint unreachable; /* hosts that cannot get there with movable VMs */
} SimBound;

typedef struct {
    SimBound bound;
    guint passes; /* that did something */
    guint migrations;
    guint power;
    guint moved_twice; /* VMs moved more than once */
    gboolean settled;
    gboolean accepted;   /* the end is one the policy's rules accept */
    char *stuck;         /* what the last pass said it could not relieve */
    double plan_ms;      /* all passes, planning only */
    double max_pass_ms;  /* the slowest pass */
    double last_pass_ms; /* the one that did nothing, as every after */
    double last_pass_cpu_ms;
    guint final_over;       /* evenly: hosts still over high_utilization */
    guint final_over_stuck; /* of which with no movable VM left */
    guint final_max;        /* vm_evenly: VM counts of up hosts */
    guint final_min;
    double final_min_cpu; /* vm_evenly: CPU of a host with final_min */
} SimConvResult;

static gint sim_compare_cpu_desc(gconstpointer pa, gconstpointer pb)
{
    double a = (*(MgrBalancerVm *const *)pa)->cpu_percent;
    double b = (*(MgrBalancerVm *const *)pb)->cpu_percent;

    return a > b ? -1 : a < b ? 1 : 0;
}

static guint sim_ceil_div(guint a, guint b)
{
    return b == 0 ? 0 : (a + b - 1) / b;
}

/*
 * evenly_distributed: each host at or over high_utilization must lose at
 * least the fewest VMs whose removal brings it under, and the fewest are
 * its largest movable ones; moves off different hosts are different moves.
 */
static SimBound sim_bound_even(Sim *sim, const MgrBalancerParams *p)
{
    SimBound b = {0};
    guint per_pass = (guint)p->max_migrations_per_pass;
    guint per_host = sim->cluster->max_outgoing_migrations;

    for (guint i = 0; i < sim->bhosts->len; i++) {
        MgrBalancerHost *h = sim_host(sim, i);
        g_autoptr(GPtrArray) movable = g_ptr_array_new();
        double cpu = h->load->cpu_percent;
        guint k = 0;

        if (h->load->host->status != MGR_HOST_UP || cpu < p->high_utilization) {
            continue;
        }
        for (guint j = 0; j < h->vms->len; j++) {
            MgrBalancerVm *v = g_ptr_array_index(h->vms, j);

            if (sim_vm_movable(v)) {
                g_ptr_array_add(movable, v);
            }
        }
        g_ptr_array_sort(movable, sim_compare_cpu_desc);
        while (k < movable->len && cpu >= p->high_utilization) {
            cpu -=
                ((MgrBalancerVm *)g_ptr_array_index(movable, k))->cpu_percent;
            k++;
        }
        b.unreachable += cpu >= p->high_utilization;
        b.moves += k;
        b.passes = MAX(b.passes, sim_ceil_div(k, per_host));
    }
    b.moves_simple = b.moves;
    b.passes = MAX(b.passes, sim_ceil_div(b.moves, per_pass));
    return b;
}

/* Moves off hosts above @x VMs, counting only VMs that may move. */
static guint sim_excess(const guint *count, const guint *movable, guint n,
                        guint x)
{
    guint sum = 0;

    for (guint i = 0; i < n; i++) {
        sum += count[i] > x ? MIN(count[i] - x, movable[i]) : 0;
    }
    return sum;
}

static guint sim_deficit(const guint *count, guint n, guint x)
{
    guint sum = 0;

    for (guint i = 0; i < n; i++) {
        sum += count[i] < x ? x - count[i] : 0;
    }
    return sum;
}

/*
 * vm_evenly_distributed stops when the fullest host runs at most
 * high_vm_count VMs, or fewer than migration_threshold more than the
 * emptiest.  Over H hosts that are up, with V VMs, the emptiest runs at
 * most floor(V/H), so an accepted end has no host above
 *   T = max(high_vm_count, floor(V/H) + migration_threshold - 1)
 * and at least sum max(0, count - T) moves (the simple bound).  Tighter:
 * an end where every host is within [m, m + threshold - 1] needs both the
 * moves off hosts above the top and the moves onto hosts below m; the
 * bound is the least over m (or over "everyone at most high_vm_count").
 */
static SimBound sim_bound_vm_count(Sim *sim, const MgrBalancerParams *p)
{
    SimBound b = {0};
    g_autofree guint *count = g_new0(guint, sim->bhosts->len);
    g_autofree guint *movable = g_new0(guint, sim->bhosts->len);
    guint high = (guint)p->high_vm_count;
    guint thr = (guint)p->migration_threshold;
    guint n = 0;
    guint v = 0;
    guint best = G_MAXUINT;

    for (guint i = 0; i < sim->bhosts->len; i++) {
        MgrBalancerHost *h = sim_host(sim, i);

        if (h->load->host->status != MGR_HOST_UP) {
            continue;
        }
        count[n] = h->vms->len;
        for (guint j = 0; j < h->vms->len; j++) {
            movable[n] += sim_vm_movable(g_ptr_array_index(h->vms, j));
        }
        v += count[n];
        n++;
    }
    b.target = MAX(high, v / n + thr - 1);
    b.moves_simple = sim_excess(count, movable, n, b.target);
    if ((guint64)n * high >= v) {
        best = sim_excess(count, movable, n, high);
    }
    for (guint m = 0; m <= v / n; m++) {
        guint top = m + thr - 1;

        if ((guint64)top * n < v) {
            continue; /* V VMs do not fit under that top */
        }
        best = MIN(best, MAX(sim_excess(count, movable, n, top),
                             sim_deficit(count, n, m)));
    }
    b.moves = best;
    for (guint i = 0; i < n; i++) {
        b.unreachable += count[i] - movable[i] > b.target;
    }
    b.passes = sim_ceil_div(b.moves, (guint)p->max_migrations_per_pass);
    return b;
}

static SimConvResult sim_converge(guint n_hosts, const SimOptions *opt,
                                  const SimCase *c)
{
    g_autoptr(Sim) sim = sim_new(n_hosts, opt->vms_per_host, opt->seed);
    MgrBalancerInput in = {
        .cluster = sim->cluster,
        .params = sim_params(c->policy, c->params),
        .hosts = sim->bhosts,
        .memory_overhead_mib = SIM_OVERHEAD_MIB,
    };
    SimConvResult r = {0};
    GHashTableIter iter;
    gpointer value;

    sim_refresh(sim, &in.params);
    r.bound = in.params.policy == MGR_BALANCER_VM_EVENLY_DISTRIBUTED
                  ? sim_bound_vm_count(sim, &in.params)
                  : sim_bound_even(sim, &in.params);
    for (guint pass = 0; pass < opt->max_passes; pass++) {
        g_autoptr(GPtrArray) actions = NULL;
        gint64 start;
        gint64 cpu;
        double ms;

        sim_refresh(sim, &in.params);
        in.now_us = sim->now_us;
        g_clear_pointer(&r.stuck, g_free);
        cpu = sim_cpu_time_us();
        start = g_get_monotonic_time();
        actions = mgr_balancer_plan(&in, &r.stuck, NULL);
        ms = (double)(g_get_monotonic_time() - start) / 1000.0;
        cpu = sim_cpu_time_us() - cpu;
        r.plan_ms += ms;
        r.max_pass_ms = MAX(r.max_pass_ms, ms);
        r.last_pass_ms = ms;
        r.last_pass_cpu_ms = (double)cpu / 1000.0;
        if (actions->len == 0) {
            r.settled = TRUE;
            break;
        }
        r.passes++;
        for (guint i = 0; i < actions->len; i++) {
            const MgrBalancerAction *a = g_ptr_array_index(actions, i);

            r.migrations += a->kind == MGR_BALANCER_MIGRATE;
            r.power += a->kind != MGR_BALANCER_MIGRATE;
            sim_apply(sim, a);
        }
        sim->now_us += SIM_PASS_INTERVAL_US;
    }
    sim_refresh(sim, &in.params);
    g_hash_table_iter_init(&iter, sim->moves);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        r.moved_twice += GPOINTER_TO_UINT(value) > 1;
    }
    r.final_min = G_MAXUINT;
    for (guint i = 0; i < sim->bhosts->len; i++) {
        MgrBalancerHost *h = sim_host(sim, i);

        if (h->load->host->status != MGR_HOST_UP) {
            continue;
        }
        r.final_max = MAX(r.final_max, h->vms->len);
        if (h->vms->len < r.final_min) {
            r.final_min = h->vms->len;
            r.final_min_cpu = h->load->cpu_percent;
        }
    }
    r.accepted = TRUE;
    for (guint i = 0; i < sim->bhosts->len; i++) {
        MgrBalancerHost *h = sim_host(sim, i);
        double movable_cpu = 0;
        guint movable = 0;
        gboolean breaks;

        if (h->load->host->status != MGR_HOST_UP) {
            continue;
        }
        for (guint j = 0; j < h->vms->len; j++) {
            MgrBalancerVm *v = g_ptr_array_index(h->vms, j);

            if (sim_vm_movable(v)) {
                movable++;
                movable_cpu += v->cpu_percent;
            }
        }
        if (in.params.policy == MGR_BALANCER_VM_EVENLY_DISTRIBUTED) {
            /* over both limits with a VM that could leave */
            breaks = (double)h->vms->len > in.params.high_vm_count &&
                     (double)(h->vms->len - r.final_min) >=
                         in.params.migration_threshold &&
                     movable > 0;
        } else {
            if (h->load->cpu_percent < in.params.high_utilization) {
                continue;
            }
            r.final_over++;
            r.final_over_stuck += movable == 0;
            /* over, though shedding what may move would end it */
            breaks =
                h->load->cpu_percent - movable_cpu < in.params.high_utilization;
        }
        r.accepted = r.accepted && !breaks;
    }
    return r;
}

/* ---- one size, all measurements ---- */

typedef struct {
    guint hosts;
    guint up;
    guint vms;
    double build_s;
    SimDecisionResult decision[SIM_N_DECISIONS];
    SimPassResult pass[G_N_ELEMENTS(sim_cases)];
    SimConvResult conv[SIM_N_CONV];
    double conv_s;
} SimSize;

static void sim_run_size(SimSize *out, guint n, const SimOptions *opt)
{
    gint64 t0 = g_get_monotonic_time();
    g_autoptr(Sim) sim = sim_new(n, opt->vms_per_host, opt->seed);

    out->hosts = n;
    out->vms = sim->vms->len;
    for (guint i = 0; i < n; i++) {
        out->up += sim_host(sim, i)->load->host->status == MGR_HOST_UP;
    }
    out->build_s = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
    g_printerr("%u hosts, %u VMs: built in %.1f s\n", n, out->vms,
               out->build_s);
    for (guint k = 0; opt->decisions && k < SIM_N_DECISIONS; k++) {
        if (!sim_decision_available(k)) {
            continue;
        }
        out->decision[k] =
            sim_measure_decision(sim, k, opt->reps, opt->budget_s);
        g_printerr("  %s: %.1f µs\n", sim_decision_names[k],
                   out->decision[k].stats.mean);
    }
    for (guint k = 0; opt->passes && k < G_N_ELEMENTS(sim_cases); k++) {
        out->pass[k] =
            sim_measure_pass(sim, &sim_cases[k], opt->pass_reps, opt->budget_s);
        g_printerr("  pass %s: %.2f ms\n", sim_cases[k].label,
                   out->pass[k].stats.mean);
    }
    if (!opt->convergence) {
        return;
    }
    t0 = g_get_monotonic_time();
    for (guint k = 0; k < SIM_N_CONV; k++) {
        out->conv[k] = sim_converge(n, opt, &sim_cases[k]);
        g_printerr("  converge %s: %u passes, %u migrations (bound %u)\n",
                   sim_cases[k].label, out->conv[k].passes,
                   out->conv[k].migrations, out->conv[k].bound.moves);
    }
    out->conv_s = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
}

/* ---- output ---- */

/* log(b/a) / log(nb/na): 1 is linear. */
static double sim_growth(double a, double b, guint na, guint nb)
{
    if (a <= 0 || b <= 0 || na == nb) {
        return NAN;
    }
    return log(b / a) / log((double)nb / (double)na);
}

static void sim_print_decisions(const SimSize *sizes, guint n_sizes);
static void sim_print_passes(const SimSize *sizes, guint n_sizes,
                             const SimOptions *opt);
static void sim_print_convergence(const SimSize *sizes, guint n_sizes);
static void sim_print_growth(const SimSize *sizes, guint n_sizes,
                             const SimOptions *opt);

static void sim_print_tables(const SimSize *sizes, guint n_sizes,
                             const SimOptions *opt)
{
    printf("### Clusters\n\n");
    printf("| hosts | up | VMs | built in |\n|---:|---:|---:|---:|\n");
    for (guint s = 0; s < n_sizes; s++) {
        printf("| %u | %u | %u | %.1f s |\n", sizes[s].hosts, sizes[s].up,
               sizes[s].vms, sizes[s].build_s);
    }

    if (opt->decisions) {
        sim_print_decisions(sizes, n_sizes);
    }
    if (opt->passes) {
        sim_print_passes(sizes, n_sizes, opt);
    }
    if (opt->convergence) {
        sim_print_convergence(sizes, n_sizes);
    }
    if (n_sizes > 1) {
        sim_print_growth(sizes, n_sizes, opt);
    }
}

static void sim_print_decision_row(const SimSize *size, SimDecision k)
{
    const SimDecisionResult *d = &size->decision[k];
    g_autofree char *examined = sim_decision_search(k)
                                    ? g_strdup_printf("%.1f", d->examined)
                                    : g_strdup_printf("%u (all)", size->hosts);

    printf("| %u | %s | %.2f | %.2f | %.2f | %.2f | %.0f | %s | %.0f%% | "
           "%u |\n",
           size->hosts, sim_decision_labels[k], d->stats.mean, d->stats.p50,
           d->stats.p99, d->stats.cpu_mean, 1e6 / d->stats.mean, examined,
           100 * d->found, d->stats.batch);
}

static void sim_print_decisions(const SimSize *sizes, guint n_sizes)
{
    printf("\n### Placement decision (µs per decision)\n\n");
    printf("| hosts | decision | mean | p50 | p99 | CPU mean | decisions/s "
           "| hosts examined | host found | batch |\n");
    printf("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (guint s = 0; s < n_sizes; s++) {
        for (guint k = 0; k < SIM_N_DECISIONS; k++) {
            if (sim_decision_available(k)) {
                sim_print_decision_row(&sizes[s], k);
            }
        }
    }
#ifndef SIM_HAVE_PICK
    printf("\n(mgr_scheduler_pick() is not in this tree: not measured.)\n");
#endif
}

static void sim_print_passes(const SimSize *sizes, guint n_sizes,
                             const SimOptions *opt)
{
    printf("\n### Balancing pass (ms per mgr_balancer_plan, %u passes)\n\n",
           opt->pass_reps);
    printf("| hosts | policy | mean | p50 | p99 | max | CPU mean | "
           "migrations planned | power | stuck |\n");
    printf("|---:|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for (guint s = 0; s < n_sizes; s++) {
        for (guint k = 0; k < G_N_ELEMENTS(sim_cases); k++) {
            const SimPassResult *p = &sizes[s].pass[k];

            printf("| %u | %s | %.2f | %.2f | %.2f | %.2f | %.2f | %u | %u | "
                   "%s |\n",
                   sizes[s].hosts, sim_cases[k].label, p->stats.mean,
                   p->stats.p50, p->stats.p99, p->stats.max, p->stats.cpu_mean,
                   p->migrations, p->power, p->stuck ? "yes" : "no");
        }
    }
}

static void sim_print_convergence(const SimSize *sizes, guint n_sizes)
{
    printf("\n### Convergence (passes until one does nothing)\n\n");
    printf("| hosts | policy | settled | passes | ≥ passes | migrations | ≥ "
           "moves | × bound | VMs moved twice | end state | accepted | plan "
           "time | slowest pass | pass at rest (CPU) |\n");
    printf("|---:|---|---|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---:"
           "|\n");
    for (guint s = 0; s < n_sizes; s++) {
        for (guint k = 0; k < SIM_N_CONV; k++) {
            const SimConvResult *c = &sizes[s].conv[k];
            g_autofree char *end = NULL;
            g_autofree char *bound = NULL;

            if (g_str_has_prefix(sim_cases[k].policy, "vm_")) {
                end =
                    g_strdup_printf("%u–%u VMs a host (target ≤ %u); "
                                    "one with %u at %.0f%% CPU",
                                    c->final_min, c->final_max, c->bound.target,
                                    c->final_min, c->final_min_cpu);
                bound = g_strdup_printf("%u (simple %u)", c->bound.moves,
                                        c->bound.moves_simple);
            } else {
                end = g_strdup_printf("%u over, %u of them without a "
                                      "movable VM",
                                      c->final_over, c->final_over_stuck);
                bound = g_strdup_printf("%u", c->bound.moves);
            }
            printf(
                "| %u | %s | %s | %u | %u | %u | %s | %.2f | %u | %s | %s "
                "| %.0f ms | %.1f ms | %.1f ms (%.1f) |\n",
                sizes[s].hosts, sim_cases[k].label,
                c->settled ? "yes" : "**no**", c->passes, c->bound.passes,
                c->migrations, bound,
                c->bound.moves ? (double)c->migrations / c->bound.moves : 0.0,
                c->moved_twice, end, c->accepted ? "yes" : "**no**", c->plan_ms,
                c->max_pass_ms, c->last_pass_ms, c->last_pass_cpu_ms);
        }
    }
}

/* One row of the growth table: wall-clock and CPU exponents. */
static void sim_print_growth_row(const char *what, const char *label,
                                 const SimSize *sizes, guint n_sizes,
                                 const Stats *(*get)(const SimSize *, guint),
                                 guint k)
{
    printf("| %s: %s |", what, label);
    for (guint s = 1; s < n_sizes; s++) {
        const Stats *a = get(&sizes[s - 1], k);
        const Stats *b = get(&sizes[s], k);

        printf(" %.2f / %.2f |",
               sim_growth(a->mean, b->mean, sizes[s - 1].hosts, sizes[s].hosts),
               sim_growth(a->cpu_mean, b->cpu_mean, sizes[s - 1].hosts,
                          sizes[s].hosts));
    }
    printf("\n");
}

static const Stats *sim_decision_stats(const SimSize *size, guint k)
{
    return &size->decision[k].stats;
}

static const Stats *sim_pass_stats(const SimSize *size, guint k)
{
    return &size->pass[k].stats;
}

static void sim_print_growth(const SimSize *sizes, guint n_sizes,
                             const SimOptions *opt)
{
    printf("\n### Growth with hosts (exponent log(t2/t1) / log(n2/n1) of the "
           "wall-clock / CPU means; 1 is linear)\n\n");
    printf("| measure |");
    for (guint s = 1; s < n_sizes; s++) {
        printf(" %u → %u |", sizes[s - 1].hosts, sizes[s].hosts);
    }
    printf("\n|---|");
    for (guint s = 1; s < n_sizes; s++) {
        printf("---:|");
    }
    printf("\n");
    for (guint k = 0; opt->decisions && k < SIM_N_DECISIONS; k++) {
        if (!sim_decision_available(k)) {
            continue;
        }
        sim_print_growth_row("decision", sim_decision_labels[k], sizes, n_sizes,
                             sim_decision_stats, k);
    }
    for (guint k = 0; opt->passes && k < G_N_ELEMENTS(sim_cases); k++) {
        sim_print_growth_row("pass", sim_cases[k].label, sizes, n_sizes,
                             sim_pass_stats, k);
    }
    for (guint k = 0; opt->convergence && k < SIM_N_CONV; k++) {
        printf("| pass at rest after %s |", sim_cases[k].label);
        for (guint s = 1; s < n_sizes; s++) {
            printf(" %.2f / %.2f |",
                   sim_growth(sizes[s - 1].conv[k].last_pass_ms,
                              sizes[s].conv[k].last_pass_ms, sizes[s - 1].hosts,
                              sizes[s].hosts),
                   sim_growth(sizes[s - 1].conv[k].last_pass_cpu_ms,
                              sizes[s].conv[k].last_pass_cpu_ms,
                              sizes[s - 1].hosts, sizes[s].hosts));
        }
        printf("\n");
    }
}

static void sim_json_int(JsonBuilder *b, const char *name, gint64 value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, value);
}

static void sim_json_double(JsonBuilder *b, const char *name, double value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_double_value(b, value);
}

static void sim_json_bool(JsonBuilder *b, const char *name, gboolean value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_boolean_value(b, value);
}

/* NULL as null */
static void sim_json_string(JsonBuilder *b, const char *name, const char *value)
{
    json_builder_set_member_name(b, name);
    if (value != NULL) {
        json_builder_add_string_value(b, value);
    } else {
        json_builder_add_null_value(b);
    }
}

static void sim_json_stats(JsonBuilder *b, const char *unit, const Stats *s)
{
    sim_json_string(b, "unit", unit);
    sim_json_double(b, "mean", s->mean);
    sim_json_double(b, "p50", s->p50);
    sim_json_double(b, "p99", s->p99);
    sim_json_double(b, "min", s->min);
    sim_json_double(b, "max", s->max);
    sim_json_double(b, "cpu_mean", s->cpu_mean);
    sim_json_int(b, "samples", s->samples);
    sim_json_int(b, "batch", s->batch);
}

static void sim_json_size(JsonBuilder *b, const SimSize *z,
                          const SimOptions *opt)
{
    json_builder_begin_object(b);
    sim_json_int(b, "hosts", z->hosts);
    sim_json_int(b, "hosts_up", z->up);
    sim_json_int(b, "vms", z->vms);
    sim_json_double(b, "build_s", z->build_s);
    json_builder_set_member_name(b, "decision");
    json_builder_begin_object(b);
    for (guint k = 0; opt->decisions && k < SIM_N_DECISIONS; k++) {
        if (!sim_decision_available(k)) {
            continue;
        }
        json_builder_set_member_name(b, sim_decision_names[k]);
        json_builder_begin_object(b);
        sim_json_string(b, "label", sim_decision_labels[k]);
        sim_json_stats(b, "us", &z->decision[k].stats);
        sim_json_double(b, "per_second", 1e6 / z->decision[k].stats.mean);
        sim_json_double(b, "hosts_examined",
                        sim_decision_search(k) ? z->decision[k].examined
                                               : z->hosts);
        sim_json_double(b, "found", z->decision[k].found);
        json_builder_end_object(b);
    }
    json_builder_end_object(b);
    json_builder_set_member_name(b, "pass");
    json_builder_begin_array(b);
    for (guint k = 0; opt->passes && k < G_N_ELEMENTS(sim_cases); k++) {
        json_builder_begin_object(b);
        sim_json_string(b, "label", sim_cases[k].label);
        sim_json_string(b, "policy", sim_cases[k].policy);
        sim_json_string(b, "parameters", sim_cases[k].params);
        sim_json_stats(b, "ms", &z->pass[k].stats);
        sim_json_int(b, "migrations", z->pass[k].migrations);
        sim_json_int(b, "power_actions", z->pass[k].power);
        sim_json_bool(b, "stuck", z->pass[k].stuck);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_set_member_name(b, "convergence");
    json_builder_begin_array(b);
    for (guint k = 0; opt->convergence && k < SIM_N_CONV; k++) {
        const SimConvResult *c = &z->conv[k];

        json_builder_begin_object(b);
        sim_json_string(b, "label", sim_cases[k].label);
        sim_json_string(b, "policy", sim_cases[k].policy);
        sim_json_string(b, "parameters", sim_cases[k].params);
        sim_json_bool(b, "settled", c->settled);
        sim_json_bool(b, "accepted", c->accepted);
        sim_json_string(b, "final_stuck", c->stuck);
        sim_json_int(b, "passes", c->passes);
        sim_json_int(b, "passes_bound", c->bound.passes);
        sim_json_int(b, "migrations", c->migrations);
        sim_json_int(b, "moves_bound", c->bound.moves);
        sim_json_int(b, "moves_bound_simple", c->bound.moves_simple);
        sim_json_int(b, "target_vms", c->bound.target);
        sim_json_int(b, "hosts_unreachable", c->bound.unreachable);
        sim_json_int(b, "power_actions", c->power);
        sim_json_int(b, "vms_moved_twice", c->moved_twice);
        sim_json_double(b, "plan_ms", c->plan_ms);
        sim_json_double(b, "max_pass_ms", c->max_pass_ms);
        sim_json_double(b, "last_pass_ms", c->last_pass_ms);
        sim_json_double(b, "last_pass_cpu_ms", c->last_pass_cpu_ms);
        sim_json_int(b, "final_over", c->final_over);
        sim_json_int(b, "final_over_no_movable", c->final_over_stuck);
        sim_json_int(b, "final_max_vms", c->final_max);
        sim_json_int(b, "final_min_vms", c->final_min);
        sim_json_double(b, "final_min_vms_cpu", c->final_min_cpu);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    sim_json_double(b, "convergence_s", z->conv_s);
    json_builder_end_object(b);
}

static gboolean sim_write_json(const char *path, const SimSize *sizes,
                               guint n_sizes, const SimOptions *opt,
                               GError **error)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *text = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "options");
    json_builder_begin_object(b);
    sim_json_int(b, "vms_per_host", opt->vms_per_host);
    sim_json_int(b, "seed", opt->seed);
    sim_json_int(b, "reps", opt->reps);
    sim_json_int(b, "pass_reps", opt->pass_reps);
    sim_json_int(b, "max_passes", opt->max_passes);
    sim_json_int(b, "budget_s", opt->budget_s);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "targets");
    json_builder_begin_object(b);
    sim_json_double(b, "decision_us", 1000);
    sim_json_double(b, "pass_ms", 100);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "sizes");
    json_builder_begin_array(b);
    for (guint s = 0; s < n_sizes; s++) {
        sim_json_size(b, &sizes[s], opt);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    text = drv_json_to_string(root, TRUE);
    return g_file_set_contents(path, text, -1, error);
}

/* ---- main ---- */

static gboolean sim_parse_sizes(const char *text, SimOptions *opt,
                                GError **error)
{
    g_auto(GStrv) parts = g_strsplit(text, ",", -1);

    opt->n_sizes = g_strv_length(parts);
    opt->sizes = g_new0(guint, MAX(opt->n_sizes, 1));
    for (guint i = 0; i < opt->n_sizes; i++) {
        guint64 n = 0;

        if (!g_ascii_string_to_unsigned(g_strstrip(parts[i]), 10, 2, 1000000,
                                        &n, NULL)) {
            g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                        "--hosts: '%s' is not a number of hosts from 2 to "
                        "1000000",
                        parts[i]);
            return FALSE;
        }
        opt->sizes[i] = (guint)n;
    }
    return opt->n_sizes > 0;
}

static gboolean sim_parse_only(const char *text, SimOptions *opt,
                               GError **error)
{
    g_auto(GStrv) parts = g_strsplit(text ? text : "", ",", -1);

    opt->decisions = opt->passes = opt->convergence = text == NULL;
    for (guint i = 0; text != NULL && parts[i] != NULL; i++) {
        const char *part = g_strstrip(parts[i]);

        if (g_str_equal(part, "decisions")) {
            opt->decisions = TRUE;
        } else if (g_str_equal(part, "passes")) {
            opt->passes = TRUE;
        } else if (g_str_equal(part, "convergence")) {
            opt->convergence = TRUE;
        } else {
            g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                        "--only: '%s' is not decisions, passes or "
                        "convergence",
                        part);
            return FALSE;
        }
    }
    return TRUE;
}

int main(int argc, char **argv)
{
    g_autofree char *hosts = NULL;
    g_autofree char *out = NULL;
    gint vms = 20;
    gint seed = 1;
    gint reps = 0;
    gint pass_reps = 0;
    gint max_passes = 20000;
    gint budget_s = 0;
    gboolean quick = FALSE;
    g_autofree char *only = NULL;
    GOptionEntry entries[] = {
        {"hosts", 0, 0, G_OPTION_ARG_STRING, &hosts,
         "cluster sizes, comma-separated (100,1000,5000; --quick: 100,1000)",
         "N,..."},
        {"vms", 0, 0, G_OPTION_ARG_INT, &vms,
         "VMs per host that is up, on average (20)", "N"},
        {"seed", 0, 0, G_OPTION_ARG_INT, &seed, "random seed (1)", "N"},
        {"reps", 0, 0, G_OPTION_ARG_INT, &reps,
         "samples per placement measurement (300; --quick: 30)", "N"},
        {"pass-reps", 0, 0, G_OPTION_ARG_INT, &pass_reps,
         "passes per balancing-pass measurement (50; --quick: 5)", "N"},
        {"budget", 0, 0, G_OPTION_ARG_INT, &budget_s,
         "seconds a measurement may take once it has its minimum of "
         "samples, 30 decisions or 10 passes (20; --quick: 2)",
         "S"},
        {"max-passes", 0, 0, G_OPTION_ARG_INT, &max_passes,
         "give up converging after this many passes (20000)", "N"},
        {"only", 0, 0, G_OPTION_ARG_STRING, &only,
         "run only these parts: decisions, passes, convergence "
         "(comma-separated; all)",
         "PART,..."},
        {"quick", 0, 0, G_OPTION_ARG_NONE, &quick,
         "a fast smoke run: fewer sizes and samples", NULL},
        {"out", 0, 0, G_OPTION_ARG_FILENAME, &out,
         "write every figure as JSON to FILE", "FILE"},
        {NULL},
    };
    g_autoptr(GOptionContext) context =
        g_option_context_new("- scheduler and balancer simulation benchmark");
    g_autoptr(GError) error = NULL;
    g_autofree SimSize *sizes = NULL;
    SimOptions opt = {0};

    g_option_context_add_main_entries(context, entries, NULL);
    if (!g_option_context_parse(context, &argc, &argv, &error) ||
        !sim_parse_sizes(hosts   ? hosts
                         : quick ? "100,1000"
                                 : "100,1000,5000",
                         &opt, &error)) {
        g_printerr("sim: %s\n", error ? error->message : "no sizes");
        return 2;
    }
    if (vms < 1 || vms > 1000 || seed < 0 || reps < 0 || pass_reps < 0 ||
        max_passes < 1) {
        g_printerr("sim: --vms must be 1-1000; --seed, --reps, --pass-reps "
                   "not negative; --max-passes at least 1\n");
        return 2;
    }
    opt.vms_per_host = (guint)vms;
    opt.seed = (guint32)seed;
    opt.reps = reps ? (guint)reps : quick ? 30 : 300;
    opt.pass_reps = pass_reps ? (guint)pass_reps : quick ? 5 : 50;
    opt.max_passes = (guint)max_passes;
    opt.budget_s = budget_s > 0 ? (guint)budget_s : quick ? 2 : 20;
    if (!sim_parse_only(only, &opt, &error)) {
        g_printerr("sim: %s\n", error->message);
        g_free(opt.sizes);
        return 2;
    }

    sizes = g_new0(SimSize, opt.n_sizes);
    for (guint s = 0; s < opt.n_sizes; s++) {
        sim_run_size(&sizes[s], opt.sizes[s], &opt);
    }
    printf("Seed %u, %u VMs per host that is up on average, %u samples per "
           "decision measurement, %u passes per pass measurement.\n\n",
           opt.seed, opt.vms_per_host, opt.reps, opt.pass_reps);
    sim_print_tables(sizes, opt.n_sizes, &opt);
    if (out != NULL && !sim_write_json(out, sizes, opt.n_sizes, &opt, &error)) {
        g_printerr("sim: %s\n", error->message);
        g_free(opt.sizes);
        return 1;
    }
    for (guint s = 0; s < opt.n_sizes; s++) {
        for (guint k = 0; k < G_N_ELEMENTS(sizes[s].conv); k++) {
            g_free(sizes[s].conv[k].stuck);
        }
    }
    g_free(opt.sizes);
    return 0;
}
