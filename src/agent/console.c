/*
 * A VM's serial console: see console.h for the contract.
 *
 * Lifetimes.  The console is a reference-counted box: agent_console_free()
 * closes it (log, ring, socket) at once and drops the owner's reference;
 * a connect in progress holds its own reference and finds the console
 * closed when it completes.  The socket reads, like the QMP client's, must
 * not keep the console alive: they hold a reference to a small reader box
 * (connection, buffer, cancellable) that the console detaches from on
 * disconnect.
 *
 * Reentrancy.  The line handler may disconnect or free the console; the
 * read path holds a reference across it and re-checks afterwards.
 *
 * The log is written with write(2) on an O_APPEND descriptor: one short
 * write per line, which a local filesystem takes without blocking for any
 * time that matters.  Write errors (a full disk) cannot be reported from a
 * read callback; the ring goes on, and the log resumes when space is back.
 */
#include "agent/console.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>

#include "common/fileutil.h"

#define AGENT_CONSOLE_READ_CHUNK 4096
#define AGENT_CONSOLE_RETRY_MS 50
/*
 * On reload, the tail read from the log: enough for ring_lines typical
 * lines, and always for the last record (whose seq we need).
 */
#define AGENT_CONSOLE_RELOAD_PER_LINE 512
#define AGENT_CONSOLE_RELOAD_SLACK (64 * 1024)

typedef struct {
    guint64 seq;
    gint64 time_us;
    char *time; /* ISO 8601, UTC, microseconds */
    char *text; /* valid UTF-8, no newline */
} AgentConsoleLine;

typedef struct {
    AgentConsole *console; /* NULL once detached */
    GSocketConnection *conn;
    GCancellable *cancel;
    guint8 buf[AGENT_CONSOLE_READ_CHUNK];
} AgentConsoleReader;

typedef struct {
    AgentConsole *console; /* a reference */
    GSocketClient *client;
    GSocketAddress *address;
    GCancellable *cancel; /* ours: the caller's, and closing the console */
    GCancellable *user_cancel;
    gulong user_handler;
    gint64 deadline;
    guint timeout_ms;
    char *last_error;
} AgentConsoleConnect;

struct _AgentConsole {
    char *socket_path;
    char *log_path;
    char *old_log_path;  /* LOG.1 */
    gsize max_log_bytes; /* 0: never rotate */
    guint ring_lines;
    int log_fd;
    guint64 log_size;
    guint64 next_seq;
    GQueue ring; /* AgentConsoleLine, oldest first */
    GString *partial;
    AgentConsoleLineFunc line_func;
    gpointer line_data;
    AgentConsoleReader *reader;
    GCancellable *connect_cancel; /* set while connecting */
    gboolean closed;
};

static void agent_console_line_free(AgentConsoleLine *line)
{
    if (line == NULL) {
        return;
    }
    g_free(line->time);
    g_free(line->text);
    g_free(line);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AgentConsoleLine, agent_console_line_free)

static void agent_console_clear(gpointer data)
{
    AgentConsole *console = data;

    g_free(console->socket_path);
    g_free(console->log_path);
    g_free(console->old_log_path);
    drv_fd_cleanup(&console->log_fd);
    g_queue_clear_full(&console->ring, (GDestroyNotify)agent_console_line_free);
    if (console->partial != NULL) {
        g_string_free(console->partial, TRUE);
    }
    g_clear_object(&console->connect_cancel);
}

static AgentConsole *agent_console_ref(AgentConsole *console)
{
    return g_rc_box_acquire(console);
}

static void agent_console_unref(AgentConsole *console)
{
    if (console != NULL) {
        g_rc_box_release_full(console, agent_console_clear);
    }
}

static void agent_console_reader_clear(gpointer data)
{
    AgentConsoleReader *reader = data;

    g_clear_object(&reader->conn);
    g_clear_object(&reader->cancel);
}

