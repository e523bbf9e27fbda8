/*
 * The manager's state store on SQLite.
 *
 * One connection, used from the daemon's main loop only.  Every statement
 * is prepared once with bound parameters and kept for the life of the store;
 * a statement in use is reset when its scope ends (mgr_autoreset), so that
 * no read transaction outlives the call that opened it.
 *
 * Enums are stored by their lowercase names (model.c), JSON objects and
 * string lists as JSON text: the file stays readable with the sqlite3 shell
 * and does not depend on the order of enum values.
 */
#include "manager/store.h"

#include <sqlite3.h>

#include "common/error.h"
#include "common/json.h"

struct _MgrStore {
    sqlite3 *db;
    char *path;
    /* SQL text (static strings, by address) -> sqlite3_stmt */
    GHashTable *statements;
};

/* ---- statements ---- */

static void mgr_stmt_finalize(gpointer stmt)
{
    sqlite3_finalize(stmt);
}

static void mgr_stmt_release(sqlite3_stmt **stmt)
{
    if (*stmt != NULL) {
        sqlite3_reset(*stmt);
        sqlite3_clear_bindings(*stmt);
    }
}

/* A cached statement, reset and unbound when it goes out of scope. */
#define mgr_autoreset __attribute__((cleanup(mgr_stmt_release)))

static gboolean mgr_store_fail(MgrStore *store, GError **error)
{
    g_set_error(error, DRV_ERROR, DRV_ERROR_INTERNAL, "store %s: %s",
                store->path, sqlite3_errmsg(store->db));
    return FALSE;
}

/*
 * The statement for @sql, prepared on first use.  @sql must be a string
 * that lives as long as the store (a literal): it is the cache key.
 */
static sqlite3_stmt *mgr_store_prepare(MgrStore *store, const char *sql,
                                       GError **error)
{
    sqlite3_stmt *stmt = g_hash_table_lookup(store->statements, sql);

    if (stmt != NULL) {
        return stmt;
    }
    if (sqlite3_prepare_v3(store->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt,
                           NULL) != SQLITE_OK) {
        mgr_store_fail(store, error);
        return NULL;
    }
    g_hash_table_insert(store->statements, (gpointer)sql, stmt);
    return stmt;
}

/* Run SQL without parameters (schema, transactions). */
static gboolean mgr_store_exec(MgrStore *store, const char *sql, GError **error)
{
    if (sqlite3_exec(store->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        return mgr_store_fail(store, error);
    }
    return TRUE;
}

/*
 * Binding in column order.  The first failure is kept and reported by
 * mgr_binder_check(), so that a binding list reads as a list.
 */
typedef struct {
    sqlite3_stmt *stmt;
    int index;
    int rc;
} MgrBinder;

static MgrBinder mgr_binder(sqlite3_stmt *stmt)
{
    return (MgrBinder){.stmt = stmt, .index = 0, .rc = SQLITE_OK};
}

static void mgr_bind_text(MgrBinder *b, const char *value)
{
    b->index++;
    if (b->rc == SQLITE_OK) {
        b->rc =
            sqlite3_bind_text(b->stmt, b->index, value, -1, SQLITE_TRANSIENT);
    }
}

static void mgr_bind_int(MgrBinder *b, gint64 value)
{
    b->index++;
    if (b->rc == SQLITE_OK) {
        b->rc = sqlite3_bind_int64(b->stmt, b->index, value);
    }
}

/* A JSON object as text; NULL as SQL NULL. */
static void mgr_bind_json(MgrBinder *b, JsonObject *value)
{
    g_autofree char *text = NULL;

    if (value != NULL) {
        text = drv_json_object_to_string(value, FALSE);
    }
    mgr_bind_text(b, text);
}

/* A string list as a JSON array; NULL as SQL NULL. */
static void mgr_bind_strv(MgrBinder *b, const char *const *value)
{
    g_autoptr(JsonArray) array = NULL;
    g_autoptr(JsonNode) node = NULL;
    g_autofree char *text = NULL;

    if (value != NULL) {
        array = json_array_new();
        for (guint i = 0; value[i] != NULL; i++) {
            json_array_add_string_element(array, value[i]);
        }
        node = json_node_init_array(json_node_alloc(), array);
        text = drv_json_to_string(node, FALSE);
    }
    mgr_bind_text(b, text);
}

static gboolean mgr_binder_check(MgrStore *store, MgrBinder *b, GError **error)
{
    if (b->rc != SQLITE_OK) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INTERNAL,
                    "store %s: binding parameter %d: %s", store->path, b->index,
                    sqlite3_errstr(b->rc));
        return FALSE;
    }
    return TRUE;
}

/* ---- errors ---- */

/* A UNIQUE constraint a write may break, and how to say so. */
typedef struct {
    const char *constraint; /* as SQLite names it: "hosts.name" */
    const char *what;       /* "a host named" */
    const char *value;      /* the value that clashed */
} MgrUniqueClash;

/*
 * Report the failure of a write: a UNIQUE constraint is DRV_ERROR_EXISTS
 * naming the clash from @clashes, a FOREIGN KEY constraint
 * DRV_ERROR_CONFLICT with @fk_message, anything else DRV_ERROR_INTERNAL.
 */
static gboolean mgr_store_write_fail(MgrStore *store,
                                     const MgrUniqueClash *clashes,
                                     guint n_clashes, const char *fk_message,
                                     GError **error)
{
    int code = sqlite3_extended_errcode(store->db);
    const char *message = sqlite3_errmsg(store->db);

    if (code == SQLITE_CONSTRAINT_UNIQUE ||
        code == SQLITE_CONSTRAINT_PRIMARYKEY) {
        /* "UNIQUE constraint failed: hosts.name" */
        const char *constraint = strrchr(message, ' ');

        constraint = constraint != NULL ? constraint + 1 : message;
        for (guint i = 0; i < n_clashes; i++) {
            if (g_str_equal(constraint, clashes[i].constraint)) {
                g_set_error(error, DRV_ERROR, DRV_ERROR_EXISTS,
                            "%s %s already exists", clashes[i].what,
                            clashes[i].value);
                return FALSE;
            }
        }
        g_set_error(error, DRV_ERROR, DRV_ERROR_EXISTS, "store %s: %s",
                    store->path, message);
        return FALSE;
    }
    /*
     * SQLite runs ON DELETE RESTRICT as a trigger and reports its failure
     * as SQLITE_CONSTRAINT_TRIGGER, with the foreign key's message.
     */
    if (code == SQLITE_CONSTRAINT_FOREIGNKEY ||
        (code == SQLITE_CONSTRAINT_TRIGGER &&
         g_str_has_prefix(message, "FOREIGN KEY"))) {
        if (fk_message != NULL) {
            g_set_error_literal(error, DRV_ERROR, DRV_ERROR_CONFLICT,
                                fk_message);
        } else {
            g_set_error(error, DRV_ERROR, DRV_ERROR_CONFLICT, "store %s: %s",
                        store->path, message);
        }
        return FALSE;
    }
    return mgr_store_fail(store, error);
}

