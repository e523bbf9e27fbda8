#include "common/vmspec.h"

#include "common/error.h"
#include "common/fileutil.h"
#include "common/json.h"

static const char *const drv_mode_names[] = {
    [DRV_MIGRATION_MODE_MANUAL_AND_AUTOMATIC] = "manual_and_automatic",
    [DRV_MIGRATION_MODE_MANUAL_ONLY] = "manual_only",
    [DRV_MIGRATION_MODE_DISABLED] = "disabled",
};

static const char *const drv_priority_names[] = {
    [DRV_PRIORITY_LOW] = "low",
    [DRV_PRIORITY_MEDIUM] = "medium",
    [DRV_PRIORITY_HIGH] = "high",
};

static const char *const drv_format_names[] = {
    [DRV_DISK_FORMAT_RAW] = "raw",
    [DRV_DISK_FORMAT_QCOW2] = "qcow2",
};

/* What the agent's schedules do (src/agent/policy.c, docs/policies.md). */
static const DrvMigrationPolicy drv_policies[] = {
    {"adaptive", 35, TRUE, TRUE, TRUE},
    {"legacy", 300, FALSE, FALSE, FALSE},
    {"minimal_downtime", 100, FALSE, TRUE, FALSE},
    {"post_copy", 100, TRUE, TRUE, FALSE},
    {"suspend_workload", 100, FALSE, TRUE, FALSE},
};

const char *const *drv_migration_policies(void)
{
    static const char *names[G_N_ELEMENTS(drv_policies) + 1];

    for (guint i = 0; i < G_N_ELEMENTS(drv_policies); i++) {
        names[i] = drv_policies[i].name;
    }
    return names;
}

const DrvMigrationPolicy *drv_migration_policy_lookup(const char *name)
{
    for (guint i = 0; i < G_N_ELEMENTS(drv_policies); i++) {
        if (g_strcmp0(drv_policies[i].name, name) == 0) {
            return &drv_policies[i];
        }
    }
    return NULL;
}

gboolean drv_migration_policy_check(const char *what, const char *name,
                                    gboolean inherit_ok, GError **error)
{
    g_autofree char *names = NULL;

    if ((inherit_ok && g_strcmp0(name, "inherit") == 0) ||
        drv_migration_policy_lookup(name) != NULL) {
        return TRUE;
    }
    names = g_strjoinv(", ", (char **)drv_migration_policies());
    g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                "%s must be %sone of %s, not '%s'", what,
                inherit_ok ? "inherit or " : "", names, name);
    return FALSE;
}

const char *drv_migration_mode_name(DrvMigrationMode mode)
{
    return drv_mode_names[mode];
}

const char *drv_priority_name(DrvPriority priority)
{
    return drv_priority_names[priority];
}

gboolean drv_priority_from_name(const char *name, DrvPriority *out)
{
    for (guint i = 0; i < G_N_ELEMENTS(drv_priority_names); i++) {
        if (g_str_equal(name, drv_priority_names[i])) {
            *out = (DrvPriority)i;
            return TRUE;
        }
    }
    return FALSE;
}

const char *drv_disk_format_name(DrvDiskFormat format)
{
    return drv_format_names[format];
}

/* Index of @name in @names, or -1. */
static int drv_lookup(const char *const *names, guint n, const char *name)
{
    for (guint i = 0; i < n; i++) {
        if (g_str_equal(names[i], name)) {
            return (int)i;
        }
    }
    return -1;
}

gboolean drv_name_is_valid(const char *name)
{
    gsize len = name ? strlen(name) : 0;

    if (len == 0 || len > DRV_NAME_MAX || !g_ascii_isalnum(name[0])) {
        return FALSE;
    }
    for (gsize i = 0; i < len; i++) {
        if (!g_ascii_isalnum(name[i]) && !strchr("._-", name[i])) {
            return FALSE;
        }
    }
    return TRUE;
}

