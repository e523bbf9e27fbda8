/*
 * Migration policies (docs/policies.md): how a migration starts, and what
 * changes while it runs.
 *
 * A policy is either a schedule — initial settings and rules triggered by
 * the pass count, stalled passes, elapsed time or growth of the data left,
 * each with an action — or the adaptive controller.  Both are driven the
 * same way: agent_controller_initial() says how to start, and each progress
 * sample given to agent_controller_step() returns the actions to take now.
 * The migration code carries the actions out; the controller decides.
 */
#pragma once

#include <json-glib/json-glib.h>

#include "agent/convergence.h"

G_BEGIN_DECLS

#define AGENT_POLICY_MAX_RULES 32
/* A bandwidth that means "no cap" to QEMU (bytes/s fit in 64 bits). */
#define AGENT_POLICY_UNLIMITED_MBPS 0

/* A capability's mode at the start of a migration. */
typedef enum {
    AGENT_CAP_OFF,
    AGENT_CAP_ON,
    AGENT_CAP_STANDBY, /* enabled idle, so that a rule can turn it on */
} AgentCapMode;

typedef struct {
    guint downtime_ms;
    guint bandwidth_mbps; /* AGENT_POLICY_UNLIMITED_MBPS: no cap */
    AgentCapMode auto_converge;
    AgentCapMode compression;
    guint throttle_initial; /* percent; 0: QEMU's 20 */
} AgentPolicyInitial;

typedef enum {
    AGENT_TRIGGER_PASS,
    AGENT_TRIGGER_STALLED,
    AGENT_TRIGGER_ELAPSED,
    AGENT_TRIGGER_REMAINING_GREW,
} AgentTrigger;

typedef enum {
    AGENT_ACTION_DOWNTIME,        /* value: ms */
    AGENT_ACTION_DOWNTIME_FACTOR, /* value: factor */
    AGENT_ACTION_BANDWIDTH,       /* value: Mbit/s, 0 unlimited */
    AGENT_ACTION_AUTO_CONVERGE,   /* throttle from now on; value: initial % */
    AGENT_ACTION_COMPRESSION,     /* XBZRLE: only at the start (QEMU 7.2) */
    AGENT_ACTION_POSTCOPY,
    AGENT_ACTION_PAUSE,
    AGENT_ACTION_ABORT,
} AgentActionKind;

const char *agent_action_name(AgentActionKind kind);

typedef struct {
    AgentTrigger trigger;
    double threshold;
    gboolean repeat;
    AgentActionKind action;
    double value;
} AgentRule;

typedef struct {
    char *name;
    gboolean adaptive;
    AgentPolicyInitial initial;
    guint n_rules;
    AgentRule rules[AGENT_POLICY_MAX_RULES];
    /* adaptive only */
    guint downtime_target_ms;
    guint time_budget_s;
} AgentPolicy;

void agent_policy_free(AgentPolicy *policy);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AgentPolicy, agent_policy_free)

/*
 * The policy of a migrate request's "policy" member: a built-in name or a
 * schedule object.  NULL @node gives the default, adaptive.
 */
AgentPolicy *agent_policy_from_json(JsonNode *node, GError **error);
AgentPolicy *agent_policy_builtin(const char *name, GError **error);
/* The schedule as JSON (adaptive: its name and parameters). */
JsonObject *agent_policy_to_json(const AgentPolicy *policy);

/* What a controller needs to know of the migration it drives. */
typedef struct {
    gboolean post_copy_allowed;
    guint cap_mbps;               /* the bandwidth granted; 0: none given */
    guint64 memory_bytes;         /* the guest's RAM */
    guint timeout_s;              /* abort past this; 0: none */
    guint post_copy_after_passes; /* a request's own post-copy trigger */
} AgentControllerContext;

typedef struct {
    AgentActionKind kind;
    double value;
    char *why;        /* the trigger, for the record */
    gboolean skipped; /* recorded, not carried out (not allowed) */
} AgentAction;

void agent_action_free(AgentAction *action);
/* Append an action to @out (of AgentAction); takes @why. */
void agent_action_add(GPtrArray *out, AgentActionKind kind, double value,
                      char *why);

typedef struct _AgentController AgentController;

AgentController *agent_controller_new(const AgentPolicy *policy,
                                      const AgentControllerContext *ctx);
void agent_controller_free(AgentController *ctrl);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AgentController, agent_controller_free)

/* How to start (with the request's own settings applied over it). */
const AgentPolicyInitial *agent_controller_initial(AgentController *ctrl);
AgentPolicyInitial *agent_controller_initial_mut(AgentController *ctrl);

/*
 * Feed one progress sample; returns the actions to take now (AgentAction,
 * possibly none), in order.  Post-copy a VM does not allow comes back
 * skipped, to be recorded only.
 */
GPtrArray *agent_controller_step(AgentController *ctrl,
                                 const AgentMigrationProgress *progress);

/*
 * Whether it may, at some point, switch to post-copy (allowed, and armed
 * once that is decided) or throttle.
 */
void agent_controller_means(AgentController *ctrl, gboolean *post_copy,
                            gboolean *throttle);

/*
 * Whether QEMU's postcopy-ram capability should be on for this migration,
 * given the guest's sampled dirty rate (bytes/s; negative: not sampled)
 * and the link (bytes/s).  The capability costs every pre-copy pause (the
 * destination discards its RAM when post-copy is advised, so what it had
 * mapped faults in again), so it is armed only where post-copy may be
 * used: a schedule that names it or a request's trigger, and for adaptive
 * only where the sample says pre-copy may not converge.  Sets @why.
 */
gboolean agent_controller_postcopy_wanted(AgentController *ctrl,
                                          double dirty_bps, double link_bps,
                                          char **why);
/* Post-copy is (not) armed: without, its steps are skipped. */
void agent_controller_arm_postcopy(AgentController *ctrl, gboolean armed);

/*
 * XBZRLE's cache, fixed for the whole migration once the stream starts:
 * adaptive decides it here from the same sample and link (its own
 * "standby"); a schedule's or a request's setting stands.  Sets @why to
 * the reason when it decided, NULL otherwise.
 */
void agent_controller_plan_compression(AgentController *ctrl, double dirty_bps,
                                       double link_bps, char **why);

/* The controller's prediction, once it has made one (adaptive), or NULL. */
JsonObject *agent_controller_prediction(AgentController *ctrl);

/* The downtime QEMU is aiming for now, in ms. */
guint agent_controller_downtime(AgentController *ctrl);

G_END_DECLS
