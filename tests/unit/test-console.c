/*
 * Console capture against a fake QEMU: a GSocketListener on a UNIX socket
 * in a temporary directory, writing the way a guest's serial port does.
 */
#include <glib/gstdio.h>
#include <gio/gunixsocketaddress.h>

#include "agent/console.h"

typedef struct {
    char *tmp;
    char *sock;
    char *log;
    GSocketListener *listener;
    GSocketConnection *server; /* QEMU's end */
    AgentConsole *console;
    GPtrArray *texts; /* from the line handler */
    GArray *seqs;
    /* handler behaviour */
    const char *free_on; /* free the console on this line */
} Fixture;

typedef struct {
    gboolean done;
    gboolean ok;
    GError *error;
} ConnectResult;

static void remove_tree(const char *path)
{
    g_autoptr(GDir) dir = NULL;
    const char *name;

    if (g_file_test(path, G_FILE_TEST_IS_DIR) &&
        !g_file_test(path, G_FILE_TEST_IS_SYMLINK)) {
        dir = g_dir_open(path, 0, NULL);
        while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
            g_autofree char *child = g_build_filename(path, name, NULL);

            remove_tree(child);
        }
        g_rmdir(path);
    } else {
        g_unlink(path);
    }
}

static void fixture_setup(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;

    f->tmp = g_dir_make_tmp("drover-console-XXXXXX", &error);
    g_assert_no_error(error);
    f->sock = g_build_filename(f->tmp, "console.sock", NULL);
    f->log = g_build_filename(f->tmp, "console.log", NULL);
    f->texts = g_ptr_array_new_with_free_func(g_free);
    f->seqs = g_array_new(FALSE, FALSE, sizeof(guint64));
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
    agent_console_free(f->console);
    if (f->server != NULL) {
        g_io_stream_close(G_IO_STREAM(f->server), NULL, NULL);
        g_object_unref(f->server);
    }
    if (f->listener != NULL) {
        g_socket_listener_close(f->listener);
        g_object_unref(f->listener);
    }
    /* let cancelled operations deliver their callbacks */
    while (g_main_context_iteration(NULL, FALSE)) {
    }
    remove_tree(f->tmp);
    g_free(f->tmp);
    g_free(f->sock);
    g_free(f->log);
    g_ptr_array_unref(f->texts);
    g_array_unref(f->seqs);
}

static gboolean tick(gpointer data)
{
    return G_SOURCE_CONTINUE;
}

/* Run the main loop until @cond holds or @timeout_ms passes. */
static gboolean wait_until(gboolean (*cond)(Fixture *f, gpointer data),
                           Fixture *f, gpointer data, guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + timeout_ms * 1000;
    guint id = g_timeout_add(5, tick, NULL);

    while (!cond(f, data) && g_get_monotonic_time() < deadline) {
        g_main_context_iteration(NULL, TRUE);
    }
    g_source_remove(id);
    return cond(f, data);
}

static gboolean never(Fixture *f, gpointer data)
{
    return FALSE;
}

static void spin(Fixture *f, guint ms)
{
    wait_until(never, f, NULL, ms);
}

static gboolean have_lines(Fixture *f, gpointer data)
{
    return f->texts->len >= GPOINTER_TO_UINT(data);
}

static gboolean have_server(Fixture *f, gpointer data)
{
    return f->server != NULL;
}

static gboolean is_disconnected(Fixture *f, gpointer data)
{
    return !agent_console_is_connected(f->console);
}

static gboolean connect_done(Fixture *f, gpointer data)
{
    return ((ConnectResult *)data)->done;
}

static void on_line(AgentConsole *console, guint64 seq, gint64 time_us,
                    const char *text, gpointer data)
{
    Fixture *f = data;

    g_assert_true(console == f->console);
    g_ptr_array_add(f->texts, g_strdup(text));
    g_array_append_val(f->seqs, seq);
    if (f->free_on != NULL && g_str_equal(text, f->free_on)) {
        g_clear_pointer(&f->console, agent_console_free);
    }
}

static void on_accepted(GObject *source, GAsyncResult *result, gpointer data)
{
    Fixture *f = data;
    g_autoptr(GError) error = NULL;

    f->server = g_socket_listener_accept_finish(G_SOCKET_LISTENER(source),
                                                result, NULL, &error);
    g_assert_no_error(error);
}

