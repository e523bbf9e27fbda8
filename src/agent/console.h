/*
 * A VM's serial console, captured by the agent.
 *
 * QEMU serves the console on a UNIX socket; the agent connects before the
 * guest runs, reads lines, stamps each with the host time and a sequence
 * number, appends it to the VM's console log and keeps the last lines in
 * memory for the API.  The log line format is
 *     SEQ TIMESTAMP TEXT
 * with TIMESTAMP in UTC with microseconds (2026-11-23T01:02:03.456789Z).
 * When the log passes its size bound it is renamed to LOG.1 (replacing an
 * older one) and a new log starts.  A console reopened on an existing log
 * (agent restart) continues its sequence numbers and reloads its tail.
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define AGENT_CONSOLE_MAX_LINE 4096

typedef struct _AgentConsole AgentConsole;

/* Called for each captured line, after it is logged. */
typedef void (*AgentConsoleLineFunc)(AgentConsole *console, guint64 seq,
                                     gint64 time_us, const char *text,
                                     gpointer user_data);

/*
 * @ring_lines: lines kept in memory (bounded); @max_log_bytes: rotation
 * threshold.  Opens (creates) the log and reloads its tail.
 */
AgentConsole *agent_console_new(const char *socket_path, const char *log_path,
                                gsize max_log_bytes, guint ring_lines,
                                GError **error);
void agent_console_free(AgentConsole *console);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AgentConsole, agent_console_free)

void agent_console_set_line_handler(AgentConsole *console,
                                    AgentConsoleLineFunc func,
                                    gpointer user_data);

/*
 * Connect to the socket (retrying while it does not exist yet, up to
 * @timeout_ms) and start reading in the background.  Completes once
 * connected.  After EOF (QEMU gone) the console stays readable.
 */
void agent_console_connect_async(AgentConsole *console, guint timeout_ms,
                                 GCancellable *cancellable,
                                 GAsyncReadyCallback callback,
                                 gpointer user_data);
gboolean agent_console_connect_finish(AgentConsole *console,
                                      GAsyncResult *result, GError **error);

gboolean agent_console_is_connected(AgentConsole *console);

/*
 * Lines with seq >= @from, at most @max, oldest first, as
 * [{"seq": N, "time": "ISO", "time_us": N, "text": "..."}].  *@next is the
 * seq to ask for next time.
 */
JsonArray *agent_console_read(AgentConsole *console, guint64 from, guint max,
                              guint64 *next);

/* Stop reading and close the socket; the log and ring stay. */
void agent_console_disconnect(AgentConsole *console);

G_END_DECLS
