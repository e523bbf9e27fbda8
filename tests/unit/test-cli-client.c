/*
 * The CLI's client against a small fake manager (a SoupServer in a thread
 * of its own): names and ids resolved, "no VM named X", the server's error
 * message verbatim, X-Drover-User, empty answers, unreachable URLs, the
 * event stream; and the error mapping and URL checks without a server.
 */
#include <libsoup/soup.h>
#include <string.h>

#include "cli/client.h"
#include "common/error.h"
#include "common/json.h"

typedef struct {
    GThread *thread;
    GMainContext *context;
    GMainLoop *loop;
    SoupServer *server;
    guint port;
    GMutex lock;
    GCond cond;
    gboolean ready;
} FakeManager;

static void fake_reply(SoupServerMessage *msg, guint status, const char *json)
{
    soup_server_message_set_status(msg, status, NULL);
    if (json != NULL) {
        soup_server_message_set_response(msg, "application/json",
                                         SOUP_MEMORY_COPY, json, strlen(json));
    }
}

static void fake_handler(SoupServer *server, SoupServerMessage *msg,
                         const char *path, GHashTable *query,
                         gpointer user_data)
{
    const char *method = soup_server_message_get_method(msg);
    const char *user = soup_message_headers_get_one(
        soup_server_message_get_request_headers(msg), "X-Drover-User");

    if (g_str_equal(path, "/api/hosts")) {
        /* ignores ?name=: the client must pick the exact match itself */
        fake_reply(msg, 200,
                   "{\"hosts\": [{\"id\": \"id-1\", \"name\": \"host1\"}, "
                   "{\"id\": \"id-2\", \"name\": \"host2\"}, 7]}");
    } else if (g_str_equal(path, "/api/hosts/id-1")) {
        fake_reply(msg, 200,
                   "{\"id\": \"id-1\", \"name\": \"host1\", \"facts\": {}}");
    } else if (g_str_equal(path, "/api/hosts/id-2")) {
        fake_reply(msg, 200,
                   "{\"id\": \"id-2\", \"name\": \"host2\", \"facts\": {}}");
    } else if (g_str_has_prefix(path, "/api/hosts/")) {
        fake_reply(msg, 404,
                   "{\"error\": {\"code\": \"not_found\", \"message\": "
                   "\"no such host\"}}");
    } else if (g_str_equal(path, "/api/vms")) {
        fake_reply(msg, 200, "{\"vms\": []}");
    } else if (g_str_has_suffix(path, "/migrate") &&
               g_str_equal(method, "POST")) {
        fake_reply(msg, 409,
                   "{\"error\": {\"code\": \"refused\", \"message\": "
                   "\"host2 cannot take VM web1: it has 100 MiB free\"}}");
    } else if (g_str_has_prefix(path, "/api/vms/")) {
        fake_reply(msg, 400,
                   "{\"error\": {\"code\": \"invalid\", \"message\": "
                   "\"'x' is not an id\"}}");
    } else if (g_str_equal(path, "/api/whoami")) {
        g_autoptr(JsonObject) out = json_object_new();
        g_autofree char *text = NULL;

        json_object_set_string_member(out, "user", user ? user : "(none)");
        text = drv_json_object_to_string(out, FALSE);
        fake_reply(msg, 200, text);
    } else if (g_str_equal(path, "/api/empty")) {
        fake_reply(msg, 204, NULL);
    } else if (g_str_equal(path, "/api/teapot")) {
        fake_reply(msg, 502, NULL);
    } else if (g_str_equal(path, "/api/events/stream")) {
        /* a whole stream at once; its end is the end of the body */
        const char *text = ": keepalive\n\n"
                           "event: host_up\nid: 1\ndata: {\"index\": 1}\n\n"
                           ": keepalive\n\n"
                           "event: vm_added\nid: 2\ndata: {\"index\":\ndata: "
                           "2}\n\n";

        soup_server_message_set_status(msg, 200, NULL);
        soup_server_message_set_response(
            msg, "text/event-stream", SOUP_MEMORY_STATIC, text, strlen(text));
    } else if (g_str_equal(path, "/api/busy/stream")) {
        fake_reply(msg, 409,
                   "{\"error\": {\"code\": \"busy\", \"message\": \"too many "
                   "event subscribers (at most 64)\"}}");
    } else {
        fake_reply(msg, 404, NULL);
    }
}