/* Step a write statement to its end. */
static gboolean mgr_store_step_write(MgrStore *store, sqlite3_stmt *stmt,
                                     const MgrUniqueClash *clashes,
                                     guint n_clashes, const char *fk_message,
                                     GError **error)
{
    if (sqlite3_step(stmt) != SQLITE_DONE) {
        return mgr_store_write_fail(store, clashes, n_clashes, fk_message,
                                    error);
    }
    return TRUE;
}

/* ---- reading columns ---- */

/* Tristates are stored as -1 (inherit), 0 (false) and 1 (true). */
static int mgr_tristate_to_int(DrvTristate value)
{
    return value == DRV_TRISTATE_INHERIT ? -1
           : value == DRV_TRISTATE_TRUE  ? 1
                                         : 0;
}

static DrvTristate mgr_tristate_from_int(int value)
{
    return value < 0    ? DRV_TRISTATE_INHERIT
           : value != 0 ? DRV_TRISTATE_TRUE
                        : DRV_TRISTATE_FALSE;
}

static char *mgr_col_text(sqlite3_stmt *stmt, int col)
{
    return g_strdup((const char *)sqlite3_column_text(stmt, col));
}

/*
 * A JSON object column; SQL NULL is NULL.  Parsed mutable (not with
 * drv_json_parse_object, whose objects are sealed) so that the daemon can
 * edit what it loads.
 */
static gboolean mgr_col_json(MgrStore *store, sqlite3_stmt *stmt, int col,
                             const char *what, JsonObject **out, GError **error)
{
    const char *text = (const char *)sqlite3_column_text(stmt, col);
    g_autoptr(JsonParser) parser = NULL;
    g_autoptr(GError) local = NULL;
    JsonNode *root;

    *out = NULL;
    if (text == NULL) {
        return TRUE;
    }
    parser = json_parser_new();
    if (!json_parser_load_from_data(parser, text, -1, &local)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INTERNAL,
                    "store %s: %s, column %s: %s", store->path, what,
                    sqlite3_column_name(stmt, col), local->message);
        return FALSE;
    }
    root = json_parser_get_root(parser);
    if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INTERNAL,
                    "store %s: %s, column %s: not a JSON object", store->path,
                    what, sqlite3_column_name(stmt, col));
        return FALSE;
    }
    *out = json_node_dup_object(root);
    return TRUE;
}

/* A string list column (JSON array of strings); SQL NULL is NULL. */
static gboolean mgr_col_strv(MgrStore *store, sqlite3_stmt *stmt, int col,
                             const char *what, GStrv *out, GError **error)
{
    const char *text = (const char *)sqlite3_column_text(stmt, col);
    g_autoptr(GStrvBuilder) builder = NULL;
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(GError) local = NULL;
    JsonArray *array;

    *out = NULL;
    if (text == NULL) {
        return TRUE;
    }
    root = drv_json_parse(text, -1, &local);
    if (root == NULL || !JSON_NODE_HOLDS_ARRAY(root)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INTERNAL,
                    "store %s: %s, column %s: not a JSON array%s%s",
                    store->path, what, sqlite3_column_name(stmt, col),
                    local ? ": " : "", local ? local->message : "");
        return FALSE;
    }
    array = json_node_get_array(root);
    builder = g_strv_builder_new();
    for (guint i = 0; i < json_array_get_length(array); i++) {
        JsonNode *node = json_array_get_element(array, i);

        if (!JSON_NODE_HOLDS_VALUE(node) ||
            json_node_get_value_type(node) != G_TYPE_STRING) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_INTERNAL,
                        "store %s: %s, column %s: element %u is not a string",
                        store->path, what, sqlite3_column_name(stmt, col), i);
            return FALSE;
        }
        g_strv_builder_add(builder, json_node_get_string(node));
    }
    *out = g_strv_builder_end(builder);
    return TRUE;
}

static gboolean mgr_bad_name(MgrStore *store, sqlite3_stmt *stmt, int col,
                             const char *what, GError **error)
{
    g_set_error(error, DRV_ERROR, DRV_ERROR_INTERNAL,
                "store %s: %s, column %s: unknown value '%s'", store->path,
                what, sqlite3_column_name(stmt, col),
                (const char *)sqlite3_column_text(stmt, col));
    return FALSE;
}

/* ---- schema ---- */

/*
 * Version 1.  Ids are UUID text.  Foreign keys say what may not be deleted
 * while used: a cluster with hosts or VMs, a host with VMs on it; a VM's
 * migrations go with it.  Migrations and events name hosts (and events
 * everything) by plain id, as history outlives what it names.
 */
static const char mgr_schema_v1[] =
    "CREATE TABLE clusters ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  cpu_baseline TEXT NOT NULL,"
    "  migration_policy TEXT NOT NULL,"
    "  migration_bandwidth_mbps INTEGER NOT NULL,"
    "  auto_converge INTEGER NOT NULL,"
    "  compression INTEGER NOT NULL,"
    "  post_copy INTEGER NOT NULL,"
    "  max_outgoing_migrations INTEGER NOT NULL,"
    "  max_incoming_migrations INTEGER NOT NULL,"
    "  max_cpu_percent INTEGER NOT NULL,"
    "  scheduling_policy TEXT NOT NULL,"
    "  scheduling_params TEXT," /* JSON object */
    "  created_us INTEGER NOT NULL"
    ");"
    "CREATE TABLE hosts ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  address TEXT NOT NULL UNIQUE,"
    "  cluster_id TEXT NOT NULL"
    "    REFERENCES clusters (id) ON DELETE RESTRICT,"
    "  status TEXT NOT NULL,"
    "  status_reason TEXT,"
    "  agent_host_id TEXT,"
    "  facts TEXT," /* JSON object */
    "  last_seen_us INTEGER NOT NULL,"
    "  created_us INTEGER NOT NULL,"
    "  maintenance_correlation_id TEXT,"
    "  maintenance_user TEXT,"
    "  maintenance_next_retry_us INTEGER NOT NULL"
    ");"
    "CREATE INDEX hosts_cluster ON hosts (cluster_id);"
    "CREATE TABLE vms ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  cluster_id TEXT NOT NULL"
    "    REFERENCES clusters (id) ON DELETE RESTRICT,"
    "  host_id TEXT REFERENCES hosts (id) ON DELETE RESTRICT,"
    "  status TEXT NOT NULL,"
    "  status_reason TEXT,"
    "  spec TEXT NOT NULL," /* JSON object, DESIGN.md's VM spec */
    "  created_us INTEGER NOT NULL,"
    "  updated_us INTEGER NOT NULL"
    ");"
    "CREATE INDEX vms_cluster ON vms (cluster_id);"
    "CREATE INDEX vms_host ON vms (host_id);"
    "CREATE TABLE migrations ("
    "  id TEXT PRIMARY KEY,"
    "  seq INTEGER NOT NULL,"
    "  vm_id TEXT NOT NULL REFERENCES vms (id) ON DELETE CASCADE,"
    "  source_host_id TEXT,"
    "  destination_host_id TEXT,"
    "  requested_host_id TEXT,"
    "  state TEXT NOT NULL,"
    "  priority TEXT NOT NULL,"
    "  reason TEXT,"
    "  automatic INTEGER NOT NULL,"
    "  user_name TEXT,"
    "  correlation_id TEXT,"
    "  attempts INTEGER NOT NULL,"
    "  tried_host_ids TEXT," /* JSON array of strings */
    "  agent_migration_id TEXT,"
    "  parameters TEXT," /* JSON object */
    "  progress TEXT,"   /* JSON object */
    "  result TEXT,"     /* JSON object */
    "  error_code TEXT,"
    "  error_message TEXT,"
    "  created_us INTEGER NOT NULL,"
    "  started_us INTEGER NOT NULL,"
    "  ended_us INTEGER NOT NULL"
    ");"
    "CREATE INDEX migrations_seq ON migrations (seq);"
    "CREATE INDEX migrations_state_seq ON migrations (state, seq);"
    "CREATE INDEX migrations_vm ON migrations (vm_id);"
    /* AUTOINCREMENT: a pruned seq is never handed out again */
    "CREATE TABLE events ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  time_us INTEGER NOT NULL,"
    "  severity TEXT NOT NULL,"
    "  code TEXT NOT NULL,"
    "  message TEXT,"
    "  user_name TEXT,"
    "  correlation_id TEXT,"
    "  vm_id TEXT,"
    "  host_id TEXT,"
    "  cluster_id TEXT,"
    "  migration_id TEXT,"
    "  data TEXT" /* JSON object */
    ");";