gboolean drv_mac_is_valid(const char *mac)
{
    guint first;

    if (mac == NULL || strlen(mac) != 17) {
        return FALSE;
    }
    for (guint i = 0; i < 17; i++) {
        gboolean colon = (i % 3) == 2;

        if (colon ? mac[i] != ':' : !g_ascii_isxdigit(mac[i])) {
            return FALSE;
        }
    }
    first = (guint)(g_ascii_xdigit_value(mac[0]) * 16 +
                    g_ascii_xdigit_value(mac[1]));
    /* a multicast address cannot be a NIC's own */
    if (first & 1) {
        return FALSE;
    }
    return g_ascii_strcasecmp(mac, "00:00:00:00:00:00") != 0;
}

static void drv_disk_spec_free(gpointer p)
{
    DrvDiskSpec *disk = p;

    g_free(disk->storage_domain);
    g_free(disk->path);
    g_free(disk);
}

static void drv_nic_spec_free(gpointer p)
{
    DrvNicSpec *nic = p;

    g_free(nic->network);
    g_free(nic->mac);
    g_free(nic);
}

void drv_vm_spec_free(DrvVmSpec *spec)
{
    if (spec == NULL) {
        return;
    }
    g_free(spec->id);
    g_free(spec->name);
    g_free(spec->cpu_model);
    g_free(spec->kernel);
    g_free(spec->append);
    g_ptr_array_unref(spec->disks);
    g_ptr_array_unref(spec->nics);
    g_free(spec->migration_policy);
    g_strfreev(spec->pinned_hosts);
    g_free(spec);
}

static DrvVmSpec *drv_vm_spec_alloc(void)
{
    DrvVmSpec *spec = g_new0(DrvVmSpec, 1);

    spec->disks = g_ptr_array_new_with_free_func(drv_disk_spec_free);
    spec->nics = g_ptr_array_new_with_free_func(drv_nic_spec_free);
    return spec;
}

static gboolean drv_get_name(JsonObject *obj, const char *what,
                             const char *member, gboolean required, char **out,
                             GError **error)
{
    const char *value = NULL;

    if (!drv_json_get_string(obj, what, member, required, &value, error)) {
        return FALSE;
    }
    if (value == NULL) {
        return TRUE;
    }
    if (!drv_name_is_valid(value)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "%s: '%s' must be 1-%d letters, digits, '.', '_' or '-' "
                    "starting with a letter or digit, not '%s'",
                    what, member, DRV_NAME_MAX, value);
        return FALSE;
    }
    *out = g_strdup(value);
    return TRUE;
}

gboolean drv_json_get_tristate(JsonObject *obj, const char *what,
                               const char *member, DrvTristate *out,
                               GError **error)
{
    JsonNode *node = json_object_get_member(obj, member);

    if (node == NULL) {
        return TRUE;
    }
    if (JSON_NODE_HOLDS_VALUE(node) &&
        json_node_get_value_type(node) == G_TYPE_BOOLEAN) {
        *out = json_node_get_boolean(node) ? DRV_TRISTATE_TRUE
                                           : DRV_TRISTATE_FALSE;
        return TRUE;
    }
    if (JSON_NODE_HOLDS_VALUE(node) &&
        json_node_get_value_type(node) == G_TYPE_STRING &&
        g_str_equal(json_node_get_string(node), "inherit")) {
        *out = DRV_TRISTATE_INHERIT;
        return TRUE;
    }
    g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                "%s: '%s' must be \"inherit\", true or false", what, member);
    return FALSE;
}

