/*
 * Asynchronous QMP client: see qmp.h for the contract.
 *
 * Lifetimes.  Every pending command owns a GTask, and a GTask holds its
 * source object, so the client lives at least until its last command
 * completes (which timeouts bound).  The socket I/O, on the other hand, must
 * not keep the client alive, or a connected client could never be freed:
 * read, write and connect callbacks get a reference to a small QmpIo box
 * that outlives the client and that the client detaches from when it closes.
 * The box also owns the read buffer, which GIO writes into after the read
 * was started.
 *
 * Reentrancy.  A GTask may invoke its callback synchronously from
 * g_task_return_*(), and user handlers may close or unref the client, so
 * every path that reaches user code holds a reference to the client, puts
 * its own state in order first and re-checks for closure afterwards.
 */
#include "qmp/qmp.h"

#include <string.h>

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <gio/gunixfdmessage.h>
#include <gio/gunixsocketaddress.h>

#define QMP_READ_CHUNK 4096
/*
 * Ids remembered of commands that timed out or were cancelled on the wire.
 * Past this many QEMU is hopelessly behind, and a reply older than every
 * remembered id is taken for a protocol error.
 */
#define QMP_MAX_ABANDONED 64

GQuark qmp_error_quark(void)
{
    return g_quark_from_static_string("qmp-error");
}

static const char *const qmp_error_classes[] = {
    [QMP_ERROR_GENERIC_ERROR] = "GenericError",
    [QMP_ERROR_COMMAND_NOT_FOUND] = "CommandNotFound",
    [QMP_ERROR_DEVICE_NOT_ACTIVE] = "DeviceNotActive",
    [QMP_ERROR_DEVICE_NOT_FOUND] = "DeviceNotFound",
    [QMP_ERROR_KVM_MISSING_CAP] = "KVMMissingCap",
};

const char *qmp_error_class_name(QmpErrorCode code)
{
    if ((guint)code >= G_N_ELEMENTS(qmp_error_classes)) {
        return NULL;
    }
    return qmp_error_classes[code];
}

QmpErrorCode qmp_error_code_from_class(const char *name)
{
    for (guint i = 0; name && i < G_N_ELEMENTS(qmp_error_classes); i++) {
        if (g_str_equal(qmp_error_classes[i], name)) {
            return (QmpErrorCode)i;
        }
    }
    return QMP_ERROR_GENERIC_ERROR;
}

typedef enum {
    QMP_STATE_NEW,
    QMP_STATE_CONNECTING,
    QMP_STATE_GREETING,
    QMP_STATE_NEGOTIATING,
    QMP_STATE_READY,
    QMP_STATE_CLOSED,
} QmpState;

typedef struct {
    QmpClient *client; /* NULL once the client let go of the connection */
    GCancellable *cancellable;
    GSocketConnection *conn;
    guint8 buf[QMP_READ_CHUNK];
} QmpIo;

typedef struct {
    QmpIo *io;
    GBytes *line;
} QmpWrite;

typedef struct {
    QmpClient *client; /* unowned: the task holds a reference */
    guint64 id;
    char *command;
    GBytes *line;
    guint timeout_ms;
    GTask *task;
    GSource *timer;
    GSource *cancel_source;
    int fd; /* passed along with the command (SCM_RIGHTS), or -1 */
} QmpPending;

struct _QmpClient {
    GObject parent_instance;

    GMainContext *context;
    gsize max_line;
    QmpState state;
    gboolean connected; /* the handshake completed, so closing is news */
    GError *error;
    char *path;
    char *version;

    QmpIo *io;
    GByteArray *line;
    gboolean writing;
    /*
     * At most one line waits for the write in progress: only one command is
     * on the wire, and abandoning it drops its line if still waiting.
     */
    GBytes *out_next;
    guint64 out_next_id;
    int out_next_fd; /* unowned: its QmpPending holds it */

    guint64 next_id;
    GHashTable *pending; /* id -> QmpPending, queued or on the wire */
    GQueue queue;        /* QmpPending waiting to be sent, unowned */
    QmpPending *current; /* the command on the wire, unowned */
    GArray *abandoned;   /* guint64 ids, ascending */

    GTask *connect_task;
    GSource *connect_timer;
    GSource *connect_cancel;
    guint connect_timeout_ms;

    QmpEventFunc event_func;
    gpointer event_data;
    GDestroyNotify event_notify;
    QmpClosedFunc closed_func;
    gpointer closed_data;
    GDestroyNotify closed_notify;
};

G_DEFINE_TYPE(QmpClient, qmp_client, G_TYPE_OBJECT)

static void qmp_client_fail(QmpClient *self, GError *error);
static void qmp_client_pump(QmpClient *self);

