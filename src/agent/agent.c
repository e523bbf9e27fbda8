#include "agent/agent.h"

#include <unistd.h>

#include "agent/migration.h"
#include "agent/vm.h"
#include "common/error.h"
#include "common/fileutil.h"
#include "common/json.h"
#include "drover-config.h"

#define AGENT_CPU_SAMPLE_MS 2000
/* when neither the configuration nor the NIC says (loopback, veth) */
#define AGENT_DEFAULT_BANDWIDTH_MBPS 1000
#define AGENT_EVENTS_RING 2048
#define AGENT_EVENTS_MAX_SUBSCRIBERS 32
#define AGENT_EVENTS_MAX_BACKLOG (1024 * 1024)

char *agent_vm_dir(Agent *agent, const char *vm_id)
{
    return g_build_filename(agent->config->state_dir, "vms", vm_id, NULL);
}

char *agent_migrations_dir(Agent *agent)
{
    return g_build_filename(agent->config->state_dir, "migrations", NULL);
}

/* The host's identity survives restarts and tells two agents apart even
 * when they share an address. */
static char *agent_load_host_id(const char *state_dir, GError **error)
{
    g_autofree char *path = g_build_filename(state_dir, "host-id", NULL);
    g_autofree char *text = NULL;
    char *id;

    if (g_file_get_contents(path, &text, NULL, NULL)) {
        g_strstrip(text);
        if (g_uuid_string_is_valid(text)) {
            return g_steal_pointer(&text);
        }
    }
    id = g_uuid_string_random();
    if (!drv_file_write_atomic(path, id, strlen(id), error)) {
        g_free(id);
        return NULL;
    }
    return id;
}

static gboolean agent_sample_vm_cpu(gpointer user_data)
{
    Agent *agent = user_data;
    GHashTableIter iter;
    gpointer value;
    guint cpus = g_get_num_processors();

    g_hash_table_iter_init(&iter, agent->vms);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        agent_vm_sample_cpu(value, cpus);
        agent_vm_refresh_dirty_rate(value,
                                    agent->config->dirty_rate_interval_s);
    }
    return G_SOURCE_CONTINUE;
}

Agent *agent_new(AgentConfig *config, GError **error)
{
    g_autoptr(Agent) agent = g_new0(Agent, 1);

    agent->config = config;
    agent->started_at_us = g_get_real_time();
    if (!drv_mkdir_p(config->state_dir, 0700, error) ||
        !drv_mkdir_p(config->run_dir, 0700, error)) {
        return NULL;
    }
    /* a migration gets the link's speed unless told otherwise */
    agent->bandwidth_source = "config";
    if (config->migration_bandwidth_mbps == 0) {
        config->migration_bandwidth_mbps =
            agent_host_nic_speed_mbps(config->migration_address);
        agent->bandwidth_source = "nic";
        if (config->migration_bandwidth_mbps == 0) {
            config->migration_bandwidth_mbps = AGENT_DEFAULT_BANDWIDTH_MBPS;
            agent->bandwidth_source = "default";
        }
    }
    agent->host_id = agent_load_host_id(config->state_dir, error);
    if (agent->host_id == NULL) {
        return NULL;
    }
    {
        g_autofree char *path =
            g_build_filename(config->state_dir, "links.json", NULL);
        g_autoptr(GError) links_error = NULL;

        agent->links = agent_links_new(path);
        /* only a hint for predictions: start without rather than fail */
        if (!agent_links_load(agent->links, &links_error)) {
            g_warning("ignoring %s: %s", path, links_error->message);
        }
    }
    agent->vms = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                       (GDestroyNotify)agent_vm_unref);
    agent->migrations = g_hash_table_new_full(
        g_str_hash, g_str_equal, g_free, (GDestroyNotify)agent_migration_unref);
    agent->events =
        drv_event_hub_new(AGENT_EVENTS_RING, AGENT_EVENTS_MAX_SUBSCRIBERS,
                          AGENT_EVENTS_MAX_BACKLOG);
    agent->cpu = agent_cpu_monitor_new(AGENT_CPU_SAMPLE_MS);
    agent->vm_cpu_timer =
        g_timeout_add(AGENT_CPU_SAMPLE_MS, agent_sample_vm_cpu, agent);
    agent->server = soup_server_new("server-header", "drover-agent", NULL);
    agent->router = drv_http_router_new(DRV_HTTP_DEFAULT_MAX_BODY);
    agent->session = drv_http_session_new();
    agent_api_register(agent);
    drv_http_router_attach(agent->router, agent->server);
    return g_steal_pointer(&agent);
}

