/*
 * The manager's REST API (docs/manager-api.md).  Handlers are the top of the
 * call chain: they validate the request, act through the other modules and
 * answer; every action is an event, recorded with who asked.
 */
#include "common/error.h"
#include "common/glib-extra.h"
#include "common/json.h"
#include "manager/balancer.h"
#include "manager/manager.h"
#include "manager/power.h"

#define MGR_USER_HEADER "X-Drover-User"
#define MGR_DEFAULT_USER "admin"
#define MGR_EVENTS_PAGE 100

static const char *api_user(DrvHttpRequest *req)
{
    const char *user = drv_http_request_header(req, MGR_USER_HEADER);

    return user && drv_name_is_valid(user) ? user : MGR_DEFAULT_USER;
}

static void api_fail(DrvHttpRequest *req, const GError *error)
{
    g_info("%s %s by %s: %s", drv_http_request_method(req),
           drv_http_request_path(req), api_user(req), error->message);
    drv_http_reply_error(req, error);
}

static JsonObject *api_body(DrvHttpRequest *req, gboolean required)
{
    g_autoptr(GError) error = NULL;
    JsonObject *body = drv_http_request_json(req, required, &error);

    if (body == NULL) {
        api_fail(req, error);
    }
    return body;
}

#define API_LOOKUP(type, fn)                                                   \
    static type *api_##fn(Mgr *mgr, DrvHttpRequest *req)                       \
    {                                                                          \
        g_autoptr(GError) error = NULL;                                        \
        type *obj =                                                            \
            mgr_##fn##_lookup(mgr, drv_http_request_param(req, "id"), &error); \
                                                                               \
        if (obj == NULL) {                                                     \
            api_fail(req, error);                                              \
        }                                                                      \
        return obj;                                                            \
    }

API_LOOKUP(MgrCluster, cluster)
API_LOOKUP(MgrHost, host)
API_LOOKUP(MgrVm, vm)
API_LOOKUP(MgrMigration, migration)

/* {"<member>": [...]} of @items presented by @present. */
typedef JsonObject *(*ApiPresent)(Mgr *mgr, gpointer obj);
/* The name of a listed object, for ?name= and sorting. */
typedef const char *(*ApiName)(gpointer obj);

static gint api_compare_names(gconstpointer a, gconstpointer b,
                              gpointer user_data)
{
    ApiName name = (ApiName)user_data;

    return g_strcmp0(name(*(gpointer const *)a), name(*(gpointer const *)b));
}

/* The values of @table whose name matches ?name= (if given), by name. */
static GPtrArray *api_select(DrvHttpRequest *req, GHashTable *table,
                             ApiName name)
{
    GPtrArray *items = drv_hash_table_values(table);
    const char *wanted = drv_http_request_query(req, "name");

    for (guint i = items->len; wanted && i > 0; i--) {
        if (g_strcmp0(name(g_ptr_array_index(items, i - 1)), wanted) != 0) {
            g_ptr_array_remove_index(items, i - 1);
        }
    }
    g_ptr_array_sort_with_data(items, api_compare_names, (gpointer)name);
    return items;
}

static void api_reply_list(DrvHttpRequest *req, Mgr *mgr, GPtrArray *items,
                           const char *member, ApiPresent present)
{
    JsonObject *out = json_object_new();
    JsonArray *list = json_array_new();

    for (guint i = 0; i < items->len; i++) {
        json_array_add_object_element(
            list, present(mgr, g_ptr_array_index(items, i)));
    }
    json_object_set_array_member(out, member, list);
    drv_http_reply_object(req, 200, out);
}

/* ---- clusters ---- */

static JsonObject *api_present_cluster(Mgr *mgr, gpointer obj)
{
    return mgr_present_cluster(mgr, obj);
}

static const char *api_cluster_name(gpointer obj)
{
    return ((MgrCluster *)obj)->name;
}

static void api_list_clusters(DrvHttpRequest *req, gpointer user_data)
{
    Mgr *mgr = user_data;
    g_autoptr(GPtrArray) items =
        api_select(req, mgr->clusters, api_cluster_name);

    api_reply_list(req, mgr, items, "clusters", api_present_cluster);
}

static void api_get_cluster(DrvHttpRequest *req, gpointer user_data)
{
    MgrCluster *cluster = api_cluster(user_data, req);

    if (cluster != NULL) {
        drv_http_reply_object(req, 200,
                              mgr_present_cluster(user_data, cluster));
    }
}

/*
 * Check every member of @body against @cluster's rules; with @apply, also
 * change @cluster.  Run once to validate and once to apply, so a request
 * is taken whole or not at all.
 */
/*
 * The parameters a cluster keeps: those given over those it had, when the
 * policy stays; those given alone for a new policy.  A parameter set to
 * null goes back to its default.
 */
static JsonObject *api_scheduling_params(const MgrCluster *cluster,
                                         const char *policy, JsonObject *given)
{
    JsonObject *out = json_object_new();
    g_autoptr(GList) had = NULL;
    g_autoptr(GList) members = NULL;

    if (g_strcmp0(policy, cluster->scheduling_policy) == 0 &&
        cluster->scheduling_params != NULL) {
        had = json_object_get_members(cluster->scheduling_params);
        for (GList *l = had; l != NULL; l = l->next) {
            json_object_set_member(
                out, l->data,
                json_object_dup_member(cluster->scheduling_params, l->data));
        }
    }
    members = given ? json_object_get_members(given) : NULL;
    for (GList *l = members; l != NULL; l = l->next) {
        JsonNode *node = json_object_get_member(given, l->data);

        if (JSON_NODE_HOLDS_NULL(node)) {
            json_object_remove_member(out, l->data);
        } else {
            json_object_set_member(out, l->data, json_node_copy(node));
        }
    }
    return out;
}