/* Closes the client with a QMP_ERROR_PROTOCOL error; returns FALSE. */
G_GNUC_PRINTF(2, 3)
static gboolean qmp_client_protocol_error(QmpClient *self, const char *fmt, ...)
{
    va_list ap;
    GError *error;

    va_start(ap, fmt);
    error = g_error_new_valist(QMP_ERROR, QMP_ERROR_PROTOCOL, fmt, ap);
    va_end(ap);
    qmp_client_fail(self, error);
    return FALSE;
}

static void qmp_source_clear(GSource **source)
{
    if (*source) {
        g_source_destroy(*source);
        g_clear_pointer(source, g_source_unref);
    }
}

static QmpIo *qmp_io_new(QmpClient *client)
{
    QmpIo *io = g_rc_box_new0(QmpIo);

    io->client = client;
    io->cancellable = g_cancellable_new();
    return io;
}

static QmpIo *qmp_io_ref(QmpIo *io)
{
    return g_rc_box_acquire(io);
}

static void qmp_io_clear(gpointer data)
{
    QmpIo *io = data;

    /*
     * The last reference goes when no read or write is outstanding, so the
     * socket is never closed under a pending operation.  Closing a socket
     * does not block.
     */
    if (io->conn) {
        g_io_stream_close(G_IO_STREAM(io->conn), NULL, NULL);
        g_object_unref(io->conn);
    }
    g_object_unref(io->cancellable);
}

static void qmp_io_unref(QmpIo *io)
{
    if (io) {
        g_rc_box_release_full(io, qmp_io_clear);
    }
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QmpIo, qmp_io_unref)

static void qmp_write_free(QmpWrite *w)
{
    if (w) {
        qmp_io_unref(w->io);
        g_bytes_unref(w->line);
        g_free(w);
    }
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QmpWrite, qmp_write_free)

static void qmp_pending_free(QmpPending *p)
{
    if (p) {
        qmp_source_clear(&p->timer);
        qmp_source_clear(&p->cancel_source);
        g_clear_object(&p->task);
        g_bytes_unref(p->line);
        g_free(p->command);
        if (p->fd >= 0) {
            close(p->fd);
        }
        g_free(p);
    }
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QmpPending, qmp_pending_free)

static JsonObject *qmp_object_member(JsonObject *obj, const char *name)
{
    JsonNode *node = obj ? json_object_get_member(obj, name) : NULL;

    if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node)) {
        return NULL;
    }
    return json_node_get_object(node);
}

static const char *qmp_string_member(JsonObject *obj, const char *name)
{
    JsonNode *node = obj ? json_object_get_member(obj, name) : NULL;

    if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_STRING) {
        return NULL;
    }
    return json_node_get_string(node);
}

static gboolean qmp_int_member(JsonObject *obj, const char *name, gint64 *value)
{
    JsonNode *node = obj ? json_object_get_member(obj, name) : NULL;

    if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_INT64) {
        return FALSE;
    }
    *value = json_node_get_int(node);
    return TRUE;
}

static GBytes *qmp_command_line(const char *command, JsonObject *arguments,
                                guint64 id)
{
    g_autoptr(JsonObject) obj = json_object_new();
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autofree char *text = NULL;
    gsize len = 0;
    GString *line;

    json_object_set_string_member(obj, "execute", command);
    if (arguments) {
        json_object_set_object_member(obj, "arguments",
                                      json_object_ref(arguments));
    }
    json_object_set_int_member(obj, "id", (gint64)id);
    root = json_node_init_object(json_node_alloc(), obj);
    json_generator_set_root(gen, root);
    text = json_generator_to_data(gen, &len);
    line = g_string_new_len(text, (gssize)len);
    g_string_append(line, "\r\n");
    return g_string_free_to_bytes(line);
}

static gboolean qmp_pending_timeout_cb(gpointer data);
static gboolean qmp_pending_cancelled_cb(GCancellable *cancellable,
                                         gpointer data);

/* Creates the command and puts it in the pending table. */
static QmpPending *qmp_client_add_pending(QmpClient *self, const char *command,
                                          JsonObject *arguments,
                                          guint timeout_ms, GTask *task)
{
    QmpPending *p = g_new0(QmpPending, 1);
    GCancellable *cancellable = g_task_get_cancellable(task);

    p->client = self;
    p->fd = -1;
    p->id = self->next_id++;
    p->command = g_strdup(command);
    p->line = qmp_command_line(command, arguments, p->id);
    p->timeout_ms = timeout_ms ? timeout_ms : QMP_DEFAULT_TIMEOUT_MS;
    p->task = g_object_ref(task);
    if (cancellable) {
        /*
         * A cancellable source rather than g_cancellable_connect(): the
         * cancellation may come from another thread, and the handler must
         * run on our context, never inside g_cancellable_cancel().
         */
        p->cancel_source = g_cancellable_source_new(cancellable);
        g_source_set_callback(p->cancel_source,
                              G_SOURCE_FUNC(qmp_pending_cancelled_cb), p, NULL);
        g_source_attach(p->cancel_source, self->context);
    }
    g_hash_table_insert(self->pending, &p->id, p);
    return p;
}