/*
 * The default cluster of a new store.  The statement belongs to version 1
 * and stays as it is when later versions change the table: an upgrade step
 * runs against the schema of its own version.
 */
static gboolean mgr_store_insert_default_cluster_v1(MgrStore *store,
                                                    GError **error)
{
    static const char sql[] =
        "INSERT INTO clusters (id, name, cpu_baseline, migration_policy,"
        " migration_bandwidth_mbps, auto_converge, compression, post_copy,"
        " max_outgoing_migrations, max_incoming_migrations, max_cpu_percent,"
        " scheduling_policy, scheduling_params, created_us)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    g_autoptr(MgrCluster) cluster = mgr_cluster_new(NULL, "default");
    sqlite3_stmt *stmt = NULL;
    MgrBinder b;
    gboolean ok;

    if (sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        return mgr_store_fail(store, error);
    }
    b = mgr_binder(stmt);
    mgr_bind_text(&b, cluster->id);
    mgr_bind_text(&b, cluster->name);
    mgr_bind_text(&b, cluster->cpu_baseline);
    mgr_bind_text(&b, cluster->migration_policy);
    mgr_bind_int(&b, cluster->migration_bandwidth_mbps);
    mgr_bind_int(&b, cluster->auto_converge);
    mgr_bind_int(&b, cluster->compression);
    mgr_bind_int(&b, cluster->post_copy);
    mgr_bind_int(&b, cluster->max_outgoing_migrations);
    mgr_bind_int(&b, cluster->max_incoming_migrations);
    mgr_bind_int(&b, cluster->max_cpu_percent);
    mgr_bind_text(&b, cluster->scheduling_policy);
    mgr_bind_json(&b, cluster->scheduling_params);
    mgr_bind_int(&b, cluster->created_us);
    ok = mgr_binder_check(store, &b, error) &&
         mgr_store_step_write(store, stmt, NULL, 0, NULL, error);
    sqlite3_finalize(stmt);
    return ok;
}

static gboolean mgr_store_upgrade_to_1(MgrStore *store, GError **error)
{
    return mgr_store_exec(store, mgr_schema_v1, error) &&
           mgr_store_insert_default_cluster_v1(store, error);
}

/*
 * Version 2: a cluster's migration settings may inherit droverd's.  A
 * version 1 store could not say so: its policy "legacy" and its false
 * switches were the defaults, not choices, and become "inherit" (-1).
 */
static const char mgr_schema_v2[] =
    "UPDATE clusters SET migration_policy = 'inherit'"
    "  WHERE migration_policy = 'legacy';"
    "UPDATE clusters SET auto_converge = -1 WHERE auto_converge = 0;"
    "UPDATE clusters SET compression = -1 WHERE compression = 0;"
    "UPDATE clusters SET post_copy = -1 WHERE post_copy = 0;";

static gboolean mgr_store_upgrade_to_2(MgrStore *store, GError **error)
{
    return mgr_store_exec(store, mgr_schema_v2, error);
}

/*
 * Version 3: host power management (power.c).  The command templates, and
 * the power action under way so that a restarted droverd knows it.
 */
static const char mgr_schema_v3[] =
    "ALTER TABLE hosts ADD COLUMN power_on_cmd TEXT;"
    "ALTER TABLE hosts ADD COLUMN power_off_cmd TEXT;"
    "ALTER TABLE hosts ADD COLUMN power_status_cmd TEXT;"
    "ALTER TABLE hosts ADD COLUMN power_action TEXT;"
    "ALTER TABLE hosts ADD COLUMN power_action_us INTEGER NOT NULL DEFAULT 0;";

static gboolean mgr_store_upgrade_to_3(MgrStore *store, GError **error)
{
    return mgr_store_exec(store, mgr_schema_v3, error);
}

/*
 * Upgrade steps: mgr_store_upgrades[i] brings a store at version i to
 * version i + 1.  A change of schema appends a step (never edits one) and
 * bumps MGR_STORE_SCHEMA_VERSION.
 */
typedef gboolean (*MgrStoreUpgrade)(MgrStore *store, GError **error);

static const MgrStoreUpgrade mgr_store_upgrades[] = {
    mgr_store_upgrade_to_1,
    mgr_store_upgrade_to_2,
    mgr_store_upgrade_to_3,
};

G_STATIC_ASSERT(G_N_ELEMENTS(mgr_store_upgrades) == MGR_STORE_SCHEMA_VERSION);

static gboolean mgr_store_read_version(MgrStore *store, int *out,
                                       GError **error)
{
    sqlite3_stmt *stmt = NULL;
    int rc;

    if (sqlite3_prepare_v2(store->db, "PRAGMA user_version", -1, &stmt, NULL) !=
        SQLITE_OK) {
        return mgr_store_fail(store, error);
    }
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int(stmt, 0);
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_ROW) {
        return mgr_store_fail(store, error);
    }
    return TRUE;
}

/*
 * Bring the store to MGR_STORE_SCHEMA_VERSION, one step per transaction.
 * The version is read inside the transaction (which holds the write lock)
 * so that two daemons opening one new store do not both create it.
 */
static gboolean mgr_store_upgrade(MgrStore *store, GError **error)
{
    for (;;) {
        g_autofree char *set_version = NULL;
        int version;

        if (!mgr_store_begin(store, error)) {
            return FALSE;
        }
        if (!mgr_store_read_version(store, &version, error)) {
            mgr_store_rollback(store);
            return FALSE;
        }
        if (version == MGR_STORE_SCHEMA_VERSION) {
            mgr_store_rollback(store);
            return TRUE;
        }
        if (version > MGR_STORE_SCHEMA_VERSION || version < 0) {
            mgr_store_rollback(store);
            g_set_error(error, DRV_ERROR, DRV_ERROR_INTERNAL,
                        "store %s has schema version %d, and this droverd "
                        "knows versions 0 to %d%s",
                        store->path, version, MGR_STORE_SCHEMA_VERSION,
                        version > 0 ? ": it was written by a newer droverd"
                                    : "");
            return FALSE;
        }
        /* PRAGMA takes no parameters; the value is our own integer */
        set_version = g_strdup_printf("PRAGMA user_version = %d", version + 1);
        if (!mgr_store_upgrades[version](store, error) ||
            !mgr_store_exec(store, set_version, error) ||
            !mgr_store_commit(store, error)) {
            mgr_store_rollback(store);
            g_prefix_error(error,
                           "upgrading the store to version %d: ", version + 1);
            return FALSE;
        }
    }
}

