#include "agent/migration-channel.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include "common/error.h"

gboolean agent_migration_channel_tune(int fd, GError **error)
{
    int lowat = AGENT_MIGRATION_CHANNEL_NOTSENT_LOWAT;
    int flags = fcntl(fd, F_GETFL);

    /*
     * GSocket made it non-blocking; QEMU's migration thread writes as on
     * its own "tcp:" sockets, blocking, instead of polling after EAGAIN.
     */
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INTERNAL,
                    "cannot make the migration socket blocking: %s",
                    g_strerror(errno));
        return FALSE;
    }
    if (setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat)) <
        0) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INTERNAL,
                    "cannot limit the migration socket's unsent data: %s",
                    g_strerror(errno));
        return FALSE;
    }
    return TRUE;
}

gint agent_migration_channel_notsent_lowat(int fd)
{
    int lowat = -1;
    socklen_t len = sizeof(lowat);

    if (getsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, &len) < 0) {
        return -1;
    }
    return lowat;
}

static void agent_channel_on_connected(GObject *source, GAsyncResult *result,
                                       gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    const char *where = g_task_get_task_data(task);
    GError *error = NULL;
    g_autoptr(GSocketConnection) conn =
        g_socket_client_connect_finish(G_SOCKET_CLIENT(source), result, &error);

    if (conn == NULL) {
        g_task_return_new_error(task, DRV_ERROR, DRV_ERROR_MIGRATION,
                                "cannot connect to the destination's "
                                "migration address %s: %s",
                                where, error->message);
        g_error_free(error);
        return;
    }
    if (!agent_migration_channel_tune(
            g_socket_get_fd(g_socket_connection_get_socket(conn)), &error)) {
        g_task_return_error(task, error);
        return;
    }
    g_task_return_pointer(task, g_steal_pointer(&conn), g_object_unref);
}

void agent_migration_channel_connect_async(const char *address, guint port,
                                           GCancellable *cancellable,
                                           GAsyncReadyCallback callback,
                                           gpointer user_data)
{
    GTask *task = g_task_new(NULL, cancellable, callback, user_data);
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autofree char *where = strchr(address, ':')
                                 ? g_strdup_printf("[%s]:%u", address, port)
                                 : g_strdup_printf("%s:%u", address, port);

    g_task_set_source_tag(task, agent_migration_channel_connect_async);
    g_task_set_task_data(task, g_strdup(where), g_free);
    g_socket_client_set_enable_proxy(client, FALSE);
    g_socket_client_set_timeout(client,
                                AGENT_MIGRATION_CHANNEL_CONNECT_TIMEOUT_S);
    g_socket_client_connect_to_host_async(client, where, (guint16)port,
                                          cancellable,
                                          agent_channel_on_connected, task);
}

GSocketConnection *agent_migration_channel_connect_finish(GAsyncResult *result,
                                                          GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}