void agent_free(Agent *agent)
{
    if (agent == NULL) {
        return;
    }
    if (agent->vm_cpu_timer) {
        g_source_remove(agent->vm_cpu_timer);
    }
    if (agent->server) {
        soup_server_disconnect(agent->server);
        g_object_unref(agent->server);
    }
    /* migrations hold no VM references, but VMs point at migrations */
    g_clear_pointer(&agent->vms, g_hash_table_unref);
    g_clear_pointer(&agent->migrations, g_hash_table_unref);
    drv_http_router_free(agent->router);
    g_clear_object(&agent->session);
    drv_event_hub_free(agent->events);
    agent_cpu_monitor_free(agent->cpu);
    agent_links_free(agent->links);
    agent_qemu_caps_free(agent->caps);
    agent_config_free(agent->config);
    g_free(agent->host_id);
    g_free(agent);
}

void agent_event(Agent *agent, const char *type, JsonObject *data)
{
    g_autoptr(JsonObject) owned = data;
    JsonObject *event = json_object_new();
    guint64 seq = drv_event_hub_next_seq(agent->events);

    json_object_set_int_member(event, "seq", (gint64)seq);
    json_object_set_int_member(event, "time_us", g_get_real_time());
    json_object_set_string_member(event, "type", type);
    json_object_set_object_member(event, "data", g_steal_pointer(&owned));
    drv_event_hub_publish(agent->events, seq, type, event);
}

/* ---- start ---- */

static void agent_on_recovered(GObject *source, GAsyncResult *result,
                               gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    Agent *agent = g_task_get_task_data(task);
    GError *error = NULL;

    if (!agent_vm_recover_all_finish(agent, result, &error)) {
        g_task_return_error(task, error);
        return;
    }
    agent_migration_recover_all(agent);
    if (!drv_http_server_listen(agent->server, agent->config->listen, &error)) {
        g_prefix_error(&error, "cannot listen on %s: ", agent->config->listen);
        g_task_return_error(task, error);
        return;
    }
    g_task_return_boolean(task, TRUE);
}

static void agent_on_probed(GObject *source, GAsyncResult *result,
                            gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    Agent *agent = g_task_get_task_data(task);
    GCancellable *cancellable = g_task_get_cancellable(task);
    GError *error = NULL;

    agent->caps = agent_qemu_probe_finish(result, &error);
    if (agent->caps == NULL) {
        g_prefix_error(&error, "cannot probe %s: ", agent->config->qemu_binary);
        g_task_return_error(task, error);
        return;
    }
    agent_vm_recover_all_async(agent, cancellable, agent_on_recovered,
                               g_steal_pointer(&task));
}

void agent_start_async(Agent *agent, GCancellable *cancellable,
                       GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *task = g_task_new(NULL, cancellable, callback, user_data);

    g_task_set_task_data(task, agent, NULL);
    agent_qemu_probe_async(agent->config, cancellable, agent_on_probed, task);
}

gboolean agent_start_finish(Agent *agent, GAsyncResult *result, GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}

/* ---- resources ---- */

static gboolean agent_read_meminfo(guint64 *total_kib, guint64 *avail_kib)
{
    g_autofree char *text = NULL;

    return g_file_get_contents("/proc/meminfo", &text, NULL, NULL) &&
           agent_host_parse_meminfo(text, total_kib, avail_kib, NULL);
}

static guint64 agent_committed_mib(Agent *agent)
{
    GHashTableIter iter;
    gpointer value;
    guint64 sum = 0;

    g_hash_table_iter_init(&iter, agent->vms);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        sum += agent_vm_committed_mib(value);
    }
    return sum;
}

gint64 agent_memory_free_for_vms(Agent *agent)
{
    guint64 total_kib = 0;
    guint64 avail_kib = 0;
    gint64 by_kernel;
    gint64 by_commit;

    if (!agent_read_meminfo(&total_kib, &avail_kib)) {
        return 0;
    }
    /*
     * Guest RAM is touched lazily, so the kernel's figure alone would let
     * VMs that have not grown yet be counted twice.
     */
    by_kernel =
        (gint64)(avail_kib / 1024) - (gint64)agent->config->memory_reserve_mib;
    by_commit = (gint64)(total_kib / 1024) -
                (gint64)agent->config->memory_reserve_mib -
                (gint64)agent_committed_mib(agent);
    return MIN(by_kernel, by_commit);
}

