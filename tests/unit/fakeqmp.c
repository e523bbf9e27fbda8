/*
 * Scripted fake QMP server: see fakeqmp.h.
 *
 * Asynchronous callbacks hold a reference to the server box, because a test
 * may free the server while a read or write is still pending; once stopped,
 * callbacks do nothing.
 */
#include "fakeqmp.h"

#include <string.h>

#include <glib/gstdio.h>
#include <gio/gunixsocketaddress.h>
#include <json-glib/json-glib.h>

typedef enum {
    FAKE_ACT_SEND,
    FAKE_ACT_DELAY,
    FAKE_ACT_CLOSE,
    FAKE_ACT_LOG,
} FakeActKind;

typedef struct {
    FakeActKind kind;
    char *text;
    gsize chunk;
    guint delay_ms;
} FakeAction;

struct _FakeQmpStep {
    char *command;
    GPtrArray *actions; /* FakeAction */
};

typedef struct {
    FakeQmp *fake; /* unowned: runs die with the server */
    GPtrArray *actions;
    guint index;
    GSource *timer;
} FakeRun;

typedef struct {
    FakeQmp *fake; /* a reference */
    GBytes *bytes;
    FakeRun *run; /* resumed once written, or NULL */
} FakeWrite;

struct _FakeQmp {
    GMainContext *context;
    char *dir;
    char *path;
    gboolean stopped;
    GSocketService *service;
    gulong incoming_id;
    GCancellable *cancellable;
    GSocketConnection *conn;
    GDataInputStream *in;
    char *greeting;
    GQueue steps;     /* FakeQmpStep not matched yet, unowned */
    GPtrArray *owned; /* every FakeQmpStep */
    GPtrArray *runs;  /* FakeRun */
    GQueue out;       /* FakeWrite waiting */
    gboolean writing;
    GPtrArray *log;
};

static void fake_action_free(gpointer data)
{
    FakeAction *act = data;

    g_free(act->text);
    g_free(act);
}

static void fake_step_free(gpointer data)
{
    FakeQmpStep *step = data;

    g_free(step->command);
    g_ptr_array_unref(step->actions);
    g_free(step);
}

static void fake_run_free(gpointer data)
{
    FakeRun *run = data;

    if (run->timer) {
        g_source_destroy(run->timer);
        g_source_unref(run->timer);
    }
    g_ptr_array_unref(run->actions);
    g_free(run);
}

static FakeQmp *fake_ref(FakeQmp *fake)
{
    return g_rc_box_acquire(fake);
}

static void fake_clear(gpointer data)
{
    FakeQmp *fake = data;
    FakeWrite *w;

    while ((w = g_queue_pop_head(&fake->out))) {
        g_bytes_unref(w->bytes);
        g_free(w);
    }
    g_clear_object(&fake->in);
    g_clear_object(&fake->conn);
    g_clear_object(&fake->service);
    g_object_unref(fake->cancellable);
    g_ptr_array_unref(fake->runs);
    g_ptr_array_unref(fake->owned);
    g_ptr_array_unref(fake->log);
    g_free(fake->greeting);
    g_free(fake->path);
    g_free(fake->dir);
    g_main_context_unref(fake->context);
}

static void fake_unref(FakeQmp *fake)
{
    g_rc_box_release_full(fake, fake_clear);
}

static void fake_log(FakeQmp *fake, const char *kind, const char *name)
{
    g_ptr_array_add(fake->log, g_strdup_printf("%s:%s", kind, name));
}

static void fake_write_next(FakeQmp *fake);
static void fake_run_next(FakeRun *run);

static void fake_write_cb(GObject *source, GAsyncResult *result, gpointer data)
{
    FakeWrite *w = data;
    FakeQmp *fake = w->fake;
    g_autoptr(GError) err = NULL;
    gboolean ok;

    ok = g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result, NULL,
                                          &err);
    if (!fake->stopped) {
        fake->writing = FALSE;
        /* a client that went away is the test's business, not ours */
        if (ok && w->run) {
            fake_run_next(w->run);
        }
        fake_write_next(fake);
    }
    g_bytes_unref(w->bytes);
    g_free(w);
    fake_unref(fake);
}