static gpointer fake_thread(gpointer data)
{
    FakeManager *fake = data;
    g_autoptr(GError) error = NULL;
    GSList *uris;

    g_main_context_push_thread_default(fake->context);
    fake->server = soup_server_new(NULL, NULL);
    soup_server_add_handler(fake->server, NULL, fake_handler, fake, NULL);
    g_assert_true(soup_server_listen_local(
        fake->server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error));
    g_assert_no_error(error);
    uris = soup_server_get_uris(fake->server);
    fake->port = (guint)g_uri_get_port(uris->data);
    g_slist_free_full(uris, (GDestroyNotify)g_uri_unref);
    g_mutex_lock(&fake->lock);
    fake->ready = TRUE;
    g_cond_signal(&fake->cond);
    g_mutex_unlock(&fake->lock);
    g_main_loop_run(fake->loop);
    g_object_unref(fake->server);
    g_main_context_pop_thread_default(fake->context);
    return NULL;
}

static FakeManager *fake_start(void)
{
    FakeManager *fake = g_new0(FakeManager, 1);

    g_mutex_init(&fake->lock);
    g_cond_init(&fake->cond);
    fake->context = g_main_context_new();
    fake->loop = g_main_loop_new(fake->context, FALSE);
    fake->thread = g_thread_new("fake-manager", fake_thread, fake);
    g_mutex_lock(&fake->lock);
    while (!fake->ready) {
        g_cond_wait(&fake->cond, &fake->lock);
    }
    g_mutex_unlock(&fake->lock);
    return fake;
}

static gboolean fake_quit(gpointer data)
{
    g_main_loop_quit(data);
    return G_SOURCE_REMOVE;
}

static void fake_stop(FakeManager *fake)
{
    g_main_context_invoke(fake->context, fake_quit, fake->loop);
    g_thread_join(fake->thread);
    g_main_loop_unref(fake->loop);
    g_main_context_unref(fake->context);
    g_mutex_clear(&fake->lock);
    g_cond_clear(&fake->cond);
    g_free(fake);
}

static CliClient *fake_client(FakeManager *fake, const char *user)
{
    g_autofree char *url = g_strdup_printf("http://127.0.0.1:%u/", fake->port);
    g_autoptr(GError) error = NULL;
    CliClient *client = cli_client_new(url, user, &error);

    g_assert_no_error(error);
    return client;
}

