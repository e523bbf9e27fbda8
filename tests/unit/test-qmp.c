/*
 * Unit tests of the asynchronous QMP client against a scripted fake server.
 *
 * Every test runs the default main context through a GMainLoop guarded by a
 * safety timeout, so that a client that never answers fails the test rather
 * than hanging the suite.
 */
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "fakeqmp.h"
#include "qmp/qmp.h"

#define SAFETY_MS 10000

typedef struct {
    char *name;
    char *data; /* the "data" member as JSON, or NULL */
    gint64 timestamp_us;
    char *raw;
} TestEvent;

typedef struct {
    GMainLoop *loop;
    FakeQmp *fake;
    QmpClient *client;
    gboolean timed_out;
    guint outstanding;  /* callbacks still awaited by fx_wait() */
    GPtrArray *events;  /* TestEvent */
    GPtrArray *results; /* CmdResult */
    guint closed_count;
    GError *closed_error;
    gboolean close_on_event;
    guint completed;
} Fixture;

typedef struct {
    Fixture *fx;
    char *command;
    gboolean done;
    guint order; /* 1 for the first command to complete */
    JsonNode *ret;
    GError *error;
    gint64 done_at;
    gboolean unref_client;
} CmdResult;

static void test_event_free(gpointer data)
{
    TestEvent *ev = data;

    g_free(ev->name);
    g_free(ev->data);
    g_free(ev->raw);
    g_free(ev);
}

static void cmd_result_free(gpointer data)
{
    CmdResult *r = data;

    g_free(r->command);
    g_clear_pointer(&r->ret, json_node_unref);
    g_clear_error(&r->error);
    g_free(r);
}

static void fx_setup(Fixture *fx, gconstpointer data)
{
    fx->loop = g_main_loop_new(NULL, FALSE);
    fx->fake = fake_qmp_new();
    fx->events = g_ptr_array_new_with_free_func(test_event_free);
    fx->results = g_ptr_array_new_with_free_func(cmd_result_free);
}

/* Runs the loop for @ms, to let late traffic arrive or settle. */
static gboolean fx_spin_cb(gpointer data)
{
    g_main_loop_quit(data);
    return G_SOURCE_REMOVE;
}

static void fx_spin(Fixture *fx, guint ms)
{
    g_timeout_add(ms, fx_spin_cb, fx->loop);
    g_main_loop_run(fx->loop);
}

static void fx_teardown(Fixture *fx, gconstpointer data)
{
    if (fx->client) {
        QmpClient *client = fx->client;

        /* no command may still hold the client: it must go away now */
        g_object_add_weak_pointer(G_OBJECT(client), (gpointer *)&fx->client);
        g_object_unref(client);
        g_assert_null(fx->client);
    }
    fake_qmp_free(fx->fake);
    /* cancelled socket operations complete and free themselves */
    fx_spin(fx, 20);
    g_ptr_array_unref(fx->events);
    g_ptr_array_unref(fx->results);
    g_clear_error(&fx->closed_error);
    g_main_loop_unref(fx->loop);
}

static void fx_done(Fixture *fx)
{
    g_assert_cmpuint(fx->outstanding, >, 0);
    if (--fx->outstanding == 0) {
        g_main_loop_quit(fx->loop);
    }
}

static gboolean fx_safety_cb(gpointer data)
{
    Fixture *fx = data;

    fx->timed_out = TRUE;
    g_main_loop_quit(fx->loop);
    return G_SOURCE_REMOVE;
}

/* Runs the loop until every awaited callback ran. */
static void fx_wait(Fixture *fx)
{
    guint safety;

    if (fx->outstanding == 0) {
        return;
    }
    safety = g_timeout_add(SAFETY_MS, fx_safety_cb, fx);
    g_main_loop_run(fx->loop);
    if (!fx->timed_out) {
        g_source_remove(safety);
    }
    if (fx->timed_out) {
        g_autofree char *log = fake_qmp_log_string(fx->fake);

        g_test_message("fake server log: %s", log);
    }
    g_assert_false(fx->timed_out);
}

static void on_event(QmpClient *client, const char *name, JsonObject *data,
                     gint64 timestamp_us, const char *raw, gpointer user_data)
{
    Fixture *fx = user_data;
    TestEvent *ev = g_new0(TestEvent, 1);

    ev->name = g_strdup(name);
    if (data) {
        g_autoptr(JsonNode) node =
            json_node_init_object(json_node_alloc(), data);

        ev->data = json_to_string(node, FALSE);
    }
    ev->timestamp_us = timestamp_us;
    ev->raw = g_strdup(raw);
    g_ptr_array_add(fx->events, ev);
    if (fx->close_on_event) {
        qmp_client_close(client);
    }
}

static void on_closed(QmpClient *client, const GError *error,
                      gpointer user_data)
{
    Fixture *fx = user_data;

    g_assert_nonnull(error);
    g_assert_true(qmp_client_is_closed(client));
    fx->closed_count++;
    g_clear_error(&fx->closed_error);
    fx->closed_error = g_error_copy(error);
}

