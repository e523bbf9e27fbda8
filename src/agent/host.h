/*
 * Host facts: CPU, memory, load and utilization, storage domains and
 * networks as this host sees them.  The /proc parsers take text so that the
 * unit tests feed them recorded files.
 */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef struct {
    char *vendor;     /* "AuthenticAMD" */
    char *model_name; /* "AMD EPYC ..." */
    GStrv flags;      /* sorted */
    guint cpus;       /* logical processors */
} AgentCpuInfo;

void agent_cpu_info_free(AgentCpuInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AgentCpuInfo, agent_cpu_info_free)

AgentCpuInfo *agent_host_parse_cpuinfo(const char *text, GError **error);
gboolean agent_host_parse_meminfo(const char *text, guint64 *total_kib,
                                  guint64 *available_kib, GError **error);
/* Aggregate "cpu" line: busy and total jiffies. */
gboolean agent_host_parse_stat(const char *text, guint64 *busy, guint64 *total,
                               GError **error);
gboolean agent_host_parse_loadavg(const char *text, double load[3],
                                  GError **error);
/*
 * CPU time (user + system, in clock ticks) of a process from its
 * /proc/PID/stat; the command name may hold spaces and parentheses.
 */
gboolean agent_host_parse_pid_stat(const char *text, guint64 *cpu_ticks,
                                   GError **error);

/*
 * CPU utilization over the last sampling interval, sampled from /proc/stat
 * by a timer on the thread-default main context.
 */
typedef struct _AgentCpuMonitor AgentCpuMonitor;
AgentCpuMonitor *agent_cpu_monitor_new(guint interval_ms);
/* The same, sampling another file in /proc/stat format (tests). */
AgentCpuMonitor *agent_cpu_monitor_new_for_file(const char *stat_path,
                                                guint interval_ms);
void agent_cpu_monitor_free(AgentCpuMonitor *monitor);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AgentCpuMonitor, agent_cpu_monitor_free)
/* Percent of all CPUs busy, 0–100; -1 before the second sample. */
double agent_cpu_monitor_get_percent(AgentCpuMonitor *monitor);

/*
 * {"name", "path", "exists", "readable", "writable", "total_bytes",
 *  "free_bytes"} for the storage domain @name at directory @path.
 */
JsonObject *agent_host_storage_status(const char *name, const char *path);
gboolean agent_host_storage_usable(const char *path);

/*
 * {"name", "kind": "user"|"bridge", "bridge"?, "available", "reason"?}:
 * user networking is always available; a bridge when its interface exists
 * (/sys/class/net/NAME/bridge).
 */
JsonObject *agent_host_network_status(const char *name, const char *kind);

/*
 * The link speed (Mbit/s) of the interface that has @address, from
 * /sys/class/net/IF/speed; 0 when unknown (loopback, virtual links).
 */
guint agent_host_nic_speed_mbps(const char *address);
/* As above for the interface named @ifname; @sysfs is /sys/class/net. */
guint agent_host_nic_speed_of(const char *sysfs, const char *ifname);
gboolean agent_host_network_available(const char *kind);

G_END_DECLS
