/*
 * The balancer: policy parameters (defaults, bounds, what each policy
 * takes), and passes over a simulated cluster whose migrations complete
 * between passes: each policy reaches its balance and then stays still,
 * busy hosts are left out, limits hold, unmovable VMs stay, and power
 * saving empties, powers off and powers on as it should.
 */
#include "common/error.h"
#include "common/json.h"
#include "manager/balancer.h"

static const char host_facts[] =
    "{\"cpu\": {\"cpus\": 2, \"utilization_percent\": 0},"
    " \"memory\": {\"free_for_vms_mib\": 8000, \"vm_overhead_mib\": 0},"
    " \"storage_domains\": [], \"networks\": [{\"name\": \"vmnet\","
    " \"available\": true}],"
    " \"qemu\": {\"cpu_models\": [\"qemu64\"]}}";

#define WORLD_MEMORY_MIB 8000

/* ---- parameters ---- */

static JsonObject *parse(const char *text)
{
    g_autoptr(GError) error = NULL;
    JsonObject *obj = drv_json_parse_object(text, -1, &error);

    g_assert_no_error(error);
    return obj;
}

static void test_params_defaults(void)
{
    g_autoptr(GError) error = NULL;
    MgrBalancerParams p;
    g_autoptr(JsonObject) json = NULL;

    g_assert_true(
        mgr_balancer_params_parse("evenly_distributed", NULL, &p, &error));
    g_assert_no_error(error);
    g_assert_cmpint(p.policy, ==, MGR_BALANCER_EVENLY_DISTRIBUTED);
    g_assert_cmpfloat(p.high_utilization, ==, 80);
    g_assert_cmpfloat(p.overcommit_duration_s, ==, 120);
    g_assert_cmpfloat(p.max_migrations_per_pass, ==, 2);
    g_assert_cmpfloat(p.cooldown_s, ==, 600);
    g_assert_cmpfloat(p.max_free_memory_for_over_utilized, ==, -1);

    g_assert_true(
        mgr_balancer_params_parse("vm_evenly_distributed", NULL, &p, &error));
    g_assert_cmpfloat(p.high_vm_count, ==, 10);
    g_assert_cmpfloat(p.migration_threshold, ==, 5);

    g_assert_true(mgr_balancer_params_parse("power_saving", NULL, &p, &error));
    g_assert_cmpfloat(p.low_utilization, ==, 20);
    g_assert_cmpfloat(p.hosts_in_reserve, ==, 1);
    g_assert_cmpfloat(p.high_vm_count, ==, 0);
    json = mgr_balancer_params_to_json(&p);
    g_assert_cmpint(json_object_get_int_member(json, "hosts_in_reserve"), ==,
                    1);
    g_assert_cmpfloat(
        json_object_get_double_member(json, "overcommit_duration_minutes"), ==,
        2);
    g_assert_true(json_object_get_null_member(
        json, "min_free_memory_for_under_utilized"));
    g_assert_false(json_object_has_member(json, "migration_threshold"));

    g_assert_true(mgr_balancer_params_parse("none", NULL, &p, &error));
    g_clear_pointer(&json, json_object_unref);
    json = mgr_balancer_params_to_json(&p);
    g_assert_cmpuint(json_object_get_size(json), ==, 0);
}

static void test_params_given(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) given =
        parse("{\"high_utilization\": 70, \"low_utilization\": 12.5,"
              " \"overcommit_duration_minutes\": 0.5,"
              " \"min_free_memory_for_under_utilized\": 1024,"
              " \"max_free_memory_for_over_utilized\": null}");
    g_autoptr(JsonObject) back = NULL;
    MgrBalancerParams p;

    g_assert_true(mgr_balancer_params_parse("power_saving", given, &p, &error));
    g_assert_no_error(error);
    g_assert_cmpfloat(p.high_utilization, ==, 70);
    g_assert_cmpfloat(p.low_utilization, ==, 12.5);
    g_assert_cmpfloat(p.overcommit_duration_s, ==, 30);
    g_assert_cmpfloat(p.min_free_memory_for_under_utilized, ==, 1024);
    g_assert_cmpfloat(p.max_free_memory_for_over_utilized, ==, -1);
    back = mgr_balancer_params_to_json(&p);
    g_assert_cmpfloat(
        json_object_get_double_member(back, "overcommit_duration_minutes"), ==,
        0.5);
    g_assert_cmpint(
        json_object_get_int_member(back, "min_free_memory_for_under_utilized"),
        ==, 1024);
}

