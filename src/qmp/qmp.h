/*
 * Asynchronous QMP client.
 *
 * Runs on the GMainContext that is the thread default when the client is
 * created.  The client reads the greeting, negotiates capabilities, then
 * sends in-band commands one at a time (QEMU runs them serially anyway, and
 * one in flight keeps per-command timeouts meaningful); later commands wait
 * in a bounded queue.  Each command has a numeric id; a reply whose command
 * timed out is dropped when it arrives.  Events are dispatched by name to the
 * event handler with their QEMU timestamp and raw line.
 *
 * Errors are sticky: EOF, a socket error, a malformed or oversize line, or an
 * explicit close fail every pending and queued command and every later one
 * with the same error, and the close handler runs once.
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define QMP_ERROR (qmp_error_quark())
GQuark qmp_error_quark(void);

typedef enum {
    /* QEMU's own error classes: the message is QEMU's "desc" verbatim */
    QMP_ERROR_GENERIC_ERROR,
    QMP_ERROR_COMMAND_NOT_FOUND,
    QMP_ERROR_DEVICE_NOT_ACTIVE,
    QMP_ERROR_DEVICE_NOT_FOUND,
    QMP_ERROR_KVM_MISSING_CAP,
    /* failures of the client */
    QMP_ERROR_TIMEOUT,      /* the command got no reply in time */
    QMP_ERROR_DISCONNECTED, /* EOF or socket error */
    QMP_ERROR_PROTOCOL,     /* bad greeting, malformed or oversize line */
    QMP_ERROR_QUEUE_FULL,   /* too many commands waiting */
    QMP_ERROR_CLOSED,       /* qmp_client_close() was called */
} QmpErrorCode;

/* QEMU's class name of a QEMU error code ("GenericError", ...), or NULL. */
const char *qmp_error_class_name(QmpErrorCode code);
/* The code of QEMU's error class @name; unknown classes are generic. */
QmpErrorCode qmp_error_code_from_class(const char *name);

#define QMP_DEFAULT_MAX_LINE (1024 * 1024)
#define QMP_DEFAULT_MAX_QUEUE 64
#define QMP_DEFAULT_TIMEOUT_MS 30000

#define QMP_TYPE_CLIENT (qmp_client_get_type())
G_DECLARE_FINAL_TYPE(QmpClient, qmp_client, QMP, CLIENT, GObject)

/*
 * @name: event name ("STOP", "MIGRATION", ...); @data: its "data" member or
 * NULL; @timestamp_us: QEMU's timestamp in microseconds since the epoch;
 * @raw: the line as QEMU sent it, without the line terminator.
 */
typedef void (*QmpEventFunc)(QmpClient *client, const char *name,
                             JsonObject *data, gint64 timestamp_us,
                             const char *raw, gpointer user_data);
/*
 * Runs once, when the client becomes closed; @error says why.  Only a client
 * whose connect succeeded calls it: a failed connect reports through
 * qmp_client_connect_finish() alone (the client is then closed with that
 * error).  qmp_client_close() calls it before returning; it never runs once
 * the last reference is dropped.
 */
typedef void (*QmpClosedFunc)(QmpClient *client, const GError *error,
                              gpointer user_data);

/* @max_line: longest line accepted, 0 for QMP_DEFAULT_MAX_LINE. */
QmpClient *qmp_client_new(gsize max_line);

void qmp_client_set_event_handler(QmpClient *client, QmpEventFunc func,
                                  gpointer user_data, GDestroyNotify notify);
void qmp_client_set_closed_handler(QmpClient *client, QmpClosedFunc func,
                                   gpointer user_data, GDestroyNotify notify);

/*
 * Connect to the UNIX socket at @path, read the greeting and run
 * qmp_capabilities, all within @timeout_ms.
 */
void qmp_client_connect_async(QmpClient *client, const char *path,
                              guint timeout_ms, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data);
gboolean qmp_client_connect_finish(QmpClient *client, GAsyncResult *result,
                                   GError **error);

/*
 * Run @command with @arguments (may be NULL; a reference is taken).
 * @timeout_ms counts from when the command is sent, 0 for the default.
 * The finish function returns the "return" member (a new reference).
 */
void qmp_client_execute_async(QmpClient *client, const char *command,
                              JsonObject *arguments, guint timeout_ms,
                              GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data);
/*
 * The same, with a copy of @fd passed along (SCM_RIGHTS), for QEMU's
 * "getfd" and "add-fd"; the caller keeps @fd.  Finish with
 * qmp_client_execute_finish().
 */
void qmp_client_execute_with_fd_async(QmpClient *client, const char *command,
                                      JsonObject *arguments, int fd,
                                      guint timeout_ms,
                                      GCancellable *cancellable,
                                      GAsyncReadyCallback callback,
                                      gpointer user_data);
JsonNode *qmp_client_execute_finish(QmpClient *client, GAsyncResult *result,
                                    GError **error);

/* QEMU's version from the greeting as "major.minor.micro", or NULL. */
const char *qmp_client_get_qemu_version(QmpClient *client);

gboolean qmp_client_is_closed(QmpClient *client);
/* The sticky error once closed, else NULL. */
const GError *qmp_client_get_error(QmpClient *client);

/* Close now; pending and later commands fail with QMP_ERROR_CLOSED. */
void qmp_client_close(QmpClient *client);

G_END_DECLS