static void connect_cb(GObject *source, GAsyncResult *result, gpointer data)
{
    CmdResult *r = data;

    r->done = TRUE;
    if (qmp_client_connect_finish(QMP_CLIENT(source), result, &r->error)) {
        r->ret = json_node_new(JSON_NODE_NULL);
    }
    fx_done(r->fx);
}

static CmdResult *fx_result_new(Fixture *fx, const char *command)
{
    CmdResult *r = g_new0(CmdResult, 1);

    r->fx = fx;
    r->command = g_strdup(command);
    g_ptr_array_add(fx->results, r);
    return r;
}

static CmdResult *fx_connect_full(Fixture *fx, gsize max_line, guint timeout_ms,
                                  const char *path)
{
    CmdResult *r = fx_result_new(fx, "connect");

    fx->client = qmp_client_new(max_line);
    qmp_client_set_event_handler(fx->client, on_event, fx, NULL);
    qmp_client_set_closed_handler(fx->client, on_closed, fx, NULL);
    fx->outstanding++;
    qmp_client_connect_async(fx->client, path, timeout_ms, NULL, connect_cb, r);
    fx_wait(fx);
    g_assert_true(r->done);
    return r;
}

static void fx_connect(Fixture *fx, gsize max_line)
{
    CmdResult *r =
        fx_connect_full(fx, max_line, 2000, fake_qmp_get_path(fx->fake));

    g_assert_no_error(r->error);
    g_assert_false(qmp_client_is_closed(fx->client));
    g_assert_null(qmp_client_get_error(fx->client));
}

static void exec_cb(GObject *source, GAsyncResult *result, gpointer data)
{
    CmdResult *r = data;
    Fixture *fx = r->fx;

    g_assert_false(r->done);
    r->done = TRUE;
    r->order = ++fx->completed;
    r->done_at = g_get_monotonic_time();
    r->ret = qmp_client_execute_finish(QMP_CLIENT(source), result, &r->error);
    g_assert_true((r->ret == NULL) != (r->error == NULL));
    if (r->unref_client) {
        g_clear_object(&fx->client);
    }
    fx_done(fx);
}

static CmdResult *fx_exec(Fixture *fx, const char *command,
                          JsonObject *arguments, guint timeout_ms,
                          GCancellable *cancellable)
{
    CmdResult *r = fx_result_new(fx, command);

    fx->outstanding++;
    qmp_client_execute_async(fx->client, command, arguments, timeout_ms,
                             cancellable, exec_cb, r);
    return r;
}

static const char *ret_string(CmdResult *r)
{
    g_assert_no_error(r->error);
    g_assert_nonnull(r->ret);
    g_assert_true(JSON_NODE_HOLDS_VALUE(r->ret));
    return json_node_get_string(r->ret);
}

static void assert_log(Fixture *fx, const char *expected)
{
    g_autofree char *log = fake_qmp_log_string(fx->fake);

    g_assert_cmpstr(log, ==, expected);
}

/* 1. connect, greeting, version; a command returns its "return" value */
static void test_connect_and_command(Fixture *fx, gconstpointer data)
{
    FakeQmpStep *step = fake_qmp_expect(fx->fake, "query-status");
    FakeQmpStep *echo = fake_qmp_expect(fx->fake, "echo");
    g_autoptr(JsonObject) args = json_object_new();
    CmdResult *r, *e;
    JsonObject *obj;

    fake_qmp_step_reply(step, "{\"status\": \"running\", \"running\": true}");
    fake_qmp_step_reply(echo, "@ARGS@");
    fx_connect(fx, 0);
    g_assert_cmpstr(qmp_client_get_qemu_version(fx->client), ==, "8.2.1");
    assert_log(fx, "recv:qmp_capabilities");

    r = fx_exec(fx, "query-status", NULL, 0, NULL);
    json_object_set_string_member(args, "device", "drive-\"0\"");
    json_object_set_int_member(args, "speed", 42);
    e = fx_exec(fx, "echo", args, 0, NULL);
    fx_wait(fx);

    g_assert_no_error(r->error);
    g_assert_true(JSON_NODE_HOLDS_OBJECT(r->ret));
    obj = json_node_get_object(r->ret);
    g_assert_cmpstr(json_object_get_string_member(obj, "status"), ==,
                    "running");
    g_assert_true(json_object_get_boolean_member(obj, "running"));

    /* the arguments reached the server intact */
    g_assert_no_error(e->error);
    g_assert_true(JSON_NODE_HOLDS_OBJECT(e->ret));
    obj = json_node_get_object(e->ret);
    g_assert_cmpstr(json_object_get_string_member(obj, "device"), ==,
                    "drive-\"0\"");
    g_assert_cmpint(json_object_get_int_member(obj, "speed"), ==, 42);
    g_assert_cmpuint(r->order, ==, 1);
    g_assert_cmpuint(e->order, ==, 2);
    assert_log(fx, "recv:qmp_capabilities recv:query-status "
                   "send:query-status recv:echo send:echo");
}