static void test_params_errors(void)
{
    const struct {
        const char *policy;
        const char *params;
        const char *message;
    } cases[] = {
        {"fastest", "{}",
         "scheduling policy 'fastest' is not known (none, "
         "evenly_distributed, vm_evenly_distributed, "
         "power_saving)"},
        {"none", "{\"high_utilization\": 50}",
         "scheduling policy none takes no parameter 'high_utilization' (it "
         "takes: none)"},
        {"evenly_distributed", "{\"hosts_in_reserve\": 1}",
         "takes no parameter 'hosts_in_reserve' (it takes: high_utilization, "
         "overcommit_duration_minutes, max_free_memory_for_over_utilized, "
         "max_migrations_per_pass, cooldown_minutes)"},
        {"evenly_distributed", "{\"high_utilization\": 101}",
         "'high_utilization' must be a number from 1 to 100 %, not 101"},
        {"evenly_distributed", "{\"high_utilization\": \"80\"}",
         "'high_utilization' must be a number"},
        {"evenly_distributed", "{\"high_utilization\": null}",
         "'high_utilization' must be a number"},
        {"vm_evenly_distributed", "{\"high_vm_count\": 2.5}",
         "'high_vm_count' must be a whole number from 1 to 100000 VMs"},
        {"vm_evenly_distributed", "{\"migration_threshold\": 0}",
         "'migration_threshold' must be a whole number"},
        {"power_saving", "{\"low_utilization\": 80}",
         "low_utilization (80%) must be below high_utilization (80%)"},
        {"power_saving", "{\"max_migrations_per_pass\": 0}",
         "'max_migrations_per_pass' must be a whole number from 1 to 100"},
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(JsonObject) given = parse(cases[i].params);
        g_autoptr(GError) error = NULL;
        MgrBalancerParams p;

        g_assert_false(
            mgr_balancer_params_parse(cases[i].policy, given, &p, &error));
        g_assert_error(error, DRV_ERROR, DRV_ERROR_INVALID);
        if (strstr(error->message, cases[i].message) == NULL) {
            g_error("case %u: '%s' lacks '%s'", i, error->message,
                    cases[i].message);
        }
    }
}

static void test_describe(void)
{
    g_autoptr(JsonArray) all = mgr_balancer_describe();
    JsonObject *power;
    JsonArray *params;

    g_assert_cmpuint(json_array_get_length(all), ==, 4);
    g_assert_cmpstr(json_object_get_string_member(
                        json_array_get_object_element(all, 0), "name"),
                    ==, "none");
    power = json_array_get_object_element(all, 3);
    g_assert_cmpstr(json_object_get_string_member(power, "name"), ==,
                    "power_saving");
    params = json_object_get_array_member(power, "parameters");
    g_assert_cmpuint(json_array_get_length(params), ==, 10);
}

/* ---- a simulated cluster ---- */

typedef struct {
    MgrCluster *cluster;
    GPtrArray *hosts;  /* MgrHost *, owned */
    GPtrArray *loads;  /* MgrHostLoad *, owned */
    GPtrArray *bhosts; /* MgrBalancerHost *, owned (vms owned too) */
    GPtrArray *vms;    /* MgrVm *, owned */
    MgrBalancerParams params;
    gint64 now_us;
    guint migrations;
    guint power_ons;
    guint power_offs;
    char *stuck;
} World;

static void bhost_free(MgrBalancerHost *h)
{
    g_ptr_array_unref(h->vms);
    g_free(h);
}