static gboolean api_cluster_update(Mgr *mgr, MgrCluster *cluster,
                                   JsonObject *body, gboolean apply,
                                   GError **error)
{
    static const char *const known[] = {"name",
                                        "cpu_baseline",
                                        "migration",
                                        "max_outgoing_migrations",
                                        "max_incoming_migrations",
                                        "max_cpu_percent",
                                        "scheduling_policy",
                                        "id",
                                        NULL};
    static const char *const sched_known[] = {"name", "parameters", NULL};
    static const char *const mig_known[] = {"policy",        "bandwidth_mbps",
                                            "auto_converge", "compression",
                                            "post_copy",     NULL};
    const char *name = cluster->name;
    const char *baseline = cluster->cpu_baseline;
    const char *policy = cluster->migration_policy;
    const char *sched = cluster->scheduling_policy;
    JsonObject *mig = NULL;
    JsonObject *sched_obj = NULL;
    JsonObject *params = NULL;
    gint64 bw = cluster->migration_bandwidth_mbps;
    gint64 out = cluster->max_outgoing_migrations;
    gint64 in = cluster->max_incoming_migrations;
    gint64 cpu = cluster->max_cpu_percent;
    g_autoptr(JsonObject) merged = NULL;
    MgrBalancerParams balancer;
    DrvTristate ac = cluster->auto_converge;
    DrvTristate comp = cluster->compression;
    DrvTristate pc = cluster->post_copy;
    MgrCluster *other;

    if (!drv_json_check_members(body, "cluster", known, error) ||
        !drv_json_get_string(body, "cluster", "name", FALSE, &name, error) ||
        !drv_json_get_string(body, "cluster", "cpu_baseline", FALSE, &baseline,
                             error) ||
        !drv_json_get_object(body, "cluster", "migration", FALSE, &mig,
                             error) ||
        !drv_json_get_int(body, "cluster", "max_outgoing_migrations", FALSE, 1,
                          64, &out, error) ||
        !drv_json_get_int(body, "cluster", "max_incoming_migrations", FALSE, 1,
                          64, &in, error) ||
        !drv_json_get_int(body, "cluster", "max_cpu_percent", FALSE, 1, 100,
                          &cpu, error) ||
        !drv_json_get_object(body, "cluster", "scheduling_policy", FALSE,
                             &sched_obj, error)) {
        return FALSE;
    }
    if (mig != NULL &&
        (!drv_json_check_members(mig, "migration", mig_known, error) ||
         !drv_json_get_string(mig, "migration", "policy", FALSE, &policy,
                              error) ||
         !drv_json_get_int(mig, "migration", "bandwidth_mbps", FALSE, 0,
                           1000000, &bw, error) ||
         !drv_json_get_tristate(mig, "migration", "auto_converge", &ac,
                                error) ||
         !drv_json_get_tristate(mig, "migration", "compression", &comp,
                                error) ||
         !drv_json_get_tristate(mig, "migration", "post_copy", &pc, error))) {
        return FALSE;
    }
    if (!drv_migration_policy_check("cluster: migration.policy", policy, TRUE,
                                    error)) {
        return FALSE;
    }
    if (sched_obj != NULL &&
        (!drv_json_check_members(sched_obj, "scheduling_policy", sched_known,
                                 error) ||
         !drv_json_get_string(sched_obj, "scheduling_policy", "name", FALSE,
                              &sched, error) ||
         !drv_json_get_object(sched_obj, "scheduling_policy", "parameters",
                              FALSE, &params, error))) {
        return FALSE;
    }
    merged = api_scheduling_params(cluster, sched, params);
    if (!mgr_balancer_params_parse(sched, merged, &balancer, error)) {
        return FALSE;
    }
    if (!drv_name_is_valid(name) || !drv_name_is_valid(baseline)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "cluster: name and cpu_baseline must be 1-64 letters, "
                    "digits, '.', '_' or '-'");
        return FALSE;
    }
    other = mgr_cluster_by_name(mgr, name);
    if (other != NULL && other != cluster) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_EXISTS,
                    "a cluster named %s already exists", name);
        return FALSE;
    }
    if (!apply) {
        return TRUE;
    }
    /* copies first: the sources may be the fields being replaced */
    {
        char *new_name = g_strdup(name);
        char *new_baseline = g_strdup(baseline);
        char *new_policy = g_strdup(policy);
        char *new_sched = g_strdup(sched);

        g_free(cluster->name);
        g_free(cluster->cpu_baseline);
        g_free(cluster->migration_policy);
        g_free(cluster->scheduling_policy);
        cluster->name = new_name;
        cluster->cpu_baseline = new_baseline;
        cluster->migration_policy = new_policy;
        cluster->scheduling_policy = new_sched;
    }
    cluster->migration_bandwidth_mbps = (guint)bw;
    cluster->auto_converge = ac;
    cluster->compression = comp;
    cluster->post_copy = pc;
    cluster->max_outgoing_migrations = (guint)out;
    cluster->max_incoming_migrations = (guint)in;
    cluster->max_cpu_percent = (guint)cpu;
    if (cluster->scheduling_params != NULL) {
        json_object_unref(cluster->scheduling_params);
    }
    cluster->scheduling_params = g_steal_pointer(&merged);
    return TRUE;
}

static void api_scheduling_policies(DrvHttpRequest *req, gpointer user_data)
{
    JsonObject *out = json_object_new();

    json_object_set_array_member(out, "policies", mgr_balancer_describe());
    drv_http_reply_object(req, 200, out);
}

static void api_create_cluster(DrvHttpRequest *req, gpointer user_data)
{
    Mgr *mgr = user_data;
    g_autoptr(JsonObject) body = api_body(req, TRUE);
    g_autoptr(MgrCluster) cluster = NULL;
    g_autoptr(GError) error = NULL;
    const char *name = NULL;

    if (body == NULL) {
        return;
    }
    if (!drv_json_get_string(body, "cluster", "name", TRUE, &name, &error)) {
        api_fail(req, error);
        return;
    }
    cluster = mgr_cluster_new(NULL, name);
    if (!api_cluster_update(mgr, cluster, body, FALSE, &error) ||
        !api_cluster_update(mgr, cluster, body, TRUE, &error)) {
        api_fail(req, error);
        return;
    }
    cluster->created_us = g_get_real_time();
    if (!mgr_store_save_cluster(mgr->store, cluster, &error)) {
        api_fail(req, error);
        return;
    }
    g_hash_table_insert(mgr->clusters, g_strdup(cluster->id), cluster);
    mgr_event(mgr, MGR_SEVERITY_INFO, "cluster_added", api_user(req), NULL,
              NULL, NULL, NULL, NULL, "cluster %s added", cluster->name);
    drv_http_reply_object(req, 201,
                          mgr_present_cluster(mgr, g_steal_pointer(&cluster)));
}