/* Unlinks @p from the table, the queue and the wire; the caller owns it. */
static QmpPending *qmp_client_take_pending(QmpClient *self, QmpPending *p)
{
    g_hash_table_steal(self->pending, &p->id);
    if (self->current == p) {
        self->current = NULL;
    } else {
        g_queue_remove(&self->queue, p);
    }
    qmp_source_clear(&p->timer);
    qmp_source_clear(&p->cancel_source);
    return p;
}

static void qmp_client_write(QmpClient *self, GBytes *line, guint64 id, int fd);

static void qmp_client_write_cb(GObject *source, GAsyncResult *result,
                                gpointer data)
{
    g_autoptr(QmpWrite) w = data;
    g_autoptr(GError) err = NULL;
    g_autoptr(QmpClient) self = NULL;
    g_autoptr(GBytes) next = NULL;
    gboolean ok;

    ok = g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result, NULL,
                                          &err);
    if (w->io->client == NULL) {
        return;
    }
    self = g_object_ref(w->io->client);
    self->writing = FALSE;
    if (!ok) {
        qmp_client_fail(self,
                        g_error_new(QMP_ERROR, QMP_ERROR_DISCONNECTED,
                                    "QMP write failed: %s", err->message));
        return;
    }
    next = g_steal_pointer(&self->out_next);
    if (next) {
        qmp_client_write(self, next, self->out_next_id, self->out_next_fd);
    }
}

/*
 * The start of @line goes out with @fd attached, as QEMU's getfd and
 * add-fd expect; returns how many bytes went, or -1 with the client failed.
 * Nothing else is being written then, and a command line is far smaller
 * than the socket's buffer, so the non-blocking send does not come short
 * for want of room.
 */
static gssize qmp_client_send_fd(QmpClient *self, GBytes *line, int fd)
{
    GSocket *socket = g_socket_connection_get_socket(self->io->conn);
    g_autoptr(GSocketControlMessage) msg = g_unix_fd_message_new();
    GSocketControlMessage *msgs[] = {msg};
    GOutputVector vec;
    g_autoptr(GError) err = NULL;
    gssize sent;

    vec.buffer = g_bytes_get_data(line, NULL);
    vec.size = g_bytes_get_size(line);
    if (!g_unix_fd_message_append_fd(G_UNIX_FD_MESSAGE(msg), fd, &err)) {
        sent = -1;
    } else {
        sent = g_socket_send_message(socket, NULL, &vec, 1, msgs, 1,
                                     G_SOCKET_MSG_NONE, NULL, &err);
    }
    if (sent < 0) {
        qmp_client_fail(self, g_error_new(QMP_ERROR, QMP_ERROR_DISCONNECTED,
                                          "QMP write (with a file "
                                          "descriptor) failed: %s",
                                          err->message));
    }
    return sent;
}

static void qmp_client_write(QmpClient *self, GBytes *line, guint64 id, int fd)
{
    QmpWrite *w;
    GOutputStream *out;
    gssize sent = 0;

    if (self->writing) {
        g_assert(self->out_next == NULL);
        self->out_next = g_bytes_ref(line);
        self->out_next_id = id;
        self->out_next_fd = fd;
        return;
    }
    if (fd >= 0) {
        sent = qmp_client_send_fd(self, line, fd);
        if (sent < 0) {
            return;
        }
    }
    w = g_new0(QmpWrite, 1);
    w->io = qmp_io_ref(self->io);
    w->line = g_bytes_new_from_bytes(line, (gsize)sent,
                                     g_bytes_get_size(line) - (gsize)sent);
    out = g_io_stream_get_output_stream(G_IO_STREAM(self->io->conn));
    self->writing = TRUE;
    g_main_context_push_thread_default(self->context);
    g_output_stream_write_all_async(
        out, g_bytes_get_data(w->line, NULL), g_bytes_get_size(w->line),
        G_PRIORITY_DEFAULT, self->io->cancellable, qmp_client_write_cb, w);
    g_main_context_pop_thread_default(self->context);
}

/* Puts @p on the wire; the timeout counts from now. */
static void qmp_client_send(QmpClient *self, QmpPending *p)
{
    self->current = p;
    p->timer = g_timeout_source_new(p->timeout_ms);
    g_source_set_callback(p->timer, qmp_pending_timeout_cb, p, NULL);
    g_source_attach(p->timer, self->context);
    qmp_client_write(self, p->line, p->id, p->fd);
}