static World *world_new(const char *policy, const char *params, guint n_hosts)
{
    World *w = g_new0(World, 1);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) given = parse(params);

    w->cluster = mgr_cluster_new("c1", "default");
    w->cluster->max_cpu_percent = 100;
    w->hosts = g_ptr_array_new_with_free_func((GDestroyNotify)mgr_host_free);
    w->loads = g_ptr_array_new_with_free_func(g_free);
    w->bhosts = g_ptr_array_new_with_free_func((GDestroyNotify)bhost_free);
    w->vms = g_ptr_array_new_with_free_func((GDestroyNotify)mgr_vm_free);
    w->now_us = 1000 * G_USEC_PER_SEC;
    g_assert_true(mgr_balancer_params_parse(policy, given, &w->params, &error));
    g_assert_no_error(error);
    for (guint i = 0; i < n_hosts; i++) {
        g_autofree char *name = g_strdup_printf("host%u", i + 1);
        g_autofree char *id = g_strdup_printf("id-host%u", i + 1);
        MgrHost *host = mgr_host_new(id, name, "http://127.0.0.1:7001", "c1");
        MgrHostLoad *load = g_new0(MgrHostLoad, 1);
        MgrBalancerHost *bh = g_new0(MgrBalancerHost, 1);

        host->status = MGR_HOST_UP;
        host->facts = parse(host_facts);
        load->host = host;
        load->cpus = 2;
        bh->load = load;
        bh->can_power = TRUE;
        bh->vms = g_ptr_array_new_with_free_func(g_free);
        g_ptr_array_add(w->hosts, host);
        g_ptr_array_add(w->loads, load);
        g_ptr_array_add(w->bhosts, bh);
    }
    return w;
}

static void world_free(World *w)
{
    g_ptr_array_unref(w->bhosts);
    g_ptr_array_unref(w->loads);
    g_ptr_array_unref(w->hosts);
    g_ptr_array_unref(w->vms);
    mgr_cluster_free(w->cluster);
    g_free(w->stuck);
    g_free(w);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(World, world_free)

static MgrBalancerHost *world_host(World *w, guint i)
{
    return g_ptr_array_index(w->bhosts, i);
}

/* A VM on host @host (0-based) using @cpu % of that host's CPUs. */
static MgrBalancerVm *world_add_vm(World *w, guint host, double cpu,
                                   gint64 memory_mib)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *name = g_strdup_printf("vm%u", w->vms->len + 1);
    g_autofree char *text = g_strdup_printf(
        "{\"name\": \"%s\", \"memory_mib\": %" G_GINT64_FORMAT ","
        " \"nics\": [{\"network\": \"vmnet\"}]}",
        name, memory_mib);
    g_autoptr(JsonObject) obj = parse(text);
    DrvVmSpec *spec = drv_vm_spec_from_json(obj, TRUE, &error);
    MgrVm *vm;
    MgrBalancerVm *bv = g_new0(MgrBalancerVm, 1);
    MgrBalancerHost *h = world_host(w, host);

    g_assert_no_error(error);
    g_free(spec->cpu_model);
    spec->cpu_model = g_strdup("qemu64");
    vm = mgr_vm_new("c1", spec);
    vm->status = MGR_VM_UP;
    vm->host_id = g_strdup(h->load->host->id);
    vm->cpu_percent = cpu;
    bv->vm = vm;
    bv->cpu_percent = cpu;
    bv->memory_mib = memory_mib;
    bv->dirty_rate_bps = -1;
    g_ptr_array_add(w->vms, vm);
    g_ptr_array_add(h->vms, bv);
    return bv;
}

/* Loads from the VMs, as the monitor would see them once all settled. */
static void world_refresh(World *w)
{
    for (guint i = 0; i < w->bhosts->len; i++) {
        MgrBalancerHost *h = world_host(w, i);
        MgrHostLoad *load = h->load;

        load->cpu_percent = 0;
        load->vm_count = h->vms->len;
        load->free_memory_mib = WORLD_MEMORY_MIB;
        load->incoming = 0;
        load->outgoing = 0;
        for (guint j = 0; j < h->vms->len; j++) {
            MgrBalancerVm *v = g_ptr_array_index(h->vms, j);

            load->cpu_percent += v->cpu_percent;
            load->free_memory_mib -= v->memory_mib;
        }
        /* over the threshold long enough, as soon as it is over */
        h->over_for_s = load->cpu_percent >= w->params.high_utilization
                            ? w->params.overcommit_duration_s + 1
                            : 0;
    }
}