static void api_update_cluster(DrvHttpRequest *req, gpointer user_data)
{
    Mgr *mgr = user_data;
    MgrCluster *cluster = api_cluster(mgr, req);
    g_autoptr(JsonObject) body = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;

    if (cluster == NULL || (body = api_body(req, TRUE)) == NULL) {
        return;
    }
    if (!api_cluster_update(mgr, cluster, body, FALSE, &error)) {
        api_fail(req, error);
        return;
    }
    api_cluster_update(mgr, cluster, body, TRUE, NULL);
    mgr_save_cluster(mgr, cluster);
    text = drv_json_object_to_string(body, FALSE);
    mgr_event(mgr, MGR_SEVERITY_INFO, "cluster_updated", api_user(req), NULL,
              NULL, NULL, NULL, NULL, "cluster %s updated: %s", cluster->name,
              text);
    /* new limits may let queued migrations go */
    mgr_queue_kick(mgr);
    drv_http_reply_object(req, 200, mgr_present_cluster(mgr, cluster));
}

/* ---- hosts ---- */

static JsonObject *api_present_host(Mgr *mgr, gpointer obj)
{
    return mgr_present_host(mgr, obj, FALSE);
}

static const char *api_host_name(gpointer obj)
{
    return ((MgrHost *)obj)->name;
}

static void api_list_hosts(DrvHttpRequest *req, gpointer user_data)
{
    Mgr *mgr = user_data;
    g_autoptr(GPtrArray) items = api_select(req, mgr->hosts, api_host_name);

    api_reply_list(req, mgr, items, "hosts", api_present_host);
}

static void api_get_host(DrvHttpRequest *req, gpointer user_data)
{
    MgrHost *host = api_host(user_data, req);

    if (host != NULL) {
        drv_http_reply_object(req, 200,
                              mgr_present_host(user_data, host, TRUE));
    }
}

static gboolean api_valid_address(const char *address)
{
    g_autoptr(GUri) uri = g_uri_parse(address, G_URI_FLAGS_NONE, NULL);

    return uri != NULL && g_uri_get_host(uri) != NULL &&
           (g_strcmp0(g_uri_get_scheme(uri), "http") == 0 ||
            g_strcmp0(g_uri_get_scheme(uri), "https") == 0) &&
           (g_uri_get_path(uri) == NULL || *g_uri_get_path(uri) == '\0' ||
            g_str_equal(g_uri_get_path(uri), "/"));
}

/* The power commands of a host: on, off, status. */
typedef struct {
    char *cmd[3];
} ApiPowerCmds;

static void api_power_cmds_clear(ApiPowerCmds *cmds)
{
    for (guint i = 0; i < G_N_ELEMENTS(cmds->cmd); i++) {
        g_clear_pointer(&cmds->cmd[i], g_free);
    }
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(ApiPowerCmds, api_power_cmds_clear)

/*
 * @host's power commands with "power_management" of @body over them: null
 * removes them all; an object sets the members it has, "" (or null)
 * removing one.  Each command must parse (power.h); on and off go
 * together, and status needs them.  *@given: the body had the member.
 */
static gboolean api_power_management(JsonObject *body, const MgrHost *host,
                                     ApiPowerCmds *out, gboolean *given,
                                     GError **error)
{
    static const char *const members[] = {"on", "off", "status", NULL};
    JsonNode *node = json_object_get_member(body, "power_management");
    JsonObject *obj;

    out->cmd[0] = g_strdup(host->power_on_cmd);
    out->cmd[1] = g_strdup(host->power_off_cmd);
    out->cmd[2] = g_strdup(host->power_status_cmd);
    *given = node != NULL;
    if (node == NULL) {
        return TRUE;
    }
    if (JSON_NODE_HOLDS_NULL(node)) {
        api_power_cmds_clear(out);
        return TRUE;
    }
    if (!JSON_NODE_HOLDS_OBJECT(node)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "host: 'power_management' must be an object with 'on', "
                    "'off' and 'status' commands, or null");
        return FALSE;
    }
    obj = json_node_get_object(node);
    if (!drv_json_check_members(obj, "power_management", members, error)) {
        return FALSE;
    }
    for (guint i = 0; members[i] != NULL; i++) {
        JsonNode *member = json_object_get_member(obj, members[i]);
        const char *value = NULL;
        g_autoptr(GError) local = NULL;

        if (member == NULL) {
            continue;
        }
        if (!JSON_NODE_HOLDS_NULL(member) &&
            !drv_json_get_string(obj, "power_management", members[i], FALSE,
                                 &value, error)) {
            return FALSE;
        }
        g_clear_pointer(&out->cmd[i], g_free);
        if (value == NULL || *value == '\0') {
            continue;
        }
        if (!mgr_power_template_check(value, &local)) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                        "power_management: '%s' command: %s", members[i],
                        local->message);
            return FALSE;
        }
        out->cmd[i] = g_strdup(value);
    }
    if ((out->cmd[0] == NULL) != (out->cmd[1] == NULL) ||
        (out->cmd[2] != NULL && out->cmd[0] == NULL)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "power_management: a host needs both an 'on' and an "
                    "'off' command ('status' is optional)");
        return FALSE;
    }
    return TRUE;
}

static void api_power_cmds_apply(MgrHost *host, ApiPowerCmds *cmds)
{
    g_free(host->power_on_cmd);
    host->power_on_cmd = g_steal_pointer(&cmds->cmd[0]);
    g_free(host->power_off_cmd);
    host->power_off_cmd = g_steal_pointer(&cmds->cmd[1]);
    g_free(host->power_status_cmd);
    host->power_status_cmd = g_steal_pointer(&cmds->cmd[2]);
}

