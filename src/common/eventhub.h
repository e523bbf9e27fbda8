/*
 * An event hub: the last events of a daemon in a bounded ring, for clients
 * that poll (GET .../events?from=N), and pushed to Server-Sent Event
 * subscribers (GET .../events/stream).  Events are complete JSON objects
 * with a growing sequence number; the daemon decides what they hold.
 */
#pragma once

#include <json-glib/json-glib.h>

#include "common/http.h"

G_BEGIN_DECLS

#define DRV_EVENT_HUB_KEEPALIVE_S 15

typedef struct _DrvEventHub DrvEventHub;

/*
 * @ring: events kept; @max_subscribers: streams at once; @max_backlog:
 * bytes a subscriber may fall behind before it is disconnected.
 */
DrvEventHub *drv_event_hub_new(guint ring, guint max_subscribers,
                               gsize max_backlog);
void drv_event_hub_free(DrvEventHub *hub);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DrvEventHub, drv_event_hub_free)

/* The sequence number the next event should carry (1 for the first). */
guint64 drv_event_hub_next_seq(DrvEventHub *hub);

/*
 * Publish @event (ownership taken) as number @seq, of type @type (the SSE
 * "event:" field).  @seq must be at least drv_event_hub_next_seq().
 */
void drv_event_hub_publish(DrvEventHub *hub, guint64 seq, const char *type,
                           JsonObject *event);

/* {"events": [...], "next": N} for seq >= @from, at most @max. */
JsonObject *drv_event_hub_list(DrvEventHub *hub, guint64 from, guint max);

/*
 * Turn @req into an SSE stream of the events from seq @from on (what the
 * ring still holds first).  DRV_ERROR_BUSY past the subscriber bound.
 */
gboolean drv_event_hub_subscribe(DrvEventHub *hub, DrvHttpRequest *req,
                                 guint64 from, GError **error);

G_END_DECLS
