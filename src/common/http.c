#include "common/http.h"

#include <string.h>

#include "common/error.h"
#include "common/json.h"
#include "qmp/qmp.h"

/* ---- server: routing ---- */

typedef struct {
    char *method;
    GStrv segments;
    DrvHttpHandler handler;
    gpointer user_data;
} DrvHttpRoute;

struct _DrvHttpRouter {
    GPtrArray *routes;
    gsize max_body;
};

/* The request body as collected by the early handler, bounded. */
typedef struct {
    GByteArray *data;
    gsize max;
    gboolean too_large;
} DrvHttpBody;

struct _DrvHttpRequest {
    gint ref;
    SoupServerMessage *msg;
    GHashTable *params;
    GHashTable *query;
    DrvHttpBody *body;
    char *peer;
    gboolean answered;
    gboolean paused;
    gboolean dispatched; /* the handler has returned */
    gboolean gone;
    gulong finished_id;
    gulong disconnected_id;
    /* streaming */
    gboolean streaming;
    gsize max_backlog;
    gsize backlog;
    GQueue chunk_sizes;
    gulong wrote_chunk_id;
};

#define DRV_HTTP_BODY_KEY "drv-http-body"

static void drv_http_route_free(gpointer data)
{
    DrvHttpRoute *route = data;

    g_free(route->method);
    g_strfreev(route->segments);
    g_free(route);
}

DrvHttpRouter *drv_http_router_new(gsize max_body)
{
    DrvHttpRouter *router = g_new0(DrvHttpRouter, 1);

    router->routes = g_ptr_array_new_with_free_func(drv_http_route_free);
    router->max_body = max_body ? max_body : DRV_HTTP_DEFAULT_MAX_BODY;
    return router;
}

void drv_http_router_free(DrvHttpRouter *router)
{
    if (router == NULL) {
        return;
    }
    g_ptr_array_unref(router->routes);
    g_free(router);
}

void drv_http_router_add(DrvHttpRouter *router, const char *method,
                         const char *pattern, DrvHttpHandler handler,
                         gpointer user_data)
{
    DrvHttpRoute *route = g_new0(DrvHttpRoute, 1);

    route->method = g_strdup(method);
    route->segments = g_strsplit(pattern, "/", -1);
    route->handler = handler;
    route->user_data = user_data;
    g_ptr_array_add(router->routes, route);
}

static gboolean drv_http_route_match(DrvHttpRoute *route, char **segments,
                                     GHashTable *params)
{
    guint n = g_strv_length(route->segments);

    if (n != g_strv_length(segments)) {
        return FALSE;
    }
    for (guint i = 0; i < n; i++) {
        const char *want = route->segments[i];

        if (want[0] == '{') {
            if (*segments[i] == '\0') {
                return FALSE;
            }
            continue;
        }
        if (!g_str_equal(want, segments[i])) {
            return FALSE;
        }
    }
    if (params != NULL) {
        for (guint i = 0; i < n; i++) {
            const char *want = route->segments[i];
            gsize len = strlen(want);

            if (want[0] == '{' && len > 2) {
                g_hash_table_insert(params, g_strndup(want + 1, len - 2),
                                    g_uri_unescape_string(segments[i], NULL));
            }
        }
    }
    return TRUE;
}

static void drv_http_body_free(gpointer data)
{
    DrvHttpBody *body = data;

    g_byte_array_unref(body->data);
    g_free(body);
}

static void drv_http_on_got_chunk(SoupServerMessage *msg, GBytes *chunk,
                                  gpointer user_data)
{
    DrvHttpBody *body = user_data;
    gsize len = g_bytes_get_size(chunk);

    if (body->too_large || body->data->len + len > body->max) {
        /* keep reading so the connection stays in sync, but drop it */
        body->too_large = TRUE;
        return;
    }
    g_byte_array_append(body->data, g_bytes_get_data(chunk, NULL), len);
}

