/*
 * The VM spec of DESIGN.md §4: parsed strictly from JSON (every bound,
 * every name, every path checked, unknown members refused) and written back
 * to JSON unchanged in meaning, so that the manager, the agent and the
 * destination of a migration all see the same VM.
 */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define DRV_VM_MEMORY_MIN_MIB 16
#define DRV_VM_MEMORY_MAX_MIB (4 * 1024 * 1024)
#define DRV_VM_VCPUS_MAX 256
#define DRV_VM_DISKS_MAX 16
#define DRV_VM_NICS_MAX 8
#define DRV_VM_APPEND_MAX 1024
#define DRV_VM_PINNED_MAX 64
#define DRV_NAME_MAX 64

typedef enum {
    DRV_MIGRATION_MODE_MANUAL_AND_AUTOMATIC,
    DRV_MIGRATION_MODE_MANUAL_ONLY,
    DRV_MIGRATION_MODE_DISABLED,
} DrvMigrationMode;

typedef enum {
    DRV_PRIORITY_LOW,
    DRV_PRIORITY_MEDIUM,
    DRV_PRIORITY_HIGH,
} DrvPriority;

/* A setting a VM may take from its cluster ("inherit") or fix. */
typedef enum {
    DRV_TRISTATE_INHERIT,
    DRV_TRISTATE_FALSE,
    DRV_TRISTATE_TRUE,
} DrvTristate;

typedef enum {
    DRV_DISK_FORMAT_RAW,
    DRV_DISK_FORMAT_QCOW2,
} DrvDiskFormat;

typedef struct {
    char *storage_domain;
    char *path;
    DrvDiskFormat format;
} DrvDiskSpec;

typedef struct {
    char *network;
    char *mac;
} DrvNicSpec;

typedef struct {
    char *id;
    char *name;
    guint memory_mib;
    guint vcpus;
    char *cpu_model;
    char *kernel;
    char *append;
    GPtrArray *disks; /* DrvDiskSpec */
    GPtrArray *nics;  /* DrvNicSpec */
    DrvMigrationMode migration_mode;
    char *migration_policy; /* "inherit" or a policy name */
    DrvTristate auto_converge;
    DrvTristate compression;
    DrvTristate post_copy;
    guint bandwidth_mbps; /* 0: inherit */
    DrvPriority priority;
    gboolean highly_available;
    GStrv pinned_hosts;
} DrvVmSpec;

void drv_vm_spec_free(DrvVmSpec *spec);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DrvVmSpec, drv_vm_spec_free)

/*
 * Parse and validate.  A missing "id" is an error unless @generate_id; a
 * NIC without "mac" gets a random locally administered one.
 */
DrvVmSpec *drv_vm_spec_from_json(JsonObject *obj, gboolean generate_id,
                                 GError **error);
JsonObject *drv_vm_spec_to_json(const DrvVmSpec *spec);
DrvVmSpec *drv_vm_spec_copy(const DrvVmSpec *spec);

const char *drv_migration_mode_name(DrvMigrationMode mode);
const char *drv_priority_name(DrvPriority priority);
gboolean drv_priority_from_name(const char *name, DrvPriority *out);
const char *drv_disk_format_name(DrvDiskFormat format);

/* The built-in migration policies (docs/policies.md), NULL-terminated. */
const char *const *drv_migration_policies(void);
typedef struct {
    const char *name;
    guint downtime_ms;  /* the downtime limit QEMU is given first */
    gboolean post_copy; /* switches to post-copy where that is allowed */
    gboolean throttle;  /* slows a guest that outruns the link */
    /* arms post-copy only where drv_predict_postcopy_needed() says so */
    gboolean post_copy_on_need;
} DrvMigrationPolicy;

/* NULL when @name is not a built-in policy. */
const DrvMigrationPolicy *drv_migration_policy_lookup(const char *name);
/* @what names the setting in the error: "cluster: migration.policy". */
gboolean drv_migration_policy_check(const char *what, const char *name,
                                    gboolean inherit_ok, GError **error);

/*
 * A member that is "inherit", true or false; left as it is when absent, so
 * an update changes only what it names.
 */
gboolean drv_json_get_tristate(JsonObject *obj, const char *what,
                               const char *member, DrvTristate *out,
                               GError **error);
void drv_json_set_tristate(JsonObject *obj, const char *member,
                           DrvTristate value);

/* Names of objects: 1–64 of [A-Za-z0-9._-], starting with a letter/digit. */
gboolean drv_name_is_valid(const char *name);
/* A unicast MAC "xx:xx:xx:xx:xx:xx"; case-insensitive. */
gboolean drv_mac_is_valid(const char *mac);

G_END_DECLS