static void qmp_client_pump(QmpClient *self)
{
    QmpPending *p;

    if (self->state != QMP_STATE_READY || self->current) {
        return;
    }
    p = g_queue_pop_head(&self->queue);
    if (p) {
        qmp_client_send(self, p);
    }
}

/*
 * A reply to @id arrived: QEMU answers in order, so abandoned commands up to
 * @id will never be answered.  Returns whether @id itself was abandoned.
 */
static gboolean qmp_client_forget_abandoned(QmpClient *self, guint64 id)
{
    guint n = 0;
    gboolean found;

    while (n < self->abandoned->len &&
           g_array_index(self->abandoned, guint64, n) <= id) {
        n++;
    }
    found = n > 0 && g_array_index(self->abandoned, guint64, n - 1) == id;
    g_array_remove_range(self->abandoned, 0, n);
    return found;
}

/* Fails @p (queued or on the wire) with @error and moves on. */
static void qmp_client_abandon(QmpClient *self, QmpPending *p, GError *error)
{
    gboolean on_wire = self->current == p;
    g_autoptr(QmpPending) owned = qmp_client_take_pending(self, p);

    if (on_wire) {
        if (self->out_next && self->out_next_id == p->id) {
            /* never reached QEMU, so no reply will come */
            g_clear_pointer(&self->out_next, g_bytes_unref);
            self->out_next_fd = -1;
        } else {
            if (self->abandoned->len >= QMP_MAX_ABANDONED) {
                g_array_remove_index(self->abandoned, 0);
            }
            g_array_append_val(self->abandoned, p->id);
        }
    }
    qmp_client_pump(self);
    g_task_return_error(owned->task, error);
}

static gboolean qmp_pending_timeout_cb(gpointer data)
{
    QmpPending *p = data;
    g_autoptr(QmpClient) self = g_object_ref(p->client);

    qmp_client_abandon(self, p,
                       g_error_new(QMP_ERROR, QMP_ERROR_TIMEOUT,
                                   "QMP command '%s' timed out after %u ms",
                                   p->command, p->timeout_ms));
    return G_SOURCE_REMOVE;
}

static gboolean qmp_pending_cancelled_cb(GCancellable *cancellable,
                                         gpointer data)
{
    QmpPending *p = data;
    g_autoptr(QmpClient) self = g_object_ref(p->client);

    qmp_client_abandon(self, p,
                       g_error_new_literal(G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                           "Operation was cancelled"));
    return G_SOURCE_REMOVE;
}

static void qmp_client_caps_cb(GObject *source, GAsyncResult *result,
                               gpointer data)
{
    QmpClient *self = QMP_CLIENT(source);
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) ret = NULL;
    g_autoptr(GTask) task = NULL;

    ret = g_task_propagate_pointer(G_TASK(result), &err);
    if (self->state != QMP_STATE_NEGOTIATING) {
        /* closed meanwhile: the connect task has its error already */
        return;
    }
    if (ret == NULL) {
        g_prefix_error(&err, "QMP capabilities negotiation failed: ");
        qmp_client_fail(self, g_steal_pointer(&err));
        return;
    }
    self->state = QMP_STATE_READY;
    self->connected = TRUE;
    qmp_source_clear(&self->connect_timer);
    qmp_source_clear(&self->connect_cancel);
    task = g_steal_pointer(&self->connect_task);
    qmp_client_pump(self);
    g_task_return_boolean(task, TRUE);
}

static gboolean qmp_client_handle_greeting(QmpClient *self, JsonObject *obj)
{
    JsonObject *qmp = qmp_object_member(obj, "QMP");
    JsonObject *qemu =
        qmp_object_member(qmp_object_member(qmp, "version"), "qemu");
    gint64 major, minor, micro;
    g_autoptr(GTask) task = NULL;
    QmpPending *p;

    if (qmp == NULL) {
        return qmp_client_protocol_error(self, "QMP greeting expected");
    }
    if (qmp_int_member(qemu, "major", &major) &&
        qmp_int_member(qemu, "minor", &minor) &&
        qmp_int_member(qemu, "micro", &micro)) {
        self->version = g_strdup_printf("%" G_GINT64_FORMAT ".%" G_GINT64_FORMAT
                                        ".%" G_GINT64_FORMAT,
                                        major, minor, micro);
    }
    self->state = QMP_STATE_NEGOTIATING;
    task = g_task_new(self, NULL, qmp_client_caps_cb, NULL);
    g_task_set_source_tag(task, qmp_client_handle_greeting);
    p = qmp_client_add_pending(self, "qmp_capabilities", NULL,
                               self->connect_timeout_ms, task);
    qmp_client_send(self, p);
    return TRUE;
}