static void drv_http_set_error_response(SoupServerMessage *msg,
                                        DrvErrorCode code, const char *message)
{
    g_autoptr(GError) error = g_error_new_literal(DRV_ERROR, code, message);
    g_autoptr(JsonNode) node = drv_http_error_body(error);
    char *data = drv_json_to_string(node, FALSE);

    soup_server_message_set_status(msg, drv_error_code_http_status(code), NULL);
    soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_TAKE,
                                     data, strlen(data));
}

/*
 * Runs once the headers are in: refuses a declared oversize body before
 * reading it, and otherwise collects the body ourselves so that an
 * undeclared (chunked) one is bounded too.
 */
static void drv_http_early_handler(SoupServer *server, SoupServerMessage *msg,
                                   const char *path, GHashTable *query,
                                   gpointer user_data)
{
    DrvHttpRouter *router = user_data;
    SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
    DrvHttpBody *body;

    if (soup_message_headers_get_encoding(headers) ==
            SOUP_ENCODING_CONTENT_LENGTH &&
        soup_message_headers_get_content_length(headers) >
            (goffset)router->max_body) {
        g_autofree char *message = g_strdup_printf(
            "request body exceeds %" G_GSIZE_FORMAT " bytes", router->max_body);

        soup_message_headers_replace(
            soup_server_message_get_response_headers(msg), "Connection",
            "close");
        drv_http_set_error_response(msg, DRV_ERROR_TOO_LARGE, message);
        return;
    }
    body = g_new0(DrvHttpBody, 1);
    body->data = g_byte_array_new();
    body->max = router->max_body;
    g_object_set_data_full(G_OBJECT(msg), DRV_HTTP_BODY_KEY, body,
                           drv_http_body_free);
    soup_message_body_set_accumulate(soup_server_message_get_request_body(msg),
                                     FALSE);
    g_signal_connect(msg, "got-chunk", G_CALLBACK(drv_http_on_got_chunk), body);
}

static void drv_http_on_finished(SoupServerMessage *msg, gpointer user_data)
{
    DrvHttpRequest *req = user_data;

    req->gone = TRUE;
}

static void drv_http_on_wrote_chunk(SoupServerMessage *msg, gpointer user_data)
{
    DrvHttpRequest *req = user_data;
    gsize size = GPOINTER_TO_SIZE(g_queue_pop_head(&req->chunk_sizes));

    req->backlog -= MIN(size, req->backlog);
}

static DrvHttpRequest *drv_http_request_new(SoupServerMessage *msg,
                                            GHashTable *query)
{
    DrvHttpRequest *req = g_new0(DrvHttpRequest, 1);
    GSocketAddress *remote = soup_server_message_get_remote_address(msg);

    req->ref = 1;
    req->msg = g_object_ref(msg);
    req->params =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    req->query = query ? g_hash_table_ref(query) : NULL;
    req->body = g_object_get_data(G_OBJECT(msg), DRV_HTTP_BODY_KEY);
    if (G_IS_INET_SOCKET_ADDRESS(remote)) {
        GInetSocketAddress *inet = G_INET_SOCKET_ADDRESS(remote);
        g_autofree char *host =
            g_inet_address_to_string(g_inet_socket_address_get_address(inet));

        req->peer = g_strdup_printf("%s:%u", host,
                                    g_inet_socket_address_get_port(inet));
    } else {
        req->peer = g_strdup("local");
    }
    req->finished_id = g_signal_connect(msg, "finished",
                                        G_CALLBACK(drv_http_on_finished), req);
    req->disconnected_id = g_signal_connect(
        msg, "disconnected", G_CALLBACK(drv_http_on_finished), req);
    return req;
}

