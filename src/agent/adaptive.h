/*
 * drover's adaptive convergence controller (docs/policies.md).
 *
 * It starts at full bandwidth with a low downtime target, and XBZRLE,
 * throttling and post-copy ready.  From the migration's own figures — the
 * rate pages are sent and dirtied, what each pass leaves — it predicts
 * whether pre-copy converges; when it cannot (the guest dirties about as
 * fast as the link carries), it switches to post-copy where the VM allows
 * it, else lets auto-converge throttle the guest; when more is left after
 * the first pass than the pause can carry, re-sent pages go as XBZRLE
 * deltas.  Past its time budget it
 * accepts a longer pause, and pauses the guest only as the last resort.
 */
#pragma once

#include "agent/policy.h"

G_BEGIN_DECLS

#define AGENT_ADAPTIVE_DOWNTIME_TARGET_MS 50
#define AGENT_ADAPTIVE_TIME_BUDGET_S 120

typedef struct _AgentAdaptive AgentAdaptive;

/* Fills @initial with how an adaptive migration starts. */
AgentAdaptive *agent_adaptive_new(const AgentPolicy *policy,
                                  const AgentControllerContext *ctx,
                                  AgentPolicyInitial *initial);
void agent_adaptive_free(AgentAdaptive *ad);

/* One progress sample of a running pre-copy: append actions to @out. */
void agent_adaptive_step(AgentAdaptive *ad,
                         const AgentMigrationProgress *progress, guint stalled,
                         GPtrArray *out);

/*
 * Whether post-copy should be armed, from a dirty-rate sample (bytes/s;
 * negative: none) and the link (bytes/s); sets @why.
 */
gboolean agent_adaptive_postcopy_wanted(double dirty_bps, double link_bps,
                                        char **why);
/* Whether post-copy is there to switch to (armed and allowed). */
void agent_adaptive_arm_postcopy(AgentAdaptive *ad, gboolean armed);

/* The link's rate in bytes/s, judged from a progress sample. */
double agent_adaptive_link_bps(const AgentControllerContext *ctx,
                               const AgentMigrationProgress *p);

/*
 * Resolves XBZRLE in @initial before the stream, from the same sample and
 * link as the post-copy decision; sets @why.
 */
void agent_adaptive_plan_compression(AgentAdaptive *ad,
                                     AgentPolicyInitial *initial,
                                     double dirty_bps, double link_bps,
                                     char **why);

/* {"strategy", "total_ms", "downtime_ms", ...} once predicted, or NULL. */
JsonObject *agent_adaptive_prediction(AgentAdaptive *ad);

G_END_DECLS