/* ---- open, close, transactions ---- */

MgrStore *mgr_store_open(const char *path, GError **error)
{
    g_autoptr(MgrStore) store = NULL;
    gboolean memory;
    int rc;

    g_return_val_if_fail(path != NULL, NULL);
    memory = g_str_equal(path, ":memory:") || *path == '\0';
    store = g_new0(MgrStore, 1);
    store->path = g_strdup(path);
    store->statements = g_hash_table_new_full(g_direct_hash, g_direct_equal,
                                              NULL, mgr_stmt_finalize);
    rc = sqlite3_open_v2(path, &store->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INTERNAL, "store %s: %s", path,
                    store->db ? sqlite3_errmsg(store->db) : sqlite3_errstr(rc));
        return NULL;
    }
    sqlite3_extended_result_codes(store->db, 1);
    /*
     * WAL: readers do not block the writer and a commit appends to the log.
     * synchronous=NORMAL: a commit does not wait for the disk; a power cut
     * may lose the last commits, never corrupt the file.
     */
    if ((!memory && !mgr_store_exec(store, "PRAGMA journal_mode=WAL", error)) ||
        !mgr_store_exec(store, "PRAGMA synchronous=NORMAL", error) ||
        !mgr_store_exec(store, "PRAGMA foreign_keys=ON", error) ||
        !mgr_store_exec(store, "PRAGMA busy_timeout=5000", error) ||
        !mgr_store_upgrade(store, error)) {
        return NULL;
    }
    return g_steal_pointer(&store);
}

void mgr_store_close(MgrStore *store)
{
    if (store == NULL) {
        return;
    }
    /* statements first: a connection with live statements does not close */
    g_clear_pointer(&store->statements, g_hash_table_unref);
    if (store->db != NULL) {
        sqlite3_close(store->db);
    }
    g_free(store->path);
    g_free(store);
}

int mgr_store_schema_version(MgrStore *store)
{
    int version = -1;

    if (!mgr_store_read_version(store, &version, NULL)) {
        return -1;
    }
    return version;
}

gboolean mgr_store_begin(MgrStore *store, GError **error)
{
    if (!sqlite3_get_autocommit(store->db)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INTERNAL,
                    "store %s: a transaction is already open", store->path);
        return FALSE;
    }
    /* IMMEDIATE: take the write lock now, not at the first write */
    return mgr_store_exec(store, "BEGIN IMMEDIATE", error);
}

gboolean mgr_store_commit(MgrStore *store, GError **error)
{
    return mgr_store_exec(store, "COMMIT", error);
}

void mgr_store_rollback(MgrStore *store)
{
    /* SQLite may have rolled back already (on some errors it does) */
    if (!sqlite3_get_autocommit(store->db)) {
        sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
    }
}

/* ---- clusters ---- */

#define MGR_CLUSTER_COLUMNS                                               \
    "id, name, cpu_baseline, migration_policy, migration_bandwidth_mbps," \
    " auto_converge, compression, post_copy, max_outgoing_migrations,"    \
    " max_incoming_migrations, max_cpu_percent, scheduling_policy,"       \
    " scheduling_params, created_us"

static MgrCluster *mgr_store_read_cluster(MgrStore *store, sqlite3_stmt *stmt,
                                          GError **error)
{
    g_autoptr(MgrCluster) cluster = g_new0(MgrCluster, 1);
    g_autofree char *what = NULL;

    cluster->id = mgr_col_text(stmt, 0);
    cluster->name = mgr_col_text(stmt, 1);
    cluster->cpu_baseline = mgr_col_text(stmt, 2);
    cluster->migration_policy = mgr_col_text(stmt, 3);
    cluster->migration_bandwidth_mbps = (guint)sqlite3_column_int64(stmt, 4);
    cluster->auto_converge = mgr_tristate_from_int(sqlite3_column_int(stmt, 5));
    cluster->compression = mgr_tristate_from_int(sqlite3_column_int(stmt, 6));
    cluster->post_copy = mgr_tristate_from_int(sqlite3_column_int(stmt, 7));
    cluster->max_outgoing_migrations = (guint)sqlite3_column_int64(stmt, 8);
    cluster->max_incoming_migrations = (guint)sqlite3_column_int64(stmt, 9);
    cluster->max_cpu_percent = (guint)sqlite3_column_int64(stmt, 10);
    cluster->scheduling_policy = mgr_col_text(stmt, 11);
    cluster->created_us = sqlite3_column_int64(stmt, 13);
    what = g_strdup_printf("cluster %s", cluster->id);
    if (!mgr_col_json(store, stmt, 12, what, &cluster->scheduling_params,
                      error)) {
        return NULL;
    }
    return g_steal_pointer(&cluster);
}

GPtrArray *mgr_store_load_clusters(MgrStore *store, GError **error)
{
    mgr_autoreset sqlite3_stmt *stmt = mgr_store_prepare(
        store, "SELECT " MGR_CLUSTER_COLUMNS " FROM clusters ORDER BY name",
        error);
    g_autoptr(GPtrArray) out =
        g_ptr_array_new_with_free_func((GDestroyNotify)mgr_cluster_free);
    int rc;

    if (stmt == NULL) {
        return NULL;
    }
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        MgrCluster *cluster = mgr_store_read_cluster(store, stmt, error);

        if (cluster == NULL) {
            return NULL;
        }
        g_ptr_array_add(out, cluster);
    }
    if (rc != SQLITE_DONE) {
        mgr_store_fail(store, error);
        return NULL;
    }
    return g_steal_pointer(&out);
}

gboolean mgr_store_save_cluster(MgrStore *store, const MgrCluster *cluster,
                                GError **error)
{
    mgr_autoreset sqlite3_stmt *stmt = mgr_store_prepare(
        store,
        "INSERT INTO clusters (" MGR_CLUSTER_COLUMNS ")"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET"
        "  name = excluded.name,"
        "  cpu_baseline = excluded.cpu_baseline,"
        "  migration_policy = excluded.migration_policy,"
        "  migration_bandwidth_mbps = excluded.migration_bandwidth_mbps,"
        "  auto_converge = excluded.auto_converge,"
        "  compression = excluded.compression,"
        "  post_copy = excluded.post_copy,"
        "  max_outgoing_migrations = excluded.max_outgoing_migrations,"
        "  max_incoming_migrations = excluded.max_incoming_migrations,"
        "  max_cpu_percent = excluded.max_cpu_percent,"
        "  scheduling_policy = excluded.scheduling_policy,"
        "  scheduling_params = excluded.scheduling_params,"
        "  created_us = excluded.created_us",
        error);
    const MgrUniqueClash clashes[] = {
        {"clusters.name", "a cluster named", cluster->name},
    };
    MgrBinder b;

    if (stmt == NULL) {
        return FALSE;
    }
    b = mgr_binder(stmt);
    mgr_bind_text(&b, cluster->id);
    mgr_bind_text(&b, cluster->name);
    mgr_bind_text(&b, cluster->cpu_baseline);
    mgr_bind_text(&b, cluster->migration_policy);
    mgr_bind_int(&b, cluster->migration_bandwidth_mbps);
    mgr_bind_int(&b, mgr_tristate_to_int(cluster->auto_converge));
    mgr_bind_int(&b, mgr_tristate_to_int(cluster->compression));
    mgr_bind_int(&b, mgr_tristate_to_int(cluster->post_copy));
    mgr_bind_int(&b, cluster->max_outgoing_migrations);
    mgr_bind_int(&b, cluster->max_incoming_migrations);
    mgr_bind_int(&b, cluster->max_cpu_percent);
    mgr_bind_text(&b, cluster->scheduling_policy);
    mgr_bind_json(&b, cluster->scheduling_params);
    mgr_bind_int(&b, cluster->created_us);
    return mgr_binder_check(store, &b, error) &&
           mgr_store_step_write(store, stmt, clashes, G_N_ELEMENTS(clashes),
                                NULL, error);
}