void drv_http_request_unref(DrvHttpRequest *req)
{
    if (req == NULL || !g_atomic_int_dec_and_test(&req->ref)) {
        return;
    }
    if (!req->answered && !req->gone) {
        /* a bug, but the client must not hang on it */
        drv_http_reply_error_literal(req, DRV_ERROR_INTERNAL,
                                     "request dropped without an answer");
    }
    g_signal_handler_disconnect(req->msg, req->finished_id);
    g_signal_handler_disconnect(req->msg, req->disconnected_id);
    if (req->wrote_chunk_id) {
        g_signal_handler_disconnect(req->msg, req->wrote_chunk_id);
    }
    g_queue_clear(&req->chunk_sizes);
    g_object_unref(req->msg);
    g_hash_table_unref(req->params);
    if (req->query) {
        g_hash_table_unref(req->query);
    }
    g_free(req->peer);
    g_free(req);
}

DrvHttpRequest *drv_http_request_hold(DrvHttpRequest *req)
{
    g_atomic_int_inc(&req->ref);
    return req;
}

gboolean drv_http_request_is_gone(DrvHttpRequest *req)
{
    return req->gone;
}

static gboolean drv_http_content_type_ok(SoupServerMessage *msg)
{
    const char *type = soup_message_headers_get_content_type(
        soup_server_message_get_request_headers(msg), NULL);

    return type == NULL || g_ascii_strcasecmp(type, "application/json") == 0;
}

static void drv_http_dispatch(SoupServer *server, SoupServerMessage *msg,
                              const char *path, GHashTable *query,
                              gpointer user_data)
{
    DrvHttpRouter *router = user_data;
    g_autoptr(DrvHttpRequest) req = drv_http_request_new(msg, query);
    g_auto(GStrv) segments = g_strsplit(path, "/", -1);
    const char *method = soup_server_message_get_method(msg);
    DrvHttpRoute *found = NULL;
    gboolean path_known = FALSE;

    for (guint i = 0; i < router->routes->len && !found; i++) {
        DrvHttpRoute *route = g_ptr_array_index(router->routes, i);

        if (!drv_http_route_match(route, segments, NULL)) {
            continue;
        }
        path_known = TRUE;
        if (g_str_equal(route->method, method)) {
            found = route;
            drv_http_route_match(route, segments, req->params);
        }
    }
    if (found == NULL) {
        g_autofree char *message = NULL;

        if (path_known) {
            message =
                g_strdup_printf("method %s not allowed on %s", method, path);
            drv_http_reply_error_literal(req, DRV_ERROR_INVALID, message);
            soup_server_message_set_status(msg, 405, NULL);
        } else {
            message = g_strdup_printf("no resource at %s", path);
            drv_http_reply_error_literal(req, DRV_ERROR_NOT_FOUND, message);
        }
        return;
    }
    if (req->body && req->body->too_large) {
        g_autofree char *message = g_strdup_printf(
            "request body exceeds %" G_GSIZE_FORMAT " bytes", router->max_body);

        drv_http_reply_error_literal(req, DRV_ERROR_TOO_LARGE, message);
        return;
    }
    if (req->body && req->body->data->len > 0 &&
        !drv_http_content_type_ok(msg)) {
        drv_http_reply_error_literal(req, DRV_ERROR_UNSUPPORTED_TYPE,
                                     "request body must be application/json");
        return;
    }
    found->handler(req, found->user_data);
    req->dispatched = TRUE;
    if (!req->answered && req->ref > 1) {
        soup_server_message_pause(msg);
        req->paused = TRUE;
    }
}

void drv_http_router_attach(DrvHttpRouter *router, SoupServer *server)
{
    soup_server_add_early_handler(server, NULL, drv_http_early_handler, router,
                                  NULL);
    soup_server_add_handler(server, NULL, drv_http_dispatch, router, NULL);
}

gboolean drv_http_server_listen(SoupServer *server, const char *address,
                                GError **error)
{
    g_autoptr(GSocketConnectable) parsed = NULL;
    g_autoptr(GInetAddress) inet = NULL;
    g_autoptr(GSocketAddress) sockaddr = NULL;
    const char *host;

    parsed = g_network_address_parse(address, 0, error);
    if (parsed == NULL) {
        return FALSE;
    }
    host = g_network_address_get_hostname(G_NETWORK_ADDRESS(parsed));
    if (g_str_equal(host, "localhost")) {
        host = "127.0.0.1";
    }
    inet = g_inet_address_new_from_string(host);
    if (inet == NULL) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "listen address '%s' must be an IP address and a port",
                    address);
        return FALSE;
    }
    sockaddr = g_inet_socket_address_new(
        inet, g_network_address_get_port(G_NETWORK_ADDRESS(parsed)));
    return soup_server_listen(server, sockaddr, 0, error);
}