static void start_listener(Fixture *f)
{
    g_autoptr(GSocketAddress) address = g_unix_socket_address_new(f->sock);
    g_autoptr(GError) error = NULL;

    f->listener = g_socket_listener_new();
    g_socket_listener_add_address(f->listener, address, G_SOCKET_TYPE_STREAM,
                                  G_SOCKET_PROTOCOL_DEFAULT, NULL, NULL,
                                  &error);
    g_assert_no_error(error);
    g_socket_listener_accept_async(f->listener, NULL, on_accepted, f);
}

static gboolean start_listener_cb(gpointer data)
{
    start_listener(data);
    return G_SOURCE_REMOVE;
}

static void on_connected(GObject *source, GAsyncResult *result, gpointer data)
{
    ConnectResult *r = data;

    /* the console itself may be freed by now: it is not needed here */
    r->ok = agent_console_connect_finish(NULL, result, &r->error);
    r->done = TRUE;
}

static AgentConsole *new_console(Fixture *f, gsize max_log_bytes,
                                 guint ring_lines)
{
    g_autoptr(GError) error = NULL;

    f->console =
        agent_console_new(f->sock, f->log, max_log_bytes, ring_lines, &error);
    g_assert_no_error(error);
    g_assert_nonnull(f->console);
    agent_console_set_line_handler(f->console, on_line, f);
    return f->console;
}

/* Listen, connect the console, accept. */
static void connect_console(Fixture *f)
{
    ConnectResult r = {0};

    if (f->listener == NULL) {
        start_listener(f);
    } else {
        g_socket_listener_accept_async(f->listener, NULL, on_accepted, f);
    }
    agent_console_connect_async(f->console, 2000, NULL, on_connected, &r);
    g_assert_true(wait_until(connect_done, f, &r, 5000));
    g_assert_no_error(r.error);
    g_assert_true(r.ok);
    g_assert_true(wait_until(have_server, f, NULL, 5000));
    g_assert_true(agent_console_is_connected(f->console));
}

static void server_write(Fixture *f, const char *data, gssize len)
{
    g_autoptr(GError) error = NULL;
    GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(f->server));

    g_output_stream_write_all(out, data, len < 0 ? strlen(data) : (gsize)len,
                              NULL, NULL, &error);
    g_assert_no_error(error);
}

static void server_close(Fixture *f)
{
    g_io_stream_close(G_IO_STREAM(f->server), NULL, NULL);
    g_clear_object(&f->server);
}

typedef struct {
    guint64 seq;
    char *time;
    char *text;
} Record;

static void record_free(gpointer p)
{
    Record *r = p;

    g_free(r->time);
    g_free(r->text);
    g_free(r);
}

/* Parse a log file strictly: every line must be "SEQ TIMESTAMP TEXT". */
static GPtrArray *read_log(const char *path)
{
    g_autoptr(GRegex) re = g_regex_new(
        "^([0-9]+) ([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
        "\\.[0-9]{6}Z) (.*)$",
        0, 0, NULL);
    g_autofree char *data = NULL;
    g_auto(GStrv) lines = NULL;
    GPtrArray *records = g_ptr_array_new_with_free_func(record_free);

    if (!g_file_get_contents(path, &data, NULL, NULL)) {
        return records;
    }
    g_assert_true(*data == '\0' || g_str_has_suffix(data, "\n"));
    lines = g_strsplit(data, "\n", -1);
    for (guint i = 0; lines[i] != NULL && lines[i + 1] != NULL; i++) {
        g_autoptr(GMatchInfo) match = NULL;
        Record *r = g_new0(Record, 1);
        g_autofree char *seq = NULL;

        if (!g_regex_match(re, lines[i], 0, &match)) {
            g_error("malformed log line %u: '%s'", i + 1, lines[i]);
        }
        seq = g_match_info_fetch(match, 1);
        r->seq = g_ascii_strtoull(seq, NULL, 10);
        r->time = g_match_info_fetch(match, 2);
        r->text = g_match_info_fetch(match, 3);
        g_ptr_array_add(records, r);
    }
    return records;
}

static JsonObject *element(JsonArray *array, guint i)
{
    return json_array_get_object_element(array, i);
}