static void api_add_host(DrvHttpRequest *req, gpointer user_data)
{
    Mgr *mgr = user_data;
    static const char *const known[] = {"name", "address", "cluster",
                                        "power_management", NULL};
    g_autoptr(JsonObject) body = api_body(req, TRUE);
    g_autoptr(GError) error = NULL;
    g_autoptr(MgrHost) host = NULL;
    g_autofree char *address = NULL;
    g_auto(ApiPowerCmds) power = {{NULL}};
    JsonObject *cluster_ref = NULL;
    MgrCluster *cluster;
    const char *name = NULL;
    const char *addr = NULL;
    gboolean power_given;
    GHashTableIter iter;
    gpointer value;

    if (body == NULL) {
        return;
    }
    if (!drv_json_check_members(body, "host", known, &error) ||
        !drv_json_get_string(body, "host", "name", TRUE, &name, &error) ||
        !drv_json_get_string(body, "host", "address", TRUE, &addr, &error) ||
        !drv_json_get_object(body, "host", "cluster", FALSE, &cluster_ref,
                             &error)) {
        api_fail(req, error);
        return;
    }
    if (!drv_name_is_valid(name) || !api_valid_address(addr)) {
        g_set_error(&error, DRV_ERROR, DRV_ERROR_INVALID,
                    "host: 'name' must be 1-64 letters, digits, '.', '_' or "
                    "'-' and 'address' an agent URL like "
                    "http://127.0.1.1:7001");
        api_fail(req, error);
        return;
    }
    address = g_strdup(addr);
    if (g_str_has_suffix(address, "/")) {
        address[strlen(address) - 1] = '\0';
    }
    cluster = cluster_ref ? mgr_cluster_resolve(mgr, cluster_ref, &error)
                          : mgr_cluster_by_name(mgr, "default");
    if (cluster == NULL) {
        if (error == NULL) {
            g_set_error(&error, DRV_ERROR, DRV_ERROR_INVALID,
                        "host: a cluster is required (there is no "
                        "'default')");
        }
        api_fail(req, error);
        return;
    }
    g_hash_table_iter_init(&iter, mgr->hosts);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        MgrHost *other = value;

        if (g_str_equal(other->name, name) ||
            g_str_equal(other->address, address)) {
            g_set_error(&error, DRV_ERROR, DRV_ERROR_EXISTS,
                        "host %s already has the %s %s", other->name,
                        g_str_equal(other->name, name) ? "name" : "address",
                        g_str_equal(other->name, name) ? name : address);
            api_fail(req, error);
            return;
        }
    }
    host = mgr_host_new(NULL, name, address, cluster->id);
    host->created_us = g_get_real_time();
    if (!api_power_management(body, host, &power, &power_given, &error)) {
        api_fail(req, error);
        return;
    }
    api_power_cmds_apply(host, &power);
    if (!mgr_store_save_host(mgr->store, host, &error)) {
        api_fail(req, error);
        return;
    }
    g_hash_table_insert(mgr->hosts, g_strdup(host->id), host);
    mgr_monitor_add_host(mgr->monitor, host);
    mgr_event(mgr, MGR_SEVERITY_INFO, "host_added", api_user(req), NULL, NULL,
              host->id, NULL, NULL, "host %s (%s) added to cluster %s%s",
              host->name, host->address, cluster->name,
              mgr_host_can_power(host) ? ", with power management" : "");
    drv_http_reply_object(req, 201,
                          mgr_present_host(mgr, g_steal_pointer(&host), FALSE));
}

/* PUT /api/hosts/{id}: only its power management changes so far. */
static void api_update_host(DrvHttpRequest *req, gpointer user_data)
{
    static const char *const known[] = {"power_management", NULL};
    Mgr *mgr = user_data;
    MgrHost *host = api_host(mgr, req);
    g_autoptr(JsonObject) body = NULL;
    g_autoptr(GError) error = NULL;
    g_auto(ApiPowerCmds) power = {{NULL}};
    gboolean given = FALSE;

    if (host == NULL || (body = api_body(req, TRUE)) == NULL) {
        return;
    }
    if (!drv_json_check_members(body, "host", known, &error) ||
        !api_power_management(body, host, &power, &given, &error)) {
        api_fail(req, error);
        return;
    }
    /* without its commands, a powered-off host would stay off for good */
    if (power.cmd[0] == NULL && mgr_host_can_power(host) &&
        (host->status == MGR_HOST_DOWN || host->power_action != NULL)) {
        g_set_error(&error, DRV_ERROR, DRV_ERROR_CONFLICT,
                    "host %s is %s: power it on before removing its power "
                    "management",
                    host->name,
                    host->power_action ? "being powered on or off"
                                       : "powered off");
        api_fail(req, error);
        return;
    }
    if (given) {
        api_power_cmds_apply(host, &power);
        mgr_save_host(mgr, host);
        mgr_event(mgr, MGR_SEVERITY_INFO, "host_updated", api_user(req), NULL,
                  NULL, host->id, NULL, NULL, "host %s: power management %s",
                  host->name, mgr_host_can_power(host) ? "set" : "removed");
    }
    drv_http_reply_object(req, 200, mgr_present_host(mgr, host, FALSE));
}

static void api_on_power_status(GObject *source, GAsyncResult *result,
                                gpointer user_data)
{
    g_autoptr(DrvHttpRequest) req = user_data;
    g_autoptr(GError) error = NULL;
    JsonObject *status = mgr_power_status_finish(result, &error);

    if (status == NULL) {
        api_fail(req, error);
        return;
    }
    drv_http_reply_object(req, 200, status);
}

/* POST /api/hosts/{id}/power {"action": "on" | "off" | "status"} */
static void api_power_host(DrvHttpRequest *req, gpointer user_data)
{
    static const char *const known[] = {"action", NULL};
    Mgr *mgr = user_data;
    MgrHost *host = api_host(mgr, req);
    g_autoptr(JsonObject) body = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *reason = NULL;
    const char *user = api_user(req);
    const char *action = NULL;
    gboolean ok;

    if (host == NULL || (body = api_body(req, TRUE)) == NULL) {
        return;
    }
    if (!drv_json_check_members(body, "power", known, &error) ||
        !drv_json_get_string(body, "power", "action", TRUE, &action, &error)) {
        api_fail(req, error);
        return;
    }
    if (g_str_equal(action, "status")) {
        mgr_power_status_async(mgr, host, api_on_power_status,
                               drv_http_request_hold(req));
        return;
    }
    if (g_str_equal(action, "on")) {
        reason = g_strdup_printf("requested by %s", user);
        ok = mgr_power_on(mgr, host, user, reason, &error);
    } else if (g_str_equal(action, "off")) {
        reason = g_strdup_printf("powered off by %s", user);
        ok = mgr_power_off(mgr, host, user, reason, &error);
    } else {
        ok = FALSE;
        g_set_error(&error, DRV_ERROR, DRV_ERROR_INVALID,
                    "power: 'action' is on, off or status, not '%s'", action);
    }
    if (!ok) {
        api_fail(req, error);
        return;
    }
    drv_http_reply_object(req, 202, mgr_present_host(mgr, host, FALSE));
}

