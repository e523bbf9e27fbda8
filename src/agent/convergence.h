/*
 * Migration parameters and the convergence controller.
 *
 * The controller is fed every progress sample of a running migration and
 * answers with the actions to take.  Today it carries out what the request
 * asked for (post-copy after N passes, the time bound); the policy engine
 * builds on the same interface.
 */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef struct {
    char *policy;         /* recorded with the result */
    guint downtime_ms;    /* 0: QEMU's default */
    guint bandwidth_mbps; /* 0: the host's migration bandwidth */
    gboolean auto_converge;
    gboolean compression;         /* XBZRLE */
    gboolean post_copy;           /* allowed: capability on both ends */
    guint post_copy_after_passes; /* 0: only when asked */
    guint timeout_s;              /* 0: the host's migration_timeout_s */
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
    guint64 pass;
    guint throttle_percent;
    guint max_throttle_percent;
    gint64 expected_downtime_ms;
    gint64 elapsed_ms;
    guint64 xbzrle_pages;
} AgentMigrationProgress;

void agent_migration_progress_clear(AgentMigrationProgress *progress);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(AgentMigrationProgress,
                                 agent_migration_progress_clear)
/* Fold a query-migrate answer into @progress. */
void agent_migration_progress_update(AgentMigrationProgress *progress,
                                     JsonObject *info);
void agent_migration_progress_to_json(const AgentMigrationProgress *progress,
                                      JsonObject *out);

typedef enum {
    AGENT_CONVERGENCE_NONE,
    AGENT_CONVERGENCE_START_POSTCOPY,
    AGENT_CONVERGENCE_ABORT_TIMEOUT,
} AgentConvergenceAction;

typedef struct _AgentConvergence AgentConvergence;

AgentConvergence *agent_convergence_new(const AgentMigrationParams *params,
                                        guint default_timeout_s);
void agent_convergence_free(AgentConvergence *conv);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AgentConvergence, agent_convergence_free)

/* The next action for the sample @progress (at most one per sample). */
AgentConvergenceAction
agent_convergence_step(AgentConvergence *conv,
                       const AgentMigrationProgress *progress);

G_END_DECLS