static gboolean qmp_client_handle_event(QmpClient *self, JsonObject *obj,
                                        const char *raw)
{
    const char *name = qmp_string_member(obj, "event");
    JsonObject *ts = qmp_object_member(obj, "timestamp");
    gint64 seconds = 0, micros = 0;

    if (name == NULL) {
        return qmp_client_protocol_error(self, "QMP event without a name");
    }
    if (!qmp_int_member(ts, "seconds", &seconds) ||
        !qmp_int_member(ts, "microseconds", &micros)) {
        seconds = micros = 0;
    }
    if (self->event_func) {
        self->event_func(self, name, qmp_object_member(obj, "data"),
                         seconds * G_USEC_PER_SEC + micros, raw,
                         self->event_data);
    }
    return self->state != QMP_STATE_CLOSED;
}

static gboolean qmp_client_handle_reply(QmpClient *self, JsonObject *obj)
{
    gint64 id = 0;
    guint64 uid;
    QmpPending *p = NULL;
    g_autoptr(QmpPending) owned = NULL;
    JsonObject *err;

    if (!qmp_int_member(obj, "id", &id) || id < 0) {
        return qmp_client_protocol_error(self, "QMP reply without a valid id");
    }
    uid = (guint64)id;
    p = g_hash_table_lookup(self->pending, &uid);
    if (qmp_client_forget_abandoned(self, uid)) {
        return TRUE;
    }
    if (p == NULL || p != self->current) {
        /* unknown, or not sent yet: the stream cannot be trusted */
        return qmp_client_protocol_error(
            self, "QMP reply with unexpected id %" G_GINT64_FORMAT, id);
    }
    owned = qmp_client_take_pending(self, p);
    qmp_client_pump(self);

    err = qmp_object_member(obj, "error");
    if (json_object_has_member(obj, "return")) {
        g_task_return_pointer(owned->task,
                              json_object_dup_member(obj, "return"),
                              (GDestroyNotify)json_node_unref);
    } else if (err) {
        const char *desc = qmp_string_member(err, "desc");
        QmpErrorCode code =
            qmp_error_code_from_class(qmp_string_member(err, "class"));

        if (desc) {
            g_task_return_new_error(owned->task, QMP_ERROR, code, "%s", desc);
        } else {
            g_task_return_new_error(owned->task, QMP_ERROR, code,
                                    "QMP command '%s' failed", owned->command);
        }
    } else {
        g_task_return_new_error(owned->task, QMP_ERROR, QMP_ERROR_PROTOCOL,
                                "QMP reply to '%s' has no valid error",
                                owned->command);
    }
    return self->state != QMP_STATE_CLOSED;
}

/* Returns FALSE once the client is closed. */
static gboolean qmp_client_process_line(QmpClient *self, const char *text,
                                        gsize len)
{
    g_autoptr(JsonParser) parser = json_parser_new_immutable();
    g_autoptr(GError) err = NULL;
    JsonNode *root;
    JsonObject *obj;

    if (!json_parser_load_from_data(parser, text, (gssize)len, &err)) {
        return qmp_client_protocol_error(self, "QMP sent malformed JSON: %s",
                                         err->message);
    }
    root = json_parser_get_root(parser);
    if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
        return qmp_client_protocol_error(
            self, "QMP sent a line that is not a JSON object");
    }
    obj = json_node_get_object(root);
    if (self->state == QMP_STATE_GREETING) {
        return qmp_client_handle_greeting(self, obj);
    }
    if (json_object_has_member(obj, "event")) {
        return qmp_client_handle_event(self, obj, text);
    }
    if (json_object_has_member(obj, "return") ||
        json_object_has_member(obj, "error")) {
        return qmp_client_handle_reply(self, obj);
    }
    return qmp_client_protocol_error(self, "QMP sent an unknown message");
}

static gboolean qmp_client_line_too_long(QmpClient *self)
{
    return qmp_client_protocol_error(
        self, "QMP line exceeds %" G_GSIZE_FORMAT " bytes", self->max_line);
}

/* Splits @data into lines and dispatches them; FALSE once closed. */
static gboolean qmp_client_feed(QmpClient *self, const guint8 *data, gsize len)
{
    while (len > 0) {
        const guint8 *nl = memchr(data, '\n', len);
        gsize seg = nl ? (gsize)(nl - data) : len;
        g_autofree char *text = NULL;
        gsize n;

        /* one byte over the limit may be the '\r' of QEMU's "\r\n" */
        if (self->line->len + seg > self->max_line + 1) {
            return qmp_client_line_too_long(self);
        }
        g_byte_array_append(self->line, data, (guint)seg);
        if (nl == NULL) {
            break;
        }
        data += seg + 1;
        len -= seg + 1;

        n = self->line->len;
        if (n > 0 && self->line->data[n - 1] == '\r') {
            n--;
        }
        if (n > self->max_line) {
            return qmp_client_line_too_long(self);
        }
        if (memchr(self->line->data, '\0', n)) {
            return qmp_client_protocol_error(self,
                                             "QMP line contains a NUL byte");
        }
        text = g_strndup((const char *)self->line->data, n);
        g_byte_array_set_size(self->line, 0);
        if (n > 0 && !qmp_client_process_line(self, text, n)) {
            return FALSE;
        }
    }
    return self->state != QMP_STATE_CLOSED;
}

