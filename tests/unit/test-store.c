/*
 * The manager's store: a new store, round trips of every object through a
 * file, upserts, constraint errors, cascades, migration order and history,
 * the event log, transactions and schema versions.  The model's names and
 * defaults are checked first.
 */
#include <glib/gstdio.h>
#include <sqlite3.h>

#include "common/error.h"
#include "common/json.h"
#include "manager/store.h"

/* ---- helpers ---- */

/* A temporary directory for a store file, removed with what is in it. */
typedef struct {
    char *dir;
    char *path;
} TempStore;

static void temp_store_init(TempStore *ts)
{
    g_autoptr(GError) error = NULL;

    ts->dir = g_dir_make_tmp("drover-store-XXXXXX", &error);
    g_assert_no_error(error);
    ts->path = g_build_filename(ts->dir, "drover.db", NULL);
}

static void temp_store_clear(TempStore *ts)
{
    g_autoptr(GDir) dir = g_dir_open(ts->dir, 0, NULL);
    const char *name;

    while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
        g_autofree char *file = g_build_filename(ts->dir, name, NULL);

        g_unlink(file);
    }
    g_rmdir(ts->dir);
    g_free(ts->dir);
    g_free(ts->path);
}

static MgrStore *open_store(const char *path)
{
    g_autoptr(GError) error = NULL;
    MgrStore *store = mgr_store_open(path, &error);

    g_assert_no_error(error);
    g_assert_nonnull(store);
    return store;
}

/* Run @sql on the file at @path behind the store's back. */
static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    char *message = NULL;

    g_assert_cmpint(sqlite3_open(path, &db), ==, SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &message) != SQLITE_OK) {
        g_error("%s: %s", sql, message);
    }
    sqlite3_close(db);
}

/* The first column of the first row of @sql on the file at @path. */
static char *raw_query(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    char *out = NULL;

    g_assert_cmpint(sqlite3_open(path, &db), ==, SQLITE_OK);
    g_assert_cmpint(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), ==,
                    SQLITE_OK);
    if (sqlite3_step(stmt) == SQLITE_ROW) {
        out = g_strdup((const char *)sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return out;
}

static JsonObject *parse(const char *text)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) sealed = drv_json_parse_object(text, -1, &error);

    g_assert_no_error(error);
    return json_object_ref(sealed);
}

static void assert_json_equal(JsonObject *a, JsonObject *b)
{
    g_autoptr(JsonNode) na = NULL;
    g_autoptr(JsonNode) nb = NULL;

    if (a == NULL || b == NULL) {
        g_assert_true(a == b);
        return;
    }
    na = json_node_init_object(json_node_alloc(), a);
    nb = json_node_init_object(json_node_alloc(), b);
    if (!json_node_equal(na, nb)) {
        g_autofree char *ta = drv_json_to_string(na, FALSE);
        g_autofree char *tb = drv_json_to_string(nb, FALSE);

        g_error("JSON differs: %s != %s", ta, tb);
    }
}

static void assert_strv_equal(const char *const *a, const char *const *b)
{
    if (a == NULL || b == NULL) {
        g_assert_true(a == b);
        return;
    }
    g_assert_cmpstrv(a, b);
}

/* A spec with every member set; a new random id when @id is NULL. */
static DrvVmSpec *make_spec(const char *id, const char *name)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *random_id = g_uuid_string_random();
    g_autofree char *text = g_strdup_printf(
        "{\"id\": \"%s\", \"name\": \"%s\", \"memory_mib\": 128,"
        " \"vcpus\": 2, \"cpu_model\": \"Nehalem\","
        " \"kernel\": \"guest/drover-testguest.elf\","
        " \"append\": \"wss=16 rate=20\","
        " \"disks\": [{\"storage_domain\": \"shared\","
        "  \"path\": \"%s.qcow2\", \"format\": \"qcow2\"},"
        "  {\"storage_domain\": \"scratch\", \"path\": \"d/%s.raw\"}],"
        " \"nics\": [{\"network\": \"vmnet\", \"mac\": \"52:54:00:12:34:56\"},"
        "  {\"network\": \"backend\", \"mac\": \"52:54:00:ab:cd:ef\"}],"
        " \"migration\": {\"mode\": \"manual_only\", \"policy\": \"post_copy\","
        "  \"auto_converge\": true, \"compression\": false,"
        "  \"post_copy\": \"inherit\", \"bandwidth_mbps\": 500},"
        " \"priority\": \"high\", \"highly_available\": true,"
        " \"pinned_hosts\": [\"host1\", \"host2\"]}",
        id ? id : random_id, name, name, name);
    g_autoptr(JsonObject) obj = parse(text);
    DrvVmSpec *spec = drv_vm_spec_from_json(obj, FALSE, &error);

    g_assert_no_error(error);
    return spec;
}

static void assert_spec_equal(const DrvVmSpec *a, const DrvVmSpec *b)
{
    g_autoptr(JsonObject) ja = drv_vm_spec_to_json(a);
    g_autoptr(JsonObject) jb = drv_vm_spec_to_json(b);

    assert_json_equal(ja, jb);
    g_assert_cmpuint(b->disks->len, ==, 2);
    g_assert_cmpuint(b->nics->len, ==, 2);
}

static MgrCluster *find_cluster(GPtrArray *clusters, const char *name)
{
    for (guint i = 0; i < clusters->len; i++) {
        MgrCluster *cluster = g_ptr_array_index(clusters, i);

        if (g_str_equal(cluster->name, name)) {
            return cluster;
        }
    }
    return NULL;
}

static MgrCluster *default_cluster(MgrStore *store)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) clusters = mgr_store_load_clusters(store, &error);
    MgrCluster *found;

    g_assert_no_error(error);
    found = find_cluster(clusters, "default");
    g_assert_nonnull(found);
    for (guint i = 0; i < clusters->len; i++) {
        if (g_ptr_array_index(clusters, i) == found) {
            /* the caller owns it now */
            g_ptr_array_steal_index(clusters, i);
            break;
        }
    }
    return found;
}

static char *default_cluster_id(MgrStore *store)
{
    g_autoptr(MgrCluster) cluster = default_cluster(store);

    return g_steal_pointer(&cluster->id);
}

static MgrHost *add_host(MgrStore *store, const char *name, const char *address,
                         const char *cluster_id)
{
    g_autoptr(GError) error = NULL;
    MgrHost *host = mgr_host_new(NULL, name, address, cluster_id);

    g_assert_true(mgr_store_save_host(store, host, &error));
    g_assert_no_error(error);
    return host;
}

static MgrVm *add_vm(MgrStore *store, const char *name, const char *cluster_id,
                     const char *host_id)
{
    g_autoptr(GError) error = NULL;
    MgrVm *vm = mgr_vm_new(cluster_id, make_spec(NULL, name));

    vm->host_id = g_strdup(host_id);
    vm->status = host_id ? MGR_VM_UP : MGR_VM_DOWN;
    g_assert_true(mgr_store_save_vm(store, vm, &error));
    g_assert_no_error(error);
    return vm;
}

static MgrMigration *add_migration(MgrStore *store, const char *vm_id,
                                   MgrMigrationState state)
{
    g_autoptr(GError) error = NULL;
    MgrMigration *mig = mgr_migration_new(vm_id, "source-host");

    mig->state = state;
    g_assert_true(mgr_store_save_migration(store, mig, &error));
    g_assert_no_error(error);
    return mig;
}

static gsize count_hosts(MgrStore *store)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) hosts = mgr_store_load_hosts(store, &error);

    g_assert_no_error(error);
    return hosts->len;
}

/* ---- the model ---- */