static void test_lines(Fixture *f, gconstpointer data)
{
    g_autofree char *longline = g_strnfill(10000, 'x');
    g_autofree char *euro_line = NULL;
    g_autoptr(GPtrArray) log = NULL;
    g_autoptr(JsonArray) lines = NULL;
    gint64 before = g_get_real_time();
    guint64 next = 0;
    /* embedded NUL and invalid UTF-8, as a confused guest may send */
    static const char more[] = "\n\r\ntab\there\na\0b\n\xff bad byte\n";
    static const char *const expected[] = {
        "hello", "world", "", "tab\there", "ab", "\xef\xbf\xbd bad byte",
    };

    new_console(f, 1024 * 1024, 100);
    g_assert_true(g_file_test(f->log, G_FILE_TEST_IS_REGULAR));
    connect_console(f);

    /* a line split across writes, with CRLF */
    server_write(f, "hel", -1);
    spin(f, 30);
    g_assert_cmpuint(f->texts->len, ==, 0);
    server_write(f, "lo\r\nwor", -1);
    g_assert_true(wait_until(have_lines, f, GUINT_TO_POINTER(1), 2000));
    spin(f, 30);
    g_assert_cmpuint(f->texts->len, ==, 1);
    server_write(f, "ld\r", -1);
    spin(f, 30);
    server_write(f, more, sizeof(more) - 1);
    /* an overlong line is split at the bound */
    server_write(f, longline, -1);
    server_write(f, "\n", -1);
    g_assert_true(wait_until(have_lines, f, GUINT_TO_POINTER(9), 2000));
    spin(f, 30);
    g_assert_cmpuint(f->texts->len, ==, 9);

    for (guint i = 0; i < G_N_ELEMENTS(expected); i++) {
        g_assert_cmpstr(g_ptr_array_index(f->texts, i), ==, expected[i]);
    }
    g_assert_cmpuint(strlen(g_ptr_array_index(f->texts, 6)), ==,
                     AGENT_CONSOLE_MAX_LINE);
    g_assert_cmpuint(strlen(g_ptr_array_index(f->texts, 7)), ==,
                     AGENT_CONSOLE_MAX_LINE);
    g_assert_cmpuint(strlen(g_ptr_array_index(f->texts, 8)), ==,
                     10000 - 2 * AGENT_CONSOLE_MAX_LINE);
    for (guint i = 0; i < f->seqs->len; i++) {
        g_assert_cmpuint(g_array_index(f->seqs, guint64, i), ==, i + 1);
    }

    /* a UTF-8 character is not cut in two at the bound */
    euro_line = g_strnfill(AGENT_CONSOLE_MAX_LINE + 10, 'e');
    memcpy(euro_line + AGENT_CONSOLE_MAX_LINE - 1, "\xe2\x82\xac", 3);
    server_write(f, euro_line, -1);
    server_write(f, "\n", -1);
    g_assert_true(wait_until(have_lines, f, GUINT_TO_POINTER(11), 2000));
    g_assert_cmpuint(strlen(g_ptr_array_index(f->texts, 9)), ==,
                     AGENT_CONSOLE_MAX_LINE - 1);
    g_assert_true(
        g_str_has_prefix(g_ptr_array_index(f->texts, 10), "\xe2\x82\xac"));

    /* the log holds the same lines, in the documented format */
    log = read_log(f->log);
    g_assert_cmpuint(log->len, ==, 11);
    lines = agent_console_read(f->console, 0, 100, &next);
    g_assert_cmpuint(json_array_get_length(lines), ==, 11);
    g_assert_cmpuint(next, ==, 12);
    for (guint i = 0; i < log->len; i++) {
        Record *r = g_ptr_array_index(log, i);
        JsonObject *obj = element(lines, i);
        g_autoptr(GDateTime) dt = g_date_time_new_from_iso8601(r->time, NULL);
        gint64 time_us = json_object_get_int_member(obj, "time_us");

        g_assert_cmpuint(r->seq, ==, i + 1);
        g_assert_cmpstr(r->text, ==, g_ptr_array_index(f->texts, i));
        g_assert_cmpint(json_object_get_int_member(obj, "seq"), ==, i + 1);
        g_assert_cmpstr(json_object_get_string_member(obj, "text"), ==,
                        r->text);
        g_assert_cmpstr(json_object_get_string_member(obj, "time"), ==,
                        r->time);
        g_assert_nonnull(dt);
        g_assert_cmpint(g_date_time_to_unix(dt) * G_USEC_PER_SEC +
                            g_date_time_get_microsecond(dt),
                        ==, time_us);
        g_assert_cmpint(time_us, >=, before);
        g_assert_cmpint(time_us, <=, g_get_real_time());
    }
}