static void api_deactivate_host(DrvHttpRequest *req, gpointer user_data)
{
    Mgr *mgr = user_data;
    MgrHost *host = api_host(mgr, req);
    g_autoptr(GError) error = NULL;
    JsonObject *out;

    if (host == NULL) {
        return;
    }
    if (!mgr_maintenance_start(mgr, host, api_user(req), &error)) {
        api_fail(req, error);
        return;
    }
    out = mgr_present_host(mgr, host, FALSE);
    if (host->maintenance_correlation_id != NULL) {
        json_object_set_string_member(out, "correlation_id",
                                      host->maintenance_correlation_id);
    }
    drv_http_reply_object(req, 202, out);
}

static void api_activate_host(DrvHttpRequest *req, gpointer user_data)
{
    Mgr *mgr = user_data;
    MgrHost *host = api_host(mgr, req);
    g_autoptr(GError) error = NULL;

    if (host == NULL) {
        return;
    }
    if (!mgr_maintenance_activate(mgr, host, api_user(req), &error)) {
        api_fail(req, error);
        return;
    }
    drv_http_reply_object(req, 200, mgr_present_host(mgr, host, FALSE));
}

static void api_remove_host(DrvHttpRequest *req, gpointer user_data)
{
    Mgr *mgr = user_data;
    MgrHost *host = api_host(mgr, req);
    g_autoptr(GPtrArray) vms = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *name = NULL;
    g_autofree char *id = NULL;

    if (host == NULL) {
        return;
    }
    vms = mgr_host_vms(mgr, host->id);
    if (host->power_action != NULL) {
        g_set_error(&error, DRV_ERROR, DRV_ERROR_CONFLICT,
                    "host %s is being powered %s: wait until that is over",
                    host->name, host->power_action);
    } else if (host->status != MGR_HOST_MAINTENANCE &&
               host->status != MGR_HOST_CONNECTING &&
               host->status != MGR_HOST_NON_RESPONSIVE &&
               host->status != MGR_HOST_DOWN) {
        g_set_error(&error, DRV_ERROR, DRV_ERROR_CONFLICT,
                    "host %s is %s: put it into maintenance first", host->name,
                    mgr_host_status_name(host->status));
    } else if (vms->len > 0 || mgr_queue_running_from(mgr, host->id) > 0 ||
               mgr_queue_running_to(mgr, host->id) > 0) {
        g_set_error(&error, DRV_ERROR, DRV_ERROR_CONFLICT,
                    "host %s still has VMs or migrations", host->name);
    }
    if (error == NULL) {
        mgr_store_delete_host(mgr->store, host->id, &error);
    }
    if (error != NULL) {
        api_fail(req, error);
        return;
    }
    name = g_strdup(host->name);
    id = g_strdup(host->id);
    mgr_monitor_remove_host(mgr->monitor, id);
    g_hash_table_remove(mgr->hosts, id);
    mgr_event(mgr, MGR_SEVERITY_INFO, "host_removed", api_user(req), NULL, NULL,
              NULL, NULL, NULL, "host %s removed", name);
    drv_http_reply_json(req, 204, NULL);
}

/* ---- VMs ---- */

static JsonObject *api_present_vm(Mgr *mgr, gpointer obj)
{
    return mgr_present_vm(mgr, obj);
}

static const char *api_vm_name(gpointer obj)
{
    return ((MgrVm *)obj)->spec->name;
}

static void api_list_vms(DrvHttpRequest *req, gpointer user_data)
{
    Mgr *mgr = user_data;
    g_autoptr(GPtrArray) items = api_select(req, mgr->vms, api_vm_name);

    api_reply_list(req, mgr, items, "vms", api_present_vm);
}

static void api_get_vm(DrvHttpRequest *req, gpointer user_data)
{
    MgrVm *vm = api_vm(user_data, req);

    if (vm != NULL) {
        drv_http_reply_object(req, 200, mgr_present_vm(user_data, vm));
    }
}

/* Another VM already called @name, or NULL. */
static MgrVm *api_vm_name_taken(Mgr *mgr, const char *name, MgrVm *self)
{
    MgrVm *other = mgr_vm_by_name(mgr, name);

    return other != self ? other : NULL;
}

static void api_create_vm(DrvHttpRequest *req, gpointer user_data)
{
    Mgr *mgr = user_data;
    g_autoptr(JsonObject) body = api_body(req, TRUE);
    g_autoptr(JsonObject) spec_obj = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(DrvVmSpec) spec = NULL;
    g_autoptr(MgrVm) vm = NULL;
    JsonObject *cluster_ref = NULL;
    MgrCluster *cluster;

    if (body == NULL) {
        return;
    }
    if (!drv_json_get_object(body, "vm", "cluster", FALSE, &cluster_ref,
                             &error)) {
        api_fail(req, error);
        return;
    }
    cluster = cluster_ref ? mgr_cluster_resolve(mgr, cluster_ref, &error)
                          : mgr_cluster_by_name(mgr, "default");
    if (cluster == NULL) {
        if (error == NULL) {
            g_set_error(&error, DRV_ERROR, DRV_ERROR_INVALID,
                        "vm: a cluster is required");
        }
        api_fail(req, error);
        return;
    }
    /* the spec is the body without the manager's own members */
    spec_obj = json_object_new();
    {
        JsonObjectIter iter;
        const char *member;
        JsonNode *node;

        json_object_iter_init(&iter, body);
        while (json_object_iter_next(&iter, &member, &node)) {
            if (!g_str_equal(member, "cluster")) {
                json_object_set_member(spec_obj, member, json_node_copy(node));
            }
        }
    }
    if (!json_object_has_member(spec_obj, "cpu_model")) {
        json_object_set_string_member(spec_obj, "cpu_model",
                                      cluster->cpu_baseline);
    }
    spec = drv_vm_spec_from_json(spec_obj, TRUE, &error);
    if (spec == NULL) {
        api_fail(req, error);
        return;
    }
    if (g_hash_table_contains(mgr->vms, spec->id) ||
        api_vm_name_taken(mgr, spec->name, NULL) != NULL) {
        g_set_error(&error, DRV_ERROR, DRV_ERROR_EXISTS,
                    "a VM with the %s %s already exists",
                    g_hash_table_contains(mgr->vms, spec->id) ? "id" : "name",
                    g_hash_table_contains(mgr->vms, spec->id) ? spec->id
                                                              : spec->name);
        api_fail(req, error);
        return;
    }
    vm = mgr_vm_new(cluster->id, g_steal_pointer(&spec));
    vm->created_us = g_get_real_time();
    if (!mgr_store_save_vm(mgr->store, vm, &error)) {
        api_fail(req, error);
        return;
    }
    g_hash_table_insert(mgr->vms, g_strdup(vm->id), vm);
    mgr_event(mgr, MGR_SEVERITY_INFO, "vm_added", api_user(req), NULL, vm->id,
              NULL, NULL, NULL, "VM %s added to cluster %s", vm->spec->name,
              cluster->name);
    drv_http_reply_object(req, 201, mgr_present_vm(mgr, g_steal_pointer(&vm)));
}