guint drv_http_server_get_port(SoupServer *server)
{
    GSList *uris = soup_server_get_uris(server);
    guint port = 0;

    if (uris != NULL) {
        port = (guint)g_uri_get_port(uris->data);
    }
    g_slist_free_full(uris, (GDestroyNotify)g_uri_unref);
    return port;
}

/* ---- server: request accessors ---- */

const char *drv_http_request_method(DrvHttpRequest *req)
{
    return soup_server_message_get_method(req->msg);
}

const char *drv_http_request_path(DrvHttpRequest *req)
{
    return g_uri_get_path(soup_server_message_get_uri(req->msg));
}

const char *drv_http_request_param(DrvHttpRequest *req, const char *name)
{
    return g_hash_table_lookup(req->params, name);
}

const char *drv_http_request_query(DrvHttpRequest *req, const char *name)
{
    return req->query ? g_hash_table_lookup(req->query, name) : NULL;
}

gboolean drv_http_request_query_int(DrvHttpRequest *req, const char *name,
                                    gint64 min, gint64 max, gint64 fallback,
                                    gint64 *out, GError **error)
{
    const char *text = drv_http_request_query(req, name);
    gint64 value;

    if (text == NULL || *text == '\0') {
        *out = fallback;
        return TRUE;
    }
    if (!g_ascii_string_to_signed(text, 10, min, max, &value, NULL)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "query parameter '%s' must be an integer in "
                    "[%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]",
                    name, min, max);
        return FALSE;
    }
    *out = value;
    return TRUE;
}

JsonObject *drv_http_request_json(DrvHttpRequest *req, gboolean required,
                                  GError **error)
{
    GByteArray *data = req->body ? req->body->data : NULL;

    if (data == NULL || data->len == 0) {
        if (required) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                        "a JSON object body is required");
            return NULL;
        }
        return json_object_new();
    }
    return drv_json_parse_object((const char *)data->data, data->len, error);
}

const char *drv_http_request_header(DrvHttpRequest *req, const char *name)
{
    return soup_message_headers_get_one(
        soup_server_message_get_request_headers(req->msg), name);
}

const char *drv_http_request_peer(DrvHttpRequest *req)
{
    return req->peer;
}

/* ---- server: answers ---- */

static void drv_http_release(DrvHttpRequest *req)
{
    req->answered = TRUE;
    if (req->paused) {
        req->paused = FALSE;
        soup_server_message_unpause(req->msg);
    }
}

void drv_http_reply_json(DrvHttpRequest *req, guint status, JsonNode *node)
{
    g_autoptr(JsonNode) owned = node;

    if (req->answered || req->gone) {
        return;
    }
    soup_server_message_set_status(req->msg, status, NULL);
    if (owned != NULL) {
        char *data = drv_json_to_string(owned, FALSE);

        soup_server_message_set_response(req->msg, "application/json",
                                         SOUP_MEMORY_TAKE, data, strlen(data));
    }
    drv_http_release(req);
}

void drv_http_reply_object(DrvHttpRequest *req, guint status,
                           JsonObject *object)
{
    drv_http_reply_json(req, status,
                        json_node_init_object(json_node_alloc(), object));
}

JsonNode *drv_http_error_body(const GError *error)
{
    JsonObject *inner = json_object_new();
    JsonObject *outer = json_object_new();
    DrvErrorCode code = drv_error_classify(error);

    json_object_set_string_member(inner, "code", drv_error_code_name(code));
    json_object_set_string_member(inner, "message",
                                  error ? error->message : "unknown error");
    if (error && error->domain == QMP_ERROR &&
        qmp_error_class_name(error->code) != NULL) {
        json_object_set_string_member(inner, "class",
                                      qmp_error_class_name(error->code));
    }
    json_object_set_object_member(outer, "error", inner);
    return json_node_init_object(json_node_alloc(), outer);
}

