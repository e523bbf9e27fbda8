/*
 * HTTP plumbing shared by the agent and the manager: a router over
 * SoupServer that parses paths like "/v1/vms/{id}/migrate", bounds request
 * bodies, answers every error as {"error": {"code", "message"}}, supports
 * asynchronous replies and Server-Sent Event streams; and a JSON client over
 * SoupSession with bounded response bodies and per-call timeouts.
 */
#pragma once

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

#define DRV_HTTP_DEFAULT_MAX_BODY (1024 * 1024)
#define DRV_HTTP_MAX_PARAMS 4

typedef struct _DrvHttpRequest DrvHttpRequest;
typedef struct _DrvHttpRouter DrvHttpRouter;

typedef void (*DrvHttpHandler)(DrvHttpRequest *req, gpointer user_data);

DrvHttpRouter *drv_http_router_new(gsize max_body);
void drv_http_router_free(DrvHttpRouter *router);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DrvHttpRouter, drv_http_router_free)

/*
 * @pattern: literal segments and "{name}" placeholders, e.g.
 * "/v1/vms/{id}/migrate".  Routes are tried in the order added.
 */
void drv_http_router_add(DrvHttpRouter *router, const char *method,
                         const char *pattern, DrvHttpHandler handler,
                         gpointer user_data);
/* Attach the router as @server's handler for every path. */
void drv_http_router_attach(DrvHttpRouter *router, SoupServer *server);

/*
 * Listen on "host:port" (IPv4 or [IPv6]); port 0 picks one, read it back
 * with drv_http_server_get_port().
 */
gboolean drv_http_server_listen(SoupServer *server, const char *address,
                                GError **error);
guint drv_http_server_get_port(SoupServer *server);

/* Request accessors.  A request is valid until it has been answered. */
const char *drv_http_request_method(DrvHttpRequest *req);
const char *drv_http_request_path(DrvHttpRequest *req);
const char *drv_http_request_param(DrvHttpRequest *req, const char *name);
/* A query parameter, or NULL. */
const char *drv_http_request_query(DrvHttpRequest *req, const char *name);
/* The query parameter as an integer within [min, max], or @fallback. */
gboolean drv_http_request_query_int(DrvHttpRequest *req, const char *name,
                                    gint64 min, gint64 max, gint64 fallback,
                                    gint64 *out, GError **error);
/*
 * The body as a JSON object; an empty body gives an empty object when
 * !@required.  Errors are DRV_ERROR_INVALID.
 */
JsonObject *drv_http_request_json(DrvHttpRequest *req, gboolean required,
                                  GError **error);
/* A request header, or NULL. */
const char *drv_http_request_header(DrvHttpRequest *req, const char *name);
/* Name of the peer for logs ("127.0.0.1:40112"). */
const char *drv_http_request_peer(DrvHttpRequest *req);

/*
 * Keep the request open past the handler's return: the handler calls this,
 * starts asynchronous work and answers later with drv_http_reply_*.  Takes
 * a reference the reply releases.
 */
DrvHttpRequest *drv_http_request_hold(DrvHttpRequest *req);
/* The client went away; a held request then needs no answer. */
gboolean drv_http_request_is_gone(DrvHttpRequest *req);

/* Answer: takes ownership of @node (may be NULL for an empty body). */
void drv_http_reply_json(DrvHttpRequest *req, guint status, JsonNode *node);
void drv_http_reply_object(DrvHttpRequest *req, guint status,
                           JsonObject *object);
/* {"error": {"code", "message", ...}} with the status of the error's code. */
void drv_http_reply_error(DrvHttpRequest *req, const GError *error);
void drv_http_reply_error_literal(DrvHttpRequest *req, int drv_code,
                                  const char *message);

/*
 * Server-Sent Events: switch the answer to a text/event-stream that stays
 * open.  Messages are sent with drv_http_stream_send(); a client that falls
 * more than @max_backlog bytes behind is disconnected (returns FALSE then,
 * as it does once the client has gone).  Close with drv_http_stream_end().
 */
void drv_http_stream_begin(DrvHttpRequest *req, gsize max_backlog);
gboolean drv_http_stream_send(DrvHttpRequest *req, const char *event,
                              const char *id, const char *data);
void drv_http_stream_end(DrvHttpRequest *req);

void drv_http_request_unref(DrvHttpRequest *req);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DrvHttpRequest, drv_http_request_unref)

/* The JSON error body for @error, as drv_http_reply_error() sends it. */
JsonNode *drv_http_error_body(const GError *error);

/* ---- client ---- */

#define DRV_HTTP_CLIENT_MAX_BODY (8 * 1024 * 1024)

SoupSession *drv_http_session_new(void);

/*
 * @method @url with @body (may be NULL) as JSON.  A 2xx answer gives its
 * body parsed (NULL when empty); any other status gives a DRV_ERROR with the
 * code named in the peer's error body and its message verbatim; transport
 * failures give DRV_ERROR_UNREACHABLE naming @url; no answer within
 * @timeout_ms gives DRV_ERROR_TIMEOUT.
 */
void drv_http_call_async(SoupSession *session, const char *method,
                         const char *url, JsonObject *body, guint timeout_ms,
                         GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data);
JsonNode *drv_http_call_finish(GAsyncResult *result, guint *status,
                               GError **error);

G_END_DECLS