static gboolean drv_parse_disk(JsonObject *obj, const char *what, gpointer item,
                               GError **error)
{
    DrvDiskSpec *disk = item;
    static const char *const known[] = {"storage_domain", "path", "format",
                                        NULL};
    const char *path = NULL;
    const char *format = "raw";
    g_autofree char *joined = NULL;
    int idx;

    if (!drv_json_check_members(obj, what, known, error) ||
        !drv_get_name(obj, what, "storage_domain", TRUE, &disk->storage_domain,
                      error) ||
        !drv_json_get_string(obj, what, "path", TRUE, &path, error) ||
        !drv_json_get_string(obj, what, "format", FALSE, &format, error)) {
        return FALSE;
    }
    /* checked against a placeholder root: only the shape matters here */
    joined = drv_path_join_within("/domain", path, error);
    if (joined == NULL) {
        g_prefix_error(error, "%s: ", what);
        return FALSE;
    }
    if (strlen(path) > 1024 || strchr(path, ',') != NULL) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "%s: 'path' must be at most 1024 characters and contain "
                    "no comma",
                    what);
        return FALSE;
    }
    disk->path = g_strdup(path);
    idx = drv_lookup(drv_format_names, G_N_ELEMENTS(drv_format_names), format);
    if (idx < 0) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "%s: 'format' must be raw or qcow2, not '%s'", what,
                    format);
        return FALSE;
    }
    disk->format = (DrvDiskFormat)idx;
    return TRUE;
}

static char *drv_random_mac(void)
{
    return g_strdup_printf(
        "52:54:00:%02x:%02x:%02x", g_random_int_range(0, 256),
        g_random_int_range(0, 256), g_random_int_range(0, 256));
}

static gboolean drv_parse_nic(JsonObject *obj, const char *what, gpointer item,
                              GError **error)
{
    DrvNicSpec *nic = item;
    static const char *const known[] = {"network", "mac", NULL};
    const char *mac = NULL;

    if (!drv_json_check_members(obj, what, known, error) ||
        !drv_get_name(obj, what, "network", TRUE, &nic->network, error) ||
        !drv_json_get_string(obj, what, "mac", FALSE, &mac, error)) {
        return FALSE;
    }
    if (mac == NULL) {
        nic->mac = drv_random_mac();
        return TRUE;
    }
    if (!drv_mac_is_valid(mac)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "%s: 'mac' must be a unicast address like "
                    "52:54:00:12:34:56, not '%s'",
                    what, mac);
        return FALSE;
    }
    nic->mac = g_ascii_strdown(mac, -1);
    return TRUE;
}

static gboolean drv_parse_array(
    JsonObject *obj, const char *member, guint max, GPtrArray *out,
    gboolean (*parse)(JsonObject *, const char *, gpointer, GError **),
    gsize item_size, GDestroyNotify item_free, GError **error)
{
    JsonArray *array = NULL;
    guint n;

    if (!drv_json_get_array(obj, "spec", member, FALSE, &array, error)) {
        return FALSE;
    }
    n = array ? json_array_get_length(array) : 0;
    if (n > max) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "spec: at most %u %s, not %u", max, member, n);
        return FALSE;
    }
    for (guint i = 0; i < n; i++) {
        JsonNode *node = json_array_get_element(array, i);
        g_autofree char *what = g_strdup_printf("%s[%u]", member, i);
        gpointer item;

        if (!JSON_NODE_HOLDS_OBJECT(node)) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                        "%s must be an object", what);
            return FALSE;
        }
        item = g_malloc0(item_size);
        if (!parse(json_node_get_object(node), what, item, error)) {
            item_free(item);
            return FALSE;
        }
        g_ptr_array_add(out, item);
    }
    return TRUE;
}