static MgrBalancerHost *world_find(World *w, const MgrHost *host)
{
    for (guint i = 0; i < w->bhosts->len; i++) {
        if (world_host(w, i)->load->host == host) {
            return world_host(w, i);
        }
    }
    g_assert_not_reached();
}

/* Carry out @action as if it completed. */
static void world_apply(World *w, const MgrBalancerAction *action)
{
    MgrBalancerHost *h = world_find(w, action->host);

    switch (action->kind) {
    case MGR_BALANCER_MIGRATE: {
        MgrBalancerHost *dst = world_find(w, action->destination);

        for (guint i = 0; i < h->vms->len; i++) {
            MgrBalancerVm *v = g_ptr_array_index(h->vms, i);

            if (v->vm == action->vm) {
                g_ptr_array_steal_index(h->vms, i);
                /* a host with as many CPUs: the same share */
                g_ptr_array_add(dst->vms, v);
                v->last_balanced_us = w->now_us;
                g_free(((MgrVm *)v->vm)->host_id);
                ((MgrVm *)v->vm)->host_id = g_strdup(dst->load->host->id);
                break;
            }
        }
        h->emptying = action->empties;
        w->migrations++;
        break;
    }
    case MGR_BALANCER_POWER_OFF:
        g_assert_cmpuint(h->vms->len, ==, 0);
        ((MgrHost *)h->load->host)->status = MGR_HOST_DOWN;
        h->powered_off = TRUE;
        h->emptying = FALSE;
        w->power_offs++;
        break;
    case MGR_BALANCER_POWER_ON:
        ((MgrHost *)h->load->host)->status = MGR_HOST_UP;
        h->powered_off = FALSE;
        w->power_ons++;
        break;
    }
}

/* One pass; its actions carried out. Returns how many there were. */
static guint world_pass(World *w)
{
    MgrBalancerInput in = {
        .cluster = w->cluster,
        .params = w->params,
        .hosts = w->bhosts,
        .memory_overhead_mib = 0,
        .now_us = w->now_us,
    };
    g_autoptr(GPtrArray) actions = NULL;
    guint n;

    world_refresh(w);
    g_clear_pointer(&w->stuck, g_free);
    actions = mgr_balancer_plan(&in, &w->stuck, NULL);
    n = actions->len;
    for (guint i = 0; i < actions->len; i++) {
        MgrBalancerAction *a = g_ptr_array_index(actions, i);

        g_assert_nonnull(a->reason);
        g_test_message("%s", a->reason);
        world_apply(w, a);
    }
    w->now_us += 60 * G_USEC_PER_SEC;
    world_refresh(w);
    return n;
}

/* Passes until one does nothing; how many did something. */
static guint world_settle(World *w, guint max_passes)
{
    guint busy = 0;

    while (world_pass(w) > 0) {
        busy++;
        g_assert_cmpuint(busy, <, max_passes);
    }
    return busy;
}

static guint world_count(World *w, guint host)
{
    return world_host(w, host)->vms->len;
}

/* ---- passes ---- */

static void test_none_moves_nothing(void)
{
    g_autoptr(World) w = world_new("none", "{}", 3);

    for (guint i = 0; i < 12; i++) {
        world_add_vm(w, 0, 8, 256);
    }
    g_assert_cmpuint(world_pass(w), ==, 0);
    g_assert_cmpuint(world_count(w, 0), ==, 12);
}

static void test_even_sheds_and_settles(void)
{
    g_autoptr(World) w = world_new("evenly_distributed", "{}", 3);

    /* host1 at 96%: four VMs of 24% */
    for (guint i = 0; i < 4; i++) {
        world_add_vm(w, 0, 24, 512);
    }
    world_add_vm(w, 1, 30, 512);
    g_assert_cmpuint(world_settle(w, 5), >=, 1);
    /* under the threshold everywhere, and nothing moves any more */
    world_refresh(w);
    for (guint i = 0; i < 3; i++) {
        g_assert_cmpfloat(world_host(w, i)->load->cpu_percent, <, 80);
    }
    g_assert_cmpuint(w->migrations, ==, 1);
    g_assert_cmpuint(world_count(w, 2), ==, 1);
    for (guint i = 0; i < 5; i++) {
        g_assert_cmpuint(world_pass(w), ==, 0);
    }
}