static void test_model_names(void)
{
    static const char *const hosts[] = {"connecting",
                                        "up",
                                        "preparing_for_maintenance",
                                        "maintenance",
                                        "non_operational",
                                        "non_responsive",
                                        "down"};
    static const char *const vms[] = {
        "down",          "powering_up",    "up",     "paused", "migrating",
        "powering_down", "not_responding", "unknown"};
    static const char *const states[] = {"queued", "running", "completed",
                                         "failed", "cancelled"};
    static const char *const severities[] = {"info", "warning", "error"};

    for (guint i = 0; i < G_N_ELEMENTS(hosts); i++) {
        MgrHostStatus s = MGR_HOST_DOWN;

        g_assert_cmpstr(mgr_host_status_name((MgrHostStatus)i), ==, hosts[i]);
        g_assert_true(mgr_host_status_from_name(hosts[i], &s));
        g_assert_cmpint(s, ==, i);
    }
    for (guint i = 0; i < G_N_ELEMENTS(vms); i++) {
        MgrVmStatus s = MGR_VM_DOWN;

        g_assert_cmpstr(mgr_vm_status_name((MgrVmStatus)i), ==, vms[i]);
        g_assert_true(mgr_vm_status_from_name(vms[i], &s));
        g_assert_cmpint(s, ==, i);
    }
    for (guint i = 0; i < G_N_ELEMENTS(states); i++) {
        MgrMigrationState s = MGR_MIGRATION_QUEUED;

        g_assert_cmpstr(mgr_migration_state_name((MgrMigrationState)i), ==,
                        states[i]);
        g_assert_true(mgr_migration_state_from_name(states[i], &s));
        g_assert_cmpint(s, ==, i);
    }
    for (guint i = 0; i < G_N_ELEMENTS(severities); i++) {
        MgrSeverity s = MGR_SEVERITY_INFO;

        g_assert_cmpstr(mgr_severity_name((MgrSeverity)i), ==, severities[i]);
        g_assert_true(mgr_severity_from_name(severities[i], &s));
        g_assert_cmpint(s, ==, i);
    }
    {
        MgrHostStatus hs = MGR_HOST_UP;
        MgrVmStatus vs = MGR_VM_UP;
        MgrMigrationState ms = MGR_MIGRATION_RUNNING;
        MgrSeverity sv = MGR_SEVERITY_WARNING;

        /* unknown names and NULL are refused and leave *out alone */
        g_assert_false(mgr_host_status_from_name("UP", &hs));
        g_assert_false(mgr_host_status_from_name(NULL, &hs));
        g_assert_false(mgr_vm_status_from_name("running", &vs));
        g_assert_false(mgr_migration_state_from_name("done", &ms));
        g_assert_false(mgr_severity_from_name("", &sv));
        g_assert_cmpint(hs, ==, MGR_HOST_UP);
        g_assert_cmpint(vs, ==, MGR_VM_UP);
        g_assert_cmpint(ms, ==, MGR_MIGRATION_RUNNING);
        g_assert_cmpint(sv, ==, MGR_SEVERITY_WARNING);
    }
    g_assert_null(mgr_host_status_name((MgrHostStatus)99));
    g_assert_null(mgr_vm_status_name((MgrVmStatus)99));
}

static void test_model_constructors(void)
{
    g_autoptr(MgrCluster) cluster = mgr_cluster_new(NULL, "c1");
    g_autoptr(MgrCluster) named = mgr_cluster_new("my-id", "c2");
    g_autoptr(MgrHost) host =
        mgr_host_new(NULL, "host1", "http://127.0.1.1:7001", cluster->id);
    g_autoptr(MgrMigration) mig = mgr_migration_new("vm-id", "host-id");
    g_autoptr(MgrEvent) event =
        mgr_event_new(MGR_SEVERITY_WARNING, "host_non_responsive");
    g_autoptr(MgrVm) vm = NULL;
    DrvVmSpec *spec = make_spec(NULL, "web1");

    g_assert_true(g_uuid_string_is_valid(cluster->id));
    g_assert_cmpstr(named->id, ==, "my-id");
    g_assert_cmpstr(cluster->name, ==, "c1");
    g_assert_cmpstr(cluster->cpu_baseline, ==, "qemu64");
    g_assert_cmpstr(cluster->migration_policy, ==, "inherit");
    g_assert_cmpuint(cluster->migration_bandwidth_mbps, ==, 0);
    g_assert_cmpint(cluster->auto_converge, ==, DRV_TRISTATE_INHERIT);
    g_assert_cmpint(cluster->compression, ==, DRV_TRISTATE_INHERIT);
    g_assert_cmpint(cluster->post_copy, ==, DRV_TRISTATE_INHERIT);
    g_assert_cmpuint(cluster->max_outgoing_migrations, ==, 2);
    g_assert_cmpuint(cluster->max_incoming_migrations, ==, 2);
    g_assert_cmpuint(cluster->max_cpu_percent, ==, 80);
    g_assert_cmpstr(cluster->scheduling_policy, ==, "none");
    g_assert_nonnull(cluster->scheduling_params);
    g_assert_cmpuint(json_object_get_size(cluster->scheduling_params), ==, 0);
    g_assert_cmpint(cluster->created_us, >, 0);

    g_assert_true(g_uuid_string_is_valid(host->id));
    g_assert_cmpstr(host->name, ==, "host1");
    g_assert_cmpstr(host->address, ==, "http://127.0.1.1:7001");
    g_assert_cmpstr(host->cluster_id, ==, cluster->id);
    g_assert_cmpint(host->status, ==, MGR_HOST_CONNECTING);
    g_assert_null(host->facts);

    vm = mgr_vm_new(cluster->id, spec);
    g_assert_true(vm->spec == spec);
    g_assert_cmpstr(vm->id, ==, spec->id);
    g_assert_cmpstr(vm->cluster_id, ==, cluster->id);
    g_assert_cmpint(vm->status, ==, MGR_VM_DOWN);
    g_assert_null(vm->host_id);

    g_assert_true(g_uuid_string_is_valid(mig->id));
    g_assert_cmpstr(mig->vm_id, ==, "vm-id");
    g_assert_cmpstr(mig->source_host_id, ==, "host-id");
    g_assert_cmpint(mig->state, ==, MGR_MIGRATION_QUEUED);
    g_assert_cmpint(mig->priority, ==, DRV_PRIORITY_MEDIUM);
    g_assert_cmpstr(mig->user, ==, "system");
    g_assert_cmpstr(mig->reason, ==, "manual");
    g_assert_cmpint(mig->created_us, >, 0);
    g_assert_cmpint(mig->seq, ==, 0);
    g_assert_true(mgr_migration_is_active(mig));
    mig->state = MGR_MIGRATION_RUNNING;
    g_assert_true(mgr_migration_is_active(mig));
    for (MgrMigrationState s = MGR_MIGRATION_COMPLETED;
         s <= MGR_MIGRATION_CANCELLED; s++) {
        mig->state = s;
        g_assert_false(mgr_migration_is_active(mig));
    }

    g_assert_cmpint(event->severity, ==, MGR_SEVERITY_WARNING);
    g_assert_cmpstr(event->code, ==, "host_non_responsive");
    g_assert_cmpint(event->seq, ==, 0);

    /* destructors accept NULL */
    mgr_cluster_free(NULL);
    mgr_host_free(NULL);
    mgr_vm_free(NULL);
    mgr_migration_free(NULL);
    mgr_event_free(NULL);
}

/* ---- a new store ---- */

static void check_new_store(MgrStore *store)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) clusters = mgr_store_load_clusters(store, &error);
    g_autoptr(GPtrArray) hosts = mgr_store_load_hosts(store, &error);
    g_autoptr(GPtrArray) vms = mgr_store_load_vms(store, &error);
    g_autoptr(GPtrArray) migs = mgr_store_load_migrations(store, 100, &error);
    g_autoptr(GPtrArray) events = mgr_store_list_events(store, 0, 100, &error);
    MgrCluster *cluster;

    g_assert_no_error(error);
    g_assert_cmpint(mgr_store_schema_version(store), ==, 3);
    g_assert_cmpint(MGR_STORE_SCHEMA_VERSION, ==, 3);
    g_assert_cmpuint(clusters->len, ==, 1);
    cluster = g_ptr_array_index(clusters, 0);
    g_assert_true(g_uuid_string_is_valid(cluster->id));
    g_assert_cmpstr(cluster->name, ==, "default");
    g_assert_cmpstr(cluster->cpu_baseline, ==, "qemu64");
    g_assert_cmpstr(cluster->migration_policy, ==, "inherit");
    g_assert_cmpuint(cluster->migration_bandwidth_mbps, ==, 0);
    g_assert_cmpint(cluster->auto_converge, ==, DRV_TRISTATE_INHERIT);
    g_assert_cmpint(cluster->compression, ==, DRV_TRISTATE_INHERIT);
    g_assert_cmpint(cluster->post_copy, ==, DRV_TRISTATE_INHERIT);
    g_assert_cmpuint(cluster->max_outgoing_migrations, ==, 2);
    g_assert_cmpuint(cluster->max_incoming_migrations, ==, 2);
    g_assert_cmpuint(cluster->max_cpu_percent, ==, 80);
    g_assert_cmpstr(cluster->scheduling_policy, ==, "none");
    g_assert_nonnull(cluster->scheduling_params);
    g_assert_cmpuint(json_object_get_size(cluster->scheduling_params), ==, 0);
    g_assert_cmpint(cluster->created_us, >, 0);
    g_assert_cmpint(cluster->created_us, <=, g_get_real_time());
    g_assert_cmpuint(hosts->len, ==, 0);
    g_assert_cmpuint(vms->len, ==, 0);
    g_assert_cmpuint(migs->len, ==, 0);
    g_assert_cmpuint(events->len, ==, 0);
    g_assert_cmpint(mgr_store_last_event_seq(store), ==, 0);
}

static void test_new_store_memory(void)
{
    g_autoptr(MgrStore) store = open_store(":memory:");

    check_new_store(store);
}