/*
 * The name of the row of @table with @id into *@name, for messages; a
 * missing row is DRV_ERROR_NOT_FOUND.
 */
static gboolean mgr_store_lookup_name(MgrStore *store, const char *sql,
                                      const char *kind, const char *id,
                                      char **name, GError **error)
{
    mgr_autoreset sqlite3_stmt *stmt = mgr_store_prepare(store, sql, error);
    int rc;

    if (stmt == NULL) {
        return FALSE;
    }
    if (sqlite3_bind_text(stmt, 1, id, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
        return mgr_store_fail(store, error);
    }
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_NOT_FOUND, "no %s with id %s",
                    kind, id);
        return FALSE;
    }
    if (rc != SQLITE_ROW) {
        return mgr_store_fail(store, error);
    }
    *name = mgr_col_text(stmt, 0);
    return TRUE;
}

/* Delete the row with @id by @sql (one parameter, the id). */
static gboolean mgr_store_delete(MgrStore *store, const char *sql,
                                 const char *id, const char *fk_message,
                                 GError **error)
{
    mgr_autoreset sqlite3_stmt *stmt = mgr_store_prepare(store, sql, error);

    if (stmt == NULL) {
        return FALSE;
    }
    if (sqlite3_bind_text(stmt, 1, id, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
        return mgr_store_fail(store, error);
    }
    return mgr_store_step_write(store, stmt, NULL, 0, fk_message, error);
}

gboolean mgr_store_delete_cluster(MgrStore *store, const char *id,
                                  GError **error)
{
    g_autofree char *name = NULL;
    g_autofree char *fk_message = NULL;

    if (!mgr_store_lookup_name(store, "SELECT name FROM clusters WHERE id = ?",
                               "cluster", id, &name, error)) {
        return FALSE;
    }
    fk_message = g_strdup_printf("cluster %s still has hosts or VMs", name);
    return mgr_store_delete(store, "DELETE FROM clusters WHERE id = ?", id,
                            fk_message, error);
}

/* ---- hosts ---- */

#define MGR_HOST_COLUMNS                                                   \
    "id, name, address, cluster_id, status, status_reason, agent_host_id," \
    " facts, last_seen_us, created_us, maintenance_correlation_id,"        \
    " maintenance_user, maintenance_next_retry_us, power_on_cmd,"          \
    " power_off_cmd, power_status_cmd, power_action, power_action_us"

static MgrHost *mgr_store_read_host(MgrStore *store, sqlite3_stmt *stmt,
                                    GError **error)
{
    g_autoptr(MgrHost) host = g_new0(MgrHost, 1);
    g_autofree char *what = NULL;

    host->id = mgr_col_text(stmt, 0);
    host->name = mgr_col_text(stmt, 1);
    host->address = mgr_col_text(stmt, 2);
    host->cluster_id = mgr_col_text(stmt, 3);
    host->status_reason = mgr_col_text(stmt, 5);
    host->agent_host_id = mgr_col_text(stmt, 6);
    host->last_seen_us = sqlite3_column_int64(stmt, 8);
    host->created_us = sqlite3_column_int64(stmt, 9);
    host->maintenance_correlation_id = mgr_col_text(stmt, 10);
    host->maintenance_user = mgr_col_text(stmt, 11);
    host->maintenance_next_retry_us = sqlite3_column_int64(stmt, 12);
    host->power_on_cmd = mgr_col_text(stmt, 13);
    host->power_off_cmd = mgr_col_text(stmt, 14);
    host->power_status_cmd = mgr_col_text(stmt, 15);
    host->power_action = mgr_col_text(stmt, 16);
    host->power_action_us = sqlite3_column_int64(stmt, 17);
    what = g_strdup_printf("host %s", host->id);
    if (!mgr_host_status_from_name((const char *)sqlite3_column_text(stmt, 4),
                                   &host->status)) {
        mgr_bad_name(store, stmt, 4, what, error);
        return NULL;
    }
    if (!mgr_col_json(store, stmt, 7, what, &host->facts, error)) {
        return NULL;
    }
    return g_steal_pointer(&host);
}

GPtrArray *mgr_store_load_hosts(MgrStore *store, GError **error)
{
    mgr_autoreset sqlite3_stmt *stmt = mgr_store_prepare(
        store, "SELECT " MGR_HOST_COLUMNS " FROM hosts ORDER BY name", error);
    g_autoptr(GPtrArray) out =
        g_ptr_array_new_with_free_func((GDestroyNotify)mgr_host_free);
    int rc;

    if (stmt == NULL) {
        return NULL;
    }
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        MgrHost *host = mgr_store_read_host(store, stmt, error);

        if (host == NULL) {
            return NULL;
        }
        g_ptr_array_add(out, host);
    }
    if (rc != SQLITE_DONE) {
        mgr_store_fail(store, error);
        return NULL;
    }
    return g_steal_pointer(&out);
}

gboolean mgr_store_save_host(MgrStore *store, const MgrHost *host,
                             GError **error)
{
    mgr_autoreset sqlite3_stmt *stmt = mgr_store_prepare(
        store,
        "INSERT INTO hosts (" MGR_HOST_COLUMNS ")"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET"
        "  name = excluded.name,"
        "  address = excluded.address,"
        "  cluster_id = excluded.cluster_id,"
        "  status = excluded.status,"
        "  status_reason = excluded.status_reason,"
        "  agent_host_id = excluded.agent_host_id,"
        "  facts = excluded.facts,"
        "  last_seen_us = excluded.last_seen_us,"
        "  created_us = excluded.created_us,"
        "  maintenance_correlation_id = excluded.maintenance_correlation_id,"
        "  maintenance_user = excluded.maintenance_user,"
        "  maintenance_next_retry_us = excluded.maintenance_next_retry_us,"
        "  power_on_cmd = excluded.power_on_cmd,"
        "  power_off_cmd = excluded.power_off_cmd,"
        "  power_status_cmd = excluded.power_status_cmd,"
        "  power_action = excluded.power_action,"
        "  power_action_us = excluded.power_action_us",
        error);
    const MgrUniqueClash clashes[] = {
        {"hosts.name", "a host named", host->name},
        {"hosts.address", "a host with address", host->address},
    };
    g_autofree char *fk_message = g_strdup_printf(
        "host %s: cluster %s does not exist", host->name, host->cluster_id);
    MgrBinder b;

    if (stmt == NULL) {
        return FALSE;
    }
    b = mgr_binder(stmt);
    mgr_bind_text(&b, host->id);
    mgr_bind_text(&b, host->name);
    mgr_bind_text(&b, host->address);
    mgr_bind_text(&b, host->cluster_id);
    mgr_bind_text(&b, mgr_host_status_name(host->status));
    mgr_bind_text(&b, host->status_reason);
    mgr_bind_text(&b, host->agent_host_id);
    mgr_bind_json(&b, host->facts);
    mgr_bind_int(&b, host->last_seen_us);
    mgr_bind_int(&b, host->created_us);
    mgr_bind_text(&b, host->maintenance_correlation_id);
    mgr_bind_text(&b, host->maintenance_user);
    mgr_bind_int(&b, host->maintenance_next_retry_us);
    mgr_bind_text(&b, host->power_on_cmd);
    mgr_bind_text(&b, host->power_off_cmd);
    mgr_bind_text(&b, host->power_status_cmd);
    mgr_bind_text(&b, host->power_action);
    mgr_bind_int(&b, host->power_action_us);
    return mgr_binder_check(store, &b, error) &&
           mgr_store_step_write(store, stmt, clashes, G_N_ELEMENTS(clashes),
                                fk_message, error);
}