/* 2a. a reply dribbled byte by byte, "\r" and "\n" apart, still parses */
static void test_split_reply(Fixture *fx, gconstpointer data)
{
    FakeQmpStep *step = fake_qmp_expect(fx->fake, "query-name");
    CmdResult *r;

    fake_qmp_step_send_chunked(
        step, "{\"return\": {\"name\": \"w\\u00e9b 1\"}, \"id\": @ID@}\r\n", 1,
        2);
    fx_connect(fx, 0);
    r = fx_exec(fx, "query-name", NULL, 0, NULL);
    fx_wait(fx);
    g_assert_no_error(r->error);
    g_assert_cmpstr(
        json_object_get_string_member(json_node_get_object(r->ret), "name"), ==,
        "w\u00e9b 1");
}

/* 2b. two replies and an event in one write all dispatch */
static void test_several_lines_one_write(Fixture *fx, gconstpointer data)
{
    FakeQmpStep *a = fake_qmp_expect(fx->fake, "a");
    CmdResult *ra, *rb;
    TestEvent *ev;

    /* the reply to b is pipelined: b goes out when a's reply is read */
    fake_qmp_step_send(a, "{\"return\": \"one\", \"id\": @ID@}\r\n"
                          "{\"timestamp\": {\"seconds\": 1, "
                          "\"microseconds\": 2}, \"event\": \"STOP\"}\r\n"
                          "{\"return\": \"two\", \"id\": @NEXTID@}\r\n");
    fake_qmp_expect(fx->fake, "b");
    fx_connect(fx, 0);
    ra = fx_exec(fx, "a", NULL, 0, NULL);
    rb = fx_exec(fx, "b", NULL, 0, NULL);
    fx_wait(fx);
    g_assert_cmpstr(ret_string(ra), ==, "one");
    g_assert_cmpstr(ret_string(rb), ==, "two");
    g_assert_cmpuint(ra->order, ==, 1);
    g_assert_cmpuint(rb->order, ==, 2);
    g_assert_cmpuint(fx->events->len, ==, 1);
    ev = g_ptr_array_index(fx->events, 0);
    g_assert_cmpstr(ev->name, ==, "STOP");
    g_assert_null(ev->data);
    g_assert_cmpint(ev->timestamp_us, ==, 1000002);
    /* b's own (late) write reached the server, which stays quiet */
    fx_spin(fx, 30);
    g_assert_cmpint(fake_qmp_log_index(fx->fake, "recv:b"), >, 0);
    g_assert_false(qmp_client_is_closed(fx->client));
}

/* 3. an event between a command and its reply */
static void test_event_between(Fixture *fx, gconstpointer data)
{
    static const char *event =
        "{\"timestamp\": {\"seconds\": 1700000000, \"microseconds\": "
        "123456}, \"event\": \"MIGRATION\", \"data\": {\"status\": "
        "\"active\"}}";
    FakeQmpStep *step = fake_qmp_expect(fx->fake, "query-migrate");
    g_autofree char *line = g_strdup_printf("%s\r\n", event);
    CmdResult *r;
    TestEvent *ev;

    fake_qmp_step_send(step, line);
    fake_qmp_step_delay(step, 20);
    fake_qmp_step_reply(step, "{\"status\": \"completed\"}");
    fx_connect(fx, 0);
    r = fx_exec(fx, "query-migrate", NULL, 0, NULL);
    fx_wait(fx);

    g_assert_no_error(r->error);
    g_assert_cmpstr(
        json_object_get_string_member(json_node_get_object(r->ret), "status"),
        ==, "completed");
    g_assert_cmpuint(fx->events->len, ==, 1);
    ev = g_ptr_array_index(fx->events, 0);
    g_assert_cmpstr(ev->name, ==, "MIGRATION");
    g_assert_cmpstr(ev->data, ==, "{\"status\":\"active\"}");
    g_assert_cmpint(ev->timestamp_us, ==, G_GINT64_CONSTANT(1700000000123456));
    g_assert_cmpstr(ev->raw, ==, event);
}

/* 4. error replies: the class picks the code, desc is the message */
static void test_error_reply(Fixture *fx, gconstpointer data)
{
    FakeQmpStep *s1 = fake_qmp_expect(fx->fake, "migrate");
    FakeQmpStep *s2 = fake_qmp_expect(fx->fake, "bogus");
    FakeQmpStep *s3 = fake_qmp_expect(fx->fake, "future");
    CmdResult *r1, *r2, *r3;

    fake_qmp_step_send(s1, "{\"error\": {\"class\": \"GenericError\", "
                           "\"desc\": \"There's a migration process in "
                           "progress\"}, \"id\": @ID@}\r\n");
    fake_qmp_step_send(s2, "{\"id\": @ID@, \"error\": {\"class\": "
                           "\"CommandNotFound\", \"desc\": \"The command "
                           "bogus has not been found\"}}\r\n");
    fake_qmp_step_send(s3, "{\"error\": {\"class\": \"BrandNewClass\", "
                           "\"desc\": \"Something new\"}, \"id\": @ID@}\r\n");
    fx_connect(fx, 0);
    r1 = fx_exec(fx, "migrate", NULL, 0, NULL);
    r2 = fx_exec(fx, "bogus", NULL, 0, NULL);
    r3 = fx_exec(fx, "future", NULL, 0, NULL);
    fx_wait(fx);

    g_assert_error(r1->error, QMP_ERROR, QMP_ERROR_GENERIC_ERROR);
    g_assert_cmpstr(r1->error->message, ==,
                    "There's a migration process in progress");
    g_assert_error(r2->error, QMP_ERROR, QMP_ERROR_COMMAND_NOT_FOUND);
    g_assert_cmpstr(r2->error->message, ==,
                    "The command bogus has not been found");
    g_assert_error(r3->error, QMP_ERROR, QMP_ERROR_GENERIC_ERROR);
    g_assert_cmpstr(r3->error->message, ==, "Something new");
    /* an error reply is not a connection error */
    g_assert_false(qmp_client_is_closed(fx->client));

    g_assert_cmpstr(qmp_error_class_name(QMP_ERROR_GENERIC_ERROR), ==,
                    "GenericError");
    g_assert_cmpstr(qmp_error_class_name(QMP_ERROR_COMMAND_NOT_FOUND), ==,
                    "CommandNotFound");
    g_assert_cmpstr(qmp_error_class_name(QMP_ERROR_KVM_MISSING_CAP), ==,
                    "KVMMissingCap");
    g_assert_null(qmp_error_class_name(QMP_ERROR_TIMEOUT));
    g_assert_cmpint(qmp_error_code_from_class("DeviceNotFound"), ==,
                    QMP_ERROR_DEVICE_NOT_FOUND);
    g_assert_cmpint(qmp_error_code_from_class("Nope"), ==,
                    QMP_ERROR_GENERIC_ERROR);
}