static void api_update_vm(DrvHttpRequest *req, gpointer user_data)
{
    static const char *const anytime[] = {"name",         "priority",
                                          "migration",    "highly_available",
                                          "pinned_hosts", NULL};
    Mgr *mgr = user_data;
    MgrVm *vm = api_vm(mgr, req);
    g_autoptr(JsonObject) body = NULL;
    g_autoptr(JsonObject) merged = NULL;
    g_autoptr(DrvVmSpec) spec = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;
    JsonObjectIter iter;
    const char *member;
    JsonNode *node;

    if (vm == NULL || (body = api_body(req, TRUE)) == NULL) {
        return;
    }
    merged = drv_vm_spec_to_json(vm->spec);
    json_object_iter_init(&iter, body);
    while (json_object_iter_next(&iter, &member, &node)) {
        if (g_str_equal(member, "id")) {
            g_set_error(&error, DRV_ERROR, DRV_ERROR_INVALID,
                        "vm: the id cannot change");
            break;
        }
        if (vm->status != MGR_VM_DOWN && !g_strv_contains(anytime, member)) {
            g_set_error(&error, DRV_ERROR, DRV_ERROR_CONFLICT,
                        "VM %s is %s: '%s' can change only while it is down",
                        vm->spec->name, mgr_vm_status_name(vm->status), member);
            break;
        }
        json_object_set_member(merged, member, json_node_copy(node));
    }
    if (error == NULL) {
        spec = drv_vm_spec_from_json(merged, FALSE, &error);
    }
    if (spec != NULL && api_vm_name_taken(mgr, spec->name, vm) != NULL) {
        g_set_error(&error, DRV_ERROR, DRV_ERROR_EXISTS,
                    "a VM named %s already exists", spec->name);
    }
    if (error != NULL) {
        api_fail(req, error);
        return;
    }
    drv_vm_spec_free(vm->spec);
    vm->spec = g_steal_pointer(&spec);
    mgr_save_vm(mgr, vm);
    text = drv_json_object_to_string(body, FALSE);
    mgr_event(mgr, MGR_SEVERITY_INFO, "vm_updated", api_user(req), NULL, vm->id,
              NULL, NULL, NULL, "VM %s updated: %s", vm->spec->name, text);
    drv_http_reply_object(req, 200, mgr_present_vm(mgr, vm));
}

static void api_remove_vm(DrvHttpRequest *req, gpointer user_data)
{
    Mgr *mgr = user_data;
    MgrVm *vm = api_vm(mgr, req);
    g_autoptr(GError) error = NULL;
    g_autofree char *name = NULL;
    g_autofree char *id = NULL;

    if (vm == NULL) {
        return;
    }
    if (vm->status != MGR_VM_DOWN ||
        mgr_vm_active_migration(mgr, vm->id) != NULL) {
        g_set_error(&error, DRV_ERROR, DRV_ERROR_CONFLICT,
                    "VM %s is %s: stop it first", vm->spec->name,
                    mgr_vm_status_name(vm->status));
    } else {
        mgr_store_delete_vm(mgr->store, vm->id, &error);
    }
    if (error != NULL) {
        api_fail(req, error);
        return;
    }
    name = g_strdup(vm->spec->name);
    id = g_strdup(vm->id);
    /* its finished migrations went with it in the store */
    {
        GHashTableIter iter;
        gpointer value;

        g_hash_table_iter_init(&iter, mgr->migrations);
        while (g_hash_table_iter_next(&iter, NULL, &value)) {
            if (g_strcmp0(((MgrMigration *)value)->vm_id, id) == 0) {
                g_hash_table_iter_remove(&iter);
            }
        }
    }
    g_hash_table_remove(mgr->vms, id);
    mgr_event(mgr, MGR_SEVERITY_INFO, "vm_removed", api_user(req), NULL, NULL,
              NULL, NULL, NULL, "VM %s removed", name);
    drv_http_reply_json(req, 204, NULL);
}

/* The optional {"host": {...}} of a request; FALSE when it is wrong. */
static gboolean api_optional_host(Mgr *mgr, JsonObject *body, MgrHost **host,
                                  GError **error)
{
    JsonObject *ref = NULL;

    *host = NULL;
    if (!drv_json_get_object(body, "request", "host", FALSE, &ref, error)) {
        return FALSE;
    }
    if (ref != NULL) {
        *host = mgr_host_resolve(mgr, ref, error);
        return *host != NULL;
    }
    return TRUE;
}

static void api_start_vm(DrvHttpRequest *req, gpointer user_data)
{
    Mgr *mgr = user_data;
    static const char *const known[] = {"host", NULL};
    MgrVm *vm = api_vm(mgr, req);
    g_autoptr(JsonObject) body = NULL;
    g_autoptr(GError) error = NULL;
    MgrHost *host = NULL;

    if (vm == NULL || (body = api_body(req, FALSE)) == NULL) {
        return;
    }
    if (!drv_json_check_members(body, "start", known, &error) ||
        !api_optional_host(mgr, body, &host, &error) ||
        !mgr_vm_start(mgr, vm, host, api_user(req), &error)) {
        api_fail(req, error);
        return;
    }
    drv_http_reply_object(req, 202, mgr_present_vm(mgr, vm));
}

