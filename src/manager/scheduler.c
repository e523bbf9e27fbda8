#include "manager/scheduler.h"

#include <math.h>

#include "common/json.h"

void mgr_verdict_free(MgrVerdict *verdict)
{
    if (verdict == NULL) {
        return;
    }
    g_free(verdict->host_id);
    g_free(verdict->host_name);
    g_clear_pointer(&verdict->reasons, g_ptr_array_unref);
    g_free(verdict);
}

/* ---- helpers ---- */

static const char *sched_vm_name(const MgrVm *vm)
{
    if (vm->spec != NULL && vm->spec->name != NULL) {
        return vm->spec->name;
    }
    return vm->id;
}

static gboolean sched_is_migration(MgrScheduleKind kind)
{
    return kind == MGR_SCHEDULE_MIGRATE || kind == MGR_SCHEDULE_AUTOMATIC;
}

/*
 * Pinned hosts are names in the spec; an id is accepted as well, so that a
 * spec written with ids does not silently pin the VM nowhere.
 */
static gboolean sched_host_is_pinned(const MgrVm *vm, const MgrHost *host)
{
    GStrv pinned = vm->spec != NULL ? vm->spec->pinned_hosts : NULL;

    for (guint i = 0; pinned != NULL && pinned[i] != NULL; i++) {
        if (g_strcmp0(pinned[i], host->name) == 0 ||
            g_strcmp0(pinned[i], host->id) == 0) {
            return TRUE;
        }
    }
    return FALSE;
}

static gboolean sched_has_pins(const MgrVm *vm)
{
    return vm->spec != NULL && vm->spec->pinned_hosts != NULL &&
           vm->spec->pinned_hosts[0] != NULL;
}

/* Every pinned entry names @host (and there is at least one). */
static gboolean sched_pinned_only_to(const MgrVm *vm, const MgrHost *host)
{
    GStrv pinned = vm->spec != NULL ? vm->spec->pinned_hosts : NULL;

    if (pinned == NULL || pinned[0] == NULL) {
        return FALSE;
    }
    for (guint i = 0; pinned[i] != NULL; i++) {
        if (g_strcmp0(pinned[i], host->name) != 0 &&
            g_strcmp0(pinned[i], host->id) != 0) {
            return FALSE;
        }
    }
    return TRUE;
}

/* How a status reads after the host's name: "host3 is in maintenance". */
static const char *sched_status_phrase(MgrHostStatus status)
{
    switch (status) {
    case MGR_HOST_CONNECTING:
        return "is still connecting";
    case MGR_HOST_UP:
        return "is up";
    case MGR_HOST_PREPARING_FOR_MAINTENANCE:
        return "is preparing for maintenance";
    case MGR_HOST_MAINTENANCE:
        return "is in maintenance";
    case MGR_HOST_NON_OPERATIONAL:
        return "is non_operational";
    case MGR_HOST_NON_RESPONSIVE:
        return "is non_responsive";
    case MGR_HOST_DOWN:
        return "is down";
    }
    return "is not up";
}

/*
 * A percentage for a sentence: whole numbers as such, otherwise one
 * decimal, so that 80.4 is not printed as "80%, above the maximum of 80%".
 */
static char *sched_format_percent(double value)
{
    if (fabs(value - round(value)) < 0.05) {
        return g_strdup_printf("%.0f%%", value);
    }
    return g_strdup_printf("%.1f%%", value);
}

static gboolean sched_json_array_has_string(JsonArray *array, const char *value)
{
    guint len = array != NULL ? json_array_get_length(array) : 0;

    for (guint i = 0; i < len; i++) {
        JsonNode *node = json_array_get_element(array, i);

        if (JSON_NODE_HOLDS_VALUE(node) &&
            json_node_get_value_type(node) == G_TYPE_STRING &&
            g_strcmp0(json_node_get_string(node), value) == 0) {
            return TRUE;
        }
    }
    return FALSE;
}

