/*
 * Following migrations until they end: "vm migrate --wait" (one) and
 * "host maintenance --wait" (all of a host's migrations with one
 * correlation id).  On a terminal one bar per migration, redrawn in place;
 * elsewhere a plain line per migration when it changed, at most one a
 * second.  Polls GET /api/migrations every CLI_POLL_MS.
 */
#pragma once

#include "cli/cli.h"

G_BEGIN_DECLS

#define CLI_POLL_MS 500
#define CLI_PLAIN_INTERVAL_US G_USEC_PER_SEC

/* ---- the display, pure: it returns the text to write ---- */

typedef struct _CliProgressView CliProgressView;

CliProgressView *cli_progress_view_new(gboolean tty, guint width);
void cli_progress_view_free(CliProgressView *view);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CliProgressView, cli_progress_view_free)

/*
 * The text that brings the display up to date with @migrations (JsonObject
 * *, manager migrations) at monotonic time @now_us; "" when nothing is to
 * be written.
 */
char *cli_progress_view_update(CliProgressView *view, GPtrArray *migrations,
                               gint64 now_us);
/* The text that closes the display (a newline after bars), maybe "". */
char *cli_progress_view_finish(CliProgressView *view);

/* ---- waiting ---- */

/*
 * Follow migration @id until it ends.  Completed: the result line (or the
 * migration's JSON with --json) on stdout, TRUE.  Failed or cancelled:
 * FALSE with the one-line reason.
 */
gboolean cli_wait_migration(CliContext *ctx, const char *id, GError **error);

/*
 * Follow the maintenance of host @host_id (@host_name for messages) whose
 * migrations carry @correlation_id, until the host is in maintenance
 * (TRUE) or its maintenance failed: no migration left queued or running and
 * at least one failed or cancelled, which names the VM and the reason.
 */
gboolean cli_wait_maintenance(CliContext *ctx, const char *host_id,
                              const char *host_name, const char *correlation_id,
                              GError **error);

/*
 * Poll VM @vm_id until its status is @want ("up", "down").  A start that
 * ends down again, or a stop that ends up, fails with the VM's reason.
 */
gboolean cli_wait_vm_status(CliContext *ctx, const char *vm_id,
                            const char *want, GError **error);

G_END_DECLS