static AgentConsoleReader *agent_console_reader_ref(AgentConsoleReader *reader)
{
    return g_rc_box_acquire(reader);
}

static void agent_console_reader_unref(AgentConsoleReader *reader)
{
    if (reader != NULL) {
        g_rc_box_release_full(reader, agent_console_reader_clear);
    }
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AgentConsoleReader, agent_console_reader_unref)

static void agent_console_connect_free(AgentConsoleConnect *data)
{
    if (data == NULL) {
        return;
    }
    g_assert(data->user_handler == 0);
    agent_console_unref(data->console);
    g_clear_object(&data->client);
    g_clear_object(&data->address);
    g_clear_object(&data->cancel);
    g_clear_object(&data->user_cancel);
    g_free(data->last_error);
    g_free(data);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AgentConsoleConnect, agent_console_connect_free)

static char *agent_console_format_time(gint64 time_us)
{
    g_autoptr(GDateTime) dt =
        g_date_time_new_from_unix_utc(time_us / G_USEC_PER_SEC);
    g_autofree char *base = NULL;

    if (dt == NULL) {
        return g_strdup("1970-01-01T00:00:00.000000Z");
    }
    base = g_date_time_format(dt, "%Y-%m-%dT%H:%M:%S");
    return g_strdup_printf("%s.%06dZ", base, (int)(time_us % G_USEC_PER_SEC));
}

/* Console bytes as text: NULs dropped, invalid UTF-8 replaced. */
static char *agent_console_sanitize(const char *raw, gsize len)
{
    g_autofree char *copy = g_malloc(len + 1);
    gsize n = 0;

    for (gsize i = 0; i < len; i++) {
        if (raw[i] != '\0') {
            copy[n++] = raw[i];
        }
    }
    copy[n] = '\0';
    return g_utf8_make_valid(copy, (gssize)n);
}

static gboolean agent_console_write_all(int fd, const char *data, gsize len)
{
    while (len > 0) {
        gssize n = write(fd, data, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return FALSE;
        }
        data += n;
        len -= (gsize)n;
    }
    return TRUE;
}

static int agent_console_open_log(const char *path, int extra_flags)
{
    int fd;

    do {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | extra_flags,
                  0640);
    } while (fd < 0 && errno == EINTR);
    return fd;
}

static void agent_console_rotate(AgentConsole *console)
{
    int fd;

    if (rename(console->log_path, console->old_log_path) < 0) {
        /* keep the bound even if the old lines cannot be kept */
        if (ftruncate(console->log_fd, 0) == 0) {
            console->log_size = 0;
        }
        return;
    }
    fd = agent_console_open_log(console->log_path, O_TRUNC);
    if (fd < 0) {
        /* write on into LOG.1 rather than lose lines */
        return;
    }
    drv_fd_cleanup(&console->log_fd);
    console->log_fd = fd;
    console->log_size = 0;
}

static void agent_console_log_line(AgentConsole *console,
                                   const AgentConsoleLine *line)
{
    g_autofree char *record = NULL;
    gsize len;

    if (console->log_fd < 0) {
        return;
    }
    record = g_strdup_printf("%" G_GUINT64_FORMAT " %s %s\n", line->seq,
                             line->time, line->text);
    len = strlen(record);
    /* rotate before the bound would be passed: the log stays within it */
    if (console->max_log_bytes > 0 && console->log_size > 0 &&
        console->log_size + len > console->max_log_bytes) {
        agent_console_rotate(console);
    }
    if (agent_console_write_all(console->log_fd, record, len)) {
        console->log_size += len;
    }
}

static void agent_console_ring_push(AgentConsole *console,
                                    AgentConsoleLine *line)
{
    g_queue_push_tail(&console->ring, line);
    while (console->ring.length > console->ring_lines) {
        agent_console_line_free(g_queue_pop_head(&console->ring));
    }
}