static void fake_write_next(FakeQmp *fake)
{
    FakeWrite *w;
    GOutputStream *out;

    if (fake->writing || fake->conn == NULL ||
        g_io_stream_is_closed(G_IO_STREAM(fake->conn))) {
        return;
    }
    w = g_queue_pop_head(&fake->out);
    if (w == NULL) {
        return;
    }
    fake->writing = TRUE;
    out = g_io_stream_get_output_stream(G_IO_STREAM(fake->conn));
    g_output_stream_write_all_async(
        out, g_bytes_get_data(w->bytes, NULL), g_bytes_get_size(w->bytes),
        G_PRIORITY_DEFAULT, fake->cancellable, fake_write_cb, w);
}

static void fake_send(FakeQmp *fake, const char *data, gsize len, FakeRun *run)
{
    FakeWrite *w = g_new0(FakeWrite, 1);

    w->fake = fake_ref(fake);
    w->bytes = g_bytes_new(data, len);
    w->run = run;
    g_queue_push_tail(&fake->out, w);
    fake_write_next(fake);
}

static void fake_close(FakeQmp *fake)
{
    g_ptr_array_add(fake->log, g_strdup("close"));
    g_cancellable_cancel(fake->cancellable);
    if (fake->conn) {
        g_io_stream_close(G_IO_STREAM(fake->conn), NULL, NULL);
    }
}

static gboolean fake_run_timer_cb(gpointer data)
{
    FakeRun *run = data;

    g_clear_pointer(&run->timer, g_source_unref);
    fake_run_next(run);
    return G_SOURCE_REMOVE;
}

static void fake_run_next(FakeRun *run)
{
    FakeQmp *fake = run->fake;

    while (run->index < run->actions->len) {
        FakeAction *act = g_ptr_array_index(run->actions, run->index++);

        switch (act->kind) {
        case FAKE_ACT_LOG:
            g_ptr_array_add(fake->log, g_strdup(act->text));
            break;
        case FAKE_ACT_SEND:
            fake_send(fake, act->text, strlen(act->text), run);
            return;
        case FAKE_ACT_DELAY:
            run->timer = g_timeout_source_new(act->delay_ms);
            g_source_set_callback(run->timer, fake_run_timer_cb, run, NULL);
            g_source_attach(run->timer, fake->context);
            return;
        case FAKE_ACT_CLOSE:
            fake_close(fake);
            return;
        }
    }
}

static char *fake_replace(const char *text, const char *pattern,
                          const char *with)
{
    g_auto(GStrv) parts = g_strsplit(text, pattern, -1);

    return g_strjoinv(with, parts);
}

static char *fake_substitute(const char *text, gint64 id, const char *args)
{
    g_autofree char *idstr = g_strdup_printf("%" G_GINT64_FORMAT, id);
    g_autofree char *nextstr = g_strdup_printf("%" G_GINT64_FORMAT, id + 1);
    g_autofree char *a = fake_replace(text, "@NEXTID@", nextstr);
    g_autofree char *b = fake_replace(a, "@ID@", idstr);

    return fake_replace(b, "@ARGS@", args);
}

static FakeAction *fake_action_new(FakeActKind kind, const char *text,
                                   gsize chunk, guint delay_ms)
{
    FakeAction *act = g_new0(FakeAction, 1);

    act->kind = kind;
    act->text = g_strdup(text);
    act->chunk = chunk;
    act->delay_ms = delay_ms;
    return act;
}

/* Turns @step into concrete actions for command @id. */
static void fake_start_run(FakeQmp *fake, FakeQmpStep *step, gint64 id,
                           const char *args)
{
    FakeRun *run = g_new0(FakeRun, 1);
    g_autofree char *marker = g_strdup_printf("send:%s", step->command);
    gboolean logged = FALSE;

    run->fake = fake;
    run->actions = g_ptr_array_new_with_free_func(fake_action_free);
    for (guint i = 0; i < step->actions->len; i++) {
        FakeAction *act = g_ptr_array_index(step->actions, i);
        g_autofree char *text = NULL;
        gsize len, chunk;

        if (act->kind != FAKE_ACT_SEND) {
            g_ptr_array_add(run->actions,
                            fake_action_new(act->kind, act->text, act->chunk,
                                            act->delay_ms));
            continue;
        }
        if (!logged) {
            g_ptr_array_add(run->actions,
                            fake_action_new(FAKE_ACT_LOG, marker, 0, 0));
            logged = TRUE;
        }
        text = fake_substitute(act->text, id, args);
        len = strlen(text);
        chunk = act->chunk ? act->chunk : len;
        for (gsize off = 0; off < len; off += chunk) {
            g_autofree char *piece = g_strndup(text + off, chunk);

            if (off > 0 && act->delay_ms) {
                g_ptr_array_add(
                    run->actions,
                    fake_action_new(FAKE_ACT_DELAY, NULL, 0, act->delay_ms));
            }
            g_ptr_array_add(run->actions,
                            fake_action_new(FAKE_ACT_SEND, piece, 0, 0));
        }
    }
    g_ptr_array_add(fake->runs, run);
    fake_run_next(run);
}