static void qmp_client_read_cb(GObject *source, GAsyncResult *result,
                               gpointer data);

static void qmp_client_start_read(QmpClient *self)
{
    QmpIo *io = self->io;
    GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(io->conn));

    g_main_context_push_thread_default(self->context);
    g_input_stream_read_async(in, io->buf, sizeof(io->buf), G_PRIORITY_DEFAULT,
                              io->cancellable, qmp_client_read_cb,
                              qmp_io_ref(io));
    g_main_context_pop_thread_default(self->context);
}

static void qmp_client_read_cb(GObject *source, GAsyncResult *result,
                               gpointer data)
{
    g_autoptr(QmpIo) io = data;
    g_autoptr(GError) err = NULL;
    g_autoptr(QmpClient) self = NULL;
    gssize n;

    n = g_input_stream_read_finish(G_INPUT_STREAM(source), result, &err);
    if (io->client == NULL) {
        return;
    }
    self = g_object_ref(io->client);
    if (n < 0) {
        qmp_client_fail(self, g_error_new(QMP_ERROR, QMP_ERROR_DISCONNECTED,
                                          "QMP read failed: %s", err->message));
        return;
    }
    if (n == 0) {
        qmp_client_fail(self,
                        g_error_new_literal(QMP_ERROR, QMP_ERROR_DISCONNECTED,
                                            "QMP connection closed by QEMU"));
        return;
    }
    if (qmp_client_feed(self, io->buf, (gsize)n)) {
        qmp_client_start_read(self);
    }
}

/*
 * Makes the client closed with @error (consumed): fails the connect task and
 * every command, lets go of the socket, tells the closed handler.
 */
static void qmp_client_fail(QmpClient *self, GError *error)
{
    g_autoptr(GError) owned = error;
    g_autoptr(QmpClient) ref = NULL;
    g_autoptr(GTask) connect_task = NULL;
    GQueue doomed = G_QUEUE_INIT;
    QmpPending *p;

    if (self->state == QMP_STATE_CLOSED) {
        return;
    }
    ref = g_object_ref(self);
    self->state = QMP_STATE_CLOSED;
    self->error = g_steal_pointer(&owned);

    if (self->io) {
        self->io->client = NULL;
        g_cancellable_cancel(self->io->cancellable);
        g_clear_pointer(&self->io, qmp_io_unref);
    }
    self->writing = FALSE;
    g_clear_pointer(&self->out_next, g_bytes_unref);
    qmp_source_clear(&self->connect_timer);
    qmp_source_clear(&self->connect_cancel);
    connect_task = g_steal_pointer(&self->connect_task);

    if (self->current) {
        g_queue_push_tail(&doomed, self->current);
        self->current = NULL;
    }
    while ((p = g_queue_pop_head(&self->queue))) {
        g_queue_push_tail(&doomed, p);
    }
    g_hash_table_steal_all(self->pending);
    g_array_set_size(self->abandoned, 0);

    /* state is final from here: user callbacks may run */
    while ((p = g_queue_pop_head(&doomed))) {
        g_autoptr(QmpPending) dead = p;

        qmp_source_clear(&dead->timer);
        qmp_source_clear(&dead->cancel_source);
        g_task_return_error(dead->task, g_error_copy(self->error));
    }
    if (connect_task) {
        g_task_return_error(connect_task, g_error_copy(self->error));
    }
    if (self->connected && self->closed_func) {
        self->closed_func(self, self->error, self->closed_data);
    }
}

static void qmp_client_connected_cb(GObject *source, GAsyncResult *result,
                                    gpointer data)
{
    g_autoptr(QmpIo) io = data;
    g_autoptr(GError) err = NULL;
    g_autoptr(GSocketConnection) conn = NULL;
    g_autoptr(QmpClient) self = NULL;

    conn =
        g_socket_client_connect_finish(G_SOCKET_CLIENT(source), result, &err);
    if (io->client == NULL) {
        return;
    }
    self = g_object_ref(io->client);
    if (conn == NULL) {
        g_prefix_error(&err, "Cannot connect to QMP socket '%s': ", self->path);
        qmp_client_fail(self, g_steal_pointer(&err));
        return;
    }
    io->conn = g_steal_pointer(&conn);
    self->state = QMP_STATE_GREETING;
    qmp_client_start_read(self);
}

