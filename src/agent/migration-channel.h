/*
 * The connection a migration's data travels on, opened by the agent and
 * handed to QEMU ("getfd", then "migrate" with "fd:NAME") rather than
 * left to QEMU's "tcp:" URI, so that the socket can be tuned first.
 *
 * What it is tuned for: QEMU decides to stop the guest when what is left
 * fits its downtime limit at the bandwidth it measured, counting bytes it
 * handed to the socket.  A socket lets the kernel queue megabytes of unsent
 * data (tcp_wmem up to 4 MiB), which all has to cross the link while the
 * guest is paused, and which inflates QEMU's bandwidth figure.  With
 * TCP_NOTSENT_LOWAT the queue of unsent data stays small; what is in flight
 * is still governed by the congestion window, so the link stays full.
 * docs/agent.md has the measurements.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Unsent bytes a migration socket may queue: ~1 ms at 1 Gbit/s. */
#define AGENT_MIGRATION_CHANNEL_NOTSENT_LOWAT (128 * 1024)
#define AGENT_MIGRATION_CHANNEL_CONNECT_TIMEOUT_S 15
/* The name QEMU knows the descriptor by, between getfd and migrate. */
#define AGENT_MIGRATION_CHANNEL_FDNAME "drover-migration"

/* Connects to @address (IPv4, IPv6 or a name) and @port, tuned. */
void agent_migration_channel_connect_async(const char *address, guint port,
                                           GCancellable *cancellable,
                                           GAsyncReadyCallback callback,
                                           gpointer user_data);
GSocketConnection *agent_migration_channel_connect_finish(GAsyncResult *result,
                                                          GError **error);

/* Applies the tuning to a connected TCP socket, and makes it blocking. */
gboolean agent_migration_channel_tune(int fd, GError **error);

/* The unsent-data limit of @fd, or -1 (for tests and the record). */
gint agent_migration_channel_notsent_lowat(int fd);

G_END_DECLS