static gboolean drv_parse_migration(JsonObject *obj, DrvVmSpec *spec,
                                    GError **error)
{
    static const char *const known[] = {
        "mode",           "policy", "auto_converge", "compression", "post_copy",
        "bandwidth_mbps", NULL};
    JsonObject *mig = NULL;
    const char *mode = "manual_and_automatic";
    const char *policy = "inherit";
    JsonNode *bw;
    int idx;

    if (!drv_json_get_object(obj, "spec", "migration", FALSE, &mig, error)) {
        return FALSE;
    }
    spec->migration_policy = g_strdup("inherit");
    if (mig == NULL) {
        return TRUE;
    }
    if (!drv_json_check_members(mig, "migration", known, error) ||
        !drv_json_get_string(mig, "migration", "mode", FALSE, &mode, error) ||
        !drv_json_get_string(mig, "migration", "policy", FALSE, &policy,
                             error) ||
        !drv_json_get_tristate(mig, "migration", "auto_converge",
                               &spec->auto_converge, error) ||
        !drv_json_get_tristate(mig, "migration", "compression",
                               &spec->compression, error) ||
        !drv_json_get_tristate(mig, "migration", "post_copy", &spec->post_copy,
                               error)) {
        return FALSE;
    }
    idx = drv_lookup(drv_mode_names, G_N_ELEMENTS(drv_mode_names), mode);
    if (idx < 0) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "migration: 'mode' must be manual_and_automatic, "
                    "manual_only or disabled, not '%s'",
                    mode);
        return FALSE;
    }
    spec->migration_mode = (DrvMigrationMode)idx;
    if (!drv_migration_policy_check("migration: 'policy'", policy, TRUE,
                                    error)) {
        return FALSE;
    }
    g_free(spec->migration_policy);
    spec->migration_policy = g_strdup(policy);
    bw = json_object_get_member(mig, "bandwidth_mbps");
    if (bw != NULL && !(JSON_NODE_HOLDS_VALUE(bw) &&
                        json_node_get_value_type(bw) == G_TYPE_STRING &&
                        g_str_equal(json_node_get_string(bw), "inherit"))) {
        gint64 value = 0;

        if (!drv_json_get_int(mig, "migration", "bandwidth_mbps", FALSE, 1,
                              1000000, &value, error)) {
            return FALSE;
        }
        spec->bandwidth_mbps = (guint)value;
    }
    return TRUE;
}

static gboolean drv_parse_pinned(JsonObject *obj, DrvVmSpec *spec,
                                 GError **error)
{
    JsonArray *array = NULL;
    g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
    guint n;

    if (!drv_json_get_array(obj, "spec", "pinned_hosts", FALSE, &array,
                            error)) {
        return FALSE;
    }
    n = array ? json_array_get_length(array) : 0;
    if (n > DRV_VM_PINNED_MAX) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "spec: at most %d pinned_hosts", DRV_VM_PINNED_MAX);
        return FALSE;
    }
    for (guint i = 0; i < n; i++) {
        JsonNode *node = json_array_get_element(array, i);

        if (!JSON_NODE_HOLDS_VALUE(node) ||
            json_node_get_value_type(node) != G_TYPE_STRING ||
            !drv_name_is_valid(json_node_get_string(node))) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                        "spec: pinned_hosts[%u] must be a host name", i);
            return FALSE;
        }
        g_strv_builder_add(builder, json_node_get_string(node));
    }
    spec->pinned_hosts = g_strv_builder_end(builder);
    return TRUE;
}

static gboolean drv_check_text(const char *text, const char *member, gsize max,
                               GError **error)
{
    if (text == NULL) {
        return TRUE;
    }
    if (strlen(text) > max) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "spec: '%s' is longer than %" G_GSIZE_FORMAT " characters",
                    member, max);
        return FALSE;
    }
    for (const char *p = text; *p; p++) {
        if ((guchar)*p < 0x20) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                        "spec: '%s' contains a control character", member);
            return FALSE;
        }
    }
    return TRUE;
}