static void test_new_store_file(void)
{
    TempStore ts;
    g_autofree char *first_id = NULL;
    g_autofree char *mode = NULL;
    g_autofree char *fks = NULL;

    temp_store_init(&ts);
    {
        g_autoptr(MgrStore) store = open_store(ts.path);

        check_new_store(store);
        first_id = default_cluster_id(store);
    }
    {
        /* reopening neither re-creates nor adds a default cluster */
        g_autoptr(MgrStore) store = open_store(ts.path);
        g_autofree char *id = NULL;

        check_new_store(store);
        id = default_cluster_id(store);
        g_assert_cmpstr(id, ==, first_id);
    }
    /* WAL is a property of the file */
    mode = raw_query(ts.path, "PRAGMA journal_mode");
    g_assert_cmpstr(mode, ==, "wal");
    fks = raw_query(ts.path, "PRAGMA user_version");
    g_assert_cmpstr(fks, ==, "3");
    temp_store_clear(&ts);
}

/* ---- round trips ---- */

static void test_round_trip(void)
{
    g_autoptr(GError) error = NULL;
    TempStore ts;
    g_autoptr(MgrCluster) cluster = mgr_cluster_new(NULL, "prod");
    g_autoptr(MgrHost) host = NULL;
    g_autoptr(MgrHost) bare = NULL;
    g_autoptr(MgrVm) vm = NULL;
    g_autoptr(MgrVm) down = NULL;
    g_autoptr(MgrMigration) mig = NULL;
    g_autoptr(MgrMigration) empty = NULL;
    g_autoptr(MgrEvent) event =
        mgr_event_new(MGR_SEVERITY_ERROR, "vm_migration_failed");
    g_autoptr(MgrEvent) plain = mgr_event_new(MGR_SEVERITY_INFO, "vm_added");

    temp_store_init(&ts);

    g_free(cluster->cpu_baseline);
    cluster->cpu_baseline = g_strdup("Nehalem");
    g_free(cluster->migration_policy);
    cluster->migration_policy = g_strdup("post_copy");
    cluster->migration_bandwidth_mbps = 1250;
    cluster->auto_converge = DRV_TRISTATE_TRUE;
    cluster->compression = DRV_TRISTATE_FALSE;
    cluster->post_copy = DRV_TRISTATE_TRUE;
    cluster->max_outgoing_migrations = 5;
    cluster->max_incoming_migrations = 7;
    cluster->max_cpu_percent = 65;
    g_free(cluster->scheduling_policy);
    cluster->scheduling_policy = g_strdup("evenly_distributed");
    json_object_unref(cluster->scheduling_params);
    cluster->scheduling_params =
        parse("{\"high_utilization\": 75, \"duration_s\": 120,"
              " \"nested\": {\"list\": [1, \"two\", null, true, 2.5]}}");
    cluster->created_us = 1700000000123456;

    host = mgr_host_new(NULL, "host1", "http://127.0.1.1:7001", cluster->id);
    host->status = MGR_HOST_PREPARING_FOR_MAINTENANCE;
    host->status_reason = g_strdup("cpu model Nehalem missing");
    host->agent_host_id = g_strdup("a1b2c3");
    host->facts = parse("{\"name\": \"host1\", \"cpus\": 4,"
                        " \"memory\": {\"total_mib\": 24000},"
                        " \"storage_domains\": [\"shared\"]}");
    host->last_seen_us = 1700000000999999;
    host->created_us = 1600000000000001;
    host->maintenance_correlation_id = g_strdup("corr-1");
    host->maintenance_user = g_strdup("alice");
    host->maintenance_next_retry_us = 1700000005000000;
    host->power_on_cmd = g_strdup("fence_ipmilan --ip={host} -o on");
    host->power_off_cmd = g_strdup("fence_ipmilan --ip={host} -o off");
    host->power_status_cmd = g_strdup("fence_ipmilan --ip='{host}' -o status");
    host->power_action = g_strdup("on");
    host->power_action_us = 1700000006000000;
    /* run time only: not stored */
    host->power_failed_us = 1700000007000000;

    /* every optional member NULL */
    bare = mgr_host_new(NULL, "host2", "http://127.0.1.2:7001", cluster->id);
    bare->status = MGR_HOST_NON_OPERATIONAL;

    vm = mgr_vm_new(cluster->id,
                    make_spec("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "web1"));
    vm->status = MGR_VM_MIGRATING;
    vm->host_id = g_strdup(host->id);
    vm->status_reason = g_strdup("moving");
    vm->created_us = 1650000000000000;
    vm->updated_us = 1650000000000042;

    down = mgr_vm_new(cluster->id, make_spec(NULL, "db1"));
    g_assert_null(down->host_id);

    mig = mgr_migration_new(vm->id, host->id);
    mig->destination_host_id = g_strdup(bare->id);
    mig->requested_host_id = g_strdup(bare->id);
    mig->state = MGR_MIGRATION_RUNNING;
    mig->priority = DRV_PRIORITY_HIGH;
    g_free(mig->reason);
    mig->reason = g_strdup("maintenance");
    mig->automatic = TRUE;
    g_free(mig->user);
    mig->user = g_strdup("alice");
    mig->correlation_id = g_strdup("corr-1");
    mig->attempts = 2;
    mig->tried_host_ids = g_strsplit("host-x,host-y", ",", -1);
    mig->agent_migration_id = g_strdup("agent-mig-7");
    mig->parameters = parse("{\"policy\": \"legacy\", \"downtime_ms\": 300}");
    mig->progress = parse("{\"percent\": 42.5, \"pass\": 2,"
                          " \"remaining_bytes\": 123456789012}");
    mig->result = parse("{\"status\": \"failed\", \"downtime_ms\": null}");
    mig->error_code = g_strdup("migration_failed");
    mig->error_message = g_strdup("destination went away");
    mig->created_us = 1700000000000001;
    mig->started_us = 1700000000000002;
    mig->ended_us = 1700000000000003;

    /* NULLs, and an empty list that must stay empty (not NULL) */
    empty = mgr_migration_new(down->id, NULL);
    g_free(empty->reason);
    empty->reason = NULL;
    g_free(empty->user);
    empty->user = NULL;
    empty->tried_host_ids = g_new0(char *, 1);
    empty->state = MGR_MIGRATION_CANCELLED;
    empty->priority = DRV_PRIORITY_LOW;

    event->time_us = 1700000000777777;
    event->message = g_strdup("VM web1 failed to migrate: \"quotes\" \xc3\xa9");
    event->user = g_strdup("alice");
    event->correlation_id = g_strdup("corr-1");
    event->vm_id = g_strdup(vm->id);
    event->host_id = g_strdup(host->id);
    event->cluster_id = g_strdup(cluster->id);
    event->migration_id = g_strdup(mig->id);
    event->data = parse("{\"reason\": \"x\", \"duration_ms\": 1300}");

    {
        g_autoptr(MgrStore) store = open_store(ts.path);

        g_assert_true(mgr_store_save_cluster(store, cluster, &error));
        g_assert_true(mgr_store_save_host(store, host, &error));
        g_assert_true(mgr_store_save_host(store, bare, &error));
        g_assert_true(mgr_store_save_vm(store, vm, &error));
        g_assert_true(mgr_store_save_vm(store, down, &error));
        g_assert_true(mgr_store_save_migration(store, mig, &error));
        g_assert_true(mgr_store_save_migration(store, empty, &error));
        g_assert_true(mgr_store_append_event(store, event, &error));
        g_assert_true(mgr_store_append_event(store, plain, &error));
        g_assert_no_error(error);
        g_assert_cmpint(event->time_us, ==, 1700000000777777);
        g_assert_cmpint(plain->time_us, >, 0);
    }
    {
        g_autoptr(MgrStore) store = open_store(ts.path);
        g_autoptr(GPtrArray) clusters = mgr_store_load_clusters(store, &error);
        g_autoptr(GPtrArray) hosts = mgr_store_load_hosts(store, &error);
        g_autoptr(GPtrArray) vms = mgr_store_load_vms(store, &error);
        g_autoptr(GPtrArray) migs =
            mgr_store_load_migrations(store, 10, &error);
        g_autoptr(GPtrArray) events =
            mgr_store_list_events(store, 1, 10, &error);
        MgrCluster *c;
        MgrHost *h;
        MgrVm *v;
        MgrMigration *m;
        MgrEvent *e;

        g_assert_no_error(error);

        g_assert_cmpuint(clusters->len, ==, 2);
        c = find_cluster(clusters, "prod");
        g_assert_nonnull(c);
        g_assert_cmpstr(c->id, ==, cluster->id);
        g_assert_cmpstr(c->cpu_baseline, ==, "Nehalem");
        g_assert_cmpstr(c->migration_policy, ==, "post_copy");
        g_assert_cmpuint(c->migration_bandwidth_mbps, ==, 1250);
        g_assert_cmpint(c->auto_converge, ==, DRV_TRISTATE_TRUE);
        g_assert_cmpint(c->compression, ==, DRV_TRISTATE_FALSE);
        g_assert_cmpint(c->post_copy, ==, DRV_TRISTATE_TRUE);
        g_assert_cmpuint(c->max_outgoing_migrations, ==, 5);
        g_assert_cmpuint(c->max_incoming_migrations, ==, 7);
        g_assert_cmpuint(c->max_cpu_percent, ==, 65);
        g_assert_cmpstr(c->scheduling_policy, ==, "evenly_distributed");
        assert_json_equal(c->scheduling_params, cluster->scheduling_params);
        g_assert_cmpint(c->created_us, ==, 1700000000123456);

        /* ordered by name */
        g_assert_cmpuint(hosts->len, ==, 2);
        h = g_ptr_array_index(hosts, 0);
        g_assert_cmpstr(h->id, ==, host->id);
        g_assert_cmpstr(h->name, ==, "host1");
        g_assert_cmpstr(h->address, ==, "http://127.0.1.1:7001");
        g_assert_cmpstr(h->cluster_id, ==, cluster->id);
        g_assert_cmpint(h->status, ==, MGR_HOST_PREPARING_FOR_MAINTENANCE);
        g_assert_cmpstr(h->status_reason, ==, "cpu model Nehalem missing");
        g_assert_cmpstr(h->agent_host_id, ==, "a1b2c3");
        assert_json_equal(h->facts, host->facts);
        g_assert_cmpint(h->last_seen_us, ==, 1700000000999999);
        g_assert_cmpint(h->created_us, ==, 1600000000000001);
        g_assert_cmpstr(h->maintenance_correlation_id, ==, "corr-1");
        g_assert_cmpstr(h->maintenance_user, ==, "alice");
        g_assert_cmpint(h->maintenance_next_retry_us, ==, 1700000005000000);
        g_assert_cmpstr(h->power_on_cmd, ==, host->power_on_cmd);
        g_assert_cmpstr(h->power_off_cmd, ==, host->power_off_cmd);
        g_assert_cmpstr(h->power_status_cmd, ==, host->power_status_cmd);
        g_assert_cmpstr(h->power_action, ==, "on");
        g_assert_cmpint(h->power_action_us, ==, 1700000006000000);
        g_assert_cmpint(h->power_failed_us, ==, 0);
        /* what is loaded can be edited (not sealed) */
        json_object_set_int_member(h->facts, "cpus", 8);
        g_assert_cmpint(json_object_get_int_member(h->facts, "cpus"), ==, 8);

        h = g_ptr_array_index(hosts, 1);
        g_assert_cmpstr(h->id, ==, bare->id);
        g_assert_cmpint(h->status, ==, MGR_HOST_NON_OPERATIONAL);
        g_assert_null(h->status_reason);
        g_assert_null(h->agent_host_id);
        g_assert_null(h->facts);
        g_assert_null(h->maintenance_correlation_id);
        g_assert_null(h->maintenance_user);
        g_assert_cmpint(h->last_seen_us, ==, 0);
        g_assert_cmpint(h->maintenance_next_retry_us, ==, 0);
        g_assert_cmpint(h->created_us, ==, bare->created_us);
        g_assert_null(h->power_on_cmd);
        g_assert_null(h->power_off_cmd);
        g_assert_null(h->power_status_cmd);
        g_assert_null(h->power_action);
        g_assert_cmpint(h->power_action_us, ==, 0);

        g_assert_cmpuint(vms->len, ==, 2);
        v = g_ptr_array_index(vms, 0); /* db1 */
        g_assert_cmpstr(v->id, ==, down->id);
        g_assert_cmpstr(v->spec->id, ==, down->id);
        g_assert_null(v->host_id);
        g_assert_null(v->status_reason);
        g_assert_cmpint(v->status, ==, MGR_VM_DOWN);
        assert_spec_equal(down->spec, v->spec);
        v = g_ptr_array_index(vms, 1); /* web1 */
        g_assert_cmpstr(v->id, ==, "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d");
        g_assert_cmpstr(v->spec->name, ==, "web1");
        g_assert_cmpstr(v->cluster_id, ==, cluster->id);
        g_assert_cmpstr(v->host_id, ==, host->id);
        g_assert_cmpint(v->status, ==, MGR_VM_MIGRATING);
        g_assert_cmpstr(v->status_reason, ==, "moving");
        g_assert_cmpint(v->created_us, ==, 1650000000000000);
        g_assert_cmpint(v->updated_us, ==, 1650000000000042);
        assert_spec_equal(vm->spec, v->spec);
        g_assert_cmpstr(
            ((DrvNicSpec *)g_ptr_array_index(v->spec->nics, 1))->mac, ==,
            "52:54:00:ab:cd:ef");
        g_assert_cmpstr(
            ((DrvDiskSpec *)g_ptr_array_index(v->spec->disks, 1))->path, ==,
            "d/web1.raw");
        g_assert_cmpint(v->spec->migration_mode, ==,
                        DRV_MIGRATION_MODE_MANUAL_ONLY);
        g_assert_cmpuint(v->spec->bandwidth_mbps, ==, 500);
        g_assert_true(v->spec->highly_available);
        g_assert_cmpstrv(v->spec->pinned_hosts,
                         ((const char *const[]){"host1", "host2", NULL}));
        /* run time only: not stored */
        g_assert_cmpfloat(v->cpu_percent, ==, 0.0);

        g_assert_cmpuint(migs->len, ==, 2);
        m = g_ptr_array_index(migs, 0);
        g_assert_cmpstr(m->id, ==, mig->id);
        g_assert_cmpint(m->seq, ==, 1);
        g_assert_cmpint(mig->seq, ==, 1);
        g_assert_cmpstr(m->vm_id, ==, vm->id);
        g_assert_cmpstr(m->source_host_id, ==, host->id);
        g_assert_cmpstr(m->destination_host_id, ==, bare->id);
        g_assert_cmpstr(m->requested_host_id, ==, bare->id);
        g_assert_cmpint(m->state, ==, MGR_MIGRATION_RUNNING);
        g_assert_cmpint(m->priority, ==, DRV_PRIORITY_HIGH);
        g_assert_cmpstr(m->reason, ==, "maintenance");
        g_assert_true(m->automatic);
        g_assert_cmpstr(m->user, ==, "alice");
        g_assert_cmpstr(m->correlation_id, ==, "corr-1");
        g_assert_cmpuint(m->attempts, ==, 2);
        assert_strv_equal((const char *const *)m->tried_host_ids,
                          (const char *const *)mig->tried_host_ids);
        g_assert_cmpstr(m->agent_migration_id, ==, "agent-mig-7");
        assert_json_equal(m->parameters, mig->parameters);
        assert_json_equal(m->progress, mig->progress);
        assert_json_equal(m->result, mig->result);
        g_assert_cmpint(
            json_object_get_int_member(m->progress, "remaining_bytes"), ==,
            123456789012);
        g_assert_cmpstr(m->error_code, ==, "migration_failed");
        g_assert_cmpstr(m->error_message, ==, "destination went away");
        g_assert_cmpint(m->created_us, ==, 1700000000000001);
        g_assert_cmpint(m->started_us, ==, 1700000000000002);
        g_assert_cmpint(m->ended_us, ==, 1700000000000003);

        m = g_ptr_array_index(migs, 1);
        g_assert_cmpstr(m->id, ==, empty->id);
        g_assert_cmpint(m->seq, ==, 2);
        g_assert_cmpint(m->state, ==, MGR_MIGRATION_CANCELLED);
        g_assert_cmpint(m->priority, ==, DRV_PRIORITY_LOW);
        g_assert_null(m->source_host_id);
        g_assert_null(m->destination_host_id);
        g_assert_null(m->requested_host_id);
        g_assert_null(m->reason);
        g_assert_null(m->user);
        g_assert_false(m->automatic);
        g_assert_nonnull(m->tried_host_ids);
        g_assert_null(m->tried_host_ids[0]);
        g_assert_null(m->parameters);
        g_assert_null(m->progress);
        g_assert_null(m->result);
        g_assert_null(m->error_code);
        g_assert_null(m->agent_migration_id);

        g_assert_cmpuint(events->len, ==, 2);
        e = g_ptr_array_index(events, 0);
        g_assert_cmpint(e->seq, ==, 1);
        g_assert_cmpint(event->seq, ==, 1);
        g_assert_cmpint(e->time_us, ==, 1700000000777777);
        g_assert_cmpint(e->severity, ==, MGR_SEVERITY_ERROR);
        g_assert_cmpstr(e->code, ==, "vm_migration_failed");
        g_assert_cmpstr(e->message, ==, event->message);
        g_assert_cmpstr(e->user, ==, "alice");
        g_assert_cmpstr(e->correlation_id, ==, "corr-1");
        g_assert_cmpstr(e->vm_id, ==, vm->id);
        g_assert_cmpstr(e->host_id, ==, host->id);
        g_assert_cmpstr(e->cluster_id, ==, cluster->id);
        g_assert_cmpstr(e->migration_id, ==, mig->id);
        assert_json_equal(e->data, event->data);
        e = g_ptr_array_index(events, 1);
        g_assert_cmpint(e->seq, ==, 2);
        g_assert_cmpint(e->time_us, ==, plain->time_us);
        g_assert_cmpint(e->severity, ==, MGR_SEVERITY_INFO);
        g_assert_cmpstr(e->code, ==, "vm_added");
        g_assert_null(e->message);
        g_assert_null(e->user);
        g_assert_null(e->correlation_id);
        g_assert_null(e->vm_id);
        g_assert_null(e->host_id);
        g_assert_null(e->cluster_id);
        g_assert_null(e->migration_id);
        g_assert_null(e->data);
    }
    temp_store_clear(&ts);
}

/* ---- upserts and constraints ---- */

static void test_upsert(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(MgrStore) store = open_store(":memory:");
    g_autoptr(MgrCluster) cluster = default_cluster(store);
    g_autoptr(MgrHost) host = NULL;
    g_autoptr(MgrVm) vm = NULL;
    g_autoptr(GPtrArray) clusters = NULL;
    g_autoptr(GPtrArray) hosts = NULL;
    g_autoptr(GPtrArray) vms = NULL;
    MgrHost *h;
    MgrVm *v;

    cluster->max_cpu_percent = 50;
    g_free(cluster->name);
    cluster->name = g_strdup("renamed");
    json_object_set_string_member(cluster->scheduling_params, "k", "v");
    g_assert_true(mgr_store_save_cluster(store, cluster, &error));
    g_assert_no_error(error);
    clusters = mgr_store_load_clusters(store, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(clusters->len, ==, 1);
    g_assert_cmpstr(((MgrCluster *)clusters->pdata[0])->name, ==, "renamed");
    g_assert_cmpuint(((MgrCluster *)clusters->pdata[0])->max_cpu_percent, ==,
                     50);
    assert_json_equal(((MgrCluster *)clusters->pdata[0])->scheduling_params,
                      cluster->scheduling_params);

    host = add_host(store, "host1", "http://127.0.1.1:7001", cluster->id);
    vm = add_vm(store, "web1", cluster->id, host->id);

    /* updating a host that VMs run on does not disturb them */
    host->status = MGR_HOST_UP;
    host->facts = parse("{\"cpus\": 2}");
    g_free(host->address);
    host->address = g_strdup("http://127.0.1.9:7001");
    g_assert_true(mgr_store_save_host(store, host, &error));
    g_assert_no_error(error);
    hosts = mgr_store_load_hosts(store, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(hosts->len, ==, 1);
    h = g_ptr_array_index(hosts, 0);
    g_assert_cmpint(h->status, ==, MGR_HOST_UP);
    g_assert_cmpstr(h->address, ==, "http://127.0.1.9:7001");
    assert_json_equal(h->facts, host->facts);

    /* a facts object set back to NULL is stored as NULL */
    g_clear_pointer(&host->facts, json_object_unref);
    g_assert_true(mgr_store_save_host(store, host, &error));
    g_clear_pointer(&hosts, g_ptr_array_unref);
    hosts = mgr_store_load_hosts(store, &error);
    g_assert_no_error(error);
    g_assert_null(((MgrHost *)hosts->pdata[0])->facts);

    /* power management added, an action started, then both undone */
    host->power_on_cmd = g_strdup("power on {name}");
    host->power_off_cmd = g_strdup("power off {name}");
    host->power_action = g_strdup("off");
    host->power_action_us = 42;
    g_assert_true(mgr_store_save_host(store, host, &error));
    g_clear_pointer(&hosts, g_ptr_array_unref);
    hosts = mgr_store_load_hosts(store, &error);
    g_assert_no_error(error);
    h = g_ptr_array_index(hosts, 0);
    g_assert_cmpstr(h->power_on_cmd, ==, "power on {name}");
    g_assert_cmpstr(h->power_off_cmd, ==, "power off {name}");
    g_assert_null(h->power_status_cmd);
    g_assert_cmpstr(h->power_action, ==, "off");
    g_assert_cmpint(h->power_action_us, ==, 42);
    g_clear_pointer(&host->power_on_cmd, g_free);
    g_clear_pointer(&host->power_off_cmd, g_free);
    g_clear_pointer(&host->power_action, g_free);
    host->power_action_us = 0;
    g_assert_true(mgr_store_save_host(store, host, &error));
    g_clear_pointer(&hosts, g_ptr_array_unref);
    hosts = mgr_store_load_hosts(store, &error);
    g_assert_no_error(error);
    h = g_ptr_array_index(hosts, 0);
    g_assert_null(h->power_on_cmd);
    g_assert_null(h->power_off_cmd);
    g_assert_null(h->power_action);
    g_assert_cmpint(h->power_action_us, ==, 0);

    g_free(vm->spec->name);
    vm->spec->name = g_strdup("web1-renamed");
    vm->spec->memory_mib = 256;
    vm->status = MGR_VM_DOWN;
    g_clear_pointer(&vm->host_id, g_free);
    g_assert_true(mgr_store_save_vm(store, vm, &error));
    g_assert_no_error(error);
    vms = mgr_store_load_vms(store, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(vms->len, ==, 1);
    v = g_ptr_array_index(vms, 0);
    g_assert_cmpstr(v->spec->name, ==, "web1-renamed");
    g_assert_cmpuint(v->spec->memory_mib, ==, 256);
    g_assert_null(v->host_id);
    g_assert_cmpint(v->status, ==, MGR_VM_DOWN);
}

static void test_unique_clashes(void)
{
    g_autoptr(MgrStore) store = open_store(":memory:");
    g_autofree char *cid = default_cluster_id(store);
    g_autoptr(MgrHost) host1 =
        add_host(store, "host1", "http://127.0.1.1:7001", cid);
    g_autoptr(MgrVm) web1 = add_vm(store, "web1", cid, NULL);

    {
        g_autoptr(GError) error = NULL;
        g_autoptr(MgrCluster) dup = mgr_cluster_new(NULL, "default");

        g_assert_false(mgr_store_save_cluster(store, dup, &error));
        g_assert_error(error, DRV_ERROR, DRV_ERROR_EXISTS);
        g_assert_cmpstr(error->message, ==,
                        "a cluster named default already exists");
    }
    {
        g_autoptr(GError) error = NULL;
        g_autoptr(MgrHost) dup =
            mgr_host_new(NULL, "host1", "http://127.0.1.2:7001", cid);

        g_assert_false(mgr_store_save_host(store, dup, &error));
        g_assert_error(error, DRV_ERROR, DRV_ERROR_EXISTS);
        g_assert_cmpstr(error->message, ==,
                        "a host named host1 already exists");
    }
    {
        g_autoptr(GError) error = NULL;
        g_autoptr(MgrHost) dup =
            mgr_host_new(NULL, "host2", "http://127.0.1.1:7001", cid);

        g_assert_false(mgr_store_save_host(store, dup, &error));
        g_assert_error(error, DRV_ERROR, DRV_ERROR_EXISTS);
        g_assert_cmpstr(error->message, ==,
                        "a host with address http://127.0.1.1:7001 already "
                        "exists");
    }
    {
        g_autoptr(GError) error = NULL;
        g_autoptr(MgrHost) host2 =
            add_host(store, "host2", "http://127.0.1.2:7001", cid);

        /* renaming onto another's name is a clash too, and harms neither */
        g_free(host2->name);
        host2->name = g_strdup("host1");
        g_assert_false(mgr_store_save_host(store, host2, &error));
        g_assert_error(error, DRV_ERROR, DRV_ERROR_EXISTS);
        g_assert_cmpuint(count_hosts(store), ==, 2);
    }
    {
        g_autoptr(GError) error = NULL;
        g_autoptr(MgrVm) dup = mgr_vm_new(cid, make_spec(NULL, "web1"));

        g_assert_false(mgr_store_save_vm(store, dup, &error));
        g_assert_error(error, DRV_ERROR, DRV_ERROR_EXISTS);
        g_assert_cmpstr(error->message, ==, "a VM named web1 already exists");
    }
    {
        g_autoptr(GError) error = NULL;
        g_autoptr(MgrVm) odd = mgr_vm_new(cid, make_spec(NULL, "odd"));

        /* a VM whose id is not its spec's is refused */
        g_free(odd->id);
        odd->id = g_uuid_string_random();
        g_assert_false(mgr_store_save_vm(store, odd, &error));
        g_assert_error(error, DRV_ERROR, DRV_ERROR_INVALID);
    }
}

static void test_foreign_keys(void)
{
    g_autoptr(MgrStore) store = open_store(":memory:");
    g_autofree char *cid = default_cluster_id(store);
    g_autoptr(MgrHost) host1 =
        add_host(store, "host1", "http://127.0.1.1:7001", cid);
    g_autoptr(MgrHost) host2 =
        add_host(store, "host2", "http://127.0.1.2:7001", cid);
    g_autoptr(MgrVm) web1 = add_vm(store, "web1", cid, host1->id);

    {
        g_autoptr(GError) error = NULL;

        g_assert_false(mgr_store_delete_host(store, host1->id, &error));
        g_assert_error(error, DRV_ERROR, DRV_ERROR_CONFLICT);
        g_assert_cmpstr(error->message, ==, "host host1 still has VMs");
        g_assert_cmpuint(count_hosts(store), ==, 2);
    }
    {
        g_autoptr(GError) error = NULL;

        g_assert_false(mgr_store_delete_cluster(store, cid, &error));
        g_assert_error(error, DRV_ERROR, DRV_ERROR_CONFLICT);
        g_assert_cmpstr(error->message, ==,
                        "cluster default still has hosts or VMs");
    }
    {
        g_autoptr(GError) error = NULL;
        g_autoptr(MgrHost) orphan = mgr_host_new(
            NULL, "host3", "http://127.0.1.3:7001", "no-such-cluster");

        g_assert_false(mgr_store_save_host(store, orphan, &error));
        g_assert_error(error, DRV_ERROR, DRV_ERROR_CONFLICT);
        g_assert_nonnull(strstr(error->message, "no-such-cluster"));
    }
    {
        g_autoptr(GError) error = NULL;
        g_autoptr(MgrVm) orphan = mgr_vm_new(cid, make_spec(NULL, "web9"));

        orphan->host_id = g_strdup("no-such-host");
        g_assert_false(mgr_store_save_vm(store, orphan, &error));
        g_assert_error(error, DRV_ERROR, DRV_ERROR_CONFLICT);
        g_assert_nonnull(strstr(error->message, "no-such-host"));
    }
    {
        g_autoptr(GError) error = NULL;
        g_autoptr(MgrMigration) orphan =
            mgr_migration_new("no-such-vm", host1->id);

        g_assert_false(mgr_store_save_migration(store, orphan, &error));
        g_assert_error(error, DRV_ERROR, DRV_ERROR_CONFLICT);
        g_assert_nonnull(strstr(error->message, "no-such-vm"));
        /* a failed save assigns nothing */
        g_assert_cmpint(orphan->seq, ==, 0);
    }
    {
        g_autoptr(GError) error = NULL;

        g_assert_false(mgr_store_delete_host(store, "no-such-host", &error));
        g_assert_error(error, DRV_ERROR, DRV_ERROR_NOT_FOUND);
        g_clear_error(&error);
        g_assert_false(mgr_store_delete_vm(store, "no-such-vm", &error));
        g_assert_error(error, DRV_ERROR, DRV_ERROR_NOT_FOUND);
        g_clear_error(&error);
        g_assert_false(mgr_store_delete_cluster(store, "nope", &error));
        g_assert_error(error, DRV_ERROR, DRV_ERROR_NOT_FOUND);
    }
    {
        g_autoptr(GError) error = NULL;

        /* a host without VMs goes; once web1 is down, so does host1 */
        g_assert_true(mgr_store_delete_host(store, host2->id, &error));
        g_clear_pointer(&web1->host_id, g_free);
        web1->status = MGR_VM_DOWN;
        g_assert_true(mgr_store_save_vm(store, web1, &error));
        g_assert_true(mgr_store_delete_host(store, host1->id, &error));
        g_assert_no_error(error);
        g_assert_cmpuint(count_hosts(store), ==, 0);
        g_assert_true(mgr_store_delete_vm(store, web1->id, &error));
        g_assert_true(mgr_store_delete_cluster(store, cid, &error));
        g_assert_no_error(error);
    }
}

static void test_delete_vm_cascades(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(MgrStore) store = open_store(":memory:");
    g_autofree char *cid = default_cluster_id(store);
    g_autoptr(MgrVm) web1 = add_vm(store, "web1", cid, NULL);
    g_autoptr(MgrVm) web2 = add_vm(store, "web2", cid, NULL);
    g_autoptr(MgrMigration) m1 =
        add_migration(store, web1->id, MGR_MIGRATION_COMPLETED);
    g_autoptr(MgrMigration) m2 =
        add_migration(store, web1->id, MGR_MIGRATION_QUEUED);
    g_autoptr(MgrMigration) m3 =
        add_migration(store, web2->id, MGR_MIGRATION_RUNNING);
    g_autoptr(GPtrArray) migs = NULL;
    g_autoptr(GPtrArray) vms = NULL;

    g_assert_true(mgr_store_delete_vm(store, web1->id, &error));
    g_assert_no_error(error);
    migs = mgr_store_load_migrations(store, 100, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(migs->len, ==, 1);
    g_assert_cmpstr(((MgrMigration *)migs->pdata[0])->id, ==, m3->id);
    vms = mgr_store_load_vms(store, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(vms->len, ==, 1);
    g_assert_cmpstr(((MgrVm *)vms->pdata[0])->id, ==, web2->id);
}

/* ---- migrations ---- */

static void test_migration_seq(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(MgrStore) store = open_store(":memory:");
    g_autofree char *cid = default_cluster_id(store);
    g_autoptr(MgrVm) vm = add_vm(store, "web1", cid, NULL);
    g_autoptr(MgrMigration) a =
        add_migration(store, vm->id, MGR_MIGRATION_QUEUED);
    g_autoptr(MgrMigration) b =
        add_migration(store, vm->id, MGR_MIGRATION_QUEUED);
    g_autoptr(MgrMigration) c =
        add_migration(store, vm->id, MGR_MIGRATION_QUEUED);
    g_autoptr(MgrMigration) copy = NULL;
    g_autoptr(GPtrArray) migs = NULL;

    g_assert_cmpint(a->seq, ==, 1);
    g_assert_cmpint(b->seq, ==, 2);
    g_assert_cmpint(c->seq, ==, 3);

    /* later saves keep the seq, whatever they change */
    a->state = MGR_MIGRATION_RUNNING;
    a->attempts = 1;
    g_assert_true(mgr_store_save_migration(store, a, &error));
    g_assert_no_error(error);
    g_assert_cmpint(a->seq, ==, 1);

    /* even a copy that lost its seq: the stored one wins */
    copy = mgr_migration_new(vm->id, "elsewhere");
    g_free(copy->id);
    copy->id = g_strdup(b->id);
    g_assert_true(mgr_store_save_migration(store, copy, &error));
    g_assert_no_error(error);
    g_assert_cmpint(copy->seq, ==, 2);

    migs = mgr_store_load_migrations(store, 0, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(migs->len, ==, 3);
    for (guint i = 0; i < migs->len; i++) {
        MgrMigration *m = g_ptr_array_index(migs, i);

        g_assert_cmpint(m->seq, ==, i + 1);
    }
    g_assert_cmpint(((MgrMigration *)migs->pdata[0])->state, ==,
                    MGR_MIGRATION_RUNNING);
    g_assert_cmpstr(((MgrMigration *)migs->pdata[1])->source_host_id, ==,
                    "elsewhere");

    /* a new one comes after all of them */
    {
        g_autoptr(MgrMigration) d =
            add_migration(store, vm->id, MGR_MIGRATION_QUEUED);

        g_assert_cmpint(d->seq, ==, 4);
    }
}

static void test_migration_history(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(MgrStore) store = open_store(":memory:");
    g_autofree char *cid = default_cluster_id(store);
    g_autoptr(MgrVm) vm = add_vm(store, "web1", cid, NULL);
    static const MgrMigrationState states[] = {
        MGR_MIGRATION_COMPLETED, /* 1 */
        MGR_MIGRATION_QUEUED,    /* 2 */
        MGR_MIGRATION_FAILED,    /* 3 */
        MGR_MIGRATION_CANCELLED, /* 4 */
        MGR_MIGRATION_RUNNING,   /* 5 */
        MGR_MIGRATION_COMPLETED, /* 6 */
        MGR_MIGRATION_FAILED,    /* 7 */
        MGR_MIGRATION_QUEUED,    /* 8 */
    };
    const struct {
        guint history;
        const gint64 seqs[9];
    } cases[] = {
        {0, {2, 5, 8, 0}},
        {1, {2, 5, 7, 8, 0}},
        {2, {2, 5, 6, 7, 8, 0}},
        {4, {2, 3, 4, 5, 6, 7, 8, 0}}, /* 1 is the oldest ended */
        {100, {1, 2, 3, 4, 5, 6, 7, 8, 0}},
    };

    for (guint i = 0; i < G_N_ELEMENTS(states); i++) {
        g_autoptr(MgrMigration) mig = add_migration(store, vm->id, states[i]);

        g_assert_cmpint(mig->seq, ==, i + 1);
    }
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GPtrArray) migs =
            mgr_store_load_migrations(store, cases[i].history, &error);
        guint n = 0;
        const gint64 *seqs = cases[i].seqs;

        g_assert_no_error(error);
        while (seqs[n] != 0) {
            n++;
        }
        g_assert_cmpuint(migs->len, ==, n);
        for (guint j = 0; j < n; j++) {
            g_assert_cmpint(((MgrMigration *)migs->pdata[j])->seq, ==, seqs[j]);
        }
    }

    /* prune keeps every active one and the newest 1 ended */
    g_assert_true(mgr_store_prune_migrations(store, 1, &error));
    g_assert_no_error(error);
    {
        g_autoptr(GPtrArray) migs =
            mgr_store_load_migrations(store, 100, &error);
        static const gint64 left[] = {2, 5, 7, 8};

        g_assert_no_error(error);
        g_assert_cmpuint(migs->len, ==, G_N_ELEMENTS(left));
        for (guint j = 0; j < migs->len; j++) {
            g_assert_cmpint(((MgrMigration *)migs->pdata[j])->seq, ==, left[j]);
        }
    }
    g_assert_true(mgr_store_prune_migrations(store, 0, &error));
    g_assert_no_error(error);
    {
        g_autoptr(GPtrArray) migs =
            mgr_store_load_migrations(store, 100, &error);

        g_assert_no_error(error);
        g_assert_cmpuint(migs->len, ==, 3);
        for (guint j = 0; j < migs->len; j++) {
            g_assert_true(mgr_migration_is_active(migs->pdata[j]));
        }
    }
    /* arrival order goes on after pruning */
    {
        g_autoptr(MgrMigration) mig =
            add_migration(store, vm->id, MGR_MIGRATION_QUEUED);

        g_assert_cmpint(mig->seq, ==, 9);
    }
}

/* ---- events ---- */

static void append_events(MgrStore *store, guint n)
{
    for (guint i = 0; i < n; i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(MgrEvent) event =
            mgr_event_new(MGR_SEVERITY_INFO, "vm_migration_started");

        event->message = g_strdup_printf("event %u", i);
        g_assert_true(mgr_store_append_event(store, event, &error));
        g_assert_no_error(error);
        g_assert_cmpint(event->seq, >, 0);
        g_assert_cmpint(event->time_us, >, 0);
    }
}

static void assert_event_seqs(MgrStore *store, gint64 from, guint max,
                              gint64 first, guint n)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) events =
        mgr_store_list_events(store, from, max, &error);

    g_assert_no_error(error);
    g_assert_cmpuint(events->len, ==, n);
    for (guint i = 0; i < n; i++) {
        g_assert_cmpint(((MgrEvent *)events->pdata[i])->seq, ==, first + i);
    }
}

static void test_events(void)
{
    g_autoptr(GError) error = NULL;
    TempStore ts;

    temp_store_init(&ts);
    {
        g_autoptr(MgrStore) store = open_store(ts.path);

        append_events(store, 10);
        g_assert_cmpint(mgr_store_last_event_seq(store), ==, 10);
        /* paging, oldest first */
        assert_event_seqs(store, 0, 3, 1, 3);
        assert_event_seqs(store, 1, 3, 1, 3);
        assert_event_seqs(store, 4, 3, 4, 3);
        assert_event_seqs(store, 7, 100, 7, 4);
        assert_event_seqs(store, 10, 100, 10, 1);
        assert_event_seqs(store, 11, 100, 0, 0);
        assert_event_seqs(store, 1, 0, 0, 0);

        g_assert_true(mgr_store_prune_events(store, 4, &error));
        g_assert_no_error(error);
        assert_event_seqs(store, 0, 100, 7, 4);
        g_assert_cmpint(mgr_store_last_event_seq(store), ==, 10);
        /* keeping more than there are deletes nothing */
        g_assert_true(mgr_store_prune_events(store, 50, &error));
        assert_event_seqs(store, 0, 100, 7, 4);
    }
    {
        /* seqs are never reused, even with every event pruned */
        g_autoptr(MgrStore) store = open_store(ts.path);

        g_assert_cmpint(mgr_store_last_event_seq(store), ==, 10);
        g_assert_true(mgr_store_prune_events(store, 0, &error));
        g_assert_no_error(error);
        assert_event_seqs(store, 0, 100, 0, 0);
        g_assert_cmpint(mgr_store_last_event_seq(store), ==, 10);
        append_events(store, 2);
        assert_event_seqs(store, 0, 100, 11, 2);
        g_assert_cmpint(mgr_store_last_event_seq(store), ==, 12);
    }
    temp_store_clear(&ts);
}

/* ---- transactions ---- */

static void test_transactions(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(MgrStore) store = open_store(":memory:");
    g_autofree char *cid = default_cluster_id(store);
    g_autoptr(MgrHost) host1 = NULL;
    g_autoptr(MgrHost) host2 = NULL;
    g_autoptr(MgrEvent) event = mgr_event_new(MGR_SEVERITY_INFO, "host_added");

    /* rollback undoes every write of the transaction */
    g_assert_true(mgr_store_begin(store, &error));
    g_assert_no_error(error);
    host1 = add_host(store, "host1", "http://127.0.1.1:7001", cid);
    g_assert_true(mgr_store_append_event(store, event, &error));
    g_assert_cmpuint(count_hosts(store), ==, 1);
    mgr_store_rollback(store);
    g_assert_cmpuint(count_hosts(store), ==, 0);
    assert_event_seqs(store, 0, 100, 0, 0);

    /* nesting is refused, and leaves the open transaction alone */
    g_assert_true(mgr_store_begin(store, &error));
    g_assert_false(mgr_store_begin(store, &error));
    g_assert_error(error, DRV_ERROR, DRV_ERROR_INTERNAL);
    g_clear_error(&error);
    host2 = add_host(store, "host2", "http://127.0.1.2:7001", cid);
    /* a failed write inside keeps the transaction usable */
    {
        g_autoptr(GError) local = NULL;
        g_autoptr(MgrHost) dup =
            mgr_host_new(NULL, "host2", "http://127.0.1.3:7001", cid);

        g_assert_false(mgr_store_save_host(store, dup, &local));
        g_assert_error(local, DRV_ERROR, DRV_ERROR_EXISTS);
    }
    g_assert_true(mgr_store_commit(store, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(count_hosts(store), ==, 1);

    /* rollback with nothing open is harmless; commit is an error */
    mgr_store_rollback(store);
    g_assert_cmpuint(count_hosts(store), ==, 1);
    g_assert_false(mgr_store_commit(store, &error));
    g_assert_error(error, DRV_ERROR, DRV_ERROR_INTERNAL);
}

/* ---- schema versions ---- */

static void test_newer_schema_refused(void)
{
    g_autoptr(GError) error = NULL;
    TempStore ts;
    g_autoptr(MgrStore) store = NULL;

    temp_store_init(&ts);
    store = open_store(ts.path);
    g_clear_pointer(&store, mgr_store_close);
    raw_exec(ts.path, "PRAGMA user_version = 4");

    store = mgr_store_open(ts.path, &error);
    g_assert_null(store);
    g_assert_error(error, DRV_ERROR, DRV_ERROR_INTERNAL);
    g_assert_nonnull(strstr(error->message, ts.path));
    g_assert_nonnull(strstr(error->message, "schema version 4"));
    g_assert_nonnull(strstr(error->message, "newer droverd"));
    temp_store_clear(&ts);
}

static void test_upgrade_from_version_0(void)
{
    TempStore ts;

    temp_store_init(&ts);
    /* a version-0 database with something else in it */
    raw_exec(ts.path, "CREATE TABLE notes (text TEXT);"
                      "INSERT INTO notes VALUES ('kept');");
    {
        g_autoptr(MgrStore) store = open_store(ts.path);
        g_autofree char *note = NULL;

        check_new_store(store);
        note = raw_query(ts.path, "SELECT text FROM notes");
        g_assert_cmpstr(note, ==, "kept");
    }
    temp_store_clear(&ts);

    /* an empty file is a version-0 database too */
    temp_store_init(&ts);
    g_assert_true(g_file_set_contents(ts.path, "", 0, NULL));
    {
        g_autoptr(MgrStore) store = open_store(ts.path);

        check_new_store(store);
    }
    temp_store_clear(&ts);
}

/*
 * A current store taken back to the schema of version 2 (and 1): hosts
 * without the power columns of version 3.
 */
#define DOWNGRADE_TO_2                                \
    "ALTER TABLE hosts DROP COLUMN power_on_cmd;"     \
    "ALTER TABLE hosts DROP COLUMN power_off_cmd;"    \
    "ALTER TABLE hosts DROP COLUMN power_status_cmd;" \
    "ALTER TABLE hosts DROP COLUMN power_action;"     \
    "ALTER TABLE hosts DROP COLUMN power_action_us;"

/*
 * Version 1 stored plain booleans and "legacy" for a cluster that had set
 * nothing; version 2 makes those defer to droverd's settings and keeps
 * what a cluster had chosen.
 */
static void test_upgrade_from_version_1(void)
{
    TempStore ts;
    g_autofree char *chosen_id = NULL;

    temp_store_init(&ts);
    {
        g_autoptr(MgrStore) store = open_store(ts.path);
        g_autoptr(GError) error = NULL;
        g_autoptr(MgrCluster) chosen = mgr_cluster_new(NULL, "chosen");

        g_assert_true(mgr_store_save_cluster(store, chosen, &error));
        g_assert_no_error(error);
        chosen_id = g_strdup(chosen->id);
    }
    raw_exec(ts.path, DOWNGRADE_TO_2
             "PRAGMA user_version = 1;"
             "UPDATE clusters SET migration_policy = 'legacy',"
             " auto_converge = 0, compression = 0, post_copy = 0;"
             "UPDATE clusters SET migration_policy = 'post_copy',"
             " auto_converge = 1 WHERE name = 'chosen';");
    {
        g_autoptr(MgrStore) store = open_store(ts.path);
        g_autoptr(GError) error = NULL;
        g_autoptr(GPtrArray) clusters = mgr_store_load_clusters(store, &error);
        MgrCluster *def;
        MgrCluster *chosen;

        g_assert_no_error(error);
        g_assert_cmpint(mgr_store_schema_version(store), ==,
                        MGR_STORE_SCHEMA_VERSION);
        def = find_cluster(clusters, "default");
        chosen = find_cluster(clusters, "chosen");
        g_assert_cmpstr(def->migration_policy, ==, "inherit");
        g_assert_cmpint(def->auto_converge, ==, DRV_TRISTATE_INHERIT);
        g_assert_cmpint(def->compression, ==, DRV_TRISTATE_INHERIT);
        g_assert_cmpint(def->post_copy, ==, DRV_TRISTATE_INHERIT);
        g_assert_cmpstr(chosen->id, ==, chosen_id);
        g_assert_cmpstr(chosen->migration_policy, ==, "post_copy");
        g_assert_cmpint(chosen->auto_converge, ==, DRV_TRISTATE_TRUE);
        g_assert_cmpint(chosen->compression, ==, DRV_TRISTATE_INHERIT);
    }
    temp_store_clear(&ts);
}

/*
 * Version 3 adds host power management: hosts of a version 2 store keep
 * everything and have none, with no power action under way.
 */
static void test_upgrade_from_version_2(void)
{
    TempStore ts;
    g_autofree char *host_id = NULL;

    temp_store_init(&ts);
    {
        g_autoptr(MgrStore) store = open_store(ts.path);
        g_autoptr(MgrCluster) cluster = default_cluster(store);
        g_autoptr(MgrHost) host =
            add_host(store, "host1", "http://127.0.1.1:7001", cluster->id);

        host_id = g_strdup(host->id);
    }
    raw_exec(ts.path, DOWNGRADE_TO_2 "PRAGMA user_version = 2;"
                                     "UPDATE hosts SET status = 'maintenance',"
                                     " last_seen_us = 123;");
    {
        g_autoptr(MgrStore) store = open_store(ts.path);
        g_autoptr(GError) error = NULL;
        g_autoptr(GPtrArray) hosts = mgr_store_load_hosts(store, &error);
        MgrHost *h;

        g_assert_no_error(error);
        g_assert_cmpint(mgr_store_schema_version(store), ==, 3);
        g_assert_cmpuint(hosts->len, ==, 1);
        h = g_ptr_array_index(hosts, 0);
        g_assert_cmpstr(h->id, ==, host_id);
        g_assert_cmpstr(h->name, ==, "host1");
        g_assert_cmpint(h->status, ==, MGR_HOST_MAINTENANCE);
        g_assert_cmpint(h->last_seen_us, ==, 123);
        g_assert_null(h->power_on_cmd);
        g_assert_null(h->power_off_cmd);
        g_assert_null(h->power_status_cmd);
        g_assert_null(h->power_action);
        g_assert_cmpint(h->power_action_us, ==, 0);

        /* and the new columns take what is saved */
        h->power_on_cmd = g_strdup("on {name}");
        h->power_off_cmd = g_strdup("off {name}");
        g_assert_true(mgr_store_save_host(store, h, &error));
        g_assert_no_error(error);
    }
    {
        g_autofree char *cmd =
            raw_query(ts.path, "SELECT power_off_cmd FROM hosts");

        g_assert_cmpstr(cmd, ==, "off {name}");
    }
    temp_store_clear(&ts);
}

static void test_not_a_database(void)
{
    g_autoptr(GError) error = NULL;
    TempStore ts;
    g_autoptr(MgrStore) store = NULL;
    g_autofree char *missing = NULL;
    g_autofree char *junk = g_strnfill(4096, 'x');

    temp_store_init(&ts);
    g_assert_true(g_file_set_contents(ts.path, junk, -1, NULL));
    store = mgr_store_open(ts.path, &error);
    g_assert_null(store);
    g_assert_error(error, DRV_ERROR, DRV_ERROR_INTERNAL);
    g_assert_nonnull(strstr(error->message, ts.path));
    g_clear_error(&error);

    missing = g_build_filename(ts.dir, "no", "such", "dir", "x.db", NULL);
    store = mgr_store_open(missing, &error);
    g_assert_null(store);
    g_assert_error(error, DRV_ERROR, DRV_ERROR_INTERNAL);
    temp_store_clear(&ts);
}

static void test_corrupt_rows(void)
{
    g_autoptr(GError) error = NULL;
    TempStore ts;

    temp_store_init(&ts);
    {
        g_autoptr(MgrStore) store = open_store(ts.path);
        g_autofree char *cid = default_cluster_id(store);
        g_autoptr(MgrHost) host =
            add_host(store, "host1", "http://127.0.1.1:7001", cid);
        g_autoptr(MgrVm) vm = add_vm(store, "web1", cid, NULL);
    }
    raw_exec(ts.path, "UPDATE hosts SET status = 'sleeping';"
                      "UPDATE vms SET spec = '{\"name\": 1}';"
                      "UPDATE clusters SET scheduling_params = '[1]';");
    {
        g_autoptr(MgrStore) store = open_store(ts.path);
        g_autoptr(GPtrArray) hosts = mgr_store_load_hosts(store, &error);

        g_assert_null(hosts);
        g_assert_error(error, DRV_ERROR, DRV_ERROR_INTERNAL);
        g_assert_nonnull(strstr(error->message, "sleeping"));
        g_clear_error(&error);
        g_assert_null(mgr_store_load_vms(store, &error));
        g_assert_error(error, DRV_ERROR, DRV_ERROR_INTERNAL);
        g_assert_nonnull(strstr(error->message, "spec"));
        g_clear_error(&error);
        g_assert_null(mgr_store_load_clusters(store, &error));
        g_assert_error(error, DRV_ERROR, DRV_ERROR_INTERNAL);
        g_assert_nonnull(strstr(error->message, "scheduling_params"));
        g_clear_error(&error);
        /* a failed load leaves the store usable */
        g_assert_cmpint(mgr_store_schema_version(store), ==,
                        MGR_STORE_SCHEMA_VERSION);
        append_events(store, 1);
    }
    temp_store_clear(&ts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/store/model/names", test_model_names);
    g_test_add_func("/store/model/constructors", test_model_constructors);
    g_test_add_func("/store/new/memory", test_new_store_memory);
    g_test_add_func("/store/new/file", test_new_store_file);
    g_test_add_func("/store/round-trip", test_round_trip);
    g_test_add_func("/store/upsert", test_upsert);
    g_test_add_func("/store/unique-clashes", test_unique_clashes);
    g_test_add_func("/store/foreign-keys", test_foreign_keys);
    g_test_add_func("/store/delete-vm-cascades", test_delete_vm_cascades);
    g_test_add_func("/store/migrations/seq", test_migration_seq);
    g_test_add_func("/store/migrations/history", test_migration_history);
    g_test_add_func("/store/events", test_events);
    g_test_add_func("/store/transactions", test_transactions);
    g_test_add_func("/store/schema/newer-refused", test_newer_schema_refused);
    g_test_add_func("/store/schema/upgrade-from-0",
                    test_upgrade_from_version_0);
    g_test_add_func("/store/schema/upgrade-from-1",
                    test_upgrade_from_version_1);
    g_test_add_func("/store/schema/upgrade-from-2",
                    test_upgrade_from_version_2);
    g_test_add_func("/store/schema/not-a-database", test_not_a_database);
    g_test_add_func("/store/corrupt-rows", test_corrupt_rows);
    return g_test_run();
}