/* The element of @array (of objects) whose "name" is @name, or NULL. */
static JsonObject *sched_json_array_find_named(JsonArray *array,
                                               const char *name)
{
    guint len = array != NULL ? json_array_get_length(array) : 0;

    for (guint i = 0; i < len; i++) {
        JsonNode *node = json_array_get_element(array, i);
        JsonObject *obj;

        if (!JSON_NODE_HOLDS_OBJECT(node)) {
            continue;
        }
        obj = json_node_get_object(node);
        if (g_strcmp0(drv_json_string_or(obj, "name", NULL), name) == 0) {
            return obj;
        }
    }
    return NULL;
}

/* ---- what a host can run, digested ---- */

/*
 * The CPU models, storage domains and networks a host reports, as sets;
 * hosts reporting the same share one digest, so that a search over
 * thousands of alike hosts works out whether the VM can run there once.
 */
typedef struct {
    gint ref;
    char *key;            /* in sched_caps_all */
    GHashTable *models;   /* name set; NULL: not reported */
    GHashTable *storage;  /* usable domain names; NULL: not reported */
    GHashTable *networks; /* available network names; NULL: not reported */
} SchedCaps;

/* every digest in use, by content; main context only */
static GHashTable *sched_caps_all;

static void sched_caps_unref(gpointer data)
{
    SchedCaps *caps = data;

    if (caps == NULL || !g_atomic_int_dec_and_test(&caps->ref)) {
        return;
    }
    g_hash_table_remove(sched_caps_all, caps->key);
    g_free(caps->key);
    g_clear_pointer(&caps->models, g_hash_table_unref);
    g_clear_pointer(&caps->storage, g_hash_table_unref);
    g_clear_pointer(&caps->networks, g_hash_table_unref);
    g_free(caps);
}

/* The names of @array's strings, or of its objects passing @usable. */
static GHashTable *sched_caps_set(JsonArray *array, const char *flag1,
                                  const char *flag2, const char *flag3)
{
    GHashTable *set;
    guint len;

    if (array == NULL) {
        return NULL;
    }
    set = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    len = json_array_get_length(array);
    for (guint i = 0; i < len; i++) {
        JsonNode *node = json_array_get_element(array, i);
        JsonObject *obj;

        if (JSON_NODE_HOLDS_VALUE(node) &&
            json_node_get_value_type(node) == G_TYPE_STRING) {
            g_hash_table_add(set, g_strdup(json_node_get_string(node)));
            continue;
        }
        if (!JSON_NODE_HOLDS_OBJECT(node)) {
            continue;
        }
        obj = json_node_get_object(node);
        if (drv_json_string_or(obj, "name", NULL) != NULL &&
            (flag1 == NULL || drv_json_bool_or(obj, flag1, FALSE)) &&
            (flag2 == NULL || drv_json_bool_or(obj, flag2, FALSE)) &&
            (flag3 == NULL || drv_json_bool_or(obj, flag3, FALSE))) {
            g_hash_table_add(set,
                             g_strdup(drv_json_string_or(obj, "name", NULL)));
        }
    }
    return set;
}

static SchedCaps *sched_caps_build(JsonObject *facts)
{
    JsonArray *models = drv_json_array_or_null(
        drv_json_object_or_null(facts, "qemu"), "cpu_models");
    JsonArray *storage = drv_json_array_or_null(facts, "storage_domains");
    JsonArray *networks = drv_json_array_or_null(facts, "networks");
    g_autoptr(JsonObject) digest = json_object_new();
    g_autoptr(JsonNode) root = json_node_new(JSON_NODE_OBJECT);
    g_autofree char *key = NULL;
    SchedCaps *caps;

    if (models != NULL) {
        json_object_set_array_member(digest, "m", json_array_ref(models));
    }
    if (storage != NULL) {
        json_object_set_array_member(digest, "s", json_array_ref(storage));
    }
    if (networks != NULL) {
        json_object_set_array_member(digest, "n", json_array_ref(networks));
    }
    json_node_set_object(root, digest);
    key = json_to_string(root, FALSE);
    if (sched_caps_all == NULL) {
        sched_caps_all = g_hash_table_new(g_str_hash, g_str_equal);
    }
    caps = g_hash_table_lookup(sched_caps_all, key);
    if (caps != NULL) {
        g_atomic_int_inc(&caps->ref);
        return caps;
    }
    caps = g_new0(SchedCaps, 1);
    caps->ref = 1;
    caps->key = g_steal_pointer(&key);
    caps->models = sched_caps_set(models, NULL, NULL, NULL);
    caps->storage = sched_caps_set(storage, "exists", "readable", "writable");
    caps->networks = sched_caps_set(networks, "available", NULL, NULL);
    g_hash_table_insert(sched_caps_all, caps->key, caps);
    return caps;
}