void drv_http_reply_error(DrvHttpRequest *req, const GError *error)
{
    drv_http_reply_json(req,
                        drv_error_code_http_status(drv_error_classify(error)),
                        drv_http_error_body(error));
}

void drv_http_reply_error_literal(DrvHttpRequest *req, int drv_code,
                                  const char *message)
{
    g_autoptr(GError) error = g_error_new_literal(DRV_ERROR, drv_code, message);

    drv_http_reply_error(req, error);
}

/* ---- server: event streams ---- */

/*
 * libsoup pauses a chunked answer by itself whenever it has written every
 * chunk it had, so each new chunk needs an unpause; outside the handler
 * (once the dispatcher has returned) that is always safe.
 */
static void drv_http_stream_kick(DrvHttpRequest *req)
{
    req->answered = TRUE;
    if (req->paused || req->dispatched) {
        req->paused = FALSE;
        soup_server_message_unpause(req->msg);
    }
}

void drv_http_stream_begin(DrvHttpRequest *req, gsize max_backlog)
{
    SoupMessageHeaders *headers =
        soup_server_message_get_response_headers(req->msg);

    req->streaming = TRUE;
    req->max_backlog = max_backlog;
    soup_server_message_set_status(req->msg, 200, NULL);
    soup_message_headers_set_encoding(headers, SOUP_ENCODING_CHUNKED);
    soup_message_headers_set_content_type(headers, "text/event-stream", NULL);
    soup_message_headers_replace(headers, "Cache-Control", "no-cache");
    soup_message_body_set_accumulate(
        soup_server_message_get_response_body(req->msg), FALSE);
    req->wrote_chunk_id = g_signal_connect(
        req->msg, "wrote-chunk", G_CALLBACK(drv_http_on_wrote_chunk), req);
    /* a comment line, so the client sees the headers at once */
    drv_http_stream_send(req, NULL, NULL, NULL);
}

gboolean drv_http_stream_send(DrvHttpRequest *req, const char *event,
                              const char *id, const char *data)
{
    GString *out;
    SoupMessageBody *body;

    if (!req->streaming || req->gone) {
        return FALSE;
    }
    if (req->backlog > req->max_backlog) {
        drv_http_stream_end(req);
        return FALSE;
    }
    out = g_string_new(NULL);
    if (event == NULL && data == NULL) {
        g_string_append(out, ": keepalive\n\n");
    } else {
        g_auto(GStrv) lines = g_strsplit(data ? data : "", "\n", -1);

        if (event != NULL) {
            g_string_append_printf(out, "event: %s\n", event);
        }
        if (id != NULL) {
            g_string_append_printf(out, "id: %s\n", id);
        }
        for (guint i = 0; lines[i] != NULL; i++) {
            g_string_append_printf(out, "data: %s\n", lines[i]);
        }
        g_string_append_c(out, '\n');
    }
    body = soup_server_message_get_response_body(req->msg);
    req->backlog += out->len;
    g_queue_push_tail(&req->chunk_sizes, GSIZE_TO_POINTER(out->len));
    soup_message_body_append(body, SOUP_MEMORY_TAKE, out->str, out->len);
    g_string_free(out, FALSE);
    drv_http_stream_kick(req);
    return TRUE;
}

void drv_http_stream_end(DrvHttpRequest *req)
{
    if (!req->streaming || req->gone) {
        return;
    }
    req->streaming = FALSE;
    soup_message_body_complete(soup_server_message_get_response_body(req->msg));
    drv_http_stream_kick(req);
}

/* ---- client ---- */

typedef struct {
    SoupMessage *msg;
    char *url;
    GCancellable *cancellable;
    gulong caller_cancel_id;
    GCancellable *caller_cancellable;
    GSource *timeout;
    guint timeout_ms;
    gboolean timed_out;
    GInputStream *stream;
    GByteArray *data;
} DrvHttpCall;