static void api_stop_vm(DrvHttpRequest *req, gpointer user_data)
{
    Mgr *mgr = user_data;
    static const char *const known[] = {"force", "timeout_s", NULL};
    MgrVm *vm = api_vm(mgr, req);
    g_autoptr(JsonObject) body = NULL;
    g_autoptr(GError) error = NULL;
    gboolean force = FALSE;
    gint64 timeout = 0;

    if (vm == NULL || (body = api_body(req, FALSE)) == NULL) {
        return;
    }
    if (!drv_json_check_members(body, "stop", known, &error) ||
        !drv_json_get_bool(body, "stop", "force", FALSE, &force, &error) ||
        !drv_json_get_int(body, "stop", "timeout_s", FALSE, 1, 3600, &timeout,
                          &error) ||
        !mgr_vm_stop(mgr, vm, force, (guint)timeout, api_user(req), &error)) {
        api_fail(req, error);
        return;
    }
    drv_http_reply_object(req, 202, mgr_present_vm(mgr, vm));
}

static void api_on_estimated(GObject *source, GAsyncResult *result,
                             gpointer user_data)
{
    g_autoptr(DrvHttpRequest) req = user_data;
    g_autoptr(GError) error = NULL;
    JsonObject *estimate = mgr_estimate_finish(result, &error);

    if (estimate == NULL) {
        api_fail(req, error);
        return;
    }
    drv_http_reply_object(req, 200, estimate);
}

/* GET /api/vms/{id}/migration_estimate?host=ID|NAME&seconds=N */
static void api_migration_estimate(DrvHttpRequest *req, gpointer user_data)
{
    Mgr *mgr = user_data;
    MgrVm *vm = api_vm(mgr, req);
    const char *wanted = drv_http_request_query(req, "host");
    g_autoptr(GError) error = NULL;
    MgrHost *host = NULL;
    gint64 seconds = 1;

    if (vm == NULL) {
        return;
    }
    if (!drv_http_request_query_int(req, "seconds", 1, MGR_ESTIMATE_MAX_SECONDS,
                                    1, &seconds, &error)) {
        api_fail(req, error);
        return;
    }
    if (wanted != NULL && *wanted != '\0') {
        host = g_hash_table_lookup(mgr->hosts, wanted);
        if (host == NULL) {
            host = mgr_host_by_name(mgr, wanted);
        }
        if (host == NULL) {
            drv_http_reply_error_literal(req, DRV_ERROR_NOT_FOUND,
                                         "no host has that id or name");
            return;
        }
    }
    mgr_estimate_async(mgr, vm, host, (guint)seconds, api_on_estimated,
                       drv_http_request_hold(req));
}

static void api_migrate_vm(DrvHttpRequest *req, gpointer user_data)
{
    Mgr *mgr = user_data;
    static const char *const known[] = {"host", NULL};
    MgrVm *vm = api_vm(mgr, req);
    g_autoptr(JsonObject) body = NULL;
    g_autoptr(GError) error = NULL;
    MgrHost *host = NULL;
    MgrMigration *mig = NULL;

    if (vm == NULL || (body = api_body(req, FALSE)) == NULL) {
        return;
    }
    if (drv_json_check_members(body, "migrate", known, &error) &&
        api_optional_host(mgr, body, &host, &error)) {
        mig = mgr_queue_submit(mgr, vm, host, "manual", FALSE, api_user(req),
                               NULL, &error);
    }
    if (mig == NULL) {
        api_fail(req, error);
        return;
    }
    drv_http_reply_object(req, 202, mgr_present_migration(mgr, mig));
}

static void api_cancel_migration(DrvHttpRequest *req, gpointer user_data)
{
    Mgr *mgr = user_data;
    MgrVm *vm = api_vm(mgr, req);
    g_autoptr(GError) error = NULL;
    MgrMigration *mig;

    if (vm == NULL) {
        return;
    }
    mig = mgr_vm_active_migration(mgr, vm->id);
    if (mig == NULL) {
        g_set_error(&error, DRV_ERROR, DRV_ERROR_CONFLICT,
                    "VM %s has no queued or running migration", vm->spec->name);
    } else {
        mgr_queue_cancel(mgr, mig, api_user(req), &error);
    }
    if (error != NULL) {
        api_fail(req, error);
        return;
    }
    drv_http_reply_object(req, 200, mgr_present_migration(mgr, mig));
}

static void api_migration_targets(DrvHttpRequest *req, gpointer user_data)
{
    Mgr *mgr = user_data;
    MgrVm *vm = api_vm(mgr, req);
    MgrScheduleRequest sreq;
    g_autoptr(GPtrArray) loads = NULL;
    g_autoptr(GPtrArray) verdicts = NULL;
    JsonObject *out;
    JsonArray *hosts;
    MgrVerdict *best;

    if (vm == NULL) {
        return;
    }
    mgr_schedule_request_init(
        mgr, &sreq, vm->host_id ? MGR_SCHEDULE_MIGRATE : MGR_SCHEDULE_START,
        vm);
    if (sreq.cluster == NULL) {
        drv_http_reply_error_literal(req, DRV_ERROR_INTERNAL,
                                     "the VM's cluster is missing");
        return;
    }
    loads = mgr_host_loads(mgr, vm->cluster_id);
    verdicts = mgr_scheduler_assess(&sreq, loads);
    out = json_object_new();
    hosts = json_array_new();
    json_object_set_object_member(out, "vm",
                                  mgr_present_ref(vm->id, vm->spec->name));
    for (guint i = 0; i < verdicts->len; i++) {
        MgrVerdict *v = g_ptr_array_index(verdicts, i);
        JsonObject *h = json_object_new();
        JsonArray *reasons = json_array_new();

        json_object_set_object_member(
            h, "host", mgr_present_ref(v->host_id, v->host_name));
        json_object_set_boolean_member(h, "allowed", v->allowed);
        for (guint r = 0; r < v->reasons->len; r++) {
            json_array_add_string_element(reasons,
                                          g_ptr_array_index(v->reasons, r));
        }
        json_object_set_array_member(h, "reasons", reasons);
        json_object_set_double_member(h, "cpu_after_percent",
                                      v->cpu_after_percent);
        json_object_set_int_member(h, "free_memory_mib", v->free_memory_mib);
        json_object_set_int_member(h, "vm_count", v->vm_count);
        json_object_set_boolean_member(h, "best", v->best);
        json_array_add_object_element(hosts, h);
    }
    json_object_set_array_member(out, "hosts", hosts);
    best = mgr_scheduler_best(verdicts);
    if (best != NULL) {
        json_object_set_object_member(
            out, "best", mgr_present_ref(best->host_id, best->host_name));
    } else {
        json_object_set_null_member(out, "best");
    }
    drv_http_reply_object(req, 200, out);
}