static void agent_console_emit(AgentConsole *console, const char *raw,
                               gsize len)
{
    AgentConsoleLine *line = g_new0(AgentConsoleLine, 1);

    line->seq = console->next_seq++;
    line->time_us = g_get_real_time();
    line->time = agent_console_format_time(line->time_us);
    line->text = agent_console_sanitize(raw, len);
    agent_console_log_line(console, line);
    if (console->line_func != NULL) {
        g_autoptr(AgentConsoleLine) unkept = NULL;

        if (console->ring_lines > 0) {
            agent_console_ring_push(console, line);
        } else {
            unkept = line;
        }
        /* may free the ring (agent_console_free): @line is not used after */
        console->line_func(console, line->seq, line->time_us, line->text,
                           console->line_data);
    } else if (console->ring_lines > 0) {
        agent_console_ring_push(console, line);
    } else {
        agent_console_line_free(line);
    }
}

/* The first @len bytes of the line being assembled, NULs and all. */
static char *agent_console_take(GString *partial, gsize len)
{
    char *raw = g_malloc(len + 1);

    memcpy(raw, partial->str, len);
    raw[len] = '\0';
    g_string_erase(partial, 0, (gssize)len);
    return raw;
}

/*
 * Where to split an overlong line: at most AGENT_CONSOLE_MAX_LINE bytes,
 * and not inside a UTF-8 sequence when one can be recognized.
 */
static gsize agent_console_split_point(const GString *partial)
{
    gsize cut = AGENT_CONSOLE_MAX_LINE;
    gsize start = cut;

    while (start > 0 && cut - start < 3 &&
           ((guchar)partial->str[start - 1] & 0xC0) == 0x80) {
        start--;
    }
    if (start > 0 && (guchar)partial->str[start - 1] >= 0xC0) {
        guchar lead = (guchar)partial->str[start - 1];
        gsize need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;

        if (start - 1 + need > cut && start - 1 > 0) {
            return start - 1;
        }
    }
    return cut;
}

/* Feed bytes; stops early if the console got detached by the handler. */
static void agent_console_feed(AgentConsole *console,
                               AgentConsoleReader *reader, const guint8 *data,
                               gsize len)
{
    for (gsize i = 0; i < len && reader->console == console; i++) {
        char c = (char)data[i];

        if (c == '\r') {
            continue;
        }
        if (c == '\n') {
            gsize n = console->partial->len;
            g_autofree char *text = agent_console_take(console->partial, n);

            agent_console_emit(console, text, n);
            continue;
        }
        g_string_append_c(console->partial, c);
        if (console->partial->len >= AGENT_CONSOLE_MAX_LINE) {
            gsize cut = agent_console_split_point(console->partial);
            g_autofree char *text = agent_console_take(console->partial, cut);

            agent_console_emit(console, text, cut);
        }
    }
}

/* A line QEMU did not finish is still output: keep it. */
static void agent_console_flush_partial(AgentConsole *console)
{
    g_autofree char *text = NULL;
    gsize n = console->partial->len;

    if (n == 0) {
        return;
    }
    text = agent_console_take(console->partial, n);
    agent_console_emit(console, text, n);
}

static void agent_console_detach(AgentConsole *console)
{
    AgentConsoleReader *reader = console->reader;

    if (reader == NULL) {
        return;
    }
    console->reader = NULL;
    reader->console = NULL;
    g_cancellable_cancel(reader->cancel);
    /* a socket close does not block */
    g_io_stream_close(G_IO_STREAM(reader->conn), NULL, NULL);
    agent_console_reader_unref(reader);
}

static void agent_console_read_more(AgentConsoleReader *reader);