/* Two equal VMs on one host: one moves, though the other host then runs
 * a little more than the source (its own background load). */
static void test_even_equal_split(void)
{
    g_autoptr(World) w =
        world_new("evenly_distributed", "{\"high_utilization\": 60}", 2);

    world_add_vm(w, 0, 48, 256);
    world_add_vm(w, 0, 48, 256);
    world_add_vm(w, 1, 2, 64);
    g_assert_cmpuint(world_settle(w, 3), ==, 1);
    g_assert_cmpuint(world_count(w, 0), ==, 1);
    g_assert_cmpuint(world_count(w, 1), ==, 2);
}

static void test_even_waits_for_duration(void)
{
    g_autoptr(World) w = world_new("evenly_distributed", "{}", 2);
    MgrBalancerInput in = {.cluster = w->cluster, .hosts = w->bhosts};
    g_autoptr(GPtrArray) actions = NULL;

    world_add_vm(w, 0, 50, 256);
    world_add_vm(w, 0, 40, 256);
    world_refresh(w);
    world_host(w, 0)->over_for_s = 119; /* default: 2 minutes */
    in.params = w->params;
    in.now_us = w->now_us;
    actions = mgr_balancer_plan(&in, NULL, NULL);
    g_assert_cmpuint(actions->len, ==, 0);
    g_clear_pointer(&actions, g_ptr_array_unref);
    world_host(w, 0)->over_for_s = 121;
    actions = mgr_balancer_plan(&in, NULL, NULL);
    g_assert_cmpuint(actions->len, ==, 1);
}

static void test_even_picks_cheapest_sufficient_vm(void)
{
    g_autoptr(World) w = world_new("evenly_distributed", "{}", 2);
    MgrBalancerVm *small_busy;
    MgrBalancerVm *dirty;
    g_autoptr(GPtrArray) actions = NULL;
    MgrBalancerInput in = {.cluster = w->cluster, .hosts = w->bhosts};
    MgrBalancerAction *a;

    /* 100%: any VM of 20% or more ends it; the cheapest of them moves */
    world_add_vm(w, 0, 40, 2048);
    small_busy = world_add_vm(w, 0, 25, 256);
    dirty = world_add_vm(w, 0, 30, 128);
    dirty->dirty_rate_bps = 200 * 1024 * 1024; /* 2 GiB in 10 s */
    world_add_vm(w, 0, 5, 64);                 /* cheap but not enough */
    world_refresh(w);
    in.params = w->params;
    in.now_us = w->now_us;
    actions = mgr_balancer_plan(&in, NULL, NULL);
    g_assert_cmpuint(actions->len, >=, 1);
    a = g_ptr_array_index(actions, 0);
    g_assert_true(a->vm == small_busy->vm);
    g_assert_cmpstr(a->destination->name, ==, "host2");
    g_assert_nonnull(strstr(a->reason, "host1 has been over 80% CPU for"));
    g_assert_nonnull(strstr(a->reason, "moving vm2 (25% CPU, 256 MiB) to "
                                       "host2 (0% → 25% CPU)"));
}

static void test_even_never_overloads_destination(void)
{
    g_autoptr(World) w = world_new("evenly_distributed", "{}", 2);

    /* host2 at 70%: any of host1's 45% VMs would push it over 80 */
    world_add_vm(w, 0, 45, 256);
    world_add_vm(w, 0, 45, 256);
    world_add_vm(w, 1, 70, 256);
    g_assert_cmpuint(world_pass(w), ==, 0);
    g_assert_nonnull(w->stuck);
    g_assert_nonnull(strstr(w->stuck, "host1 has been over 80% CPU"));
    g_assert_nonnull(strstr(w->stuck, "no other host can take any of its VMs"));
}