/*
 * The digest of @host's facts, or NULL without facts.  Kept on the host
 * and rebuilt when its facts object is replaced (the monitor installs a
 * new object at each poll, before it drops the old one).
 */
static const SchedCaps *sched_host_caps(const MgrHost *host)
{
    MgrHost *cache = (MgrHost *)host; /* a cache of the facts, not a change */

    if (host->facts == NULL) {
        return NULL;
    }
    if (host->sched_caps != NULL && host->sched_caps_of == host->facts) {
        return host->sched_caps;
    }
    if (cache->sched_caps_free != NULL) {
        cache->sched_caps_free(cache->sched_caps);
    }
    cache->sched_caps = sched_caps_build(host->facts);
    cache->sched_caps_of = host->facts;
    cache->sched_caps_free = sched_caps_unref;
    return host->sched_caps;
}

/* What the CPU model, storage and network filters would say, in short. */
static gboolean sched_caps_run(const MgrScheduleRequest *req,
                               const SchedCaps *caps)
{
    const DrvVmSpec *spec = req->vm->spec;
    const char *baseline = req->cluster->cpu_baseline;
    const char *model = spec != NULL ? spec->cpu_model : NULL;

    if (caps->models == NULL ||
        (model != NULL && model[0] != '\0' &&
         !g_hash_table_contains(caps->models, model)) ||
        (baseline != NULL && baseline[0] != '\0' &&
         !g_hash_table_contains(caps->models, baseline))) {
        return FALSE;
    }
    for (guint i = 0; spec != NULL && spec->disks && i < spec->disks->len;
         i++) {
        const DrvDiskSpec *disk = g_ptr_array_index(spec->disks, i);

        if (disk->storage_domain != NULL &&
            (caps->storage == NULL ||
             !g_hash_table_contains(caps->storage, disk->storage_domain))) {
            return FALSE;
        }
    }
    for (guint i = 0; spec != NULL && spec->nics && i < spec->nics->len; i++) {
        const DrvNicSpec *nic = g_ptr_array_index(spec->nics, i);

        if (nic->network != NULL &&
            (caps->networks == NULL ||
             !g_hash_table_contains(caps->networks, nic->network))) {
            return FALSE;
        }
    }
    return TRUE;
}

/* ---- filters ---- */

/*
 * Each filter appends its reasons to @reasons; the assessment runs them
 * all, so that a refused host lists everything that stands in the way.
 */
typedef struct {
    const MgrScheduleRequest *req;
    const MgrHostLoad *load;
    const MgrHost *host;
    const char *vm_name;
    GPtrArray *reasons; /* NULL: only whether, not why (searching) */
    gboolean refused;
    double cpu_after;
} SchedCheck;

G_GNUC_PRINTF(2, 3)
static void sched_refuse(SchedCheck *check, const char *fmt, ...)
{
    va_list ap;

    check->refused = TRUE;
    if (check->reasons == NULL) {
        return;
    }
    va_start(ap, fmt);
    g_ptr_array_add(check->reasons, g_strdup_vprintf(fmt, ap));
    va_end(ap);
}

static void sched_filter_status(SchedCheck *check)
{
    const MgrHost *host = check->host;
    const char *why = host->status_reason;
    gboolean has_why = why != NULL && why[0] != '\0';

    if (host->status == MGR_HOST_UP) {
        return;
    }
    /* the monitor's reason ("cannot run CPU model qemu64") says what to fix */
    sched_refuse(check, "%s %s%s%s", host->name,
                 sched_status_phrase(host->status), has_why ? ": " : "",
                 has_why ? why : "");
}

