/*
 * Host hooks, VDSM-style: the executables in HOOKS_DIR/EVENT/ run one after
 * another in name order, each with the VM spec (JSON) on stdin and a few
 * DROVER_* variables in its environment.  The first one that fails (non-zero
 * exit, killed, or past its timeout) stops the run; its message — the last
 * non-empty line of its stderr, else of its stdout, else the exit status —
 * becomes the error.  Hidden files, directories and files without the
 * execute bit are skipped.  Output is captured up to a bound.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define AGENT_HOOK_OUTPUT_MAX (64 * 1024)

/*
 * @hooks_dir: NULL or a missing EVENT directory means nothing to run.
 * @env: NULL-terminated "KEY=VALUE" strings added to the hook's
 * environment (DROVER_HOOK=@event is always set).
 * Errors: DRV_ERROR_HOOK "hook EVENT/NAME failed: MESSAGE" (or "... timed
 * out after N s"); G_IO_ERROR_CANCELLED if @cancellable fires (the running
 * hook is killed).
 */
void agent_hooks_run_async(const char *hooks_dir, const char *event,
                           const char *stdin_data, const char *const *env,
                           guint timeout_s, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data);
gboolean agent_hooks_run_finish(GAsyncResult *result, GError **error);

G_END_DECLS