gboolean mgr_store_delete_host(MgrStore *store, const char *id, GError **error)
{
    g_autofree char *name = NULL;
    g_autofree char *fk_message = NULL;

    if (!mgr_store_lookup_name(store, "SELECT name FROM hosts WHERE id = ?",
                               "host", id, &name, error)) {
        return FALSE;
    }
    fk_message = g_strdup_printf("host %s still has VMs", name);
    return mgr_store_delete(store, "DELETE FROM hosts WHERE id = ?", id,
                            fk_message, error);
}

/* ---- VMs ---- */

/* cpu_percent is not stored: it is a measurement of the running VM. */
#define MGR_VM_COLUMNS                                                        \
    "id, name, cluster_id, host_id, status, status_reason, spec, created_us," \
    " updated_us"

static MgrVm *mgr_store_read_vm(MgrStore *store, sqlite3_stmt *stmt,
                                GError **error)
{
    g_autoptr(MgrVm) vm = g_new0(MgrVm, 1);
    g_autoptr(JsonObject) spec = NULL;
    g_autoptr(GError) local = NULL;
    g_autofree char *what = NULL;

    vm->id = mgr_col_text(stmt, 0);
    vm->cluster_id = mgr_col_text(stmt, 2);
    vm->host_id = mgr_col_text(stmt, 3);
    vm->status_reason = mgr_col_text(stmt, 5);
    vm->created_us = sqlite3_column_int64(stmt, 7);
    vm->updated_us = sqlite3_column_int64(stmt, 8);
    what = g_strdup_printf("VM %s", vm->id);
    if (!mgr_vm_status_from_name((const char *)sqlite3_column_text(stmt, 4),
                                 &vm->status)) {
        mgr_bad_name(store, stmt, 4, what, error);
        return NULL;
    }
    if (!mgr_col_json(store, stmt, 6, what, &spec, error)) {
        return NULL;
    }
    if (spec == NULL) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INTERNAL,
                    "store %s: %s has no spec", store->path, what);
        return NULL;
    }
    vm->spec = drv_vm_spec_from_json(spec, FALSE, &local);
    if (vm->spec == NULL) {
        /* what we wrote no longer parses: the store is at fault */
        g_set_error(error, DRV_ERROR, DRV_ERROR_INTERNAL, "store %s: %s: %s",
                    store->path, what, local->message);
        return NULL;
    }
    if (!g_str_equal(vm->spec->id, vm->id)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INTERNAL,
                    "store %s: %s has a spec with id %s", store->path, what,
                    vm->spec->id);
        return NULL;
    }
    return g_steal_pointer(&vm);
}

GPtrArray *mgr_store_load_vms(MgrStore *store, GError **error)
{
    mgr_autoreset sqlite3_stmt *stmt = mgr_store_prepare(
        store, "SELECT " MGR_VM_COLUMNS " FROM vms ORDER BY name", error);
    g_autoptr(GPtrArray) out =
        g_ptr_array_new_with_free_func((GDestroyNotify)mgr_vm_free);
    int rc;

    if (stmt == NULL) {
        return NULL;
    }
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        MgrVm *vm = mgr_store_read_vm(store, stmt, error);

        if (vm == NULL) {
            return NULL;
        }
        g_ptr_array_add(out, vm);
    }
    if (rc != SQLITE_DONE) {
        mgr_store_fail(store, error);
        return NULL;
    }
    return g_steal_pointer(&out);
}

gboolean mgr_store_save_vm(MgrStore *store, const MgrVm *vm, GError **error)
{
    mgr_autoreset sqlite3_stmt *stmt =
        mgr_store_prepare(store,
                          "INSERT INTO vms (" MGR_VM_COLUMNS ")"
                          " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                          " ON CONFLICT (id) DO UPDATE SET"
                          "  name = excluded.name,"
                          "  cluster_id = excluded.cluster_id,"
                          "  host_id = excluded.host_id,"
                          "  status = excluded.status,"
                          "  status_reason = excluded.status_reason,"
                          "  spec = excluded.spec,"
                          "  created_us = excluded.created_us,"
                          "  updated_us = excluded.updated_us",
                          error);
    const MgrUniqueClash clashes[] = {
        {"vms.name", "a VM named", vm->spec->name},
    };
    g_autofree char *fk_message = g_strdup_printf(
        "VM %s: cluster %s or host %s does not exist", vm->spec->name,
        vm->cluster_id, vm->host_id ? vm->host_id : "(none)");
    g_autoptr(JsonObject) spec = NULL;
    MgrBinder b;

    if (stmt == NULL) {
        return FALSE;
    }
    /* the VM is its spec: two ids would load as a different VM */
    if (g_strcmp0(vm->id, vm->spec->id) != 0) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "VM %s: id %s differs from its spec's id %s",
                    vm->spec->name, vm->id, vm->spec->id);
        return FALSE;
    }
    spec = drv_vm_spec_to_json(vm->spec);
    b = mgr_binder(stmt);
    mgr_bind_text(&b, vm->id);
    mgr_bind_text(&b, vm->spec->name);
    mgr_bind_text(&b, vm->cluster_id);
    mgr_bind_text(&b, vm->host_id);
    mgr_bind_text(&b, mgr_vm_status_name(vm->status));
    mgr_bind_text(&b, vm->status_reason);
    mgr_bind_json(&b, spec);
    mgr_bind_int(&b, vm->created_us);
    mgr_bind_int(&b, vm->updated_us);
    return mgr_binder_check(store, &b, error) &&
           mgr_store_step_write(store, stmt, clashes, G_N_ELEMENTS(clashes),
                                fk_message, error);
}

gboolean mgr_store_delete_vm(MgrStore *store, const char *id, GError **error)
{
    g_autofree char *name = NULL;

    /* its migrations go with it (ON DELETE CASCADE) */
    if (!mgr_store_lookup_name(store, "SELECT name FROM vms WHERE id = ?", "VM",
                               id, &name, error)) {
        return FALSE;
    }
    return mgr_store_delete(store, "DELETE FROM vms WHERE id = ?", id, NULL,
                            error);
}