DrvVmSpec *drv_vm_spec_from_json(JsonObject *obj, gboolean generate_id,
                                 GError **error)
{
    static const char *const known[] = {
        "id",           "name",      "memory_mib", "vcpus",
        "cpu_model",    "kernel",    "append",     "disks",
        "nics",         "migration", "priority",   "highly_available",
        "pinned_hosts", NULL};
    g_autoptr(DrvVmSpec) spec = drv_vm_spec_alloc();
    const char *id = NULL;
    const char *kernel = NULL;
    const char *append = NULL;
    const char *priority = "medium";
    gint64 memory = 0;
    gint64 vcpus = 1;

    if (!drv_json_check_members(obj, "spec", known, error) ||
        !drv_json_get_string(obj, "spec", "id", !generate_id, &id, error) ||
        !drv_get_name(obj, "spec", "name", TRUE, &spec->name, error) ||
        !drv_json_get_int(obj, "spec", "memory_mib", TRUE,
                          DRV_VM_MEMORY_MIN_MIB, DRV_VM_MEMORY_MAX_MIB, &memory,
                          error) ||
        !drv_json_get_int(obj, "spec", "vcpus", FALSE, 1, DRV_VM_VCPUS_MAX,
                          &vcpus, error) ||
        !drv_get_name(obj, "spec", "cpu_model", FALSE, &spec->cpu_model,
                      error) ||
        !drv_json_get_string(obj, "spec", "kernel", FALSE, &kernel, error) ||
        !drv_json_get_string(obj, "spec", "append", FALSE, &append, error) ||
        !drv_json_get_string(obj, "spec", "priority", FALSE, &priority,
                             error) ||
        !drv_json_get_bool(obj, "spec", "highly_available", FALSE,
                           &spec->highly_available, error)) {
        return NULL;
    }
    if (id != NULL && !g_uuid_string_is_valid(id)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "spec: 'id' must be a UUID, not '%s'", id);
        return NULL;
    }
    spec->id = id ? g_ascii_strdown(id, -1) : g_uuid_string_random();
    spec->memory_mib = (guint)memory;
    spec->vcpus = (guint)vcpus;
    if (spec->cpu_model == NULL) {
        spec->cpu_model = g_strdup("qemu64");
    }
    if (!drv_check_text(kernel, "kernel", 4096, error) ||
        !drv_check_text(append, "append", DRV_VM_APPEND_MAX, error)) {
        return NULL;
    }
    if (kernel != NULL && *kernel == '\0') {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "spec: 'kernel' must not be empty");
        return NULL;
    }
    spec->kernel = g_strdup(kernel);
    spec->append = g_strdup(append);
    if (!drv_priority_from_name(priority, &spec->priority)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "spec: 'priority' must be low, medium or high, not '%s'",
                    priority);
        return NULL;
    }
    if (!drv_parse_array(obj, "disks", DRV_VM_DISKS_MAX, spec->disks,
                         drv_parse_disk, sizeof(DrvDiskSpec),
                         drv_disk_spec_free, error) ||
        !drv_parse_array(obj, "nics", DRV_VM_NICS_MAX, spec->nics,
                         drv_parse_nic, sizeof(DrvNicSpec), drv_nic_spec_free,
                         error) ||
        !drv_parse_migration(obj, spec, error) ||
        !drv_parse_pinned(obj, spec, error)) {
        return NULL;
    }
    for (guint i = 0; i < spec->nics->len; i++) {
        for (guint j = 0; j < i; j++) {
            DrvNicSpec *a = g_ptr_array_index(spec->nics, i);
            DrvNicSpec *b = g_ptr_array_index(spec->nics, j);

            if (g_str_equal(a->mac, b->mac)) {
                g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                            "spec: nics[%u] and nics[%u] share MAC %s", j, i,
                            a->mac);
                return NULL;
            }
        }
    }
    for (guint i = 0; i < spec->disks->len; i++) {
        for (guint j = 0; j < i; j++) {
            DrvDiskSpec *a = g_ptr_array_index(spec->disks, i);
            DrvDiskSpec *b = g_ptr_array_index(spec->disks, j);

            if (g_str_equal(a->storage_domain, b->storage_domain) &&
                g_str_equal(a->path, b->path)) {
                g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                            "spec: disks[%u] and disks[%u] are the same "
                            "image",
                            j, i);
                return NULL;
            }
        }
    }
    return g_steal_pointer(&spec);
}