static void sched_filter_source(SchedCheck *check)
{
    const MgrScheduleRequest *req = check->req;
    DrvMigrationMode mode = req->vm->spec != NULL
                                ? req->vm->spec->migration_mode
                                : DRV_MIGRATION_MODE_MANUAL_AND_AUTOMATIC;

    if (!sched_is_migration(req->kind)) {
        return;
    }
    if (req->source_host_id != NULL &&
        g_strcmp0(req->source_host_id, check->host->id) == 0) {
        sched_refuse(check, "%s is where %s runs", check->host->name,
                     check->vm_name);
    }
    if (mode == DRV_MIGRATION_MODE_DISABLED) {
        sched_refuse(check,
                     "%s cannot be migrated to %s: its migration mode is "
                     "disabled",
                     check->vm_name, check->host->name);
    } else if (mode == DRV_MIGRATION_MODE_MANUAL_ONLY &&
               req->kind == MGR_SCHEDULE_AUTOMATIC) {
        sched_refuse(check,
                     "%s cannot be migrated to %s automatically: its "
                     "migration mode is manual_only",
                     check->vm_name, check->host->name);
    }
}

static void sched_filter_pinned(SchedCheck *check)
{
    const MgrVm *vm = check->req->vm;
    g_autofree char *list = NULL;

    if (!sched_has_pins(vm) || sched_host_is_pinned(vm, check->host)) {
        return;
    }
    list = g_strjoinv(", ", vm->spec->pinned_hosts);
    sched_refuse(check, "%s is pinned to %s, not to %s", check->vm_name, list,
                 check->host->name);
}

static void sched_filter_cpu_model(SchedCheck *check, JsonObject *facts)
{
    const MgrVm *vm = check->req->vm;
    const char *baseline = check->req->cluster->cpu_baseline;
    const char *model = vm->spec != NULL ? vm->spec->cpu_model : NULL;
    JsonArray *models = drv_json_array_or_null(
        drv_json_object_or_null(facts, "qemu"), "cpu_models");

    if (models == NULL) {
        sched_refuse(check,
                     "%s has not reported the CPU models its QEMU can run, "
                     "so whether it can run %s is not known",
                     check->host->name, check->vm_name);
        return;
    }
    if (model != NULL && model[0] != '\0' &&
        !sched_json_array_has_string(models, model)) {
        sched_refuse(check, "%s cannot run CPU model %s, which %s uses",
                     check->host->name, model, check->vm_name);
    }
    /* the baseline keeps every VM of the cluster able to come back here */
    if (baseline != NULL && baseline[0] != '\0' &&
        g_strcmp0(baseline, model) != 0 &&
        !sched_json_array_has_string(models, baseline)) {
        sched_refuse(check,
                     "%s cannot run the cluster's CPU baseline %s, which "
                     "every host of %s must run",
                     check->host->name, baseline, check->vm_name);
    }
}

static void sched_filter_storage(SchedCheck *check, JsonObject *facts)
{
    const DrvVmSpec *spec = check->req->vm->spec;
    JsonArray *domains = drv_json_array_or_null(facts, "storage_domains");
    g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);

    if (spec == NULL || spec->disks == NULL || spec->disks->len == 0) {
        return;
    }
    if (domains == NULL) {
        sched_refuse(check,
                     "%s has not reported its storage domains, so whether "
                     "%s's disks are reachable there is not known",
                     check->host->name, check->vm_name);
        return;
    }
    for (guint i = 0; i < spec->disks->len; i++) {
        const DrvDiskSpec *disk = g_ptr_array_index(spec->disks, i);
        const char *name = disk->storage_domain;
        JsonObject *domain;
        const char *path;
        gboolean readable;
        gboolean writable;

        /* one reason per domain, however many disks live on it */
        if (name == NULL || !g_hash_table_add(seen, (gpointer)name)) {
            continue;
        }
        domain = sched_json_array_find_named(domains, name);
        if (domain == NULL) {
            sched_refuse(check,
                         "storage domain %s, which %s's disks use, is not "
                         "configured on %s",
                         name, check->vm_name, check->host->name);
            continue;
        }
        path = drv_json_string_or(domain, "path", "?");
        readable = drv_json_bool_or(domain, "readable", FALSE);
        writable = drv_json_bool_or(domain, "writable", FALSE);
        if (!drv_json_bool_or(domain, "exists", FALSE)) {
            sched_refuse(check,
                         "storage domain %s (%s) does not exist on %s; %s's "
                         "disks use it",
                         name, path, check->host->name, check->vm_name);
        } else if (!readable || !writable) {
            sched_refuse(check,
                         "storage domain %s (%s) is not %s on %s; %s's disks "
                         "use it",
                         name, path,
                         !readable && !writable ? "readable or writable"
                         : !readable            ? "readable"
                                                : "writable",
                         check->host->name, check->vm_name);
        }
    }
}