/* 5. a command times out; its late reply is dropped, not misdelivered */
static void test_timeout_late_reply(Fixture *fx, gconstpointer data)
{
    FakeQmpStep *slow = fake_qmp_expect(fx->fake, "slow");
    FakeQmpStep *next = fake_qmp_expect(fx->fake, "next");
    CmdResult *r1, *r2;
    gint64 start;

    fake_qmp_step_delay(slow, 250);
    fake_qmp_step_reply(slow, "\"late\"");
    /* answers after the late reply has arrived */
    fake_qmp_step_delay(next, 300);
    fake_qmp_step_reply(next, "\"fresh\"");
    fx_connect(fx, 0);

    start = g_get_monotonic_time();
    r1 = fx_exec(fx, "slow", NULL, 100, NULL);
    fx_wait(fx);
    g_assert_error(r1->error, QMP_ERROR, QMP_ERROR_TIMEOUT);
    g_assert_cmpstr(r1->error->message, ==,
                    "QMP command 'slow' timed out after 100 ms");
    g_assert_cmpint(r1->done_at - start, >=, 100 * 1000);
    g_assert_cmpint(r1->done_at - start, <, 250 * 1000);

    r2 = fx_exec(fx, "next", NULL, 0, NULL);
    fx_wait(fx);
    g_assert_cmpstr(ret_string(r2), ==, "fresh");
    /* the late reply came first and was dropped without harm */
    g_assert_cmpint(fake_qmp_log_index(fx->fake, "send:slow"), <,
                    fake_qmp_log_index(fx->fake, "send:next"));
    g_assert_false(qmp_client_is_closed(fx->client));
}

/* 6. EOF with a command on the wire and one queued */
static void test_eof(Fixture *fx, gconstpointer data)
{
    FakeQmpStep *step = fake_qmp_expect(fx->fake, "query-status");
    CmdResult *r1, *r2, *r3;

    fake_qmp_step_delay(step, 30);
    fake_qmp_step_close(step);
    fx_connect(fx, 0);
    r1 = fx_exec(fx, "query-status", NULL, 0, NULL);
    r2 = fx_exec(fx, "query-queued", NULL, 0, NULL);
    fx_wait(fx);

    g_assert_error(r1->error, QMP_ERROR, QMP_ERROR_DISCONNECTED);
    g_assert_cmpstr(r1->error->message, ==, "QMP connection closed by QEMU");
    g_assert_error(r2->error, QMP_ERROR, QMP_ERROR_DISCONNECTED);
    g_assert_cmpuint(fx->closed_count, ==, 1);
    g_assert_error(fx->closed_error, QMP_ERROR, QMP_ERROR_DISCONNECTED);
    g_assert_true(qmp_client_is_closed(fx->client));
    g_assert_error((GError *)qmp_client_get_error(fx->client), QMP_ERROR,
                   QMP_ERROR_DISCONNECTED);

    /* sticky: a later command fails the same way, asynchronously */
    r3 = fx_exec(fx, "query-later", NULL, 0, NULL);
    g_assert_false(r3->done);
    fx_wait(fx);
    g_assert_error(r3->error, QMP_ERROR, QMP_ERROR_DISCONNECTED);
    g_assert_cmpstr(r3->error->message, ==, "QMP connection closed by QEMU");
    qmp_client_close(fx->client);
    fx_spin(fx, 20);
    g_assert_cmpuint(fx->closed_count, ==, 1);
    g_assert_error((GError *)qmp_client_get_error(fx->client), QMP_ERROR,
                   QMP_ERROR_DISCONNECTED);
    g_assert_cmpint(fake_qmp_log_index(fx->fake, "recv:query-queued"), ==, -1);
}

