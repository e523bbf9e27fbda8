/*
 * The agent: one per host.  Holds the configuration, the VMs this host runs
 * (or receives), the migrations it takes part in, the HTTP server and the
 * client used to talk to other agents.  Everything runs on one
 * GMainContext; nothing here blocks.
 */
#pragma once

#include <libsoup/soup.h>

#include "agent/config.h"
#include "agent/host.h"
#include "agent/links.h"
#include "agent/qemu.h"
#include "common/eventhub.h"
#include "common/http.h"

G_BEGIN_DECLS

typedef struct _AgentVm AgentVm;
typedef struct _AgentMigration AgentMigration;

typedef struct _Agent {
    AgentConfig *config;
    char *host_id;          /* persistent, from state_dir/host-id */
    AgentQemuCaps *caps;    /* what this host's QEMU can run */
    GHashTable *vms;        /* id -> AgentVm */
    GHashTable *migrations; /* id -> AgentMigration */
    DrvEventHub *events;
    AgentCpuMonitor *cpu;
    guint vm_cpu_timer;
    SoupServer *server;
    DrvHttpRouter *router;
    SoupSession *session; /* calls to other agents */
    gint64 started_at_us;
    const char *bandwidth_source; /* "config", "nic" or "default" */
    AgentLinks *links;            /* measured rates to other agents */
} Agent;

Agent *agent_new(AgentConfig *config, GError **error);
void agent_free(Agent *agent);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Agent, agent_free)

/*
 * Probe QEMU, reattach to the VMs and migrations a previous run left (see
 * recovery rules in migration.h), then listen.  Completes when serving.
 */
void agent_start_async(Agent *agent, GCancellable *cancellable,
                       GAsyncReadyCallback callback, gpointer user_data);
gboolean agent_start_finish(Agent *agent, GAsyncResult *result, GError **error);

/* Directory of a VM's files: state_dir/vms/ID. */
char *agent_vm_dir(Agent *agent, const char *vm_id);
/* Directory of migration records: state_dir/migrations. */
char *agent_migrations_dir(Agent *agent);

/* The host's CPU utilization, percent (see AgentConfig.cpu_from_vms). */
double agent_cpu_utilization(Agent *agent);

/* Host facts as GET /v1/host reports them. */
JsonObject *agent_host_facts(Agent *agent);

/*
 * Memory (MiB) a new VM of @memory_mib may still use here: the smaller of
 * what the kernel says is available and what is not committed to VMs,
 * after the host reserve.  Negative when overcommitted.
 */
gint64 agent_memory_free_for_vms(Agent *agent);
gboolean agent_check_resources(Agent *agent, const DrvVmSpec *spec,
                               GError **error);

/*
 * Emit an agent event: @type ("vm_state", "migration_progress", ...) and
 * @data (ownership taken) become {"seq", "time_us", "type", "data"}.
 */
void agent_event(Agent *agent, const char *type, JsonObject *data);

/* Register the REST API routes on the agent's router (api.c). */
void agent_api_register(Agent *agent);

G_END_DECLS