static void sched_filter_networks(SchedCheck *check, JsonObject *facts)
{
    const DrvVmSpec *spec = check->req->vm->spec;
    JsonArray *networks = drv_json_array_or_null(facts, "networks");
    g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);

    if (spec == NULL || spec->nics == NULL || spec->nics->len == 0) {
        return;
    }
    if (networks == NULL) {
        sched_refuse(check,
                     "%s has not reported its networks, so whether %s's "
                     "NICs can connect there is not known",
                     check->host->name, check->vm_name);
        return;
    }
    for (guint i = 0; i < spec->nics->len; i++) {
        const DrvNicSpec *nic = g_ptr_array_index(spec->nics, i);
        const char *name = nic->network;
        JsonObject *network;
        const char *why;

        if (name == NULL || !g_hash_table_add(seen, (gpointer)name)) {
            continue;
        }
        network = sched_json_array_find_named(networks, name);
        if (network == NULL) {
            sched_refuse(check,
                         "network %s, which %s's NICs use, is not configured "
                         "on %s",
                         name, check->vm_name, check->host->name);
            continue;
        }
        if (drv_json_bool_or(network, "available", FALSE)) {
            continue;
        }
        /* the agent says why a bridge is unusable: pass it on */
        why = drv_json_string_or(network, "reason", NULL);
        sched_refuse(check,
                     "network %s is not available on %s%s%s%s; %s's "
                     "NICs use it",
                     name, check->host->name, why ? " (" : "", why ? why : "",
                     why ? ")" : "", check->vm_name);
    }
}

static void sched_filter_memory(SchedCheck *check)
{
    const MgrScheduleRequest *req = check->req;
    gint64 vm_mib = req->vm->spec != NULL ? req->vm->spec->memory_mib : 0;
    gint64 need = vm_mib + req->memory_overhead_mib;
    gint64 free_mib = check->load->free_memory_mib;
    g_autofree char *detail = NULL;

    if (free_mib >= need) {
        return;
    }
    if (req->memory_overhead_mib > 0) {
        detail =
            g_strdup_printf(" (%" G_GINT64_FORMAT " MiB + %u MiB overhead)",
                            vm_mib, req->memory_overhead_mib);
    }
    /* negative when migrations on their way in take more than is free */
    sched_refuse(check,
                 "%s has %" G_GINT64_FORMAT " MiB free for VMs; %s needs "
                 "%" G_GINT64_FORMAT " MiB%s",
                 check->host->name, MAX(free_mib, 0), check->vm_name, need,
                 detail ? detail : "");
}

/*
 * The VM's share is measured against the source's CPUs; on a host with
 * more CPUs the same work is a smaller share.  Unknown source CPUs count
 * as the destination's (no rescaling).
 */
static double sched_cpu_after(const MgrScheduleRequest *req,
                              const MgrHostLoad *load)
{
    guint source_cpus = req->source_cpus > 0 ? req->source_cpus : load->cpus;

    if (load->cpus == 0) {
        return load->cpu_percent + req->vm_cpu_percent;
    }
    return load->cpu_percent +
           req->vm_cpu_percent * (double)source_cpus / (double)load->cpus;
}

static void sched_filter_cpu(SchedCheck *check)
{
    guint max = check->req->cluster->max_cpu_percent;
    g_autofree char *after = NULL;

    if (check->load->cpus == 0) {
        sched_refuse(check,
                     "the number of CPUs of %s is not known, so its load "
                     "with %s cannot be estimated",
                     check->host->name, check->vm_name);
        return;
    }
    if (check->cpu_after <= (double)max) {
        return;
    }
    after = sched_format_percent(check->cpu_after);
    sched_refuse(check,
                 "%s would be at %s CPU with %s, above the cluster's "
                 "maximum of %u%%",
                 check->host->name, after, check->vm_name, max);
}

