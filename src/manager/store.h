/*
 * The manager's state store: SQLite, one file, WAL journal, foreign keys on,
 * and a schema version that upgrades itself (user_version + ordered upgrade
 * steps), so that restarting droverd loses nothing and a newer droverd opens
 * an older store.
 *
 * Writes are small and local (WAL, synchronous=NORMAL: a commit does not wait
 * for the disk), so the daemon makes them on its main loop.
 *
 * Every function returns FALSE/NULL with a GError in DRV_ERROR on failure;
 * SQLite's own message is kept.
 */
#pragma once

#include "manager/model.h"

G_BEGIN_DECLS

#define MGR_STORE_SCHEMA_VERSION 3

typedef struct _MgrStore MgrStore;

/*
 * Open (creating) the store at @path; ":memory:" for tests.  A new store
 * gets one cluster, "default" (CPU baseline qemu64).
 */
MgrStore *mgr_store_open(const char *path, GError **error);
void mgr_store_close(MgrStore *store);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MgrStore, mgr_store_close)

int mgr_store_schema_version(MgrStore *store);

/* Transactions group several writes (nesting is not supported). */
gboolean mgr_store_begin(MgrStore *store, GError **error);
gboolean mgr_store_commit(MgrStore *store, GError **error);
void mgr_store_rollback(MgrStore *store);

/* Load everything of a kind, as GPtrArrays owning their elements. */
GPtrArray *mgr_store_load_clusters(MgrStore *store, GError **error);
GPtrArray *mgr_store_load_hosts(MgrStore *store, GError **error);
GPtrArray *mgr_store_load_vms(MgrStore *store, GError **error);
/* Active migrations and the newest @history ended ones. */
GPtrArray *mgr_store_load_migrations(MgrStore *store, guint history,
                                     GError **error);

/* Insert or replace by id. */
gboolean mgr_store_save_cluster(MgrStore *store, const MgrCluster *cluster,
                                GError **error);
gboolean mgr_store_save_host(MgrStore *store, const MgrHost *host,
                             GError **error);
gboolean mgr_store_save_vm(MgrStore *store, const MgrVm *vm, GError **error);
/* Assigns mig->seq on first save (arrival order). */
gboolean mgr_store_save_migration(MgrStore *store, MgrMigration *mig,
                                  GError **error);

/* Deleting what something still refers to fails (foreign keys). */
gboolean mgr_store_delete_cluster(MgrStore *store, const char *id,
                                  GError **error);
gboolean mgr_store_delete_host(MgrStore *store, const char *id, GError **error);
gboolean mgr_store_delete_vm(MgrStore *store, const char *id, GError **error);

/* Ended migrations beyond the newest @keep are deleted. */
gboolean mgr_store_prune_migrations(MgrStore *store, guint keep,
                                    GError **error);

/* Appends @event, setting event->seq (and time_us if 0). */
gboolean mgr_store_append_event(MgrStore *store, MgrEvent *event,
                                GError **error);
/* Events with seq >= @from, oldest first, at most @max. */
GPtrArray *mgr_store_list_events(MgrStore *store, gint64 from, guint max,
                                 GError **error);
gint64 mgr_store_last_event_seq(MgrStore *store);
/* Keep the newest @keep events. */
gboolean mgr_store_prune_events(MgrStore *store, guint keep, GError **error);

G_END_DECLS