static void write_lines(Fixture *f, guint first, guint last)
{
    for (guint i = first; i <= last; i++) {
        g_autofree char *line = g_strdup_printf("line %u\n", i);

        server_write(f, line, -1);
    }
    g_assert_true(wait_until(have_lines, f, GUINT_TO_POINTER(last), 2000));
}

static void assert_read(Fixture *f, guint64 from, guint max, guint64 first,
                        guint count, guint64 next)
{
    g_autoptr(JsonArray) lines = NULL;
    guint64 got_next = 0;

    lines = agent_console_read(f->console, from, max, &got_next);
    g_assert_cmpuint(json_array_get_length(lines), ==, count);
    for (guint i = 0; i < count; i++) {
        g_autofree char *text =
            g_strdup_printf("line %" G_GUINT64_FORMAT, first + i);

        g_assert_cmpint(json_object_get_int_member(element(lines, i), "seq"),
                        ==, first + i);
        g_assert_cmpstr(
            json_object_get_string_member(element(lines, i), "text"), ==, text);
    }
    g_assert_cmpuint(got_next, ==, next);
}

static void test_ring_and_paging(Fixture *f, gconstpointer data)
{
    new_console(f, 1024 * 1024, 5);
    /* nothing yet */
    assert_read(f, 0, 10, 0, 0, 1);
    connect_console(f);
    write_lines(f, 1, 12);

    /* only the last 5 are kept */
    assert_read(f, 0, 100, 8, 5, 13);
    assert_read(f, 0, 2, 8, 2, 10);
    assert_read(f, 10, 2, 10, 2, 12);
    assert_read(f, 12, 10, 12, 1, 13);
    /* up to date */
    assert_read(f, 13, 10, 0, 0, 13);
    /* from the future: told where the present is */
    assert_read(f, 1000, 10, 0, 0, 13);
    /* max 0 reads nothing and resumes at the oldest kept line */
    assert_read(f, 0, 0, 0, 0, 8);
    /* the log has them all */
    {
        g_autoptr(GPtrArray) log = read_log(f->log);

        g_assert_cmpuint(log->len, ==, 12);
    }
}

static void test_rotation(Fixture *f, gconstpointer data)
{
    g_autofree char *old = g_strconcat(f->log, ".1", NULL);
    g_autoptr(GPtrArray) current = NULL;
    g_autoptr(GPtrArray) previous = NULL;
    GStatBuf st;

    new_console(f, 300, 100);
    connect_console(f);
    write_lines(f, 1, 40);

    g_assert_cmpint(g_stat(f->log, &st), ==, 0);
    g_assert_cmpint(st.st_size, <=, 300);
    g_assert_cmpint(g_stat(old, &st), ==, 0);
    g_assert_cmpint(st.st_size, <=, 300);
    current = read_log(f->log);
    previous = read_log(old);
    g_assert_cmpuint(current->len, >, 0);
    g_assert_cmpuint(previous->len, >, 0);
    /* LOG.1 ends where LOG starts, and LOG ends with the last line */
    g_assert_cmpuint(
        ((Record *)g_ptr_array_index(previous, previous->len - 1))->seq + 1, ==,
        ((Record *)g_ptr_array_index(current, 0))->seq);
    g_assert_cmpuint(
        ((Record *)g_ptr_array_index(current, current->len - 1))->seq, ==, 40);
    g_assert_cmpstr(
        ((Record *)g_ptr_array_index(current, current->len - 1))->text, ==,
        "line 40");
    /* rotation does not touch the ring */
    assert_read(f, 0, 100, 1, 40, 41);
}

