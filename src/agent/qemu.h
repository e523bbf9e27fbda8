/*
 * QEMU processes: the command line built from a VM spec, the start of a
 * daemonized QEMU (so that it outlives the agent), the watch on its exit,
 * and the probe of what this host's QEMU can run.
 *
 * QEMU is always started paused (-S): the agent attaches the console
 * before the guest prints its first line, and a migration destination must
 * not run before the finish phase.
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "agent/config.h"
#include "common/vmspec.h"

G_BEGIN_DECLS

/* What the probe found. */
typedef struct {
    char *version;         /* "7.2.22" */
    char *accel;           /* "kvm" or "tcg" */
    GStrv cpu_models;      /* runnable here, sorted */
    GStrv machines;        /* concrete machine types */
    char *default_machine; /* concrete type the "pc" alias stands for */
} AgentQemuCaps;

void agent_qemu_caps_free(AgentQemuCaps *caps);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AgentQemuCaps, agent_qemu_caps_free)

gboolean agent_qemu_caps_has_cpu_model(const AgentQemuCaps *caps,
                                       const char *model);
gboolean agent_qemu_caps_has_machine(const AgentQemuCaps *caps,
                                     const char *machine);

/*
 * Guest RAM in KiB for a VM of @memory_mib.  QEMU before 9.0 under TCG
 * loses guest writes during migration when RAM is a multiple of 256 KiB:
 * its fast dirty-bitmap sync does not re-arm TCG's dirty tracking (fixed
 * upstream by "system/physmem: Fix migration dirty bitmap coherency with
 * TCG memory access").  An extra 128 KiB sends QEMU down its correct path.
 * The figure is decided once, when the VM starts, and travels with it.
 */
guint64 agent_qemu_ram_kib(const AgentQemuCaps *caps, guint memory_mib);
/* Whether @ram_kib is a size agent_qemu_ram_kib() may give @memory_mib. */
gboolean agent_qemu_ram_kib_valid(guint memory_mib, guint64 ram_kib);

/* The paths of one QEMU instance's files. */
typedef struct {
    char *qmp_socket;
    char *console_socket;
    char *pidfile;
    char *kernel;          /* absolute, or NULL */
    GPtrArray *disk_paths; /* absolute, one per spec disk */
} AgentQemuPaths;

void agent_qemu_paths_free(AgentQemuPaths *paths);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AgentQemuPaths, agent_qemu_paths_free)

/*
 * Resolve every file a VM needs on this host: sockets under run_dir, the
 * pidfile in @vm_dir, the kernel under kernel_dir, disks inside their
 * storage domains.  Errors: DRV_ERROR_NO_STORAGE for an unknown domain,
 * DRV_ERROR_INVALID for a path escaping it, DRV_ERROR_NOT_FOUND for a
 * missing kernel or disk image.
 */
AgentQemuPaths *agent_qemu_paths_new(const AgentConfig *config,
                                     const DrvVmSpec *spec, const char *vm_dir,
                                     GError **error);

/* How a QEMU is started: to run, or to receive a migration. */
typedef enum {
    AGENT_QEMU_RUN,
    AGENT_QEMU_INCOMING,          /* -incoming defer */
    AGENT_QEMU_INCOMING_PREALLOC, /* and its RAM allocated first */
} AgentQemuStart;

/*
 * The full argv (argv[0] is the binary).  @start: how (see AgentQemuStart).
 * Errors: DRV_ERROR_NO_NETWORK for a network not configured here.
 */
GStrv agent_qemu_build_argv(const AgentConfig *config, const char *accel,
                            const DrvVmSpec *spec, const char *machine,
                            guint64 ram_kib, const AgentQemuPaths *paths,
                            AgentQemuStart start, GError **error);

/*
 * Run @argv (which must contain -daemonize and -pidfile @pidfile) and wait
 * for the parent to exit; returns the daemon's pid.  On failure the error
 * carries QEMU's own stderr (bounded).
 */
void agent_qemu_spawn_async(GStrv argv, const char *pidfile,
                            GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data);
GPid agent_qemu_spawn_finish(GAsyncResult *result, GError **error);

/*
 * Watch @pid (not necessarily our child) for exit with a pidfd; @func runs
 * once on the thread-default context.  Returns a handle for
 * agent_qemu_unwatch(), 0 if the process is already gone.
 */
typedef void (*AgentQemuExitFunc)(GPid pid, gpointer user_data);
guint agent_qemu_watch(GPid pid, AgentQemuExitFunc func, gpointer user_data);
void agent_qemu_unwatch(guint handle);

/*
 * Whether @pid is alive and is the QEMU of VM @uuid (its command line has
 * "-uuid @uuid"), so that a recycled pid is never mistaken for a VM.
 */
gboolean agent_qemu_pid_matches(GPid pid, const char *uuid);

/* SIGKILL, for when QMP cannot stop it. */
void agent_qemu_kill(GPid pid);

/* Probe the QEMU binary for runnable CPU models and machine types. */
void agent_qemu_probe_async(const AgentConfig *config,
                            GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data);
AgentQemuCaps *agent_qemu_probe_finish(GAsyncResult *result, GError **error);

G_END_DECLS
