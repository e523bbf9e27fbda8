#include "cli/client.h"

#include <libsoup/soup.h>
#include <stdarg.h>
#include <string.h>

#include "common/error.h"
#include "common/http.h"
#include "common/json.h"

/* the most of an error answer the stream reader keeps */
#define CLI_ERROR_BODY_MAX (64 * 1024)

struct _CliClient {
    SoupSession *session;        /* calls, driven by a main loop */
    SoupSession *stream_session; /* the event stream, blocking reads */
    char *url;                   /* without a trailing '/' */
    char *user;
};

static void cli_client_on_request_queued(SoupSession *session, SoupMessage *msg,
                                         gpointer user_data)
{
    CliClient *client = user_data;

    /*
     * drv_http_call makes its own messages: this is where the user is
     * added to each of them.
     */
    if (client->user != NULL) {
        soup_message_headers_replace(soup_message_get_request_headers(msg),
                                     "X-Drover-User", client->user);
    }
}

CliClient *cli_client_new(const char *url, const char *user, GError **error)
{
    g_autoptr(GUri) uri = g_uri_parse(url, G_URI_FLAGS_NONE, NULL);
    CliClient *client;
    gsize len;

    if (uri == NULL ||
        (g_strcmp0(g_uri_get_scheme(uri), "http") != 0 &&
         g_strcmp0(g_uri_get_scheme(uri), "https") != 0) ||
        g_uri_get_host(uri) == NULL || *g_uri_get_host(uri) == '\0' ||
        g_uri_get_query(uri) != NULL || g_uri_get_fragment(uri) != NULL) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "'%s' is not a manager URL like %s", url, CLI_DEFAULT_URL);
        return NULL;
    }
    if (user != NULL) {
        for (const char *p = user; *p; p++) {
            if ((guchar)*p < 0x20 || *p == 0x7f) {
                g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            "the user name contains a control character");
                return NULL;
            }
        }
    }
    client = g_new0(CliClient, 1);
    client->url = g_strdup(url);
    len = strlen(client->url);
    while (len > 0 && client->url[len - 1] == '/') {
        client->url[--len] = '\0';
    }
    client->user = user && *user ? g_strdup(user) : NULL;
    client->session = drv_http_session_new();
    g_signal_connect(client->session, "request-queued",
                     G_CALLBACK(cli_client_on_request_queued), client);
    return client;
}

void cli_client_free(CliClient *client)
{
    if (client == NULL) {
        return;
    }
    g_clear_object(&client->session);
    g_clear_object(&client->stream_session);
    g_free(client->url);
    g_free(client->user);
    g_free(client);
}

const char *cli_client_url(CliClient *client)
{
    return client->url;
}

/* ---- calls ---- */

typedef struct {
    GMainLoop *loop;
    GAsyncResult *result;
} CliCallWait;

static void cli_client_on_call_done(GObject *source, GAsyncResult *result,
                                    gpointer user_data)
{
    CliCallWait *wait = user_data;

    wait->result = g_object_ref(result);
    g_main_loop_quit(wait->loop);
}

gboolean cli_client_call(CliClient *client, const char *method,
                         const char *path, JsonObject *body, JsonNode **out,
                         GError **error)
{
    g_autofree char *url = g_strconcat(client->url, path, NULL);
    CliCallWait wait = {0};
    GError *local = NULL;
    JsonNode *node;

    /*
     * One call at a time: a loop of our own around drv_http_call keeps its
     * bounds, timeout and error mapping without making every command
     * asynchronous.
     */
    wait.loop = g_main_loop_new(NULL, FALSE);
    drv_http_call_async(client->session, method, url, body, CLI_CALL_TIMEOUT_MS,
                        NULL, cli_client_on_call_done, &wait);
    if (wait.result == NULL) {
        g_main_loop_run(wait.loop);
    }
    node = drv_http_call_finish(wait.result, NULL, &local);
    g_object_unref(wait.result);
    g_main_loop_unref(wait.loop);
    if (local != NULL) {
        g_propagate_error(error, local);
        return FALSE;
    }
    if (out != NULL) {
        *out = node;
    } else if (node != NULL) {
        json_node_unref(node);
    }
    return TRUE;
}