/* ---- migrations ---- */

static gint api_compare_migrations(gconstpointer a, gconstpointer b)
{
    const MgrMigration *ma = *(MgrMigration *const *)a;
    const MgrMigration *mb = *(MgrMigration *const *)b;

    return ma->seq < mb->seq ? -1 : ma->seq > mb->seq;
}

static void api_list_migrations(DrvHttpRequest *req, gpointer user_data)
{
    Mgr *mgr = user_data;
    g_autoptr(GPtrArray) items = drv_hash_table_values(mgr->migrations);
    const char *state = drv_http_request_query(req, "state");
    const char *vm = drv_http_request_query(req, "vm");
    const char *host = drv_http_request_query(req, "host");
    JsonObject *out = json_object_new();
    JsonArray *list = json_array_new();

    g_ptr_array_sort(items, api_compare_migrations);
    for (guint i = 0; i < items->len; i++) {
        MgrMigration *mig = g_ptr_array_index(items, i);

        if ((state &&
             g_strcmp0(mgr_migration_state_name(mig->state), state) != 0) ||
            (vm && g_strcmp0(mig->vm_id, vm) != 0) ||
            (host && g_strcmp0(mig->source_host_id, host) != 0 &&
             g_strcmp0(mig->destination_host_id, host) != 0)) {
            continue;
        }
        json_array_add_object_element(list, mgr_present_migration(mgr, mig));
    }
    json_object_set_array_member(out, "migrations", list);
    drv_http_reply_object(req, 200, out);
}

static void api_get_migration(DrvHttpRequest *req, gpointer user_data)
{
    MgrMigration *mig = api_migration(user_data, req);

    if (mig != NULL) {
        drv_http_reply_object(req, 200, mgr_present_migration(user_data, mig));
    }
}

/* ---- events ---- */

static void api_list_events(DrvHttpRequest *req, gpointer user_data)
{
    Mgr *mgr = user_data;
    g_autoptr(GError) error = NULL;
    gint64 from;
    gint64 max;
    JsonObject *out;

    if (!drv_http_request_query_int(req, "from", 0, G_MAXINT64, 1, &from,
                                    &error) ||
        !drv_http_request_query_int(req, "max", 1, 1000, MGR_EVENTS_PAGE, &max,
                                    &error) ||
        (out = mgr_events_list(mgr, from, (guint)max, &error)) == NULL) {
        api_fail(req, error);
        return;
    }
    drv_http_reply_object(req, 200, out);
}

static void api_stream_events(DrvHttpRequest *req, gpointer user_data)
{
    Mgr *mgr = user_data;
    g_autoptr(GError) error = NULL;
    gint64 from;

    if (!drv_http_request_query_int(req, "from", 0, G_MAXINT64, G_MAXINT64,
                                    &from, &error) ||
        !drv_event_hub_subscribe(mgr->events, req, (guint64)from, &error)) {
        api_fail(req, error);
    }
}

void mgr_api_register(Mgr *mgr)
{
    DrvHttpRouter *r = mgr->router;

    drv_http_router_add(r, "GET", "/api/clusters", api_list_clusters, mgr);
    drv_http_router_add(r, "POST", "/api/clusters", api_create_cluster, mgr);
    drv_http_router_add(r, "GET", "/api/clusters/{id}", api_get_cluster, mgr);
    drv_http_router_add(r, "PUT", "/api/clusters/{id}", api_update_cluster,
                        mgr);
    drv_http_router_add(r, "GET", "/api/scheduling_policies",
                        api_scheduling_policies, mgr);
    drv_http_router_add(r, "GET", "/api/hosts", api_list_hosts, mgr);
    drv_http_router_add(r, "POST", "/api/hosts", api_add_host, mgr);
    drv_http_router_add(r, "GET", "/api/hosts/{id}", api_get_host, mgr);
    drv_http_router_add(r, "PUT", "/api/hosts/{id}", api_update_host, mgr);
    drv_http_router_add(r, "DELETE", "/api/hosts/{id}", api_remove_host, mgr);
    drv_http_router_add(r, "POST", "/api/hosts/{id}/power", api_power_host,
                        mgr);
    drv_http_router_add(r, "POST", "/api/hosts/{id}/deactivate",
                        api_deactivate_host, mgr);
    drv_http_router_add(r, "POST", "/api/hosts/{id}/activate",
                        api_activate_host, mgr);
    drv_http_router_add(r, "GET", "/api/vms", api_list_vms, mgr);
    drv_http_router_add(r, "POST", "/api/vms", api_create_vm, mgr);
    drv_http_router_add(r, "GET", "/api/vms/{id}", api_get_vm, mgr);
    drv_http_router_add(r, "PUT", "/api/vms/{id}", api_update_vm, mgr);
    drv_http_router_add(r, "DELETE", "/api/vms/{id}", api_remove_vm, mgr);
    drv_http_router_add(r, "POST", "/api/vms/{id}/start", api_start_vm, mgr);
    drv_http_router_add(r, "POST", "/api/vms/{id}/stop", api_stop_vm, mgr);
    drv_http_router_add(r, "POST", "/api/vms/{id}/migrate", api_migrate_vm,
                        mgr);
    drv_http_router_add(r, "POST", "/api/vms/{id}/cancelmigration",
                        api_cancel_migration, mgr);
    drv_http_router_add(r, "GET", "/api/vms/{id}/migration_targets",
                        api_migration_targets, mgr);
    drv_http_router_add(r, "GET", "/api/vms/{id}/migration_estimate",
                        api_migration_estimate, mgr);
    drv_http_router_add(r, "GET", "/api/migrations", api_list_migrations, mgr);
    drv_http_router_add(r, "GET", "/api/migrations/{id}", api_get_migration,
                        mgr);
    drv_http_router_add(r, "GET", "/api/events", api_list_events, mgr);
    drv_http_router_add(r, "GET", "/api/events/stream", api_stream_events, mgr);
}