static void fake_handle_line(FakeQmp *fake, const char *line)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) err = NULL;
    JsonObject *obj;
    const char *name;
    gint64 id;
    FakeQmpStep *step;
    JsonNode *args_node;
    g_autofree char *args = NULL;

    if (!json_parser_load_from_data(parser, line, -1, &err)) {
        g_error("fake QMP: client sent bad JSON '%s': %s", line, err->message);
    }
    g_assert_true(JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)));
    obj = json_node_get_object(json_parser_get_root(parser));
    name = json_object_get_string_member(obj, "execute");
    id = json_object_get_int_member(obj, "id");
    fake_log(fake, "recv", name);
    args_node = json_object_get_member(obj, "arguments");
    args = args_node ? json_to_string(args_node, FALSE) : g_strdup("null");

    if (g_str_equal(name, "qmp_capabilities")) {
        g_autofree char *reply = g_strdup_printf(
            "{\"return\": {}, \"id\": %" G_GINT64_FORMAT "}\r\n", id);

        fake_send(fake, reply, strlen(reply), NULL);
        return;
    }
    step = g_queue_peek_head(&fake->steps);
    if (step == NULL || !g_str_equal(step->command, name)) {
        fake_log(fake, "unexpected", name);
        return;
    }
    g_queue_pop_head(&fake->steps);
    fake_start_run(fake, step, id, args);
}

static void fake_read_line_cb(GObject *source, GAsyncResult *result,
                              gpointer data)
{
    FakeQmp *fake = data;
    g_autoptr(GError) err = NULL;
    g_autofree char *line = NULL;
    gsize len = 0;

    line = g_data_input_stream_read_line_finish_utf8(
        G_DATA_INPUT_STREAM(source), result, &len, &err);
    if (!fake->stopped && line) {
        g_strchomp(line);
        if (*line) {
            fake_handle_line(fake, line);
        }
        if (!g_cancellable_is_cancelled(fake->cancellable)) {
            g_data_input_stream_read_line_async(
                fake->in, G_PRIORITY_DEFAULT, fake->cancellable,
                fake_read_line_cb, fake_ref(fake));
        }
    }
    fake_unref(fake);
}

static gboolean fake_incoming_cb(GSocketService *service,
                                 GSocketConnection *conn, GObject *source,
                                 gpointer data)
{
    FakeQmp *fake = data;

    if (fake->conn || fake->stopped) {
        return FALSE;
    }
    fake->conn = g_object_ref(conn);
    fake->in = g_data_input_stream_new(
        g_io_stream_get_input_stream(G_IO_STREAM(conn)));
    g_filter_input_stream_set_close_base_stream(G_FILTER_INPUT_STREAM(fake->in),
                                                FALSE);
    if (fake->greeting) {
        g_autofree char *line = g_strdup_printf("%s\r\n", fake->greeting);

        fake_send(fake, line, strlen(line), NULL);
    }
    g_data_input_stream_read_line_async(fake->in, G_PRIORITY_DEFAULT,
                                        fake->cancellable, fake_read_line_cb,
                                        fake_ref(fake));
    return TRUE;
}