static void test_reopen_continues(Fixture *f, gconstpointer data)
{
    g_autoptr(JsonArray) before = NULL;
    g_autoptr(JsonArray) after = NULL;
    g_autoptr(GPtrArray) log = NULL;
    guint64 next = 0;

    new_console(f, 1024 * 1024, 100);
    connect_console(f);
    write_lines(f, 1, 3);
    before = agent_console_read(f->console, 0, 100, NULL);
    g_clear_pointer(&f->console, agent_console_free);
    server_close(f);

    /* the agent restarts */
    new_console(f, 1024 * 1024, 100);
    g_assert_false(agent_console_is_connected(f->console));
    after = agent_console_read(f->console, 0, 100, &next);
    g_assert_cmpuint(next, ==, 4);
    g_assert_cmpuint(json_array_get_length(after), ==, 3);
    for (guint i = 0; i < 3; i++) {
        JsonObject *a = element(before, i);
        JsonObject *b = element(after, i);

        g_assert_cmpint(json_object_get_int_member(a, "seq"), ==,
                        json_object_get_int_member(b, "seq"));
        g_assert_cmpint(json_object_get_int_member(a, "time_us"), ==,
                        json_object_get_int_member(b, "time_us"));
        g_assert_cmpstr(json_object_get_string_member(a, "time"), ==,
                        json_object_get_string_member(b, "time"));
        g_assert_cmpstr(json_object_get_string_member(a, "text"), ==,
                        json_object_get_string_member(b, "text"));
    }
    connect_console(f);
    server_write(f, "line 4\n", -1);
    g_assert_true(wait_until(have_lines, f, GUINT_TO_POINTER(4), 2000));
    g_assert_cmpuint(g_array_index(f->seqs, guint64, 3), ==, 4);
    log = read_log(f->log);
    g_assert_cmpuint(log->len, ==, 4);
    g_assert_cmpuint(((Record *)g_ptr_array_index(log, 3))->seq, ==, 4);
}

static void test_reopen_cut_record(Fixture *f, gconstpointer data)
{
    const char *text = "1 2026-11-23T01:02:03.456789Z first\n"
                       "2 2026-11-23T01:02:04.000001Z second\n"
                       "3 2026-11-23T01:0";
    g_autoptr(JsonArray) lines = NULL;
    guint64 next = 0;

    /* a crash cut the last record short */
    g_assert_true(g_file_set_contents(f->log, text, -1, NULL));
    new_console(f, 1024 * 1024, 100);
    lines = agent_console_read(f->console, 0, 100, &next);
    g_assert_cmpuint(json_array_get_length(lines), ==, 2);
    g_assert_cmpuint(next, ==, 3);
    g_assert_cmpint(json_object_get_int_member(element(lines, 1), "time_us"),
                    ==, G_GINT64_CONSTANT(1795395724000001));
    g_assert_cmpstr(json_object_get_string_member(element(lines, 1), "time"),
                    ==, "2026-11-23T01:02:04.000001Z");

    connect_console(f);
    server_write(f, "third\n", -1);
    g_assert_true(wait_until(have_lines, f, GUINT_TO_POINTER(1), 2000));
    g_assert_cmpuint(g_array_index(f->seqs, guint64, 0), ==, 3);
    /* the new record starts on its own line and parses */
    {
        g_autofree char *data_text = NULL;
        g_auto(GStrv) records = NULL;
        guint n;

        g_assert_true(g_file_get_contents(f->log, &data_text, NULL, NULL));
        records = g_strsplit(data_text, "\n", -1);
        n = g_strv_length(records);
        g_assert_cmpuint(n, ==, 5);
        g_assert_cmpstr(records[2], ==, "3 2026-11-23T01:0");
        g_assert_true(g_str_has_prefix(records[3], "3 "));
        g_assert_true(g_str_has_suffix(records[3], "Z third"));
    }
}

static void test_reload_from_rotated(Fixture *f, gconstpointer data)
{
    g_autofree char *old = g_strconcat(f->log, ".1", NULL);
    GString *text = g_string_new(NULL);
    for (guint i = 1; i <= 5; i++) {
        g_string_append_printf(
            text, "%u 2026-11-23T01:02:0%u.000000Z line %u\n", i, i, i);
    }
    g_assert_true(g_file_set_contents(old, text->str, -1, NULL));
    g_string_free(text, TRUE);

    /* rotated just before the restart: LOG is empty */
    g_assert_true(g_file_set_contents(f->log, "", 0, NULL));
    new_console(f, 1024 * 1024, 100);
    assert_read(f, 0, 100, 1, 5, 6);
    g_clear_pointer(&f->console, agent_console_free);

    /* LOG missing altogether */
    g_assert_cmpint(g_unlink(f->log), ==, 0);
    new_console(f, 1024 * 1024, 3);
    assert_read(f, 0, 100, 3, 3, 6);
    g_clear_pointer(&f->console, agent_console_free);

    /* LOG has the newest lines, LOG.1 fills the ring up */
    g_assert_true(g_file_set_contents(
        f->log, "6 2026-11-23T01:03:00.000000Z line 6\n", -1, NULL));
    new_console(f, 1024 * 1024, 4);
    assert_read(f, 0, 100, 3, 4, 7);
}