gboolean agent_check_resources(Agent *agent, const DrvVmSpec *spec,
                               GError **error)
{
    AgentConfig *config = agent->config;
    g_autoptr(AgentQemuPaths) paths = NULL;
    g_autofree char *dir = agent_vm_dir(agent, spec->id);
    gint64 free_mib;
    guint64 need_mib;

    for (guint i = 0; i < spec->disks->len; i++) {
        DrvDiskSpec *disk = g_ptr_array_index(spec->disks, i);
        const char *path =
            g_hash_table_lookup(config->storage, disk->storage_domain);

        if (path == NULL) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_NO_STORAGE,
                        "host %s has no storage domain '%s' (needed by "
                        "disk %u of VM %s)",
                        config->name, disk->storage_domain, i, spec->name);
            return FALSE;
        }
        if (!agent_host_storage_usable(path)) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_NO_STORAGE,
                        "host %s cannot reach storage domain '%s' at %s",
                        config->name, disk->storage_domain, path);
            return FALSE;
        }
    }
    for (guint i = 0; i < spec->nics->len; i++) {
        DrvNicSpec *nic = g_ptr_array_index(spec->nics, i);
        const char *kind = g_hash_table_lookup(config->networks, nic->network);

        if (kind == NULL) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_NO_NETWORK,
                        "host %s has no network '%s' (needed by nic %u of "
                        "VM %s)",
                        config->name, nic->network, i, spec->name);
            return FALSE;
        }
        if (!agent_host_network_available(kind)) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_NO_NETWORK,
                        "network '%s' (bridge %s) is not available on host "
                        "%s",
                        nic->network, kind, config->name);
            return FALSE;
        }
    }
    if (!agent_qemu_caps_has_cpu_model(agent->caps, spec->cpu_model)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_NO_CPU_MODEL,
                    "host %s cannot run CPU model '%s' (accelerator %s)",
                    config->name, spec->cpu_model, agent->caps->accel);
        return FALSE;
    }
    free_mib = agent_memory_free_for_vms(agent);
    need_mib = (guint64)spec->memory_mib + config->memory_overhead_mib;
    if (free_mib < 0 || (guint64)free_mib < need_mib) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_NO_MEMORY,
                    "host %s has %" G_GINT64_FORMAT
                    " MiB free for VMs; VM %s needs %" G_GUINT64_FORMAT
                    " MiB (%u MiB RAM + %u MiB overhead)",
                    config->name, MAX(free_mib, 0), spec->name, need_mib,
                    spec->memory_mib, config->memory_overhead_mib);
        return FALSE;
    }
    /* files last: the kernel and the images must be where the spec says */
    paths = agent_qemu_paths_new(config, spec, dir, error);
    return paths != NULL;
}

/* ---- facts ---- */

double agent_cpu_utilization(Agent *agent)
{
    GHashTableIter iter;
    gpointer value;
    double sum = 0;

    if (!agent->config->cpu_from_vms) {
        return agent_cpu_monitor_get_percent(agent->cpu);
    }
    /* each VM's share is already of this host's CPUs */
    g_hash_table_iter_init(&iter, agent->vms);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        sum += ((AgentVm *)value)->cpu_percent;
    }
    return MIN(sum, 100.0);
}

static JsonArray *agent_strv_to_json(const char *const *strv)
{
    JsonArray *array = json_array_new();

    for (guint i = 0; strv && strv[i]; i++) {
        json_array_add_string_element(array, strv[i]);
    }
    return array;
}