/* ---- migrations ---- */

#define MGR_MIGRATION_COLUMNS                                               \
    "id, seq, vm_id, source_host_id, destination_host_id,"                  \
    " requested_host_id, state, priority, reason, automatic, user_name,"    \
    " correlation_id, attempts, tried_host_ids, agent_migration_id,"        \
    " parameters, progress, result, error_code, error_message, created_us," \
    " started_us, ended_us"

/* The states of an active migration, as mgr_migration_is_active(). */
#define MGR_MIGRATION_ACTIVE "('queued', 'running')"

static MgrMigration *
mgr_store_read_migration(MgrStore *store, sqlite3_stmt *stmt, GError **error)
{
    g_autoptr(MgrMigration) mig = g_new0(MgrMigration, 1);
    g_autofree char *what = NULL;

    mig->id = mgr_col_text(stmt, 0);
    mig->seq = sqlite3_column_int64(stmt, 1);
    mig->vm_id = mgr_col_text(stmt, 2);
    mig->source_host_id = mgr_col_text(stmt, 3);
    mig->destination_host_id = mgr_col_text(stmt, 4);
    mig->requested_host_id = mgr_col_text(stmt, 5);
    mig->reason = mgr_col_text(stmt, 8);
    mig->automatic = sqlite3_column_int(stmt, 9) != 0;
    mig->user = mgr_col_text(stmt, 10);
    mig->correlation_id = mgr_col_text(stmt, 11);
    mig->attempts = (guint)sqlite3_column_int64(stmt, 12);
    mig->agent_migration_id = mgr_col_text(stmt, 14);
    mig->error_code = mgr_col_text(stmt, 18);
    mig->error_message = mgr_col_text(stmt, 19);
    mig->created_us = sqlite3_column_int64(stmt, 20);
    mig->started_us = sqlite3_column_int64(stmt, 21);
    mig->ended_us = sqlite3_column_int64(stmt, 22);
    what = g_strdup_printf("migration %s", mig->id);
    if (!mgr_migration_state_from_name(
            (const char *)sqlite3_column_text(stmt, 6), &mig->state)) {
        mgr_bad_name(store, stmt, 6, what, error);
        return NULL;
    }
    if (sqlite3_column_text(stmt, 7) == NULL ||
        !drv_priority_from_name((const char *)sqlite3_column_text(stmt, 7),
                                &mig->priority)) {
        mgr_bad_name(store, stmt, 7, what, error);
        return NULL;
    }
    if (!mgr_col_strv(store, stmt, 13, what, &mig->tried_host_ids, error) ||
        !mgr_col_json(store, stmt, 15, what, &mig->parameters, error) ||
        !mgr_col_json(store, stmt, 16, what, &mig->progress, error) ||
        !mgr_col_json(store, stmt, 17, what, &mig->result, error)) {
        return NULL;
    }
    return g_steal_pointer(&mig);
}

GPtrArray *mgr_store_load_migrations(MgrStore *store, guint history,
                                     GError **error)
{
    /*
     * "Newest" is by seq (arrival), as mgr_store_prune_migrations() keeps
     * them: the two agree on which ended migrations are history.
     */
    mgr_autoreset sqlite3_stmt *stmt =
        mgr_store_prepare(store,
                          "SELECT " MGR_MIGRATION_COLUMNS " FROM migrations"
                          " WHERE state IN " MGR_MIGRATION_ACTIVE " OR id IN ("
                          "  SELECT id FROM migrations"
                          "  WHERE state NOT IN " MGR_MIGRATION_ACTIVE
                          "  ORDER BY seq DESC LIMIT ?)"
                          " ORDER BY seq, id",
                          error);
    g_autoptr(GPtrArray) out =
        g_ptr_array_new_with_free_func((GDestroyNotify)mgr_migration_free);
    int rc;

    if (stmt == NULL) {
        return NULL;
    }
    if (sqlite3_bind_int64(stmt, 1, history) != SQLITE_OK) {
        mgr_store_fail(store, error);
        return NULL;
    }
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        MgrMigration *mig = mgr_store_read_migration(store, stmt, error);

        if (mig == NULL) {
            return NULL;
        }
        g_ptr_array_add(out, mig);
    }
    if (rc != SQLITE_DONE) {
        mgr_store_fail(store, error);
        return NULL;
    }
    return g_steal_pointer(&out);
}

gboolean mgr_store_save_migration(MgrStore *store, MgrMigration *mig,
                                  GError **error)
{
    /*
     * seq: the caller's when set, else max + 1, in the same statement as
     * the insert; an existing row keeps its seq, so arrival order is fixed
     * at the first save.  RETURNING hands back the seq the row has.
     */
    mgr_autoreset sqlite3_stmt *stmt = mgr_store_prepare(
        store,
        "INSERT INTO migrations (" MGR_MIGRATION_COLUMNS ")"
        " VALUES (?1,"
        "  CASE WHEN ?2 > 0 THEN ?2"
        "  ELSE (SELECT IFNULL(MAX(seq), 0) + 1 FROM migrations) END,"
        "  ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,"
        "  ?17, ?18, ?19, ?20, ?21, ?22, ?23)"
        " ON CONFLICT (id) DO UPDATE SET"
        "  vm_id = excluded.vm_id,"
        "  source_host_id = excluded.source_host_id,"
        "  destination_host_id = excluded.destination_host_id,"
        "  requested_host_id = excluded.requested_host_id,"
        "  state = excluded.state,"
        "  priority = excluded.priority,"
        "  reason = excluded.reason,"
        "  automatic = excluded.automatic,"
        "  user_name = excluded.user_name,"
        "  correlation_id = excluded.correlation_id,"
        "  attempts = excluded.attempts,"
        "  tried_host_ids = excluded.tried_host_ids,"
        "  agent_migration_id = excluded.agent_migration_id,"
        "  parameters = excluded.parameters,"
        "  progress = excluded.progress,"
        "  result = excluded.result,"
        "  error_code = excluded.error_code,"
        "  error_message = excluded.error_message,"
        "  created_us = excluded.created_us,"
        "  started_us = excluded.started_us,"
        "  ended_us = excluded.ended_us"
        " RETURNING seq",
        error);
    g_autofree char *fk_message = g_strdup_printf(
        "migration %s: VM %s does not exist", mig->id, mig->vm_id);
    gint64 seq = 0;
    MgrBinder b;
    int rc;

    if (stmt == NULL) {
        return FALSE;
    }
    b = mgr_binder(stmt);
    mgr_bind_text(&b, mig->id);
    mgr_bind_int(&b, mig->seq);
    mgr_bind_text(&b, mig->vm_id);
    mgr_bind_text(&b, mig->source_host_id);
    mgr_bind_text(&b, mig->destination_host_id);
    mgr_bind_text(&b, mig->requested_host_id);
    mgr_bind_text(&b, mgr_migration_state_name(mig->state));
    mgr_bind_text(&b, drv_priority_name(mig->priority));
    mgr_bind_text(&b, mig->reason);
    mgr_bind_int(&b, mig->automatic ? 1 : 0);
    mgr_bind_text(&b, mig->user);
    mgr_bind_text(&b, mig->correlation_id);
    mgr_bind_int(&b, mig->attempts);
    mgr_bind_strv(&b, (const char *const *)mig->tried_host_ids);
    mgr_bind_text(&b, mig->agent_migration_id);
    mgr_bind_json(&b, mig->parameters);
    mgr_bind_json(&b, mig->progress);
    mgr_bind_json(&b, mig->result);
    mgr_bind_text(&b, mig->error_code);
    mgr_bind_text(&b, mig->error_message);
    mgr_bind_int(&b, mig->created_us);
    mgr_bind_int(&b, mig->started_us);
    mgr_bind_int(&b, mig->ended_us);
    if (!mgr_binder_check(store, &b, error)) {
        return FALSE;
    }
    /*
     * Not stepped again after an error: a v2 statement would reset itself
     * and run the insert a second time.
     */
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        seq = sqlite3_column_int64(stmt, 0);
        rc = sqlite3_step(stmt);
    }
    if (rc != SQLITE_DONE) {
        return mgr_store_write_fail(store, NULL, 0, fk_message, error);
    }
    /* only now: a failed save leaves the migration as it was */
    if (seq > 0) {
        mig->seq = seq;
    }
    return TRUE;
}