static gboolean qmp_client_connect_timeout_cb(gpointer data)
{
    QmpClient *self = data;
    g_autoptr(QmpClient) ref = g_object_ref(self);

    qmp_client_fail(self, g_error_new(QMP_ERROR, QMP_ERROR_TIMEOUT,
                                      "QMP connect to '%s' timed out after "
                                      "%u ms",
                                      self->path, self->connect_timeout_ms));
    return G_SOURCE_REMOVE;
}

static gboolean qmp_client_connect_cancelled_cb(GCancellable *cancellable,
                                                gpointer data)
{
    QmpClient *self = data;
    g_autoptr(QmpClient) ref = g_object_ref(self);

    qmp_client_fail(self, g_error_new_literal(G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                              "Operation was cancelled"));
    return G_SOURCE_REMOVE;
}

void qmp_client_connect_async(QmpClient *self, const char *path,
                              guint timeout_ms, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = NULL;
    g_autoptr(GSocketClient) sc = NULL;
    g_autoptr(GSocketAddress) addr = NULL;

    g_return_if_fail(QMP_IS_CLIENT(self));
    g_return_if_fail(path != NULL);

    task = g_task_new(self, cancellable, callback, user_data);
    g_task_set_source_tag(task, qmp_client_connect_async);
    if (self->state == QMP_STATE_CLOSED) {
        g_task_return_error(task, g_error_copy(self->error));
        return;
    }
    if (self->state != QMP_STATE_NEW) {
        g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_PENDING,
                                "QMP client is already connecting or "
                                "connected");
        return;
    }
    if (g_task_return_error_if_cancelled(task)) {
        return;
    }

    self->state = QMP_STATE_CONNECTING;
    self->path = g_strdup(path);
    self->connect_timeout_ms = timeout_ms ? timeout_ms : QMP_DEFAULT_TIMEOUT_MS;
    self->io = qmp_io_new(self);
    self->connect_task = g_steal_pointer(&task);

    /* both sources may only fire while connect_task holds the client */
    self->connect_timer = g_timeout_source_new(self->connect_timeout_ms);
    g_source_set_callback(self->connect_timer, qmp_client_connect_timeout_cb,
                          self, NULL);
    g_source_attach(self->connect_timer, self->context);
    if (cancellable) {
        self->connect_cancel = g_cancellable_source_new(cancellable);
        g_source_set_callback(self->connect_cancel,
                              G_SOURCE_FUNC(qmp_client_connect_cancelled_cb),
                              self, NULL);
        g_source_attach(self->connect_cancel, self->context);
    }

    sc = g_socket_client_new();
    g_socket_client_set_enable_proxy(sc, FALSE);
    addr = g_unix_socket_address_new(path);
    g_main_context_push_thread_default(self->context);
    g_socket_client_connect_async(
        sc, G_SOCKET_CONNECTABLE(addr), self->io->cancellable,
        qmp_client_connected_cb, qmp_io_ref(self->io));
    g_main_context_pop_thread_default(self->context);
}

gboolean qmp_client_connect_finish(QmpClient *self, GAsyncResult *result,
                                   GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
    g_return_val_if_fail(
        g_async_result_is_tagged(result, qmp_client_connect_async), FALSE);
    return g_task_propagate_boolean(G_TASK(result), error);
}

static void qmp_client_execute(QmpClient *self, const char *command,
                               JsonObject *arguments, int fd, guint timeout_ms,
                               GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = NULL;
    QmpPending *p;
    int copy = -1;

    task = g_task_new(self, cancellable, callback, user_data);
    g_task_set_source_tag(task, qmp_client_execute_async);
    if (self->state == QMP_STATE_CLOSED) {
        g_task_return_error(task, g_error_copy(self->error));
        return;
    }
    if (self->state == QMP_STATE_NEW) {
        g_task_return_new_error(task, QMP_ERROR, QMP_ERROR_DISCONNECTED,
                                "QMP client is not connected");
        return;
    }
    if (g_task_return_error_if_cancelled(task)) {
        return;
    }
    if (self->queue.length >= QMP_DEFAULT_MAX_QUEUE) {
        g_task_return_new_error(task, QMP_ERROR, QMP_ERROR_QUEUE_FULL,
                                "QMP command '%s' refused: %u commands are "
                                "already waiting",
                                command, self->queue.length);
        return;
    }
    if (fd >= 0 && (copy = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0) {
        g_task_return_new_error(task, G_IO_ERROR, g_io_error_from_errno(errno),
                                "cannot pass a file descriptor to QEMU: %s",
                                g_strerror(errno));
        return;
    }
    p = qmp_client_add_pending(self, command, arguments, timeout_ms, task);
    p->fd = copy;
    g_queue_push_tail(&self->queue, p);
    qmp_client_pump(self);
}

void qmp_client_execute_async(QmpClient *self, const char *command,
                              JsonObject *arguments, guint timeout_ms,
                              GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
    g_return_if_fail(QMP_IS_CLIENT(self));
    g_return_if_fail(command != NULL);

    qmp_client_execute(self, command, arguments, -1, timeout_ms, cancellable,
                       callback, user_data);
}

void qmp_client_execute_with_fd_async(QmpClient *self, const char *command,
                                      JsonObject *arguments, int fd,
                                      guint timeout_ms,
                                      GCancellable *cancellable,
                                      GAsyncReadyCallback callback,
                                      gpointer user_data)
{
    g_return_if_fail(QMP_IS_CLIENT(self));
    g_return_if_fail(command != NULL);
    g_return_if_fail(fd >= 0);

    qmp_client_execute(self, command, arguments, fd, timeout_ms, cancellable,
                       callback, user_data);
}

JsonNode *qmp_client_execute_finish(QmpClient *self, GAsyncResult *result,
                                    GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), NULL);
    g_return_val_if_fail(
        g_async_result_is_tagged(result, qmp_client_execute_async), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}

