/*
 * Live migration between agents, in libvirt's v3 phases:
 *
 *   source                                   destination
 *   ------                                   -----------
 *   prepare: POST /v1/incoming ───────────▶  checks, hooks, QEMU -S
 *                                            -incoming defer, migrate-incoming
 *            ◀─────────── address, port
 *   perform: hooks, capabilities, parameters, migrate; the convergence
 *            controller watches query-migrate and MIGRATION events
 *   finish:  on completed (or post-copy switch-over)
 *            POST /v1/incoming/ID/finish ──▶ wait for the stream, cont
 *            ◀─────────── RESUME timestamp
 *   confirm: quit the source QEMU
 *
 * Failure or cancel before finish: the source keeps (or resumes) its VM and
 * asks the destination to abort, which kills the incoming QEMU.  Once the
 * destination has resumed the guest it owns the VM: the source never
 * resumes after that, and it never resumes while it cannot tell.
 *
 * Each phase is persisted on both agents (state_dir/migrations/ID.json);
 * an agent restarted mid-migration reconciles: destination in prepare →
 * kill the incoming QEMU; source in prepare or perform → cancel and resume
 * the source (unless QEMU completed meanwhile: then finish); source in
 * finish → ask again (finish is idempotent); source in confirm → quit the
 * source QEMU.
 */
#pragma once

#include "agent/agent.h"
#include "agent/convergence.h"
#include "agent/policy.h"

G_BEGIN_DECLS

typedef enum {
    AGENT_MIGRATION_SOURCE,
    AGENT_MIGRATION_DESTINATION,
} AgentMigrationRole;

typedef enum {
    AGENT_MIGRATION_PREPARE,
    AGENT_MIGRATION_PERFORM,
    AGENT_MIGRATION_FINISH,
    AGENT_MIGRATION_CONFIRM,
    AGENT_MIGRATION_ENDED,
} AgentMigrationPhase;

typedef enum {
    AGENT_MIGRATION_ACTIVE,
    AGENT_MIGRATION_COMPLETED,
    AGENT_MIGRATION_FAILED,
    AGENT_MIGRATION_CANCELLED,
} AgentMigrationStatus;

#define AGENT_MIGRATION_POLL_MS 250
#define AGENT_MIGRATION_PREPARE_TIMEOUT_MS 90000
/* the dirty-rate samples before a stream, on both ends (QEMU's least) */
#define AGENT_MIGRATION_SAMPLE_S 1
#define AGENT_MIGRATION_FINISH_TIMEOUT_MS 60000
#define AGENT_MIGRATION_CALL_RETRIES 5
/* An incoming migration nobody connects to within this is abandoned. */
#define AGENT_MIGRATION_INCOMING_IDLE_S 120
#define AGENT_MIGRATION_HISTORY 200

struct _AgentMigration {
    gint ref;
    Agent *agent;
    char *id;
    AgentMigrationRole role;
    AgentMigrationPhase phase;
    AgentMigrationStatus status;
    char *vm_id;
    char *vm_name;
    char *peer_url; /* the other agent */
    char *peer_name;
    char *address; /* destination's migration address */
    guint port;
    AgentMigrationParams params;
    AgentMigrationProgress progress;
    gboolean was_running; /* source guest ran when the migration began */
    /* result */
    gint64 started_us;
    gint64 ended_us;
    gint64 stop_us;   /* source STOP event (QEMU clock) */
    gint64 resume_us; /* destination RESUME event (QEMU clock) */
    gint64 qemu_downtime_ms;
    gint64 qemu_total_ms;
    gboolean postcopy_used;
    gboolean postcopy_armed;   /* postcopy-ram on: post-copy at hand */
    gint64 xbzrle_cache_bytes; /* XBZRLE's cache, fixed at the start; 0: off */
    /* the stream socket's TCP_NOTSENT_LOWAT as read back; -1: QEMU's own */
    gint stream_notsent_lowat;
    /* how the destination readied its RAM: mapped, preallocated, untouched */
    char *dest_ram;
    char *error_code;
    char *error_message;
    AgentPolicy *policy;    /* source: what drives it */
    JsonArray *actions;     /* what the policy did, for the result */
    JsonObject *prediction; /* the controller's, when it made one */
    /* runtime */
    AgentController *controller;
    GCancellable *cancellable;
    guint poll_id;
    guint timer_id;
    gboolean cancel_requested;
    gboolean polling;
    gboolean sampling;             /* source: a dirty-rate sample under way */
    gboolean perform_after_sample; /* source: prepared, waiting for it */
    gint64 sampled_dirty_bps;      /* source: what the plan took; -1 none */
    gboolean postcopy_plan;        /* source: postcopy-ram to go on */
    char *postcopy_why;            /* source: why; NULL: not decided yet */
    double link_peak_bps;          /* source: the stream's best rate */
    guint64 qemu_cap_bps;          /* source: least max-bandwidth given */
    char *qemu_status;             /* last status QEMU reported */
    GPtrArray *waiters;            /* destination: finish requests waiting */
};