JsonObject *agent_host_facts(Agent *agent)
{
    AgentConfig *config = agent->config;
    JsonObject *obj = json_object_new();
    JsonObject *cpu = json_object_new();
    JsonObject *mem = json_object_new();
    JsonObject *qemu = json_object_new();
    JsonObject *mig = json_object_new();
    JsonArray *storage = json_array_new();
    JsonArray *networks = json_array_new();
    g_autofree char *cpuinfo = NULL;
    g_autofree char *loadavg = NULL;
    g_autoptr(AgentCpuInfo) info = NULL;
    guint64 total_kib = 0;
    guint64 avail_kib = 0;
    double load[3] = {0, 0, 0};
    g_autoptr(GList) keys = NULL;

    json_object_set_string_member(obj, "name", config->name);
    json_object_set_string_member(obj, "host_id", agent->host_id);
    json_object_set_string_member(obj, "url", config->url);
    json_object_set_string_member(obj, "version", DROVER_VERSION);
    json_object_set_int_member(obj, "started_us", agent->started_at_us);
    if (g_file_get_contents("/proc/cpuinfo", &cpuinfo, NULL, NULL)) {
        info = agent_host_parse_cpuinfo(cpuinfo, NULL);
    }
    json_object_set_string_member(cpu, "vendor",
                                  info && info->vendor ? info->vendor : "");
    json_object_set_string_member(
        cpu, "model", info && info->model_name ? info->model_name : "");
    json_object_set_array_member(
        cpu, "flags",
        agent_strv_to_json(info ? (const char *const *)info->flags : NULL));
    json_object_set_int_member(cpu, "cpus", config->cpus);
    json_object_set_string_member(cpu, "source",
                                  config->cpu_from_vms ? "vms" : "host");
    json_object_set_double_member(cpu, "utilization_percent",
                                  agent_cpu_utilization(agent));
    if (g_file_get_contents("/proc/loadavg", &loadavg, NULL, NULL)) {
        agent_host_parse_loadavg(loadavg, load, NULL);
    }
    json_object_set_double_member(cpu, "load_1m", load[0]);
    json_object_set_double_member(cpu, "load_5m", load[1]);
    json_object_set_double_member(cpu, "load_15m", load[2]);
    json_object_set_object_member(obj, "cpu", cpu);

    agent_read_meminfo(&total_kib, &avail_kib);
    json_object_set_int_member(mem, "total_mib", (gint64)(total_kib / 1024));
    json_object_set_int_member(mem, "available_mib",
                               (gint64)(avail_kib / 1024));
    json_object_set_int_member(mem, "reserved_mib", config->memory_reserve_mib);
    json_object_set_int_member(mem, "committed_mib",
                               (gint64)agent_committed_mib(agent));
    json_object_set_int_member(mem, "free_for_vms_mib",
                               MAX(agent_memory_free_for_vms(agent), 0));
    json_object_set_int_member(mem, "vm_overhead_mib",
                               config->memory_overhead_mib);
    json_object_set_object_member(obj, "memory", mem);

    keys = g_hash_table_get_keys(config->storage);
    keys = g_list_sort(keys, (GCompareFunc)g_strcmp0);
    for (GList *l = keys; l; l = l->next) {
        json_array_add_object_element(
            storage,
            agent_host_storage_status(
                l->data, g_hash_table_lookup(config->storage, l->data)));
    }
    g_clear_pointer(&keys, g_list_free);
    json_object_set_array_member(obj, "storage_domains", storage);
    keys = g_hash_table_get_keys(config->networks);
    keys = g_list_sort(keys, (GCompareFunc)g_strcmp0);
    for (GList *l = keys; l; l = l->next) {
        json_array_add_object_element(
            networks,
            agent_host_network_status(
                l->data, g_hash_table_lookup(config->networks, l->data)));
    }
    json_object_set_array_member(obj, "networks", networks);

    json_object_set_string_member(qemu, "binary", config->qemu_binary);
    json_object_set_string_member(qemu, "version",
                                  agent->caps ? agent->caps->version : "");
    json_object_set_string_member(qemu, "accelerator",
                                  agent->caps ? agent->caps->accel : "");
    json_object_set_string_member(qemu, "default_machine",
                                  agent->caps ? agent->caps->default_machine
                                              : "");
    json_object_set_array_member(
        qemu, "cpu_models",
        agent_strv_to_json(
            agent->caps ? (const char *const *)agent->caps->cpu_models : NULL));
    json_object_set_array_member(
        qemu, "machines",
        agent_strv_to_json(
            agent->caps ? (const char *const *)agent->caps->machines : NULL));
    json_object_set_object_member(obj, "qemu", qemu);
    json_object_set_string_member(obj, "accelerator",
                                  agent->caps ? agent->caps->accel : "");

    json_object_set_string_member(mig, "address", config->migration_address);
    json_object_set_int_member(mig, "bandwidth_mbps",
                               config->migration_bandwidth_mbps);
    json_object_set_string_member(mig, "bandwidth_source",
                                  agent->bandwidth_source);
    json_object_set_array_member(mig, "links",
                                 agent_links_to_json(agent->links));
    json_object_set_int_member(mig, "max_incoming",
                               config->max_incoming_migrations);
    json_object_set_int_member(mig, "max_outgoing",
                               config->max_outgoing_migrations);
    json_object_set_int_member(
        mig, "incoming",
        agent_migration_count_active(agent, AGENT_MIGRATION_DESTINATION));
    json_object_set_int_member(
        mig, "outgoing",
        agent_migration_count_active(agent, AGENT_MIGRATION_SOURCE));
    json_object_set_object_member(obj, "migration", mig);
    {
        GHashTableIter iter;
        gpointer value;
        gint64 count = 0;

        g_hash_table_iter_init(&iter, agent->vms);
        while (g_hash_table_iter_next(&iter, NULL, &value)) {
            count += ((AgentVm *)value)->state != AGENT_VM_DOWN;
        }
        json_object_set_int_member(obj, "vm_count", count);
    }
    return obj;
}
