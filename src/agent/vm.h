/*
 * A VM on this host: its spec, its QEMU process (started daemonized, so it
 * outlives the agent), the QMP connection and the captured console.  The
 * record is persisted under state_dir/vms/ID/vm.json so that a restarted
 * agent reattaches to the running QEMU instead of starting or forgetting it.
 *
 * States: starting → running ⇄ paused; running → migrating (source side)
 * → (gone from this host) | running; incoming (destination side, QEMU
 * paused waiting for the stream) → running; running → shutting_down →
 * down.  A down VM stays listed, with its exit reason, until destroyed.
 */
#pragma once

#include "agent/agent.h"
#include "agent/console.h"
#include "qmp/qmp.h"

G_BEGIN_DECLS

typedef enum {
    AGENT_VM_STARTING,
    AGENT_VM_RUNNING,
    AGENT_VM_PAUSED,
    AGENT_VM_MIGRATING,
    AGENT_VM_INCOMING,
    AGENT_VM_SHUTTING_DOWN,
    AGENT_VM_DOWN,
} AgentVmState;

#define AGENT_VM_CONSOLE_RING 4096
#define AGENT_VM_QMP_CONNECT_MS 10000
#define AGENT_VM_DESTROY_WAIT_MS 10000

struct _AgentVm {
    gint ref;
    Agent *agent; /* borrowed: the agent outlives its VMs */
    DrvVmSpec *spec;
    AgentVmState state;
    char *dir;
    char *machine;
    guint64 ram_kib; /* what QEMU gets: see agent_qemu_ram_kib() */
    AgentQemuPaths *paths;
    GPid pid;
    guint exit_watch;
    QmpClient *qmp;
    AgentConsole *console;
    char *exit_reason;
    char *shutdown_reason; /* from QEMU's SHUTDOWN event */
    gint64 created_us;
    gint64 started_us;
    /* QEMU timestamps of the last STOP and RESUME events */
    gint64 last_stop_us;
    gint64 last_resume_us;
    /* CPU use, percent of all the host's CPUs, and its last sample */
    double cpu_percent;
    guint64 cpu_ticks;
    gint64 cpu_sampled_us;
    AgentMigration *migration; /* the one in progress, owned by the agent */
    /* the last dirty-rate sample (-1: none) and the one under way */
    gint64 dirty_rate_bps;
    gint64 dirty_rate_us;
    GPtrArray *dirty_rate_waiters; /* GTask; NULL when none is under way */
    guint dirty_rate_seconds;
    gint64 dirty_rate_deadline_us; /* monotonic: QEMU has not answered */
    guint shutdown_timer;
    gboolean destroying;
    GPtrArray *exit_waiters; /* GTask waiting for the process to go */
};

const char *agent_vm_state_name(AgentVmState state);

/* @ram_kib: 0 to decide it for this host (a new VM). */
AgentVm *agent_vm_new(Agent *agent, DrvVmSpec *spec, const char *machine,
                      guint64 ram_kib);
AgentVm *agent_vm_ref(AgentVm *vm);
void agent_vm_unref(AgentVm *vm);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AgentVm, agent_vm_unref)

AgentVm *agent_vm_lookup(Agent *agent, const char *id, GError **error);

/*
 * Start QEMU for @vm (already in the agent's table), attach QMP and the
 * console; unless @incoming, let the guest run.  On failure the QEMU is
 * gone again; the caller removes the record.
 */
void agent_vm_start_async(AgentVm *vm, AgentQemuStart start,
                          GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data);
gboolean agent_vm_start_finish(AgentVm *vm, GAsyncResult *result,
                               GError **error);

/* Load every persisted VM and reattach to its QEMU if it still runs. */
void agent_vm_recover_all_async(Agent *agent, GCancellable *cancellable,
                                GAsyncReadyCallback callback,
                                gpointer user_data);
gboolean agent_vm_recover_all_finish(Agent *agent, GAsyncResult *result,
                                     GError **error);

/* ACPI power button, then destroy after @timeout_s. */
gboolean agent_vm_shutdown(AgentVm *vm, guint timeout_s, GError **error);

/*
 * Stop QEMU (quit, then SIGKILL) and wait until the process is gone.  The
 * record stays, down; agent_vm_remove() forgets it.
 */
void agent_vm_kill_async(AgentVm *vm, const char *reason,
                         GAsyncReadyCallback callback, gpointer user_data);
gboolean agent_vm_kill_finish(AgentVm *vm, GAsyncResult *result,
                              GError **error);

/* Drop the VM from the agent and delete its files (console log kept
 * as state_dir/vms/ID.console.log for the record). */
void agent_vm_remove(AgentVm *vm);

void agent_vm_set_state(AgentVm *vm, AgentVmState state, const char *reason);
gboolean agent_vm_save(AgentVm *vm, GError **error);

/*
 * Run a QMP command on the VM's QEMU; DRV_ERROR_CONFLICT when not attached.
 * With @fd >= 0, a copy of it goes along (QEMU's getfd).
 */
void agent_vm_qmp_with_fd_async(AgentVm *vm, const char *command,
                                JsonObject *arguments, int fd, guint timeout_ms,
                                GAsyncReadyCallback callback,
                                gpointer user_data);
void agent_vm_qmp_async(AgentVm *vm, const char *command, JsonObject *arguments,
                        guint timeout_ms, GAsyncReadyCallback callback,
                        gpointer user_data);
JsonNode *agent_vm_qmp_finish(AgentVm *vm, GAsyncResult *result,
                              GError **error);

/*
 * Measure how fast the guest dirties memory over @seconds (QEMU's
 * calc-dirty-rate, page sampling: the guest is not slowed).  One
 * measurement per VM at a time: QEMU refuses a second.
 */
#define AGENT_VM_DIRTY_RATE_MAX_S 60
void agent_vm_dirty_rate_async(AgentVm *vm, guint seconds,
                               GAsyncReadyCallback callback,
                               gpointer user_data);
/* Bytes per second, or -1 with @error. */
gint64 agent_vm_dirty_rate_finish(AgentVm *vm, GAsyncResult *result,
                                  GError **error);
/* The last sample, when it is younger than @max_age_us. */
gboolean agent_vm_dirty_rate_recent(AgentVm *vm, gint64 max_age_us,
                                    gint64 *rate);
/* Take a sample in the background when the last is @interval_s old. */
void agent_vm_refresh_dirty_rate(AgentVm *vm, guint interval_s);

/* Take a CPU sample of the VM's QEMU, for cpu_percent. */
void agent_vm_sample_cpu(AgentVm *vm, guint host_cpus);

/* Whether QEMU's vCPUs run, as the last STOP/RESUME event said. */
gboolean agent_vm_is_running(AgentVm *vm);

JsonObject *agent_vm_to_json(AgentVm *vm, gboolean with_spec);

/* Memory (MiB) this VM holds on the host: its RAM plus QEMU overhead. */
guint64 agent_vm_committed_mib(AgentVm *vm);

G_END_DECLS