static void agent_console_read_done(GObject *source, GAsyncResult *result,
                                    gpointer data)
{
    g_autoptr(AgentConsoleReader) reader = data;
    AgentConsole *console = reader->console;
    gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), result, NULL);

    if (console == NULL) {
        return;
    }
    agent_console_ref(console);
    if (n > 0) {
        agent_console_feed(console, reader, reader->buf, (gsize)n);
        if (reader->console == console) {
            agent_console_read_more(reader);
        }
    } else {
        /* EOF or a broken connection: QEMU is gone, the lines stay */
        agent_console_detach(console);
        agent_console_flush_partial(console);
    }
    agent_console_unref(console);
}

static void agent_console_read_more(AgentConsoleReader *reader)
{
    GInputStream *input =
        g_io_stream_get_input_stream(G_IO_STREAM(reader->conn));

    g_input_stream_read_async(input, reader->buf, sizeof(reader->buf),
                              G_PRIORITY_DEFAULT, reader->cancel,
                              agent_console_read_done,
                              agent_console_reader_ref(reader));
}

static void agent_console_attach(AgentConsole *console, GSocketConnection *conn)
{
    AgentConsoleReader *reader = g_rc_box_new0(AgentConsoleReader);

    reader->console = console;
    reader->conn = conn;
    reader->cancel = g_cancellable_new();
    console->reader = reader;
    agent_console_read_more(reader);
}

/*
 * Parse "SEQ TIMESTAMP TEXT"; NULL for anything else (a record cut by a
 * crash, a foreign line).
 */
static AgentConsoleLine *agent_console_parse_record(const char *record,
                                                    gsize len)
{
    g_autofree char *copy = g_strndup(record, len);
    g_autoptr(GDateTime) dt = NULL;
    AgentConsoleLine *line;
    char *ts;
    char *text;
    guint64 seq;

    ts = strchr(copy, ' ');
    if (ts == NULL) {
        return NULL;
    }
    *ts++ = '\0';
    text = strchr(ts, ' ');
    if (text == NULL) {
        return NULL;
    }
    *text++ = '\0';
    if (!g_ascii_string_to_unsigned(copy, 10, 1, G_MAXUINT64, &seq, NULL)) {
        return NULL;
    }
    dt = g_date_time_new_from_iso8601(ts, NULL);
    if (dt == NULL) {
        return NULL;
    }
    line = g_new0(AgentConsoleLine, 1);
    line->seq = seq;
    line->time_us = g_date_time_to_unix(dt) * G_USEC_PER_SEC +
                    g_date_time_get_microsecond(dt);
    line->time = agent_console_format_time(line->time_us);
    line->text = g_utf8_make_valid(text, -1);
    return line;
}

/*
 * The last records of the file at @path, oldest first, at most @max_lines
 * of them.  A missing file has none.  *@ends_with_newline tells whether
 * the last record is complete.
 */
static gboolean agent_console_load_tail(const char *path, guint max_lines,
                                        GQueue *out,
                                        gboolean *ends_with_newline,
                                        GError **error)
{
    drv_autofd int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    g_autofree char *buf = NULL;
    gsize want;
    gsize got = 0;
    off_t offset;
    const char *p;
    const char *end;

    if (ends_with_newline != NULL) {
        *ends_with_newline = TRUE;
    }
    if (fd < 0 && errno == ENOENT) {
        return TRUE;
    }
    if (fd < 0 || fstat(fd, &st) < 0) {
        int saved = errno;

        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
                    "cannot read console log %s: %s", path, g_strerror(saved));
        return FALSE;
    }
    want = (gsize)max_lines * AGENT_CONSOLE_RELOAD_PER_LINE +
           AGENT_CONSOLE_RELOAD_SLACK;
    want = MIN(want, (gsize)st.st_size);
    offset = st.st_size - (off_t)want;
    buf = g_malloc(want + 1);
    while (got < want) {
        gssize n = pread(fd, buf + got, want - got, offset + (off_t)got);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            int saved = errno;

            g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
                        "cannot read console log %s: %s", path,
                        g_strerror(saved));
            return FALSE;
        }
        if (n == 0) {
            break;
        }
        got += (gsize)n;
    }
    buf[got] = '\0';
    if (ends_with_newline != NULL && got > 0) {
        *ends_with_newline = buf[got - 1] == '\n';
    }
    p = buf;
    end = buf + got;
    if (offset > 0) {
        /* we started inside a record */
        p = memchr(buf, '\n', got);
        p = p ? p + 1 : end;
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', (gsize)(end - p));
        const char *stop = nl ? nl : end;
        AgentConsoleLine *line = agent_console_parse_record(p, stop - p);

        if (line != NULL) {
            g_queue_push_tail(out, line);
            if (out->length > max_lines) {
                agent_console_line_free(g_queue_pop_head(out));
            }
        }
        p = stop + 1;
    }
    return TRUE;
}