static void test_lookup(void)
{
    FakeManager *fake = fake_start();
    g_autoptr(CliClient) client = fake_client(fake, NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(GError) missing = NULL;
    g_autoptr(GError) invalid = NULL;
    g_autofree char *id = NULL;
    g_autofree char *id2 = NULL;
    g_autoptr(JsonObject) by_name =
        cli_client_lookup(client, CLI_KIND_HOST, "host2", &id, &error);
    g_autoptr(JsonObject) by_id =
        cli_client_lookup(client, CLI_KIND_HOST, "id-1", &id2, NULL);

    g_assert_no_error(error);
    /* the full object, not the list entry */
    g_assert_true(json_object_has_member(by_name, "facts"));
    g_assert_cmpstr(id, ==, "id-2");
    g_assert_nonnull(by_id);
    g_assert_cmpstr(id2, ==, "id-1");
    g_assert_null(
        cli_client_lookup(client, CLI_KIND_HOST, "nosuch", NULL, &missing));
    g_assert_error(missing, DRV_ERROR, DRV_ERROR_NOT_FOUND);
    g_assert_cmpstr(missing->message, ==, "no host named nosuch");
    /* a server that calls the name a malformed id: still "no VM named" */
    g_assert_null(cli_client_lookup(client, CLI_KIND_VM, "x", NULL, &invalid));
    g_assert_error(invalid, DRV_ERROR, DRV_ERROR_NOT_FOUND);
    g_assert_cmpstr(invalid->message, ==, "no VM named x");
    g_clear_pointer(&client, cli_client_free);
    fake_stop(fake);
}

static void test_errors_verbatim(void)
{
    FakeManager *fake = fake_start();
    g_autoptr(CliClient) client = fake_client(fake, NULL);
    g_autoptr(GError) refused = NULL;
    g_autoptr(GError) bare = NULL;
    g_autoptr(GError) not_object = NULL;
    g_autoptr(JsonNode) node = NULL;

    g_assert_false(cli_client_call(client, "POST", "/api/vms/v1/migrate", NULL,
                                   NULL, &refused));
    g_assert_error(refused, DRV_ERROR, DRV_ERROR_REFUSED);
    g_assert_cmpstr(refused->message, ==,
                    "host2 cannot take VM web1: it has 100 MiB free");
    g_assert_false(
        cli_client_call(client, "GET", "/api/teapot", NULL, NULL, &bare));
    g_assert_error(bare, DRV_ERROR, DRV_ERROR_REMOTE);
    g_assert_true(strstr(bare->message, "/api/teapot answered HTTP 502") !=
                  NULL);
    /* an empty answer is fine for a call, not where an object is due */
    g_assert_true(
        cli_client_call(client, "DELETE", "/api/empty", NULL, &node, NULL));
    g_assert_null(node);
    g_assert_null(cli_client_call_object(client, "DELETE", "/api/empty", NULL,
                                         &not_object));
    g_assert_error(not_object, DRV_ERROR, DRV_ERROR_REMOTE);
    g_clear_pointer(&client, cli_client_free);
    fake_stop(fake);
}

static void test_user_header(void)
{
    FakeManager *fake = fake_start();
    g_autoptr(CliClient) alice = fake_client(fake, "alice");
    g_autoptr(CliClient) nobody = fake_client(fake, NULL);
    g_autoptr(JsonObject) a = cli_client_get(alice, "/api/whoami", NULL);
    g_autoptr(JsonObject) b = cli_client_get(nobody, "/api/whoami", NULL);

    g_assert_cmpstr(drv_json_string_or(a, "user", NULL), ==, "alice");
    g_assert_cmpstr(drv_json_string_or(b, "user", NULL), ==, "(none)");
    g_clear_pointer(&alice, cli_client_free);
    g_clear_pointer(&nobody, cli_client_free);
    fake_stop(fake);
}

static void test_stream(void)
{
    FakeManager *fake = fake_start();
    g_autoptr(CliClient) client = fake_client(fake, "alice");
    g_autoptr(GError) error = NULL;
    g_autoptr(GError) busy = NULL;
    g_autoptr(CliStream) stream =
        cli_client_stream_open(client, "/api/events/stream", &error);
    g_autoptr(CliSseEvent) one = NULL;
    g_autoptr(CliSseEvent) two = NULL;

    g_assert_no_error(error);
    one = cli_stream_next(stream, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(one->event, ==, "host_up");
    g_assert_cmpstr(one->data, ==, "{\"index\": 1}");
    two = cli_stream_next(stream, &error);
    g_assert_cmpstr(two->id, ==, "2");
    g_assert_cmpstr(two->data, ==, "{\"index\":\n2}");
    /* the end of the stream: no event, no error */
    g_assert_null(cli_stream_next(stream, &error));
    g_assert_no_error(error);
    g_assert_null(cli_client_stream_open(client, "/api/busy/stream", &busy));
    g_assert_error(busy, DRV_ERROR, DRV_ERROR_BUSY);
    g_assert_cmpstr(busy->message, ==,
                    "too many event subscribers (at most 64)");
    g_clear_pointer(&stream, cli_stream_free);
    g_clear_pointer(&client, cli_client_free);
    fake_stop(fake);
}

static void test_unreachable(void)
{
    g_autoptr(GSocket) socket = NULL;
    g_autoptr(GInetAddress) loopback =
        g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) any = g_inet_socket_address_new(loopback, 0);
    g_autoptr(GSocketAddress) bound = NULL;
    g_autoptr(CliClient) client = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GError) stream_error = NULL;
    g_autofree char *url = NULL;
    guint port;

    /* a port that was free a moment ago and has nobody listening */
    socket = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                          G_SOCKET_PROTOCOL_TCP, NULL);
    g_assert_true(g_socket_bind(socket, any, TRUE, NULL));
    bound = g_socket_get_local_address(socket, NULL);
    port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
    g_socket_close(socket, NULL);
    url = g_strdup_printf("http://127.0.0.1:%u", port);
    client = cli_client_new(url, NULL, NULL);
    g_assert_null(cli_client_get(client, "/api/hosts", &error));
    g_assert_error(error, DRV_ERROR, DRV_ERROR_UNREACHABLE);
    g_assert_true(g_str_has_prefix(error->message, "cannot reach "));
    g_assert_true(strstr(error->message, url) != NULL);
    g_assert_null(
        cli_client_stream_open(client, "/api/events/stream", &stream_error));
    g_assert_error(stream_error, DRV_ERROR, DRV_ERROR_UNREACHABLE);
    g_assert_true(strstr(stream_error->message, url) != NULL);
}