static void test_connect_retries(Fixture *f, gconstpointer data)
{
    ConnectResult r = {0};
    gint64 start = g_get_monotonic_time();

    new_console(f, 1024 * 1024, 100);
    agent_console_connect_async(f->console, 3000, NULL, on_connected, &r);
    /* QEMU creates its socket a little later */
    g_timeout_add(300, start_listener_cb, f);
    g_assert_true(wait_until(connect_done, f, &r, 5000));
    g_assert_no_error(r.error);
    g_assert_true(r.ok);
    g_assert_cmpint(g_get_monotonic_time() - start, >=, 300 * 1000);
    g_assert_true(agent_console_is_connected(f->console));
    g_assert_true(wait_until(have_server, f, NULL, 2000));
    server_write(f, "booted\n", -1);
    g_assert_true(wait_until(have_lines, f, GUINT_TO_POINTER(1), 2000));
    g_assert_cmpstr(g_ptr_array_index(f->texts, 0), ==, "booted");

    /* connecting again while connected is a no-op */
    {
        ConnectResult again = {0};

        agent_console_connect_async(f->console, 100, NULL, on_connected,
                                    &again);
        g_assert_true(wait_until(connect_done, f, &again, 2000));
        g_assert_no_error(again.error);
        g_assert_true(again.ok);
    }
}