/* The key that says "the same situation" ignores the moving figures. */
static void test_stuck_key_is_stable(void)
{
    g_autoptr(World) w = world_new("evenly_distributed", "{}", 2);
    MgrBalancerVm *a = world_add_vm(w, 0, 45, 256);
    MgrBalancerInput in = {.cluster = w->cluster, .hosts = w->bhosts};
    g_autofree char *first = NULL;
    g_autofree char *first_key = NULL;
    g_autofree char *second = NULL;
    g_autofree char *second_key = NULL;
    g_autoptr(GPtrArray) one = NULL;
    g_autoptr(GPtrArray) two = NULL;

    world_add_vm(w, 0, 45, 256);
    world_add_vm(w, 1, 70, 256);
    world_refresh(w);
    in.params = w->params;
    one = mgr_balancer_plan(&in, &first, &first_key);
    a->cpu_percent = 47;
    world_refresh(w);
    world_host(w, 0)->over_for_s += 60;
    two = mgr_balancer_plan(&in, &second, &second_key);
    g_assert_cmpstr(first, !=, second);
    g_assert_cmpstr(first_key, ==, second_key);
    g_assert_true(g_str_has_prefix(first_key, "id-host1:"));
}

static void test_unmovable_vms_stay(void)
{
    g_autoptr(World) w = world_new("evenly_distributed", "{}", 2);
    MgrBalancerVm *pinned = world_add_vm(w, 0, 45, 256);
    MgrBalancerVm *manual = world_add_vm(w, 0, 45, 256);
    MgrBalancerVm *cooling = world_add_vm(w, 0, 5, 256);
    const char *const pins[] = {"host1", NULL};

    g_strfreev(pinned->vm->spec->pinned_hosts);
    pinned->vm->spec->pinned_hosts = g_strdupv((char **)pins);
    manual->vm->spec->migration_mode = DRV_MIGRATION_MODE_MANUAL_ONLY;
    cooling->last_balanced_us = w->now_us - 60 * G_USEC_PER_SEC;
    g_assert_cmpuint(world_pass(w), ==, 0);
    g_assert_nonnull(w->stuck);
    g_assert_nonnull(strstr(w->stuck, "none of its VMs can move: vm1 is "
                                      "pinned; vm2 does not allow automatic "
                                      "migration; vm3 was moved recently "
                                      "(cool-down)"));
    /* after the cool-down, the one that may move does */
    w->now_us += 10 * 60 * G_USEC_PER_SEC;
    g_assert_cmpuint(world_pass(w), ==, 1);
    g_assert_cmpuint(world_count(w, 1), ==, 1);
}

static void test_busy_hosts_left_out(void)
{
    g_autoptr(World) w = world_new("evenly_distributed", "{}", 3);
    MgrBalancerInput in = {.cluster = w->cluster, .hosts = w->bhosts};
    g_autoptr(GPtrArray) actions = NULL;
    MgrBalancerAction *a;

    world_add_vm(w, 0, 50, 256);
    world_add_vm(w, 0, 40, 256);
    world_refresh(w);
    /* host2, the emptiest, receives a migration already */
    world_host(w, 1)->load->incoming = 1;
    in.params = w->params;
    in.now_us = w->now_us;
    actions = mgr_balancer_plan(&in, NULL, NULL);
    g_assert_cmpuint(actions->len, ==, 1);
    a = g_ptr_array_index(actions, 0);
    g_assert_cmpstr(a->destination->name, ==, "host3");
    g_clear_pointer(&actions, g_ptr_array_unref);
    /* the over-used host itself sends one: left out of the pass */
    world_refresh(w);
    world_host(w, 0)->load->outgoing = 1;
    actions = mgr_balancer_plan(&in, NULL, NULL);
    g_assert_cmpuint(actions->len, ==, 0);
}