const char *agent_migration_role_name(AgentMigrationRole role);
const char *agent_migration_phase_name(AgentMigrationPhase phase);
const char *agent_migration_status_name(AgentMigrationStatus status);

AgentMigration *agent_migration_new(Agent *agent, AgentMigrationRole role,
                                    const char *id, AgentVm *vm);
AgentMigration *agent_migration_ref(AgentMigration *mig);
void agent_migration_unref(AgentMigration *mig);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AgentMigration, agent_migration_unref)

AgentMigration *agent_migration_lookup(Agent *agent, const char *id,
                                       GError **error);
/* Migrations of @role not yet ended. */
guint agent_migration_count_active(Agent *agent, AgentMigrationRole role);

JsonObject *agent_migration_to_json(AgentMigration *mig);
gboolean agent_migration_save(AgentMigration *mig, GError **error);
void agent_migration_set_phase(AgentMigration *mig, AgentMigrationPhase phase);
/*
 * End @mig with @status; @error (may be NULL) is the reason.  Emits the
 * result event, persists, detaches the VM and prunes old history.
 */
void agent_migration_end(AgentMigration *mig, AgentMigrationStatus status,
                         const GError *error);

/*
 * Run the host hooks of @event for @mig's VM, with @spec on stdin.
 * Before-hooks report to @callback (agent_hooks_run_finish()); with
 * @callback NULL (after-hooks) a failure is only logged.
 */
void agent_migration_run_hooks(AgentMigration *mig, const char *event,
                               const DrvVmSpec *spec, GCancellable *cancellable,
                               GAsyncReadyCallback callback,
                               gpointer user_data);

/* Called by the VM for its QMP events and its exit. */
void agent_migration_on_qmp_event(AgentMigration *mig, const char *name,
                                  JsonObject *data, gint64 timestamp_us);
void agent_migration_on_vm_exit(AgentMigration *mig);

/* Load persisted records and reconcile the unfinished ones. */
void agent_migration_recover_all(Agent *agent);

/* An unreachable peer or no answer in time: worth another attempt. */
gboolean agent_migration_error_is_transport(const GError *error);

typedef void (*AgentMigrationPeerReply)(AgentMigration *mig, JsonNode *reply,
                                        GError *error);
/*
 * POST @body (ownership taken) to the destination's /v1/incoming/ID@suffix,
 * again over transport failures up to AGENT_MIGRATION_CALL_RETRIES times;
 * @done gets the answer or the last error.
 */
void agent_migration_call_peer(AgentMigration *mig, const char *suffix,
                               JsonObject *body, AgentMigrationPeerReply done);

/* ---- source (migration-source.c) ---- */

/*
 * POST /v1/vms/ID/migrate: parse @request, check limits, run prepare on the
 * destination.  Completes when prepare has succeeded (the migration then
 * goes on in the background) or failed (the VM untouched).
 */
void agent_migration_start_async(Agent *agent, AgentVm *vm, JsonObject *request,
                                 GAsyncReadyCallback callback,
                                 gpointer user_data);
AgentMigration *agent_migration_start_finish(GAsyncResult *result,
                                             GError **error);

gboolean agent_migration_cancel(AgentMigration *mig, GError **error);
/* Switch a running migration to post-copy now. */
gboolean agent_migration_start_postcopy(AgentMigration *mig, GError **error);
void agent_migration_source_poll(AgentMigration *mig);
void agent_migration_source_recover(AgentMigration *mig);
void agent_migration_source_on_status(AgentMigration *mig, const char *status);

/* ---- destination (migration-dest.c) ---- */

/* POST /v1/incoming: answers {"migration_id", "address", "port"}. */
void agent_migration_incoming_async(Agent *agent, JsonObject *request,
                                    GAsyncReadyCallback callback,
                                    gpointer user_data);
JsonObject *agent_migration_incoming_finish(GAsyncResult *result,
                                            GError **error);

/* POST /v1/incoming/ID/finish: answers {"resume_us"}. */
void agent_migration_finish_async(AgentMigration *mig, gboolean postcopy,
                                  GAsyncReadyCallback callback,
                                  gpointer user_data);
JsonObject *agent_migration_finish_finish(GAsyncResult *result, GError **error);

/* POST /v1/incoming/ID/abort. */
gboolean agent_migration_abort_incoming(AgentMigration *mig, const char *reason,
                                        GError **error);
void agent_migration_dest_on_status(AgentMigration *mig, const char *status);
void agent_migration_dest_recover(AgentMigration *mig);

G_END_DECLS