static void test_connect_timeout(Fixture *f, gconstpointer data)
{
    ConnectResult r = {0};
    ConnectResult stale = {0};
    gint64 start = g_get_monotonic_time();
    gint64 elapsed;

    new_console(f, 1024 * 1024, 100);
    agent_console_connect_async(f->console, 200, NULL, on_connected, &r);
    g_assert_true(wait_until(connect_done, f, &r, 5000));
    elapsed = g_get_monotonic_time() - start;
    g_assert_error(r.error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
    g_assert_nonnull(strstr(r.error->message, f->sock));
    g_assert_false(r.ok);
    g_assert_cmpint(elapsed, >=, 200 * 1000);
    g_assert_cmpint(elapsed, <, 1500 * 1000);
    g_assert_false(agent_console_is_connected(f->console));
    g_clear_error(&r.error);

    /* a socket file nobody listens on (QEMU died) is retried as well */
    {
        g_autoptr(GSocket) sock =
            g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
                         G_SOCKET_PROTOCOL_DEFAULT, NULL);
        g_autoptr(GSocketAddress) address = g_unix_socket_address_new(f->sock);

        g_assert_true(g_socket_bind(sock, address, FALSE, NULL));
        g_socket_close(sock, NULL);
    }
    start = g_get_monotonic_time();
    agent_console_connect_async(f->console, 200, NULL, on_connected, &stale);
    g_assert_true(wait_until(connect_done, f, &stale, 5000));
    g_assert_error(stale.error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
    g_assert_cmpint(g_get_monotonic_time() - start, >=, 200 * 1000);
    g_clear_error(&stale.error);
}

static void test_connect_cancel(Fixture *f, gconstpointer data)
{
    g_autoptr(GCancellable) cancellable = g_cancellable_new();
    ConnectResult r = {0};
    ConnectResult busy = {0};
    ConnectResult gone = {0};

    new_console(f, 1024 * 1024, 100);
    agent_console_connect_async(f->console, 5000, cancellable, on_connected,
                                &r);
    /* one connect at a time */
    agent_console_connect_async(f->console, 5000, NULL, on_connected, &busy);
    g_assert_true(wait_until(connect_done, f, &busy, 2000));
    g_assert_error(busy.error, G_IO_ERROR, G_IO_ERROR_PENDING);
    g_clear_error(&busy.error);

    spin(f, 100);
    g_cancellable_cancel(cancellable);
    g_assert_true(wait_until(connect_done, f, &r, 2000));
    g_assert_error(r.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    g_clear_error(&r.error);

    /* freeing the console ends a connect in progress */
    agent_console_connect_async(f->console, 5000, NULL, on_connected, &gone);
    spin(f, 100);
    g_clear_pointer(&f->console, agent_console_free);
    g_assert_true(wait_until(connect_done, f, &gone, 2000));
    g_assert_error(gone.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    g_clear_error(&gone.error);
}

static void test_eof(Fixture *f, gconstpointer data)
{
    g_autoptr(GPtrArray) log = NULL;

    new_console(f, 1024 * 1024, 100);
    connect_console(f);
    server_write(f, "complete\nunfinished", -1);
    g_assert_true(wait_until(have_lines, f, GUINT_TO_POINTER(1), 2000));
    server_close(f);
    g_assert_true(wait_until(is_disconnected, f, NULL, 2000));
    /* what QEMU wrote before going away is kept */
    g_assert_cmpuint(f->texts->len, ==, 2);
    g_assert_cmpstr(g_ptr_array_index(f->texts, 1), ==, "unfinished");
    {
        g_autoptr(JsonArray) lines = NULL;
        guint64 next = 0;

        lines = agent_console_read(f->console, 0, 100, &next);
        g_assert_cmpuint(json_array_get_length(lines), ==, 2);
        g_assert_cmpstr(
            json_object_get_string_member(element(lines, 0), "text"), ==,
            "complete");
        g_assert_cmpstr(
            json_object_get_string_member(element(lines, 1), "text"), ==,
            "unfinished");
        g_assert_cmpuint(next, ==, 3);
    }
    log = read_log(f->log);
    g_assert_cmpuint(log->len, ==, 2);
    g_assert_cmpstr(((Record *)g_ptr_array_index(log, 1))->text, ==,
                    "unfinished");
}

static void test_disconnect(Fixture *f, gconstpointer data)
{
    g_autoptr(JsonArray) lines = NULL;
    guint64 next = 0;
    char buf[16];
    gssize n;

    new_console(f, 1024 * 1024, 100);
    connect_console(f);
    server_write(f, "one\n", -1);
    g_assert_true(wait_until(have_lines, f, GUINT_TO_POINTER(1), 2000));
    agent_console_disconnect(f->console);
    g_assert_false(agent_console_is_connected(f->console));
    /* QEMU's end sees the close */
    n = g_input_stream_read(
        g_io_stream_get_input_stream(G_IO_STREAM(f->server)), buf, sizeof(buf),
        NULL, NULL);
    g_assert_cmpint(n, ==, 0);
    lines = agent_console_read(f->console, 0, 100, &next);
    g_assert_cmpuint(json_array_get_length(lines), ==, 1);
    g_assert_cmpuint(next, ==, 2);
    /* and it can connect again, continuing the sequence */
    g_clear_object(&f->server);
    connect_console(f);
    server_write(f, "two\n", -1);
    g_assert_true(wait_until(have_lines, f, GUINT_TO_POINTER(2), 2000));
    g_assert_cmpuint(g_array_index(f->seqs, guint64, 1), ==, 2);
}

static void test_handler_frees(Fixture *f, gconstpointer data)
{
    g_autoptr(GPtrArray) log = NULL;

    new_console(f, 1024 * 1024, 100);
    connect_console(f);
    f->free_on = "stop";
    /* one write, so that "after" arrives in the same read as "stop" */
    server_write(f, "before\nstop\nafter\n", -1);
    g_assert_true(wait_until(have_lines, f, GUINT_TO_POINTER(2), 2000));
    spin(f, 50);
    g_assert_null(f->console);
    g_assert_cmpuint(f->texts->len, ==, 2);
    log = read_log(f->log);
    g_assert_cmpuint(log->len, ==, 2);
}

static void test_bad_log_path(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *path = g_build_filename(f->tmp, "missing", "log", NULL);
    AgentConsole *console = agent_console_new(f->sock, path, 1024, 10, &error);

    g_assert_null(console);
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
    g_assert_nonnull(strstr(error->message, path));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

#define ADD(name, fn)                                              \
    g_test_add("/console/" name, Fixture, NULL, fixture_setup, fn, \
               fixture_teardown)
    ADD("lines", test_lines);
    ADD("ring-and-paging", test_ring_and_paging);
    ADD("rotation", test_rotation);
    ADD("reopen-continues", test_reopen_continues);
    ADD("reopen-cut-record", test_reopen_cut_record);
    ADD("reload-from-rotated", test_reload_from_rotated);
    ADD("connect-retries", test_connect_retries);
    ADD("connect-timeout", test_connect_timeout);
    ADD("connect-cancel", test_connect_cancel);
    ADD("eof", test_eof);
    ADD("disconnect", test_disconnect);
    ADD("handler-frees", test_handler_frees);
    ADD("bad-log-path", test_bad_log_path);
#undef ADD
    return g_test_run();
}