static void test_migrations_per_pass_bounded(void)
{
    g_autoptr(World) w =
        world_new("vm_evenly_distributed",
                  "{\"high_vm_count\": 2, \"migration_threshold\": 2,"
                  " \"max_migrations_per_pass\": 3}",
                  5);
    MgrBalancerInput in = {.cluster = w->cluster, .hosts = w->bhosts};
    g_autoptr(GPtrArray) actions = NULL;

    w->cluster->max_outgoing_migrations = 64;
    for (guint i = 0; i < 12; i++) {
        world_add_vm(w, 0, 1, 128);
    }
    world_refresh(w);
    in.params = w->params;
    in.now_us = w->now_us;
    actions = mgr_balancer_plan(&in, NULL, NULL);
    g_assert_cmpuint(actions->len, ==, 3);
}

static void test_vm_counts_even_out(void)
{
    g_autoptr(World) w =
        world_new("vm_evenly_distributed",
                  "{\"high_vm_count\": 3, \"migration_threshold\": 2}", 3);
    guint busy;

    for (guint i = 0; i < 9; i++) {
        world_add_vm(w, 0, 1, 128);
    }
    busy = world_settle(w, 10);
    g_assert_cmpuint(busy, >=, 2);
    /* 9 VMs on 3 hosts: 3 each is what the policy aims at */
    g_assert_cmpuint(world_count(w, 0), <=, 4);
    for (guint i = 0; i < 3; i++) {
        g_assert_cmpuint(world_count(w, i), >=, 2);
    }
    /* no VM moved twice: the lower bound, 9 - 3 = 6, or close to it */
    g_assert_cmpuint(w->migrations, <=, 6);
    g_assert_cmpuint(w->migrations, ==, 9 - world_count(w, 0));
    for (guint i = 0; i < 5; i++) {
        g_assert_cmpuint(world_pass(w), ==, 0);
    }
}

/* Counts one apart are as even as they get: no move, nothing stuck. */
static void test_vm_counts_one_apart(void)
{
    g_autoptr(World) w =
        world_new("vm_evenly_distributed",
                  "{\"high_vm_count\": 1, \"migration_threshold\": 1}", 3);

    world_add_vm(w, 0, 1, 128);
    world_add_vm(w, 0, 1, 128);
    world_add_vm(w, 1, 1, 128);
    world_add_vm(w, 2, 1, 128);
    g_assert_cmpuint(world_pass(w), ==, 0);
    g_assert_null(w->stuck);
}

/*
 * A pass gives up after a few sources searched in vain, but hosts full of
 * pinned VMs cost no search: they must not hide one that can shed.
 */
static void test_vm_counts_past_pinned_hosts(void)
{
    g_autoptr(World) w =
        world_new("vm_evenly_distributed",
                  "{\"high_vm_count\": 3, \"migration_threshold\": 2}", 12);

    for (guint h = 0; h < 10; h++) {
        g_autofree char *own = g_strdup_printf("host%u", h + 1);
        const char *const pins[] = {own, NULL};

        for (guint i = 0; i < 6; i++) {
            MgrBalancerVm *v = world_add_vm(w, h, 1, 128);

            g_strfreev(v->vm->spec->pinned_hosts);
            v->vm->spec->pinned_hosts = g_strdupv((char **)pins);
        }
    }
    for (guint i = 0; i < 5; i++) {
        world_add_vm(w, 10, 1, 128);
    }
    g_assert_cmpuint(world_pass(w), >=, 1);
    g_assert_cmpuint(world_count(w, 10), <, 5);
    g_assert_cmpuint(world_count(w, 11), >=, 1);
}

static void test_power_saving_cycle(void)
{
    g_autoptr(World) w = world_new("power_saving",
                                   "{\"low_utilization\": 20,"
                                   " \"hosts_in_reserve\": 1}",
                                   3);

    world_add_vm(w, 0, 6, 256);
    world_add_vm(w, 0, 6, 256);
    world_add_vm(w, 1, 3, 256);
    /* host3 is the reserve; host2, the least used, is emptied ... */
    g_assert_cmpuint(world_pass(w), ==, 1);
    g_assert_cmpuint(world_count(w, 0), ==, 3);
    g_assert_true(world_host(w, 1)->emptying);
    /* ... then powered off, not host3 */
    g_assert_cmpuint(world_pass(w), ==, 1);
    g_assert_true(world_host(w, 1)->powered_off);
    g_assert_false(world_host(w, 2)->powered_off);
    /* host1 stays: emptying it would take the reserve */
    for (guint i = 0; i < 3; i++) {
        g_assert_cmpuint(world_pass(w), ==, 0);
    }
    /* load arrives on the reserve: a host is powered on to keep one */
    world_add_vm(w, 2, 50, 512);
    g_assert_cmpuint(world_pass(w), ==, 1);
    g_assert_false(world_host(w, 1)->powered_off);
    g_assert_cmpuint(w->power_ons, ==, 1);
    g_assert_cmpuint(world_pass(w), ==, 0);
}