static void drv_http_call_free(gpointer p)
{
    DrvHttpCall *call = p;

    if (call->timeout) {
        g_source_destroy(call->timeout);
        g_source_unref(call->timeout);
    }
    if (call->caller_cancellable) {
        g_cancellable_disconnect(call->caller_cancellable,
                                 call->caller_cancel_id);
        g_object_unref(call->caller_cancellable);
    }
    g_clear_object(&call->cancellable);
    g_clear_object(&call->stream);
    g_clear_object(&call->msg);
    g_byte_array_unref(call->data);
    g_free(call->url);
    g_free(call);
}

SoupSession *drv_http_session_new(void)
{
    /*
     * Event streams hold a connection each; the default of two per host
     * would starve ordinary calls behind them.
     */
    return soup_session_new_with_options("max-conns-per-host", 16, "max-conns",
                                         64, "idle-timeout", 60, "user-agent",
                                         "drover", NULL);
}

static gboolean drv_http_call_on_timeout(gpointer user_data)
{
    DrvHttpCall *call = user_data;

    call->timed_out = TRUE;
    g_cancellable_cancel(call->cancellable);
    return G_SOURCE_REMOVE;
}

static void drv_http_call_on_caller_cancel(GCancellable *cancellable,
                                           gpointer user_data)
{
    g_cancellable_cancel(G_CANCELLABLE(user_data));
}

static void drv_http_call_fail(GTask *task, GError *error)
{
    DrvHttpCall *call = g_task_get_task_data(task);

    if (call->timed_out) {
        g_task_return_new_error(task, DRV_ERROR, DRV_ERROR_TIMEOUT,
                                "no answer from %s within %u ms", call->url,
                                call->timeout_ms);
    } else if (call->caller_cancellable &&
               g_cancellable_is_cancelled(call->caller_cancellable)) {
        g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                "call to %s cancelled", call->url);
    } else {
        g_task_return_new_error(task, DRV_ERROR, DRV_ERROR_UNREACHABLE,
                                "cannot reach %s: %s", call->url,
                                error->message);
    }
    g_error_free(error);
    g_object_unref(task);
}

static void drv_http_call_complete(GTask *task)
{
    DrvHttpCall *call = g_task_get_task_data(task);
    guint status = soup_message_get_status(call->msg);
    g_autoptr(JsonNode) node = NULL;
    g_autoptr(GError) local = NULL;

    if (call->data->len > 0) {
        node = drv_json_parse((const char *)call->data->data, call->data->len,
                              &local);
    }
    if (status >= 200 && status < 300) {
        if (call->data->len > 0 && node == NULL) {
            g_task_return_new_error(task, DRV_ERROR, DRV_ERROR_REMOTE,
                                    "%s answered with malformed JSON: %s",
                                    call->url, local->message);
        } else {
            g_task_return_pointer(task, g_steal_pointer(&node),
                                  (GDestroyNotify)json_node_unref);
        }
    } else {
        JsonObject *err = NULL;

        if (node != NULL && JSON_NODE_HOLDS_OBJECT(node)) {
            err = drv_json_object_or_null(json_node_get_object(node), "error");
        }
        if (err != NULL && drv_json_string_or(err, "message", NULL)) {
            const char *code = drv_json_string_or(err, "code", "");

            g_task_return_new_error(task, DRV_ERROR,
                                    drv_error_code_from_name(code), "%s",
                                    drv_json_string_or(err, "message", ""));
        } else {
            g_task_return_new_error(
                task, DRV_ERROR, DRV_ERROR_REMOTE, "%s answered HTTP %u %s",
                call->url, status,
                soup_message_get_reason_phrase(call->msg)
                    ? soup_message_get_reason_phrase(call->msg)
                    : "");
        }
    }
    g_object_unref(task);
}