void drv_json_set_tristate(JsonObject *obj, const char *member,
                           DrvTristate value)
{
    if (value == DRV_TRISTATE_INHERIT) {
        json_object_set_string_member(obj, member, "inherit");
    } else {
        json_object_set_boolean_member(obj, member, value == DRV_TRISTATE_TRUE);
    }
}

JsonObject *drv_vm_spec_to_json(const DrvVmSpec *spec)
{
    JsonObject *obj = json_object_new();
    JsonObject *mig = json_object_new();
    JsonArray *disks = json_array_new();
    JsonArray *nics = json_array_new();
    JsonArray *pinned = json_array_new();

    json_object_set_string_member(obj, "id", spec->id);
    json_object_set_string_member(obj, "name", spec->name);
    json_object_set_int_member(obj, "memory_mib", spec->memory_mib);
    json_object_set_int_member(obj, "vcpus", spec->vcpus);
    json_object_set_string_member(obj, "cpu_model", spec->cpu_model);
    if (spec->kernel) {
        json_object_set_string_member(obj, "kernel", spec->kernel);
    }
    if (spec->append) {
        json_object_set_string_member(obj, "append", spec->append);
    }
    for (guint i = 0; i < spec->disks->len; i++) {
        DrvDiskSpec *disk = g_ptr_array_index(spec->disks, i);
        JsonObject *d = json_object_new();

        json_object_set_string_member(d, "storage_domain",
                                      disk->storage_domain);
        json_object_set_string_member(d, "path", disk->path);
        json_object_set_string_member(d, "format",
                                      drv_disk_format_name(disk->format));
        json_array_add_object_element(disks, d);
    }
    json_object_set_array_member(obj, "disks", disks);
    for (guint i = 0; i < spec->nics->len; i++) {
        DrvNicSpec *nic = g_ptr_array_index(spec->nics, i);
        JsonObject *n = json_object_new();

        json_object_set_string_member(n, "network", nic->network);
        json_object_set_string_member(n, "mac", nic->mac);
        json_array_add_object_element(nics, n);
    }
    json_object_set_array_member(obj, "nics", nics);
    json_object_set_string_member(
        mig, "mode", drv_migration_mode_name(spec->migration_mode));
    json_object_set_string_member(mig, "policy", spec->migration_policy);
    drv_json_set_tristate(mig, "auto_converge", spec->auto_converge);
    drv_json_set_tristate(mig, "compression", spec->compression);
    drv_json_set_tristate(mig, "post_copy", spec->post_copy);
    if (spec->bandwidth_mbps) {
        json_object_set_int_member(mig, "bandwidth_mbps", spec->bandwidth_mbps);
    } else {
        json_object_set_string_member(mig, "bandwidth_mbps", "inherit");
    }
    json_object_set_object_member(obj, "migration", mig);
    json_object_set_string_member(obj, "priority",
                                  drv_priority_name(spec->priority));
    json_object_set_boolean_member(obj, "highly_available",
                                   spec->highly_available);
    for (guint i = 0; spec->pinned_hosts && spec->pinned_hosts[i]; i++) {
        json_array_add_string_element(pinned, spec->pinned_hosts[i]);
    }
    json_object_set_array_member(obj, "pinned_hosts", pinned);
    return obj;
}

DrvVmSpec *drv_vm_spec_copy(const DrvVmSpec *spec)
{
    g_autoptr(JsonObject) obj = drv_vm_spec_to_json(spec);
    g_autoptr(GError) error = NULL;
    DrvVmSpec *copy = drv_vm_spec_from_json(obj, FALSE, &error);

    /* our own output always parses */
    g_assert_no_error(error);
    return copy;
}