static void test_error_from_answer(void)
{
    const char *body = "{\"error\": {\"code\": \"conflict\", \"message\": "
                       "\"VM web1 is down\"}}";
    g_autoptr(GError) a = cli_error_from_answer("http://m/api/vms", 409,
                                                "Conflict", body, strlen(body));
    g_autoptr(GError) b =
        cli_error_from_answer("http://m/api/vms", 502, "Bad Gateway", NULL, 0);
    g_autoptr(GError) c =
        cli_error_from_answer("http://m/x", 500, NULL, "<html>", 6);
    g_autoptr(GError) d = cli_error_from_answer(
        "http://m/x", 404, "", "{\"error\": {\"code\": \"not_found\"}}", 32);

    g_assert_error(a, DRV_ERROR, DRV_ERROR_CONFLICT);
    g_assert_cmpstr(a->message, ==, "VM web1 is down");
    g_assert_error(b, DRV_ERROR, DRV_ERROR_REMOTE);
    g_assert_cmpstr(b->message, ==,
                    "http://m/api/vms answered HTTP 502 Bad Gateway");
    g_assert_cmpstr(c->message, ==, "http://m/x answered HTTP 500");
    /* an error body without a message says no more than the status */
    g_assert_cmpstr(d->message, ==, "http://m/x answered HTTP 404");
}

static void test_url_checks(void)
{
    const char *bad[] = {"ftp://host", "host:8080", "http://", "",
                         "http://h/?q=1"};
    g_autoptr(CliClient) client = cli_client_new("http://h:1//", "u", NULL);
    g_autoptr(CliClient) sub = cli_client_new("https://h/drover/", NULL, NULL);
    g_autoptr(GError) user_error = NULL;

    g_assert_cmpstr(cli_client_url(client), ==, "http://h:1");
    g_assert_cmpstr(cli_client_url(sub), ==, "https://h/drover");
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;

        g_assert_null(cli_client_new(bad[i], NULL, &error));
        g_assert_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE);
    }
    g_assert_null(cli_client_new("http://h", "a\nb", &user_error));
    g_assert_error(user_error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cli/client/lookup", test_lookup);
    g_test_add_func("/cli/client/errors-verbatim", test_errors_verbatim);
    g_test_add_func("/cli/client/user-header", test_user_header);
    g_test_add_func("/cli/client/stream", test_stream);
    g_test_add_func("/cli/client/unreachable", test_unreachable);
    g_test_add_func("/cli/client/error-from-answer", test_error_from_answer);
    g_test_add_func("/cli/client/url-checks", test_url_checks);
    return g_test_run();
}