static guint64 agent_console_last_seq(GQueue *lines)
{
    guint64 last = 0;

    for (GList *l = lines->head; l != NULL; l = l->next) {
        last = MAX(last, ((AgentConsoleLine *)l->data)->seq);
    }
    return last;
}

/*
 * Reload the ring and the sequence from LOG, and from LOG.1 when LOG holds
 * fewer lines than the ring (just rotated, or missing).
 */
static gboolean agent_console_reload(AgentConsole *console, GError **error)
{
    GQueue current = G_QUEUE_INIT;
    GQueue older = G_QUEUE_INIT;
    gboolean complete = TRUE;
    guint64 last;
    guint64 first;

    /* a ring of 0 lines still needs the last seq */
    if (!agent_console_load_tail(console->log_path, MAX(console->ring_lines, 1),
                                 &current, &complete, error)) {
        return FALSE;
    }
    if (current.length < MAX(console->ring_lines, 1) &&
        !agent_console_load_tail(console->old_log_path,
                                 MAX(console->ring_lines, 1), &older, NULL,
                                 error)) {
        g_queue_clear_full(&current, (GDestroyNotify)agent_console_line_free);
        return FALSE;
    }
    last =
        MAX(agent_console_last_seq(&current), agent_console_last_seq(&older));
    console->next_seq = last + 1;

    first = current.head ? ((AgentConsoleLine *)current.head->data)->seq
                         : G_MAXUINT64;
    for (GList *l = older.head; l != NULL; l = l->next) {
        AgentConsoleLine *line = l->data;

        if (line->seq < first) {
            agent_console_ring_push(console, line);
        } else {
            agent_console_line_free(line);
        }
        l->data = NULL;
    }
    g_queue_clear(&older);
    for (GList *l = current.head; l != NULL; l = l->next) {
        agent_console_ring_push(console, l->data);
    }
    g_queue_clear(&current);

    /* a record cut by a crash must not swallow the next one */
    if (!complete && agent_console_write_all(console->log_fd, "\n", 1)) {
        console->log_size++;
    }
    return TRUE;
}

AgentConsole *agent_console_new(const char *socket_path, const char *log_path,
                                gsize max_log_bytes, guint ring_lines,
                                GError **error)
{
    AgentConsole *console;
    struct stat st;

    g_return_val_if_fail(socket_path != NULL, NULL);
    g_return_val_if_fail(log_path != NULL, NULL);

    console = g_rc_box_new0(AgentConsole);
    console->socket_path = g_strdup(socket_path);
    console->log_path = g_strdup(log_path);
    console->old_log_path = g_strconcat(log_path, ".1", NULL);
    console->max_log_bytes = max_log_bytes;
    console->ring_lines = ring_lines;
    console->partial = g_string_new(NULL);
    console->next_seq = 1;
    g_queue_init(&console->ring);
    console->log_fd = agent_console_open_log(log_path, 0);
    if (console->log_fd < 0 || fstat(console->log_fd, &st) < 0) {
        int saved = errno;

        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
                    "cannot open console log %s: %s", log_path,
                    g_strerror(saved));
        agent_console_unref(console);
        return NULL;
    }
    console->log_size = (guint64)st.st_size;
    if (!agent_console_reload(console, error)) {
        agent_console_unref(console);
        return NULL;
    }
    return console;
}