JsonObject *cli_client_call_object(CliClient *client, const char *method,
                                   const char *path, JsonObject *body,
                                   GError **error)
{
    g_autoptr(JsonNode) node = NULL;

    if (!cli_client_call(client, method, path, body, &node, error)) {
        return NULL;
    }
    if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_REMOTE,
                    "%s%s answered %s where a JSON object was expected",
                    client->url, path, node ? "another JSON value" : "nothing");
        return NULL;
    }
    return json_object_ref(json_node_get_object(node));
}

JsonObject *cli_client_get(CliClient *client, const char *path, GError **error)
{
    return cli_client_call_object(client, "GET", path, NULL, error);
}

JsonObject *cli_client_getf(CliClient *client, GError **error,
                            const char *format, ...)
{
    g_autofree char *path = NULL;
    va_list args;

    va_start(args, format);
    path = g_strdup_vprintf(format, args);
    va_end(args);
    return cli_client_get(client, path, error);
}

/* ---- names ---- */

const char *cli_kind_label(CliKind kind)
{
    switch (kind) {
    case CLI_KIND_HOST:
        return "host";
    case CLI_KIND_VM:
        return "VM";
    case CLI_KIND_CLUSTER:
        return "cluster";
    }
    g_return_val_if_reached("object");
}

const char *cli_kind_path(CliKind kind)
{
    switch (kind) {
    case CLI_KIND_HOST:
        return "/api/hosts";
    case CLI_KIND_VM:
        return "/api/vms";
    case CLI_KIND_CLUSTER:
        return "/api/clusters";
    }
    g_return_val_if_reached("/api");
}

/* The member of a list answer: "hosts", "vms", "clusters". */
static const char *cli_kind_member(CliKind kind)
{
    return cli_kind_path(kind) + strlen("/api/");
}

JsonObject *cli_client_lookup(CliClient *client, CliKind kind,
                              const char *name_or_id, char **id_out,
                              GError **error)
{
    g_autofree char *escaped = g_uri_escape_string(name_or_id, NULL, FALSE);
    g_autoptr(JsonObject) list = NULL;
    g_autoptr(GError) local = NULL;
    JsonObject *found = NULL;
    JsonArray *items;
    const char *id = NULL;

    list = cli_client_getf(client, error, "%s?name=%s", cli_kind_path(kind),
                           escaped);
    if (list == NULL) {
        return NULL;
    }
    /* exact match here too, whatever the server's filter does */
    items = drv_json_array_or_null(list, cli_kind_member(kind));
    for (guint i = 0; items && i < json_array_get_length(items); i++) {
        JsonNode *item = json_array_get_element(items, i);

        if (JSON_NODE_HOLDS_OBJECT(item) &&
            g_strcmp0(
                drv_json_string_or(json_node_get_object(item), "name", NULL),
                name_or_id) == 0) {
            id = drv_json_string_or(json_node_get_object(item), "id", NULL);
            break;
        }
    }
    if (id != NULL) {
        g_free(escaped);
        escaped = g_uri_escape_string(id, NULL, FALSE);
    }
    found =
        cli_client_getf(client, &local, "%s/%s", cli_kind_path(kind), escaped);
    if (found == NULL) {
        if (id == NULL &&
            (g_error_matches(local, DRV_ERROR, DRV_ERROR_NOT_FOUND) ||
             g_error_matches(local, DRV_ERROR, DRV_ERROR_INVALID))) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_NOT_FOUND, "no %s named %s",
                        cli_kind_label(kind), name_or_id);
        } else {
            g_propagate_error(error, g_steal_pointer(&local));
        }
        return NULL;
    }
    if (id_out != NULL) {
        *id_out = g_strdup(drv_json_string_or(found, "id", name_or_id));
    }
    return found;
}

