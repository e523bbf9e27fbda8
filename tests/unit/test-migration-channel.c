/*
 * Unit tests of the migration channel: the agent's own connection to the
 * destination, tuned before QEMU gets it (no QEMU here: a local listener).
 */
#include <fcntl.h>
#include <unistd.h>

#include "agent/migration-channel.h"
#include "common/error.h"

typedef struct {
    GMainLoop *loop;
    GSocketConnection *conn;
    GError *error;
} Connect;

static void on_connected(GObject *source, GAsyncResult *result,
                         gpointer user_data)
{
    Connect *c = user_data;

    c->conn = agent_migration_channel_connect_finish(result, &c->error);
    g_main_loop_quit(c->loop);
}

static gboolean on_safety(gpointer user_data)
{
    g_assert_not_reached();
    return G_SOURCE_REMOVE;
}

static void connect_and_wait(const char *address, guint port, Connect *c)
{
    guint safety = g_timeout_add_seconds(10, on_safety, NULL);

    c->loop = g_main_loop_new(NULL, FALSE);
    agent_migration_channel_connect_async(address, port, NULL, on_connected, c);
    g_main_loop_run(c->loop);
    g_source_remove(safety);
    g_main_loop_unref(c->loop);
}

/* A listener on 127.0.0.1 with a free port; returns the port. */
static guint16 listen_local(GSocketListener *listener)
{
    g_autoptr(GError) error = NULL;
    guint16 port = g_socket_listener_add_any_inet_port(listener, NULL, &error);

    g_assert_no_error(error);
    return port;
}

static void test_tuned(void)
{
    g_autoptr(GSocketListener) listener = g_socket_listener_new();
    guint16 port = listen_local(listener);
    Connect c = {0};
    int fd;

    connect_and_wait("127.0.0.1", port, &c);
    g_assert_no_error(c.error);
    g_assert_nonnull(c.conn);
    fd = g_socket_get_fd(g_socket_connection_get_socket(c.conn));
    /* the queue of unsent data QEMU may build is bounded */
    g_assert_cmpint(agent_migration_channel_notsent_lowat(fd), ==,
                    AGENT_MIGRATION_CHANNEL_NOTSENT_LOWAT);
    /* QEMU writes to it as to its own sockets: blocking */
    g_assert_cmpint(fcntl(fd, F_GETFL) & O_NONBLOCK, ==, 0);
    g_object_unref(c.conn);
}

static void test_refused(void)
{
    g_autoptr(GSocketListener) listener = g_socket_listener_new();
    guint16 port = listen_local(listener);
    g_autofree char *where =
        g_strdup_printf("cannot connect to the destination's migration address "
                        "127.0.0.1:%u: ",
                        port);
    Connect c = {0};

    /* the port was free a moment ago: nobody listens there now */
    g_socket_listener_close(listener);
    connect_and_wait("127.0.0.1", port, &c);
    g_assert_null(c.conn);
    g_assert_error(c.error, DRV_ERROR, DRV_ERROR_MIGRATION);
    g_assert_true(g_str_has_prefix(c.error->message, where));
    g_error_free(c.error);
}

static void test_ipv6_literal(void)
{
    g_autoptr(GSocketListener) listener = g_socket_listener_new();
    g_autoptr(GInetAddress) any =
        g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV6);
    g_autoptr(GSocketAddress) addr = g_inet_socket_address_new(any, 0);
    g_autoptr(GSocketAddress) bound = NULL;
    g_autoptr(GError) error = NULL;
    Connect c = {0};

    if (!g_socket_listener_add_address(listener, addr, G_SOCKET_TYPE_STREAM,
                                       G_SOCKET_PROTOCOL_TCP, NULL, &bound,
                                       &error)) {
        g_test_skip("no IPv6 loopback");
        return;
    }
    connect_and_wait(
        "::1", g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound)),
        &c);
    g_assert_no_error(c.error);
    g_assert_nonnull(c.conn);
    g_object_unref(c.conn);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/migration-channel/tuned", test_tuned);
    g_test_add_func("/migration-channel/refused", test_refused);
    g_test_add_func("/migration-channel/ipv6-literal", test_ipv6_literal);
    return g_test_run();
}