void agent_console_free(AgentConsole *console)
{
    if (console == NULL) {
        return;
    }
    /* the owner is going away: no more calls into it */
    console->line_func = NULL;
    agent_console_disconnect(console);
    console->closed = TRUE;
    drv_fd_cleanup(&console->log_fd);
    g_queue_clear_full(&console->ring, (GDestroyNotify)agent_console_line_free);
    agent_console_unref(console);
}

void agent_console_set_line_handler(AgentConsole *console,
                                    AgentConsoleLineFunc func,
                                    gpointer user_data)
{
    g_return_if_fail(console != NULL);

    console->line_func = func;
    console->line_data = user_data;
}

gboolean agent_console_is_connected(AgentConsole *console)
{
    g_return_val_if_fail(console != NULL, FALSE);

    return console->reader != NULL;
}

void agent_console_disconnect(AgentConsole *console)
{
    g_return_if_fail(console != NULL);

    if (console->connect_cancel != NULL) {
        g_cancellable_cancel(console->connect_cancel);
    }
    agent_console_detach(console);
    agent_console_flush_partial(console);
}

static void agent_console_forward_cancel(GCancellable *cancellable,
                                         gpointer data)
{
    g_cancellable_cancel(G_CANCELLABLE(data));
}

/* The connect is over, one way or the other: let another one start. */
static void agent_console_connect_done(AgentConsoleConnect *data)
{
    AgentConsole *console = data->console;

    if (console->connect_cancel == data->cancel) {
        g_clear_object(&console->connect_cancel);
    }
    if (data->user_handler != 0) {
        g_cancellable_disconnect(data->user_cancel, data->user_handler);
        data->user_handler = 0;
    }
}

static void agent_console_try_connect(GTask *task);

static gboolean agent_console_retry(gpointer user_data)
{
    agent_console_try_connect(G_TASK(user_data));
    return G_SOURCE_REMOVE;
}

static gboolean agent_console_is_retryable(const GError *error)
{
    /* no socket yet, or a socket nobody listens on yet */
    return g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND) ||
           g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
}

static void agent_console_connected(GObject *source, GAsyncResult *result,
                                    gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    AgentConsoleConnect *data = g_task_get_task_data(task);
    AgentConsole *console = data->console;
    g_autoptr(GError) local = NULL;
    g_autoptr(GSocketConnection) conn = NULL;
    GSource *retry;

    conn =
        g_socket_client_connect_finish(G_SOCKET_CLIENT(source), result, &local);
    if (conn != NULL &&
        (console->closed || g_cancellable_is_cancelled(data->cancel))) {
        g_io_stream_close(G_IO_STREAM(conn), NULL, NULL);
        g_set_error(&local, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                    "console %s: connection cancelled", console->socket_path);
    }
    if (local == NULL) {
        agent_console_connect_done(data);
        agent_console_attach(console, g_steal_pointer(&conn));
        g_task_return_boolean(task, TRUE);
        return;
    }
    if (g_error_matches(local, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
        agent_console_connect_done(data);
        g_task_return_error(task, g_steal_pointer(&local));
        return;
    }
    if (!agent_console_is_retryable(local)) {
        agent_console_connect_done(data);
        g_task_return_new_error(task, local->domain, local->code,
                                "console %s: %s", console->socket_path,
                                local->message);
        return;
    }
    if (g_get_monotonic_time() >= data->deadline) {
        agent_console_connect_done(data);
        g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                                "console %s: no connection within %u ms: %s",
                                console->socket_path, data->timeout_ms,
                                local->message);
        return;
    }
    retry = g_timeout_source_new(AGENT_CONSOLE_RETRY_MS);
    g_source_set_callback(retry, agent_console_retry, g_object_ref(task),
                          g_object_unref);
    g_source_attach(retry, g_task_get_context(task));
    g_source_unref(retry);
}