static void sched_filter_slots(SchedCheck *check)
{
    guint max = check->req->cluster->max_incoming_migrations;

    if (!sched_is_migration(check->req->kind) || check->load->incoming < max) {
        return;
    }
    sched_refuse(check,
                 "%s already receives %u migrations, the cluster's maximum "
                 "of %u; %s has to wait",
                 check->host->name, check->load->incoming, max, check->vm_name);
}

static void sched_filter_facts(SchedCheck *check)
{
    JsonObject *facts = check->host->facts;

    if (facts == NULL) {
        /* one reason rather than one per member nobody has seen */
        sched_refuse(check,
                     "%s has not reported its facts yet (CPU models, "
                     "storage, networks), so whether it can run %s is not "
                     "known",
                     check->host->name, check->vm_name);
        return;
    }
    sched_filter_cpu_model(check, facts);
    sched_filter_storage(check, facts);
    sched_filter_networks(check, facts);
}

/* The facts filters from the host's digest, once per kind of host. */
static void sched_filter_caps(SchedCheck *check)
{
    const MgrScheduleRequest *req = check->req;
    const SchedCaps *caps = sched_host_caps(check->host);
    gpointer known;
    gboolean ok;

    if (caps == NULL) {
        check->refused = TRUE;
        return;
    }
    if (req->memo != NULL &&
        g_hash_table_lookup_extended(req->memo, caps, NULL, &known)) {
        check->refused |= !GPOINTER_TO_INT(known);
        return;
    }
    ok = sched_caps_run(req, caps);
    if (req->memo != NULL) {
        g_hash_table_insert(req->memo, (gpointer)caps, GINT_TO_POINTER(ok));
    }
    check->refused |= !ok;
}

/*
 * Every filter, in the documented order; without reasons to collect, the
 * cheap ones first, the facts from the host's digest, and the first
 * refusal ends it.
 */
static void sched_run_filters(SchedCheck *check)
{
    if (check->reasons == NULL) {
        sched_filter_status(check);
        sched_filter_source(check);
        sched_filter_pinned(check);
        sched_filter_memory(check);
        sched_filter_cpu(check);
        sched_filter_slots(check);
        if (!check->refused) {
            sched_filter_caps(check);
        }
        return;
    }
    sched_filter_status(check);
    sched_filter_source(check);
    sched_filter_pinned(check);
    sched_filter_facts(check);
    sched_filter_memory(check);
    sched_filter_cpu(check);
    sched_filter_slots(check);
}

gboolean mgr_scheduler_allows(const MgrScheduleRequest *req,
                              const MgrHostLoad *load, double *cpu_after)
{
    SchedCheck check = {
        .req = req,
        .load = load,
        .host = load->host,
        .vm_name = sched_vm_name(req->vm),
        .cpu_after = sched_cpu_after(req, load),
    };

    sched_run_filters(&check);
    if (cpu_after != NULL) {
        *cpu_after = check.cpu_after;
    }
    return !check.refused;
}

static MgrVerdict *sched_assess_host(const MgrScheduleRequest *req,
                                     const MgrHostLoad *load)
{
    MgrVerdict *verdict = g_new0(MgrVerdict, 1);
    SchedCheck check = {
        .req = req,
        .load = load,
        .host = load->host,
        .vm_name = sched_vm_name(req->vm),
        .reasons = g_ptr_array_new_with_free_func(g_free),
        .cpu_after = sched_cpu_after(req, load),
    };

    sched_run_filters(&check);
    verdict->host_id = g_strdup(load->host->id);
    verdict->host_name = g_strdup(load->host->name);
    verdict->reasons = check.reasons;
    verdict->allowed = check.reasons->len == 0;
    verdict->cpu_after_percent = check.cpu_after;
    verdict->free_memory_mib = load->free_memory_mib;
    verdict->vm_count = load->vm_count;
    return verdict;
}