/* 7. a line over max_line is a sticky protocol error */
static void test_oversize_line(Fixture *fx, gconstpointer data)
{
    FakeQmpStep *step = fake_qmp_expect(fx->fake, "query-big");
    g_autofree char *big = g_strnfill(1000, 'x');
    g_autofree char *reply = g_strdup_printf("\"%s\"", big);
    CmdResult *r1, *r2, *r3;

    fake_qmp_step_reply(step, reply);
    fx_connect(fx, 256);
    r1 = fx_exec(fx, "query-big", NULL, 0, NULL);
    r2 = fx_exec(fx, "query-queued", NULL, 0, NULL);
    fx_wait(fx);
    g_assert_error(r1->error, QMP_ERROR, QMP_ERROR_PROTOCOL);
    g_assert_cmpstr(r1->error->message, ==, "QMP line exceeds 256 bytes");
    g_assert_error(r2->error, QMP_ERROR, QMP_ERROR_PROTOCOL);
    g_assert_cmpuint(fx->closed_count, ==, 1);
    g_assert_error(fx->closed_error, QMP_ERROR, QMP_ERROR_PROTOCOL);

    r3 = fx_exec(fx, "query-later", NULL, 0, NULL);
    fx_wait(fx);
    g_assert_error(r3->error, QMP_ERROR, QMP_ERROR_PROTOCOL);
    g_assert_cmpstr(r3->error->message, ==, "QMP line exceeds 256 bytes");
}

/*
 * 7b. the limit is exact: the reply line to the first command (id 2) is
 * {"return": "x...x", "id": 2}, 23 bytes around the x's, then "\r\n".
 */
static void test_line_limit(Fixture *fx, gconstpointer data)
{
    gsize line_len = GPOINTER_TO_SIZE(data);
    FakeQmpStep *step = fake_qmp_expect(fx->fake, "query-fit");
    g_autofree char *fill = g_strnfill(line_len - 23, 'x');
    g_autofree char *reply = g_strdup_printf("\"%s\"", fill);
    CmdResult *r;

    fake_qmp_step_reply(step, reply);
    fx_connect(fx, 256);
    r = fx_exec(fx, "query-fit", NULL, 0, NULL);
    fx_wait(fx);
    if (line_len <= 256) {
        g_assert_cmpstr(ret_string(r), ==, fill);
    } else {
        g_assert_error(r->error, QMP_ERROR, QMP_ERROR_PROTOCOL);
    }
}

/* 8. the server sees command 2 only after it answered command 1 */
static void test_one_on_the_wire(Fixture *fx, gconstpointer data)
{
    FakeQmpStep *s1 = fake_qmp_expect(fx->fake, "first");
    FakeQmpStep *s2 = fake_qmp_expect(fx->fake, "second");
    FakeQmpStep *s3 = fake_qmp_expect(fx->fake, "third");
    CmdResult *r1, *r2, *r3;

    fake_qmp_step_delay(s1, 100);
    fake_qmp_step_reply(s1, "1");
    fake_qmp_step_delay(s2, 50);
    fake_qmp_step_reply(s2, "2");
    fake_qmp_step_reply(s3, "3");
    fx_connect(fx, 0);
    r1 = fx_exec(fx, "first", NULL, 0, NULL);
    r2 = fx_exec(fx, "second", NULL, 0, NULL);
    r3 = fx_exec(fx, "third", NULL, 0, NULL);
    fx_wait(fx);
    g_assert_cmpint(json_node_get_int(r1->ret), ==, 1);
    g_assert_cmpint(json_node_get_int(r2->ret), ==, 2);
    g_assert_cmpint(json_node_get_int(r3->ret), ==, 3);
    assert_log(fx, "recv:qmp_capabilities recv:first send:first "
                   "recv:second send:second recv:third send:third");
}

/* 9. the queue is bounded */
static void test_queue_full(Fixture *fx, gconstpointer data)
{
    CmdResult *rs[QMP_DEFAULT_MAX_QUEUE + 2];
    guint full = 0, closed = 0;

    /* the first command is never answered and keeps the wire busy */
    fake_qmp_expect(fx->fake, "stuck");
    fx_connect(fx, 0);
    for (guint i = 0; i < G_N_ELEMENTS(rs); i++) {
        rs[i] = fx_exec(fx, i == 0 ? "stuck" : "waiting", NULL, 0, NULL);
    }
    /* the refusal is immediate but, like every result, asynchronous */
    g_assert_false(rs[G_N_ELEMENTS(rs) - 1]->done);
    fx->outstanding = 1;
    fx_wait(fx);
    g_assert_true(rs[G_N_ELEMENTS(rs) - 1]->done);
    g_assert_error(rs[G_N_ELEMENTS(rs) - 1]->error, QMP_ERROR,
                   QMP_ERROR_QUEUE_FULL);
    for (guint i = 0; i < G_N_ELEMENTS(rs) - 1; i++) {
        g_assert_false(rs[i]->done);
    }

    fx->outstanding = G_N_ELEMENTS(rs) - 1;
    qmp_client_close(fx->client);
    fx_wait(fx);
    for (guint i = 0; i < G_N_ELEMENTS(rs); i++) {
        if (g_error_matches(rs[i]->error, QMP_ERROR, QMP_ERROR_QUEUE_FULL)) {
            full++;
        } else if (g_error_matches(rs[i]->error, QMP_ERROR, QMP_ERROR_CLOSED)) {
            closed++;
        }
    }
    g_assert_cmpuint(full, ==, 1);
    g_assert_cmpuint(closed, ==, QMP_DEFAULT_MAX_QUEUE + 1);
    g_assert_cmpuint(fx->closed_count, ==, 1);
    g_assert_error(fx->closed_error, QMP_ERROR, QMP_ERROR_CLOSED);
}