static void agent_console_try_connect(GTask *task)
{
    AgentConsoleConnect *data = g_task_get_task_data(task);

    g_socket_client_connect_async(
        data->client, G_SOCKET_CONNECTABLE(data->address), data->cancel,
        agent_console_connected, g_object_ref(task));
}

void agent_console_connect_async(AgentConsole *console, guint timeout_ms,
                                 GCancellable *cancellable,
                                 GAsyncReadyCallback callback,
                                 gpointer user_data)
{
    g_autoptr(GTask) task = NULL;
    g_autoptr(AgentConsoleConnect) data = NULL;

    g_return_if_fail(console != NULL);

    task = g_task_new(NULL, cancellable, callback, user_data);
    g_task_set_source_tag(task, agent_console_connect_async);
    if (console->closed) {
        g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_CLOSED,
                                "console %s is closed", console->socket_path);
        return;
    }
    if (console->reader != NULL) {
        g_task_return_boolean(task, TRUE);
        return;
    }
    if (console->connect_cancel != NULL) {
        g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_PENDING,
                                "console %s: already connecting",
                                console->socket_path);
        return;
    }

    data = g_new0(AgentConsoleConnect, 1);
    data->console = agent_console_ref(console);
    data->client = g_socket_client_new();
    g_socket_client_set_enable_proxy(data->client, FALSE);
    data->address = g_unix_socket_address_new(console->socket_path);
    data->cancel = g_cancellable_new();
    data->deadline =
        g_get_monotonic_time() + (gint64)timeout_ms * G_TIME_SPAN_MILLISECOND;
    data->timeout_ms = timeout_ms;
    console->connect_cancel = g_object_ref(data->cancel);
    if (cancellable != NULL) {
        data->user_cancel = g_object_ref(cancellable);
        data->user_handler = g_cancellable_connect(
            cancellable, G_CALLBACK(agent_console_forward_cancel),
            g_object_ref(data->cancel), g_object_unref);
    }
    g_task_set_task_data(task, g_steal_pointer(&data),
                         (GDestroyNotify)agent_console_connect_free);
    agent_console_try_connect(task);
}

gboolean agent_console_connect_finish(AgentConsole *console,
                                      GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, NULL), FALSE);
    g_return_val_if_fail(
        g_async_result_is_tagged(result, agent_console_connect_async), FALSE);

    return g_task_propagate_boolean(G_TASK(result), error);
}

JsonArray *agent_console_read(AgentConsole *console, guint64 from, guint max,
                              guint64 *next)
{
    JsonArray *array = json_array_new();
    GList *link;
    guint64 first;
    guint64 start;
    guint64 next_seq;
    guint count = 0;

    g_return_val_if_fail(console != NULL, array);

    first = console->ring.head
                ? ((AgentConsoleLine *)console->ring.head->data)->seq
                : console->next_seq;
    /* lines older than the ring are gone: start with the oldest kept */
    start = MAX(from, first);
    next_seq = MIN(start, console->next_seq);

    /* readers poll for the newest lines: search from the end */
    link = console->ring.tail;
    while (link != NULL && link->prev != NULL &&
           ((AgentConsoleLine *)link->prev->data)->seq >= start) {
        link = link->prev;
    }
    for (; link != NULL && count < max; link = link->next) {
        AgentConsoleLine *line = link->data;
        JsonObject *obj;

        if (line->seq < start) {
            continue;
        }
        obj = json_object_new();
        json_object_set_int_member(obj, "seq", (gint64)line->seq);
        json_object_set_string_member(obj, "time", line->time);
        json_object_set_int_member(obj, "time_us", line->time_us);
        json_object_set_string_member(obj, "text", line->text);
        json_array_add_object_element(array, obj);
        next_seq = line->seq + 1;
        count++;
    }
    if (next != NULL) {
        *next = next_seq;
    }
    return array;
}