/* ---- weights ---- */

static gint64 sched_floor_div(gint64 value, gint64 band)
{
    gint64 q = value / band;

    return (value % band != 0 && value < 0) ? q - 1 : q;
}

/* What the weights look at. */
typedef struct {
    double cpu_after_percent;
    gint64 free_memory_mib;
    guint vm_count;
    const char *host_name;
    const char *host_id;
} SchedRank;

static SchedRank sched_rank_of_verdict(const MgrVerdict *v)
{
    SchedRank rank = {v->cpu_after_percent, v->free_memory_mib, v->vm_count,
                      v->host_name, v->host_id};

    return rank;
}

/* < 0 when @a is the better host for the VM. */
static int sched_compare(const SchedRank *a, const SchedRank *b)
{
    double cpu_a = floor(a->cpu_after_percent / MGR_SCHEDULER_CPU_BAND);
    double cpu_b = floor(b->cpu_after_percent / MGR_SCHEDULER_CPU_BAND);
    gint64 mem_a =
        sched_floor_div(a->free_memory_mib, MGR_SCHEDULER_MEMORY_BAND_MIB);
    gint64 mem_b =
        sched_floor_div(b->free_memory_mib, MGR_SCHEDULER_MEMORY_BAND_MIB);
    int cmp;

    if (cpu_a != cpu_b) {
        return cpu_a < cpu_b ? -1 : 1;
    }
    if (mem_a != mem_b) {
        return mem_a > mem_b ? -1 : 1;
    }
    if (a->vm_count != b->vm_count) {
        return a->vm_count < b->vm_count ? -1 : 1;
    }
    cmp = g_strcmp0(a->host_name, b->host_name);
    if (cmp != 0) {
        return cmp;
    }
    return g_strcmp0(a->host_id, b->host_id);
}

GPtrArray *mgr_scheduler_assess(const MgrScheduleRequest *req, GPtrArray *hosts)
{
    g_autoptr(GPtrArray) verdicts = NULL;
    MgrVerdict *best = NULL;

    g_return_val_if_fail(req != NULL && req->vm != NULL, NULL);
    g_return_val_if_fail(req->cluster != NULL, NULL);

    verdicts = g_ptr_array_new_with_free_func((GDestroyNotify)mgr_verdict_free);
    for (guint i = 0; hosts != NULL && i < hosts->len; i++) {
        MgrVerdict *verdict =
            sched_assess_host(req, g_ptr_array_index(hosts, i));
        SchedRank rank = sched_rank_of_verdict(verdict);
        SchedRank best_rank;

        g_ptr_array_add(verdicts, verdict);
        if (best != NULL) {
            best_rank = sched_rank_of_verdict(best);
        }
        /* strictly better only: the earlier of two equals stays */
        if (verdict->allowed &&
            (best == NULL || sched_compare(&rank, &best_rank) < 0)) {
            best = verdict;
        }
    }
    if (best != NULL) {
        best->best = TRUE;
    }
    return g_steal_pointer(&verdicts);
}

MgrHostLoad *mgr_scheduler_pick(const MgrScheduleRequest *req, GPtrArray *hosts)
{
    MgrScheduleRequest quick = *req;
    g_autoptr(GHashTable) memo = NULL;
    MgrHostLoad *best = NULL;
    SchedRank best_rank = {0};

    if (quick.memo == NULL) {
        memo = g_hash_table_new(NULL, NULL);
        quick.memo = memo;
    }
    for (guint i = 0; hosts != NULL && i < hosts->len; i++) {
        MgrHostLoad *load = g_ptr_array_index(hosts, i);
        SchedRank rank;

        if (!mgr_scheduler_allows(&quick, load, &rank.cpu_after_percent)) {
            continue;
        }
        rank.free_memory_mib = load->free_memory_mib;
        rank.vm_count = load->vm_count;
        rank.host_name = load->host->name;
        rank.host_id = load->host->id;
        if (best == NULL || sched_compare(&rank, &best_rank) < 0) {
            best = load;
            best_rank = rank;
        }
    }
    return best;
}