static gboolean cancel_cb(gpointer data)
{
    g_cancellable_cancel(data);
    return G_SOURCE_REMOVE;
}

/* 10a. a queued command cancelled is never sent */
static void test_cancel_queued(Fixture *fx, gconstpointer data)
{
    FakeQmpStep *s1 = fake_qmp_expect(fx->fake, "one");
    FakeQmpStep *s3 = fake_qmp_expect(fx->fake, "three");
    g_autoptr(GCancellable) cancellable = g_cancellable_new();
    g_autoptr(GCancellable) early = g_cancellable_new();
    CmdResult *r1, *r2, *r3, *r4;

    fake_qmp_step_delay(s1, 100);
    fake_qmp_step_reply(s1, "\"one\"");
    fake_qmp_step_reply(s3, "\"three\"");
    fx_connect(fx, 0);
    r1 = fx_exec(fx, "one", NULL, 0, NULL);
    r2 = fx_exec(fx, "two", NULL, 0, cancellable);
    r3 = fx_exec(fx, "three", NULL, 0, NULL);
    g_cancellable_cancel(early);
    r4 = fx_exec(fx, "four", NULL, 0, early);
    g_timeout_add(20, cancel_cb, cancellable);
    fx_wait(fx);

    g_assert_cmpstr(ret_string(r1), ==, "one");
    g_assert_error(r2->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    g_assert_cmpstr(ret_string(r3), ==, "three");
    g_assert_error(r4->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    /* cancelled before "one" was answered, so it completed first */
    g_assert_cmpuint(r2->order, <, r1->order);
    assert_log(fx, "recv:qmp_capabilities recv:one send:one recv:three "
                   "send:three");
}

/* 10b. a command cancelled on the wire fails at once; its reply is dropped */
static void test_cancel_on_wire(Fixture *fx, gconstpointer data)
{
    FakeQmpStep *s1 = fake_qmp_expect(fx->fake, "slow");
    FakeQmpStep *s2 = fake_qmp_expect(fx->fake, "after");
    g_autoptr(GCancellable) cancellable = g_cancellable_new();
    CmdResult *r1, *r2;
    gint64 start;

    fake_qmp_step_delay(s1, 200);
    fake_qmp_step_reply(s1, "\"too late\"");
    fake_qmp_step_delay(s2, 300);
    fake_qmp_step_reply(s2, "\"after\"");
    fx_connect(fx, 0);
    start = g_get_monotonic_time();
    r1 = fx_exec(fx, "slow", NULL, 0, cancellable);
    g_timeout_add(20, cancel_cb, cancellable);
    fx_wait(fx);
    g_assert_error(r1->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    g_assert_cmpint(r1->done_at - start, <, 200 * 1000);

    /* the next command is on the wire before the late reply arrives */
    r2 = fx_exec(fx, "after", NULL, 0, NULL);
    fx_wait(fx);
    g_assert_cmpstr(ret_string(r2), ==, "after");
    g_assert_cmpint(fake_qmp_log_index(fx->fake, "recv:after"), <,
                    fake_qmp_log_index(fx->fake, "send:slow"));
    g_assert_false(qmp_client_is_closed(fx->client));
}

/* 11. malformed JSON, or JSON that is not an object, is a protocol error */
static void test_malformed(Fixture *fx, gconstpointer data)
{
    const char *line = data;
    FakeQmpStep *step = fake_qmp_expect(fx->fake, "query-status");
    CmdResult *r1, *r2;

    fake_qmp_step_send(step, line);
    fx_connect(fx, 0);
    r1 = fx_exec(fx, "query-status", NULL, 0, NULL);
    r2 = fx_exec(fx, "query-queued", NULL, 0, NULL);
    fx_wait(fx);
    g_assert_error(r1->error, QMP_ERROR, QMP_ERROR_PROTOCOL);
    g_assert_error(r2->error, QMP_ERROR, QMP_ERROR_PROTOCOL);
    g_assert_cmpstr(r1->error->message, ==, r2->error->message);
    g_assert_cmpuint(fx->closed_count, ==, 1);
    g_assert_true(qmp_client_is_closed(fx->client));
}

/* the connect timeout covers a server that never greets */
static void test_connect_timeout(Fixture *fx, gconstpointer data)
{
    CmdResult *r, *r2;

    fake_qmp_set_greeting(fx->fake, NULL);
    r = fx_connect_full(fx, 0, 100, fake_qmp_get_path(fx->fake));
    g_assert_error(r->error, QMP_ERROR, QMP_ERROR_TIMEOUT);
    g_assert_true(qmp_client_is_closed(fx->client));
    /* the connect reported it: the closed handler stays quiet */
    g_assert_cmpuint(fx->closed_count, ==, 0);
    r2 = fx_exec(fx, "query-status", NULL, 0, NULL);
    fx_wait(fx);
    g_assert_error(r2->error, QMP_ERROR, QMP_ERROR_TIMEOUT);
}

static void test_connect_refused(Fixture *fx, gconstpointer data)
{
    g_autofree char *path =
        g_build_filename(g_get_tmp_dir(), "drover-no-such-qmp.sock", NULL);
    CmdResult *r = fx_connect_full(fx, 0, 1000, path);

    g_assert_nonnull(r->error);
    g_assert_true(r->error->domain == G_IO_ERROR);
    g_assert_nonnull(strstr(r->error->message, path));
    g_assert_true(qmp_client_is_closed(fx->client));
}

static void test_bad_greeting(Fixture *fx, gconstpointer data)
{
    CmdResult *r;

    fake_qmp_set_greeting(fx->fake, "{\"return\": {}}");
    r = fx_connect_full(fx, 0, 1000, fake_qmp_get_path(fx->fake));
    g_assert_error(r->error, QMP_ERROR, QMP_ERROR_PROTOCOL);
    g_assert_cmpstr(r->error->message, ==, "QMP greeting expected");
}

/* close() from an event handler fails the command, runs the handler once */
static void test_close_in_event(Fixture *fx, gconstpointer data)
{
    FakeQmpStep *step = fake_qmp_expect(fx->fake, "query-status");
    CmdResult *r1, *r2;

    fake_qmp_step_send(step, "{\"event\": \"RESET\", \"timestamp\": "
                             "{\"seconds\": 5, \"microseconds\": 0}}\r\n"
                             "{\"return\": {}, \"id\": @ID@}\r\n");
    fx_connect(fx, 0);
    fx->close_on_event = TRUE;
    r1 = fx_exec(fx, "query-status", NULL, 0, NULL);
    r2 = fx_exec(fx, "query-queued", NULL, 0, NULL);
    fx_wait(fx);
    g_assert_cmpuint(fx->events->len, ==, 1);
    g_assert_error(r1->error, QMP_ERROR, QMP_ERROR_CLOSED);
    g_assert_error(r2->error, QMP_ERROR, QMP_ERROR_CLOSED);
    g_assert_cmpuint(fx->closed_count, ==, 1);
    g_assert_error(fx->closed_error, QMP_ERROR, QMP_ERROR_CLOSED);
}

/* the last reference dropped in a callback frees a connected client */
static void test_unref_in_callback(Fixture *fx, gconstpointer data)
{
    FakeQmpStep *step = fake_qmp_expect(fx->fake, "query-status");
    QmpClient *client;
    CmdResult *r;

    fake_qmp_step_reply(step, "{}");
    fx_connect(fx, 0);
    client = fx->client;
    g_object_add_weak_pointer(G_OBJECT(client), (gpointer *)&client);
    r = fx_exec(fx, "query-status", NULL, 0, NULL);
    r->unref_client = TRUE;
    fx_wait(fx);
    g_assert_no_error(r->error);
    g_assert_null(fx->client);
    g_assert_null(client);
    /* freeing is not closing by anyone's choice: no handler ran */
    g_assert_cmpuint(fx->closed_count, ==, 0);
}

static void add(const char *path, gconstpointer data,
                void (*func)(Fixture *, gconstpointer))
{
    g_test_add(path, Fixture, data, fx_setup, func, fx_teardown);
}

/* ---- passing a file descriptor ---- */

/*
 * The fake server reads with plain streams, which drop SCM_RIGHTS: this
 * one is a blocking POSIX server on a thread, answering every line.
 */
typedef struct {
    int listen_fd;
    char *lines; /* every line received, joined */
    int fd;      /* the descriptor that came along, or -1 */
} FdServer;

static gboolean fd_server_reply(int conn, const char *line)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autofree char *reply = NULL;
    gint64 id;

    g_assert_true(json_parser_load_from_data(parser, line, -1, NULL));
    id = json_object_get_int_member(
        json_node_get_object(json_parser_get_root(parser)), "id");
    reply = g_strdup_printf(
        "{\"return\": {}, \"id\": %" G_GINT64_FORMAT "}\r\n", id);
    return write(conn, reply, strlen(reply)) == (ssize_t)strlen(reply);
}

static gpointer fd_server_thread(gpointer data)
{
    FdServer *srv = data;
    const char *greeting = FAKE_QMP_GREETING "\r\n";
    GString *lines = g_string_new(NULL);
    GString *line = g_string_new(NULL);
    int conn = accept(srv->listen_fd, NULL, NULL);
    guint answered = 0;

    g_assert_cmpint(conn, >=, 0);
    g_assert_true(write(conn, greeting, strlen(greeting)) ==
                  (ssize_t)strlen(greeting));
    /* qmp_capabilities, then the command with the descriptor */
    while (answered < 2) {
        char buf[256];
        char control[CMSG_SPACE(sizeof(int))];
        struct iovec iov = {buf, sizeof(buf)};
        struct msghdr msg = {0};
        struct cmsghdr *cmsg;
        ssize_t n;

        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof(control);
        n = recvmsg(conn, &msg, 0);
        g_assert_cmpint(n, >, 0);
        for (cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
            if (cmsg->cmsg_level == SOL_SOCKET &&
                cmsg->cmsg_type == SCM_RIGHTS) {
                memcpy(&srv->fd, CMSG_DATA(cmsg), sizeof(int));
            }
        }
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] != '\n') {
                g_string_append_c(line, buf[i]);
                continue;
            }
            g_string_append(lines, line->str);
            g_assert_true(fd_server_reply(conn, line->str));
            g_string_truncate(line, 0);
            answered++;
        }
    }
    close(conn);
    g_string_free(line, TRUE);
    srv->lines = g_string_free(lines, FALSE);
    return NULL;
}