GError *cli_error_from_answer(const char *url, guint status, const char *reason,
                              const char *data, gsize len)
{
    g_autoptr(JsonNode) node = NULL;
    JsonObject *err = NULL;

    if (data != NULL && len > 0) {
        node = drv_json_parse(data, (gssize)len, NULL);
    }
    if (node != NULL && JSON_NODE_HOLDS_OBJECT(node)) {
        err = drv_json_object_or_null(json_node_get_object(node), "error");
    }
    if (err != NULL && drv_json_string_or(err, "message", NULL) != NULL) {
        /* the same mapping as drv_http_call: code and message verbatim */
        return g_error_new(
            DRV_ERROR,
            drv_error_code_from_name(drv_json_string_or(err, "code", "")), "%s",
            drv_json_string_or(err, "message", ""));
    }
    return g_error_new(DRV_ERROR, DRV_ERROR_REMOTE, "%s answered HTTP %u%s%s",
                       url, status, reason && *reason ? " " : "",
                       reason ? reason : "");
}

/* ---- event stream ---- */

struct _CliStream {
    char *url;
    SoupMessage *msg;
    GInputStream *input;
    CliSseParser *parser;
    gboolean ended;
};

void cli_stream_free(CliStream *stream)
{
    if (stream == NULL) {
        return;
    }
    if (stream->input != NULL) {
        g_input_stream_close(stream->input, NULL, NULL);
    }
    g_clear_object(&stream->input);
    g_clear_object(&stream->msg);
    cli_sse_parser_free(stream->parser);
    g_free(stream->url);
    g_free(stream);
}

/* A transport failure of the stream as a drover error naming the URL. */
static void cli_stream_set_io_error(GError **error, const char *url,
                                    GError *local)
{
    if (g_error_matches(local, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_TIMEOUT,
                    "no event or keep-alive from %s within %d s", url,
                    CLI_STREAM_IDLE_S);
    } else {
        g_set_error(error, DRV_ERROR, DRV_ERROR_UNREACHABLE,
                    "cannot reach %s: %s", url, local->message);
    }
    g_error_free(local);
}

CliStream *cli_client_stream_open(CliClient *client, const char *path,
                                  GError **error)
{
    g_autoptr(CliStream) stream = g_new0(CliStream, 1);
    GError *local = NULL;
    guint status;

    if (client->stream_session == NULL) {
        /*
         * Blocking reads with an idle timeout: the simplest correct way to
         * follow a stream in a program that does nothing else meanwhile.
         */
        client->stream_session = soup_session_new_with_options(
            "timeout", CLI_STREAM_IDLE_S, "user-agent", "drover", NULL);
        g_signal_connect(client->stream_session, "request-queued",
                         G_CALLBACK(cli_client_on_request_queued), client);
    }
    stream->url = g_strconcat(client->url, path, NULL);
    stream->parser = cli_sse_parser_new(0);
    stream->msg = soup_message_new("GET", stream->url);
    if (stream->msg == NULL) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "'%s' is not a valid http URL", stream->url);
        return NULL;
    }
    soup_message_headers_replace(soup_message_get_request_headers(stream->msg),
                                 "Accept", "text/event-stream");
    stream->input =
        soup_session_send(client->stream_session, stream->msg, NULL, &local);
    if (stream->input == NULL) {
        cli_stream_set_io_error(error, stream->url, local);
        return NULL;
    }
    status = soup_message_get_status(stream->msg);
    if (status < 200 || status >= 300) {
        g_autofree char *body = g_malloc(CLI_ERROR_BODY_MAX);
        gsize len = 0;

        /* a short error body; a failure to read it leaves the status */
        g_input_stream_read_all(stream->input, body, CLI_ERROR_BODY_MAX, &len,
                                NULL, NULL);
        g_propagate_error(
            error, cli_error_from_answer(
                       stream->url, status,
                       soup_message_get_reason_phrase(stream->msg), body, len));
        return NULL;
    }
    return g_steal_pointer(&stream);
}

CliSseEvent *cli_stream_next(CliStream *stream, GError **error)
{
    for (;;) {
        CliSseEvent *event = cli_sse_parser_pop(stream->parser);
        char buf[16384];
        GError *local = NULL;
        gssize n;

        if (event != NULL) {
            return event;
        }
        if (stream->ended) {
            return NULL;
        }
        n = g_input_stream_read(stream->input, buf, sizeof(buf), NULL, &local);
        if (n < 0) {
            cli_stream_set_io_error(error, stream->url, local);
            return NULL;
        }
        if (n == 0) {
            stream->ended = TRUE;
            continue;
        }
        if (!cli_sse_parser_feed(stream->parser, buf, (gsize)n, error)) {
            return NULL;
        }
    }
}
