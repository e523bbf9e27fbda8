/*
 * A migration's parameters, as a migrate request gives them, and its
 * progress, as QEMU's query-migrate tells it.  What a policy does with them
 * is policy.h's business.
 */
#pragma once

#include <json-glib/json-glib.h>

#include "common/vmspec.h"

G_BEGIN_DECLS

typedef struct {
    char *policy;                 /* the policy's name, recorded */
    guint downtime_ms;            /* 0: the policy's */
    guint bandwidth_mbps;         /* 0: none asked (the host's cap applies) */
    DrvTristate auto_converge;    /* INHERIT: the policy's */
    DrvTristate compression;      /* INHERIT: the policy's (XBZRLE) */
    gboolean post_copy;           /* allowed: capability on both ends */
    guint post_copy_after_passes; /* 0: as the policy decides */
    guint timeout_s;              /* 0: the host's migration_timeout_s */
    /*
     * "stream_tuning": false — the stream as tools that drive QEMU directly
     * leave it: QEMU's own "tcp:" socket, no dirty-rate sample first, the
     * destination's RAM neither mapped nor preallocated.
     */
    gboolean plain_stream;
} AgentMigrationParams;

void agent_migration_params_clear(AgentMigrationParams *params);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(AgentMigrationParams,
                                 agent_migration_params_clear)
/* Parse the optional members of a migrate request into @params. */
gboolean agent_migration_params_parse(JsonObject *request,
                                      AgentMigrationParams *params,
                                      GError **error);
void agent_migration_params_to_json(const AgentMigrationParams *params,
                                    JsonObject *out);
void agent_migration_params_from_json(JsonObject *obj,
                                      AgentMigrationParams *params);

typedef struct {
    char *qemu_status;
    double percent; /* monotonic, <= 99 until completed */
    guint64 total_bytes;
    guint64 remaining_bytes;
    guint64 transferred_bytes;
    double throughput_mbps;
    guint64 dirty_rate_bps;
    guint64 pages_per_second; /* sent, zero pages and deltas included */
    guint64 page_size;
    guint64 zero_pages;   /* sent as zero pages so far */
    guint64 normal_pages; /* sent whole so far */
    guint64 pass;
    guint throttle_percent;
    guint max_throttle_percent;
    gint64 expected_downtime_ms;
    gint64 elapsed_ms;
    guint64 xbzrle_pages;    /* sent as XBZRLE deltas */
    guint64 xbzrle_bytes;    /* what those deltas took */
    guint64 xbzrle_overflow; /* deltas larger than a page: sent whole */
} AgentMigrationProgress;

void agent_migration_progress_clear(AgentMigrationProgress *progress);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(AgentMigrationProgress,
                                 agent_migration_progress_clear)
/* Fold a query-migrate answer into @progress. */
void agent_migration_progress_update(AgentMigrationProgress *progress,
                                     JsonObject *info);
void agent_migration_progress_to_json(const AgentMigrationProgress *progress,
                                      JsonObject *out);
/*
 * The guest's page compressibility as XBZRLE met it: how much smaller than
 * a page a page it tried travelled (page size over the bytes its deltas
 * took, overflows — sent whole — counted as pages); 0 until 1,024 pages
 * went through it.
 */
double
agent_migration_progress_xbzrle_ratio(const AgentMigrationProgress *progress);

G_END_DECLS
