/*
 * The agent's event stream: VM state changes, migration progress and
 * results, and QEMU's own events, each with a sequence number.  The last
 * events are kept in a bounded ring for clients that poll
 * (GET /v1/events?from=N) and pushed to Server-Sent Event subscribers
 * (GET /v1/events/stream).
 */
#pragma once

#include <json-glib/json-glib.h>

#include "common/http.h"

G_BEGIN_DECLS

#define AGENT_EVENTS_RING 2048
#define AGENT_EVENTS_MAX_SUBSCRIBERS 32
#define AGENT_EVENTS_MAX_BACKLOG (1024 * 1024)

typedef struct _AgentEvents AgentEvents;

AgentEvents *agent_events_new(void);
void agent_events_free(AgentEvents *events);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AgentEvents, agent_events_free)

/*
 * Emit @type ("vm_state", "migration_progress", "migration_done",
 * "qemu_event", ...) with @data (ownership taken).
 */
void agent_events_emit(AgentEvents *events, const char *type, JsonObject *data);

/* {"events": [...], "next": N} for seq >= @from, at most @max. */
JsonObject *agent_events_list(AgentEvents *events, guint64 from, guint max);

/*
 * Turn @req into an SSE stream of events from seq @from on (the ring's
 * content first).  Fails with DRV_ERROR_BUSY past the subscriber bound.
 */
gboolean agent_events_subscribe(AgentEvents *events, DrvHttpRequest *req,
                                guint64 from, GError **error);

G_END_DECLS