MgrVerdict *mgr_scheduler_best(GPtrArray *verdicts)
{
    for (guint i = 0; verdicts != NULL && i < verdicts->len; i++) {
        MgrVerdict *verdict = g_ptr_array_index(verdicts, i);

        if (verdict->best) {
            return verdict;
        }
    }
    return NULL;
}

/* ---- explanations ---- */

static void sched_append_reasons(GString *out, const MgrVerdict *verdict,
                                 gboolean *first)
{
    for (guint i = 0; verdict->reasons != NULL && i < verdict->reasons->len;
         i++) {
        g_string_append(out, *first ? ": " : "; ");
        g_string_append(out, g_ptr_array_index(verdict->reasons, i));
        *first = FALSE;
    }
}

char *mgr_scheduler_explain(const MgrScheduleRequest *req, GPtrArray *verdicts)
{
    GString *out = g_string_new(NULL);
    const char *vm_name = sched_vm_name(req->vm);
    g_autoptr(GPtrArray) allowed = g_ptr_array_new();
    gboolean first = TRUE;

    if (verdicts == NULL || verdicts->len == 0) {
        g_string_printf(out, "no host can take VM %s: cluster %s has no hosts",
                        vm_name, req->cluster->name);
        return g_string_free(out, FALSE);
    }
    for (guint i = 0; i < verdicts->len; i++) {
        MgrVerdict *verdict = g_ptr_array_index(verdicts, i);

        if (verdict->allowed) {
            g_ptr_array_add(allowed, verdict->host_name);
        }
    }
    if (allowed->len == 0) {
        g_string_printf(out, "no host can take VM %s", vm_name);
    } else {
        g_autofree char *names = NULL;

        /* not the intended use, but then say which hosts would do */
        g_ptr_array_add(allowed, NULL);
        names = g_strjoinv(", ", (char **)allowed->pdata);
        g_string_printf(out, "only %s can take VM %s", names, vm_name);
    }
    for (guint i = 0; i < verdicts->len; i++) {
        sched_append_reasons(out, g_ptr_array_index(verdicts, i), &first);
    }
    return g_string_free(out, FALSE);
}

char *mgr_scheduler_explain_host(const MgrScheduleRequest *req,
                                 const MgrVerdict *verdict)
{
    GString *out;
    gboolean first = TRUE;

    if (verdict->allowed) {
        return NULL;
    }
    out = g_string_new(NULL);
    g_string_printf(out, "%s cannot take VM %s", verdict->host_name,
                    sched_vm_name(req->vm));
    sched_append_reasons(out, verdict, &first);
    return g_string_free(out, FALSE);
}

char *mgr_scheduler_cannot_migrate(const MgrVm *vm, const MgrHost *source,
                                   MgrScheduleKind kind)
{
    g_autoptr(GPtrArray) reasons = g_ptr_array_new_with_free_func(g_free);
    const char *vm_name = sched_vm_name(vm);
    DrvMigrationMode mode = vm->spec != NULL
                                ? vm->spec->migration_mode
                                : DRV_MIGRATION_MODE_MANUAL_AND_AUTOMATIC;

    if (!sched_is_migration(kind)) {
        return NULL;
    }
    if (mode == DRV_MIGRATION_MODE_DISABLED) {
        g_ptr_array_add(reasons,
                        g_strdup_printf("%s cannot be migrated: its migration "
                                        "mode is disabled",
                                        vm_name));
    } else if (mode == DRV_MIGRATION_MODE_MANUAL_ONLY &&
               kind == MGR_SCHEDULE_AUTOMATIC) {
        g_ptr_array_add(reasons,
                        g_strdup_printf("%s cannot be migrated automatically: "
                                        "its migration mode is manual_only",
                                        vm_name));
    }
    /* pinned to its own host alone: no destination can ever be allowed */
    if (source != NULL && sched_pinned_only_to(vm, source)) {
        g_ptr_array_add(reasons,
                        g_strdup_printf("%s is pinned to %s, where it runs",
                                        vm_name, source->name));
    }
    if (reasons->len == 0) {
        return NULL;
    }
    g_ptr_array_add(reasons, NULL);
    return g_strjoinv("; ", (char **)reasons->pdata);
}