static void fd_cmd_cb(GObject *source, GAsyncResult *result, gpointer data)
{
    CmdResult *r = data;

    r->done = TRUE;
    r->ret = qmp_client_execute_finish(QMP_CLIENT(source), result, &r->error);
    fx_done(r->fx);
}

static void test_pass_fd(Fixture *fx, gconstpointer data)
{
    g_autofree char *dir = g_dir_make_tmp("qmpfd-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "qmp.sock", NULL);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    FdServer srv = {.fd = -1};
    g_autoptr(JsonObject) args = json_object_new();
    GThread *thread;
    CmdResult *r;
    int pipefd[2];
    char got[8] = {0};

    g_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
    srv.listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
    g_assert_cmpint(bind(srv.listen_fd, (struct sockaddr *)&addr, sizeof(addr)),
                    ==, 0);
    g_assert_cmpint(listen(srv.listen_fd, 1), ==, 0);
    thread = g_thread_new("fd-server", fd_server_thread, &srv);
    g_assert_cmpint(pipe(pipefd), ==, 0);

    fx->client = qmp_client_new(0);
    r = fx_result_new(fx, "connect");
    fx->outstanding++;
    qmp_client_connect_async(fx->client, path, 0, NULL, connect_cb, r);
    fx_wait(fx);
    g_assert_no_error(r->error);

    json_object_set_string_member(args, "fdname", "migration");
    r = fx_result_new(fx, "getfd");
    fx->outstanding++;
    qmp_client_execute_with_fd_async(fx->client, "getfd", args, pipefd[1], 0,
                                     NULL, fd_cmd_cb, r);
    /* the caller keeps its own: closing it now must not matter */
    close(pipefd[1]);
    fx_wait(fx);
    g_assert_no_error(r->error);
    g_thread_join(thread);

    g_assert_nonnull(strstr(srv.lines, "\"execute\":\"getfd\""));
    g_assert_nonnull(strstr(srv.lines, "\"fdname\":\"migration\""));
    /* the server's copy is the write end of our pipe */
    g_assert_cmpint(srv.fd, >=, 0);
    g_assert_cmpint(write(srv.fd, "hi", 2), ==, 2);
    close(srv.fd);
    g_assert_cmpint(read(pipefd[0], got, sizeof(got)), ==, 2);
    g_assert_cmpstr(got, ==, "hi");
    close(pipefd[0]);
    close(srv.listen_fd);
    g_unlink(path);
    g_rmdir(dir);
    g_free(srv.lines);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    add("/qmp/connect-and-command", NULL, test_connect_and_command);
    add("/qmp/split-reply", NULL, test_split_reply);
    add("/qmp/several-lines-one-write", NULL, test_several_lines_one_write);
    add("/qmp/event-between", NULL, test_event_between);
    add("/qmp/error-reply", NULL, test_error_reply);
    add("/qmp/timeout-late-reply", NULL, test_timeout_late_reply);
    add("/qmp/eof", NULL, test_eof);
    add("/qmp/oversize-line", NULL, test_oversize_line);
    add("/qmp/line-at-limit", GSIZE_TO_POINTER(256), test_line_limit);
    add("/qmp/line-over-limit", GSIZE_TO_POINTER(257), test_line_limit);
    add("/qmp/one-on-the-wire", NULL, test_one_on_the_wire);
    add("/qmp/queue-full", NULL, test_queue_full);
    add("/qmp/cancel-queued", NULL, test_cancel_queued);
    add("/qmp/cancel-on-wire", NULL, test_cancel_on_wire);
    add("/qmp/malformed-json", "{\"return\": oops, \"id\": @ID@}\r\n",
        test_malformed);
    add("/qmp/not-an-object", "[1, 2, 3]\r\n", test_malformed);
    add("/qmp/unknown-message", "{\"hello\": 1}\r\n", test_malformed);
    add("/qmp/unexpected-id", "{\"return\": {}, \"id\": 999}\r\n",
        test_malformed);
    add("/qmp/connect-timeout", NULL, test_connect_timeout);
    add("/qmp/connect-refused", NULL, test_connect_refused);
    add("/qmp/bad-greeting", NULL, test_bad_greeting);
    add("/qmp/close-in-event", NULL, test_close_in_event);
    add("/qmp/unref-in-callback", NULL, test_unref_in_callback);
    add("/qmp/pass-fd", NULL, test_pass_fd);
    return g_test_run();
}
