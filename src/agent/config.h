/*
 * drover-agent configuration (GKeyFile):
 *
 *   [agent]
 *   name=host1
 *   listen=127.0.1.1:7001
 *   migration_address=127.0.1.1
 *   state_dir=/var/lib/drover/host1
 *   hooks_dir=/etc/drover/hooks
 *   migration_bandwidth_mbps=1000
 *   max_incoming_migrations=2
 *   max_outgoing_migrations=2
 *   [storage]
 *   shared=/srv/drover/shared
 *   [networks]
 *   vmnet=user
 *
 * Every key, its default and its bounds are in docs/agent.md.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
    char *name;
    char *listen;            /* host:port */
    char *url;               /* http://listen, as peers reach this agent */
    char *migration_address; /* where incoming migration streams arrive */
    char *state_dir;
    char *run_dir;   /* UNIX sockets; short paths (108-byte limit) */
    char *hooks_dir; /* NULL: no hooks */
    char *qemu_binary;
    char *kernel_dir; /* base of relative kernel paths */
    char *accel;      /* "kvm", "tcg" or NULL to detect */
    /*
     * Where the host's CPU utilization comes from: /proc/stat (a real host)
     * or the sum of its VMs' QEMU processes, over @cpus (several agents
     * sharing one machine, as in the demo and the tests).
     */
    gboolean cpu_from_vms;
    /*
     * An incoming QEMU allocates all its RAM before the stream (QEMU's
     * -mem-prealloc) instead of mapping it with a dirty-rate sample of its
     * own; either keeps it up with the source's fast scan after the
     * source's sample (docs/agent.md).  Off by default: its cost grows
     * with the guest, and it commits the whole RAM at once.
     */
    gboolean incoming_prealloc;
    guint cpus;                     /* the host's CPU count as reported */
    guint migration_bandwidth_mbps; /* 0 until resolved: the NIC's speed */
    guint max_incoming_migrations;
    guint max_outgoing_migrations;
    guint memory_reserve_mib;  /* kept for the host itself */
    guint memory_overhead_mib; /* counted per VM beyond its RAM */
    guint shutdown_timeout_s;
    guint hook_timeout_s;
    guint migration_timeout_s;   /* a migration still running is aborted */
    guint dirty_rate_interval_s; /* background samples per VM; 0: none */
    guint console_log_max_kib;   /* per VM, rotated once beyond */
    GStrv cpu_models;            /* NULL: every model QEMU can run here */
    GHashTable *storage;         /* domain name -> directory */
    GHashTable *networks;        /* network name -> "user" or bridge name */
} AgentConfig;

void agent_config_free(AgentConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AgentConfig, agent_config_free)

AgentConfig *agent_config_load(const char *path, GError **error);
/* Parse from text; @origin names it in messages. */
AgentConfig *agent_config_parse(const char *data, const char *origin,
                                GError **error);

G_END_DECLS