gboolean mgr_store_prune_migrations(MgrStore *store, guint keep, GError **error)
{
    mgr_autoreset sqlite3_stmt *stmt = mgr_store_prepare(
        store,
        "DELETE FROM migrations"
        " WHERE state NOT IN " MGR_MIGRATION_ACTIVE " AND id NOT IN ("
        "  SELECT id FROM migrations"
        "  WHERE state NOT IN " MGR_MIGRATION_ACTIVE
        "  ORDER BY seq DESC LIMIT ?)",
        error);

    if (stmt == NULL) {
        return FALSE;
    }
    if (sqlite3_bind_int64(stmt, 1, keep) != SQLITE_OK) {
        return mgr_store_fail(store, error);
    }
    return mgr_store_step_write(store, stmt, NULL, 0, NULL, error);
}

/* ---- events ---- */

#define MGR_EVENT_COLUMNS                                               \
    "seq, time_us, severity, code, message, user_name, correlation_id," \
    " vm_id, host_id, cluster_id, migration_id, data"

static MgrEvent *mgr_store_read_event(MgrStore *store, sqlite3_stmt *stmt,
                                      GError **error)
{
    g_autoptr(MgrEvent) event = g_new0(MgrEvent, 1);
    g_autofree char *what = NULL;

    event->seq = sqlite3_column_int64(stmt, 0);
    event->time_us = sqlite3_column_int64(stmt, 1);
    event->code = mgr_col_text(stmt, 3);
    event->message = mgr_col_text(stmt, 4);
    event->user = mgr_col_text(stmt, 5);
    event->correlation_id = mgr_col_text(stmt, 6);
    event->vm_id = mgr_col_text(stmt, 7);
    event->host_id = mgr_col_text(stmt, 8);
    event->cluster_id = mgr_col_text(stmt, 9);
    event->migration_id = mgr_col_text(stmt, 10);
    what = g_strdup_printf("event %" G_GINT64_FORMAT, event->seq);
    if (!mgr_severity_from_name((const char *)sqlite3_column_text(stmt, 2),
                                &event->severity)) {
        mgr_bad_name(store, stmt, 2, what, error);
        return NULL;
    }
    if (!mgr_col_json(store, stmt, 11, what, &event->data, error)) {
        return NULL;
    }
    return g_steal_pointer(&event);
}

gboolean mgr_store_append_event(MgrStore *store, MgrEvent *event,
                                GError **error)
{
    mgr_autoreset sqlite3_stmt *stmt =
        mgr_store_prepare(store,
                          "INSERT INTO events (" MGR_EVENT_COLUMNS ")"
                          " VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          error);
    gint64 time_us = event->time_us ? event->time_us : g_get_real_time();
    MgrBinder b;

    if (stmt == NULL) {
        return FALSE;
    }
    b = mgr_binder(stmt);
    mgr_bind_int(&b, time_us);
    mgr_bind_text(&b, mgr_severity_name(event->severity));
    mgr_bind_text(&b, event->code);
    mgr_bind_text(&b, event->message);
    mgr_bind_text(&b, event->user);
    mgr_bind_text(&b, event->correlation_id);
    mgr_bind_text(&b, event->vm_id);
    mgr_bind_text(&b, event->host_id);
    mgr_bind_text(&b, event->cluster_id);
    mgr_bind_text(&b, event->migration_id);
    mgr_bind_json(&b, event->data);
    if (!mgr_binder_check(store, &b, error) ||
        !mgr_store_step_write(store, stmt, NULL, 0, NULL, error)) {
        return FALSE;
    }
    event->seq = sqlite3_last_insert_rowid(store->db);
    event->time_us = time_us;
    return TRUE;
}

GPtrArray *mgr_store_list_events(MgrStore *store, gint64 from, guint max,
                                 GError **error)
{
    mgr_autoreset sqlite3_stmt *stmt = mgr_store_prepare(
        store,
        "SELECT " MGR_EVENT_COLUMNS " FROM events WHERE seq >= ?"
        " ORDER BY seq LIMIT ?",
        error);
    g_autoptr(GPtrArray) out =
        g_ptr_array_new_with_free_func((GDestroyNotify)mgr_event_free);
    int rc;

    if (stmt == NULL) {
        return NULL;
    }
    if (sqlite3_bind_int64(stmt, 1, from) != SQLITE_OK ||
        sqlite3_bind_int64(stmt, 2, max) != SQLITE_OK) {
        mgr_store_fail(store, error);
        return NULL;
    }
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        MgrEvent *event = mgr_store_read_event(store, stmt, error);

        if (event == NULL) {
            return NULL;
        }
        g_ptr_array_add(out, event);
    }
    if (rc != SQLITE_DONE) {
        mgr_store_fail(store, error);
        return NULL;
    }
    return g_steal_pointer(&out);
}

gint64 mgr_store_last_event_seq(MgrStore *store)
{
    /*
     * AUTOINCREMENT's high-water mark rather than MAX(seq): with every
     * event pruned the last seq handed out is still the last one, and a
     * reader's "from" never goes back.
     */
    mgr_autoreset sqlite3_stmt *stmt = mgr_store_prepare(
        store, "SELECT seq FROM sqlite_sequence WHERE name = 'events'", NULL);

    if (stmt == NULL || sqlite3_step(stmt) != SQLITE_ROW) {
        return 0;
    }
    return sqlite3_column_int64(stmt, 0);
}

gboolean mgr_store_prune_events(MgrStore *store, guint keep, GError **error)
{
    /* the seq of the newest event to delete: the (keep + 1)-th newest */
    mgr_autoreset sqlite3_stmt *stmt = mgr_store_prepare(
        store,
        "DELETE FROM events WHERE seq <= ("
        "  SELECT seq FROM events ORDER BY seq DESC LIMIT 1 OFFSET ?)",
        error);

    if (stmt == NULL) {
        return FALSE;
    }
    if (sqlite3_bind_int64(stmt, 1, keep) != SQLITE_OK) {
        return mgr_store_fail(store, error);
    }
    return mgr_store_step_write(store, stmt, NULL, 0, NULL, error);
}