static void drv_http_call_on_read(GObject *source, GAsyncResult *result,
                                  gpointer user_data)
{
    GTask *task = user_data;
    DrvHttpCall *call = g_task_get_task_data(task);
    GError *error = NULL;
    g_autoptr(GBytes) bytes = g_input_stream_read_bytes_finish(
        G_INPUT_STREAM(source), result, &error);
    gsize len;

    if (bytes == NULL) {
        drv_http_call_fail(task, error);
        return;
    }
    len = g_bytes_get_size(bytes);
    if (len == 0) {
        drv_http_call_complete(task);
        return;
    }
    if (call->data->len + len > DRV_HTTP_CLIENT_MAX_BODY) {
        g_task_return_new_error(task, DRV_ERROR, DRV_ERROR_TOO_LARGE,
                                "answer from %s exceeds %d bytes", call->url,
                                DRV_HTTP_CLIENT_MAX_BODY);
        g_object_unref(task);
        return;
    }
    g_byte_array_append(call->data, g_bytes_get_data(bytes, NULL), len);
    g_input_stream_read_bytes_async(call->stream, 65536, G_PRIORITY_DEFAULT,
                                    call->cancellable, drv_http_call_on_read,
                                    task);
}

static void drv_http_call_on_sent(GObject *source, GAsyncResult *result,
                                  gpointer user_data)
{
    GTask *task = user_data;
    DrvHttpCall *call = g_task_get_task_data(task);
    GError *error = NULL;

    call->stream =
        soup_session_send_finish(SOUP_SESSION(source), result, &error);
    if (call->stream == NULL) {
        drv_http_call_fail(task, error);
        return;
    }
    g_input_stream_read_bytes_async(call->stream, 65536, G_PRIORITY_DEFAULT,
                                    call->cancellable, drv_http_call_on_read,
                                    task);
}

void drv_http_call_async(SoupSession *session, const char *method,
                         const char *url, JsonObject *body, guint timeout_ms,
                         GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *task = g_task_new(NULL, cancellable, callback, user_data);
    DrvHttpCall *call = g_new0(DrvHttpCall, 1);

    g_task_set_source_tag(task, drv_http_call_async);
    g_task_set_task_data(task, call, drv_http_call_free);
    call->url = g_strdup(url);
    call->data = g_byte_array_new();
    call->cancellable = g_cancellable_new();
    call->timeout_ms = timeout_ms;
    call->msg = soup_message_new(method, url);
    if (call->msg == NULL) {
        g_task_return_new_error(task, DRV_ERROR, DRV_ERROR_INVALID,
                                "'%s' is not a valid http URL", url);
        g_object_unref(task);
        return;
    }
    soup_message_headers_replace(soup_message_get_request_headers(call->msg),
                                 "Accept", "application/json");
    if (body != NULL) {
        char *text = drv_json_object_to_string(body, FALSE);
        g_autoptr(GBytes) bytes = g_bytes_new_take(text, strlen(text));

        soup_message_set_request_body_from_bytes(call->msg, "application/json",
                                                 bytes);
    }
    if (cancellable != NULL) {
        call->caller_cancellable = g_object_ref(cancellable);
        call->caller_cancel_id = g_cancellable_connect(
            cancellable, G_CALLBACK(drv_http_call_on_caller_cancel),
            g_object_ref(call->cancellable), g_object_unref);
    }
    if (timeout_ms > 0) {
        call->timeout = g_timeout_source_new(timeout_ms);
        g_source_set_callback(call->timeout, drv_http_call_on_timeout, call,
                              NULL);
        g_source_attach(call->timeout, g_main_context_get_thread_default());
    }
    soup_session_send_async(session, call->msg, G_PRIORITY_DEFAULT,
                            call->cancellable, drv_http_call_on_sent, task);
}

JsonNode *drv_http_call_finish(GAsyncResult *result, guint *status,
                               GError **error)
{
    GTask *task = G_TASK(result);
    DrvHttpCall *call = g_task_get_task_data(task);

    g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
    if (status != NULL) {
        *status = call->msg ? soup_message_get_status(call->msg) : 0;
    }
    return g_task_propagate_pointer(task, error);
}