static void test_power_on_when_overloaded(void)
{
    g_autoptr(World) w = world_new(
        "power_saving", "{\"hosts_in_reserve\": 0, \"low_utilization\": 5}", 3);

    world_add_vm(w, 0, 50, 256);
    world_add_vm(w, 0, 45, 256);
    world_add_vm(w, 1, 70, 256);
    world_host(w, 2)->powered_off = TRUE;
    ((MgrHost *)world_host(w, 2)->load->host)->status = MGR_HOST_DOWN;
    /* nobody up can take 45% or 50% more: host3 comes back */
    g_assert_cmpuint(world_pass(w), ==, 1);
    g_assert_cmpuint(w->power_ons, ==, 1);
    /* and takes the load */
    g_assert_cmpuint(world_pass(w), ==, 1);
    g_assert_cmpuint(world_count(w, 2), ==, 1);
}

static void test_power_saving_keeps_one_host(void)
{
    g_autoptr(World) w =
        world_new("power_saving", "{\"hosts_in_reserve\": 0}", 2);

    world_settle(w, 5);
    /* one of two empty hosts goes, the last stays whatever the reserve */
    g_assert_cmpuint(w->power_offs, ==, 1);
}

static void test_power_saving_needs_power_management(void)
{
    g_autoptr(World) w = world_new("power_saving", "{}", 3);

    world_host(w, 1)->can_power = FALSE;
    world_host(w, 2)->can_power = FALSE;
    world_add_vm(w, 0, 5, 256);
    world_settle(w, 5);
    /* host2 and host3 are empty but cannot be powered off */
    g_assert_cmpuint(w->power_offs, ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/balancer/params/defaults", test_params_defaults);
    g_test_add_func("/balancer/params/given", test_params_given);
    g_test_add_func("/balancer/params/errors", test_params_errors);
    g_test_add_func("/balancer/params/describe", test_describe);
    g_test_add_func("/balancer/none", test_none_moves_nothing);
    g_test_add_func("/balancer/even/settles", test_even_sheds_and_settles);
    g_test_add_func("/balancer/even/duration", test_even_waits_for_duration);
    g_test_add_func("/balancer/even/equal-split", test_even_equal_split);
    g_test_add_func("/balancer/even/cheapest",
                    test_even_picks_cheapest_sufficient_vm);
    g_test_add_func("/balancer/even/destination-guard",
                    test_even_never_overloads_destination);
    g_test_add_func("/balancer/stuck-key", test_stuck_key_is_stable);
    g_test_add_func("/balancer/unmovable", test_unmovable_vms_stay);
    g_test_add_func("/balancer/busy-hosts", test_busy_hosts_left_out);
    g_test_add_func("/balancer/bounded", test_migrations_per_pass_bounded);
    g_test_add_func("/balancer/vm-counts", test_vm_counts_even_out);
    g_test_add_func("/balancer/vm-counts-one-apart", test_vm_counts_one_apart);
    g_test_add_func("/balancer/vm-counts-past-pinned",
                    test_vm_counts_past_pinned_hosts);
    g_test_add_func("/balancer/power/cycle", test_power_saving_cycle);
    g_test_add_func("/balancer/power/overload", test_power_on_when_overloaded);
    g_test_add_func("/balancer/power/last-host",
                    test_power_saving_keeps_one_host);
    g_test_add_func("/balancer/power/needs-management",
                    test_power_saving_needs_power_management);
    return g_test_run();
}