FakeQmp *fake_qmp_new(void)
{
    FakeQmp *fake = g_rc_box_new0(FakeQmp);
    g_autoptr(GError) err = NULL;
    g_autoptr(GSocketAddress) addr = NULL;

    fake->context = g_main_context_ref_thread_default();
    fake->dir = g_dir_make_tmp("drover-fakeqmp-XXXXXX", &err);
    g_assert_no_error(err);
    fake->path = g_build_filename(fake->dir, "qmp.sock", NULL);
    fake->greeting = g_strdup(FAKE_QMP_GREETING);
    fake->cancellable = g_cancellable_new();
    g_queue_init(&fake->steps);
    g_queue_init(&fake->out);
    fake->owned = g_ptr_array_new_with_free_func(fake_step_free);
    fake->runs = g_ptr_array_new_with_free_func(fake_run_free);
    fake->log = g_ptr_array_new_with_free_func(g_free);

    fake->service = g_socket_service_new();
    addr = g_unix_socket_address_new(fake->path);
    g_socket_listener_add_address(G_SOCKET_LISTENER(fake->service), addr,
                                  G_SOCKET_TYPE_STREAM,
                                  G_SOCKET_PROTOCOL_DEFAULT, NULL, NULL, &err);
    g_assert_no_error(err);
    fake->incoming_id = g_signal_connect(fake->service, "incoming",
                                         G_CALLBACK(fake_incoming_cb), fake);
    g_socket_service_start(fake->service);
    return fake;
}

void fake_qmp_free(FakeQmp *fake)
{
    if (fake == NULL) {
        return;
    }
    fake->stopped = TRUE;
    g_cancellable_cancel(fake->cancellable);
    g_signal_handler_disconnect(fake->service, fake->incoming_id);
    g_socket_service_stop(fake->service);
    g_socket_listener_close(G_SOCKET_LISTENER(fake->service));
    if (fake->conn) {
        g_io_stream_close(G_IO_STREAM(fake->conn), NULL, NULL);
    }
    /* runs own timers that point at them */
    g_ptr_array_set_size(fake->runs, 0);
    g_unlink(fake->path);
    g_rmdir(fake->dir);
    fake_unref(fake);
}

const char *fake_qmp_get_path(FakeQmp *fake)
{
    return fake->path;
}

void fake_qmp_set_greeting(FakeQmp *fake, const char *line)
{
    g_free(fake->greeting);
    fake->greeting = g_strdup(line);
}

FakeQmpStep *fake_qmp_expect(FakeQmp *fake, const char *command)
{
    FakeQmpStep *step = g_new0(FakeQmpStep, 1);

    step->command = g_strdup(command);
    step->actions = g_ptr_array_new_with_free_func(fake_action_free);
    g_ptr_array_add(fake->owned, step);
    g_queue_push_tail(&fake->steps, step);
    return step;
}

void fake_qmp_step_send(FakeQmpStep *step, const char *text)
{
    g_ptr_array_add(step->actions, fake_action_new(FAKE_ACT_SEND, text, 0, 0));
}

void fake_qmp_step_send_chunked(FakeQmpStep *step, const char *text,
                                gsize chunk, guint delay_ms)
{
    g_ptr_array_add(step->actions,
                    fake_action_new(FAKE_ACT_SEND, text, chunk, delay_ms));
}

void fake_qmp_step_reply(FakeQmpStep *step, const char *json)
{
    g_autofree char *text =
        g_strdup_printf("{\"return\": %s, \"id\": @ID@}\r\n", json);

    fake_qmp_step_send(step, text);
}

void fake_qmp_step_delay(FakeQmpStep *step, guint delay_ms)
{
    g_ptr_array_add(step->actions,
                    fake_action_new(FAKE_ACT_DELAY, NULL, 0, delay_ms));
}

void fake_qmp_step_close(FakeQmpStep *step)
{
    g_ptr_array_add(step->actions, fake_action_new(FAKE_ACT_CLOSE, NULL, 0, 0));
}

GPtrArray *fake_qmp_get_log(FakeQmp *fake)
{
    return fake->log;
}

gint fake_qmp_log_index(FakeQmp *fake, const char *entry)
{
    for (guint i = 0; i < fake->log->len; i++) {
        if (g_str_equal(g_ptr_array_index(fake->log, i), entry)) {
            return (gint)i;
        }
    }
    return -1;
}

char *fake_qmp_log_string(FakeQmp *fake)
{
    GString *s = g_string_new(NULL);

    for (guint i = 0; i < fake->log->len; i++) {
        if (i > 0) {
            g_string_append_c(s, ' ');
        }
        g_string_append(s, g_ptr_array_index(fake->log, i));
    }
    return g_string_free(s, FALSE);
}