/* The old data is released last, in case its notify reenters the client. */
static void qmp_replace_data(gpointer *data, GDestroyNotify *notify,
                             gpointer new_data, GDestroyNotify new_notify)
{
    gpointer old_data = *data;
    GDestroyNotify old_notify = *notify;

    *data = new_data;
    *notify = new_notify;
    if (old_notify) {
        old_notify(old_data);
    }
}

void qmp_client_set_event_handler(QmpClient *self, QmpEventFunc func,
                                  gpointer user_data, GDestroyNotify notify)
{
    g_return_if_fail(QMP_IS_CLIENT(self));
    self->event_func = func;
    qmp_replace_data(&self->event_data, &self->event_notify, user_data, notify);
}

void qmp_client_set_closed_handler(QmpClient *self, QmpClosedFunc func,
                                   gpointer user_data, GDestroyNotify notify)
{
    g_return_if_fail(QMP_IS_CLIENT(self));
    self->closed_func = func;
    qmp_replace_data(&self->closed_data, &self->closed_notify, user_data,
                     notify);
}

const char *qmp_client_get_qemu_version(QmpClient *self)
{
    g_return_val_if_fail(QMP_IS_CLIENT(self), NULL);
    return self->version;
}

gboolean qmp_client_is_closed(QmpClient *self)
{
    g_return_val_if_fail(QMP_IS_CLIENT(self), TRUE);
    return self->state == QMP_STATE_CLOSED;
}

const GError *qmp_client_get_error(QmpClient *self)
{
    g_return_val_if_fail(QMP_IS_CLIENT(self), NULL);
    return self->error;
}

void qmp_client_close(QmpClient *self)
{
    g_return_if_fail(QMP_IS_CLIENT(self));
    qmp_client_fail(self, g_error_new_literal(QMP_ERROR, QMP_ERROR_CLOSED,
                                              "QMP client was closed"));
}

QmpClient *qmp_client_new(gsize max_line)
{
    QmpClient *self = g_object_new(QMP_TYPE_CLIENT, NULL);

    self->max_line = max_line ? max_line : QMP_DEFAULT_MAX_LINE;
    return self;
}

static void qmp_client_dispose(GObject *object)
{
    QmpClient *self = QMP_CLIENT(object);

    /* no user code runs once the last reference is gone */
    qmp_client_set_event_handler(self, NULL, NULL, NULL);
    qmp_client_set_closed_handler(self, NULL, NULL, NULL);
    qmp_client_close(self);
    G_OBJECT_CLASS(qmp_client_parent_class)->dispose(object);
}

static void qmp_client_finalize(GObject *object)
{
    QmpClient *self = QMP_CLIENT(object);

    g_hash_table_unref(self->pending);
    g_queue_clear(&self->queue);
    g_array_unref(self->abandoned);
    g_byte_array_unref(self->line);
    g_clear_error(&self->error);
    g_free(self->path);
    g_free(self->version);
    g_main_context_unref(self->context);
    G_OBJECT_CLASS(qmp_client_parent_class)->finalize(object);
}

static void qmp_client_class_init(QmpClientClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);

    object_class->dispose = qmp_client_dispose;
    object_class->finalize = qmp_client_finalize;
}

static void qmp_client_init(QmpClient *self)
{
    self->context = g_main_context_ref_thread_default();
    self->max_line = QMP_DEFAULT_MAX_LINE;
    self->next_id = 1;
    self->line = g_byte_array_new();
    self->pending = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL,
                                          (GDestroyNotify)qmp_pending_free);
    g_queue_init(&self->queue);
    self->out_next_fd = -1;
    self->abandoned = g_array_new(FALSE, FALSE, sizeof(guint64));
}
