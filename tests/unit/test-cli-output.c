/*
 * The CLI's formats: tables, key: value blocks, sizes, durations,
 * progress lines and bars (and their redraw on a terminal or throttling
 * elsewhere), result and failure lines, event lines, the error line.
 */
#include "cli/output.h"
#include "cli/progress.h"
#include "common/error.h"
#include "common/json.h"

static JsonObject *parse(const char *text)
{
    g_autoptr(GError) error = NULL;
    JsonObject *obj = drv_json_parse_object(text, -1, &error);

    g_assert_no_error(error);
    return obj;
}

static void test_table_alignment(void)
{
    static const char *const headers[] = {"NAME", "STATUS", "VMS", "ADDRESS",
                                          NULL};
    g_autoptr(CliTable) table = cli_table_new(headers);
    g_autofree char *text = NULL;

    cli_table_align_right(table, 2);
    cli_table_add_row(table, "host1", "up", "2", "http://127.0.1.1:7001");
    cli_table_add_row(table, "host-long-name", "preparing_for_maintenance",
                      "12", NULL);
    cli_table_add_row(table, "h3", "", "0", "x");
    g_assert_cmpuint(cli_table_rows(table), ==, 3);
    text = cli_table_render(table);
    g_assert_cmpstr(text, ==,
                    "NAME            STATUS                     VMS  ADDRESS\n"
                    "host1           up                           2  "
                    "http://127.0.1.1:7001\n"
                    "host-long-name  preparing_for_maintenance   12  -\n"
                    "h3              -                            0  x\n");
}

static void test_table_utf8_and_trailing(void)
{
    static const char *const headers[] = {"A", "B", NULL};
    g_autoptr(CliTable) table = cli_table_new(headers);
    g_autofree char *text = NULL;

    /* "é" is two bytes and one column */
    cli_table_add_row(table, "é", "x");
    cli_table_add_row(table, "ab", "");
    text = cli_table_render(table);
    g_assert_cmpstr(text, ==, "A   B\né   x\nab  -\n");
}

static void test_table_empty(void)
{
    static const char *const headers[] = {"NAME", "STATUS", NULL};
    g_autoptr(CliTable) table = cli_table_new(headers);
    g_autofree char *text = cli_table_render(table);

    g_assert_cmpuint(cli_table_rows(table), ==, 0);
    g_assert_cmpstr(text, ==, "NAME  STATUS\n");
}

static void test_kv(void)
{
    g_autoptr(CliKv) kv = cli_kv_new();
    g_autofree char *text = NULL;

    cli_kv_add(kv, "name", "web1");
    cli_kv_add(kv, "status reason", NULL);
    cli_kv_addf(kv, "memory", "%d MiB", 128);
    text = cli_kv_render(kv);
    g_assert_cmpstr(text, ==,
                    "name:          web1\n"
                    "status reason: -\n"
                    "memory:        128 MiB\n");
}

static void test_bytes(void)
{
    const struct {
        gint64 bytes;
        const char *text;
    } cases[] = {
        {0, "0 B"},
        {1023, "1023 B"},
        {1024, "1.0 KiB"},
        {1536, "1.5 KiB"},
        {(gint64)(97.4 * 1024 * 1024), "97.4 MiB"},
        {1024 * 1024 - 1, "1.0 MiB"},
        {2LL * 1024 * 1024 * 1024, "2.0 GiB"},
        {5LL * 1024 * 1024 * 1024 * 1024, "5.0 TiB"},
        {-1, "unknown"},
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *text = cli_format_bytes(cases[i].bytes);

        g_assert_cmpstr(text, ==, cases[i].text);
    }
}

static void test_duration(void)
{
    const struct {
        gint64 ms;
        const char *text;
    } cases[] = {
        {0, "0 ms"},
        {21, "21 ms"},
        {999, "999 ms"},
        {1000, "1.0 s"},
        {1300, "1.3 s"},
        {1349, "1.3 s"},
        {1350, "1.4 s"},
        {59949, "59.9 s"},
        {59960, "1 min 0 s"},
        {125000, "2 min 5 s"},
        {3599499, "59 min 59 s"},
        {3780000, "1 h 3 min"},
        {-1, "unknown"},
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *text = cli_format_duration_ms(cases[i].ms);

        g_assert_cmpstr(text, ==, cases[i].text);
    }
}

static void test_throughput_percent(void)
{
    g_autofree char *a = cli_format_throughput(812.3);
    g_autofree char *b = cli_format_throughput(1234.0);
    g_autofree char *c = cli_format_throughput(-3);
    g_autofree char *d = cli_format_percent(42.54);
    g_autofree char *e = cli_format_percent(99.97);
    g_autofree char *f = cli_format_percent(100);
    g_autofree char *g = cli_format_percent(-1);

    g_assert_cmpstr(a, ==, "812 Mbit/s");
    g_assert_cmpstr(b, ==, "1.2 Gbit/s");
    g_assert_cmpstr(c, ==, "0 Mbit/s");
    g_assert_cmpstr(d, ==, "42.5%");
    /* a running migration never shows as done */
    g_assert_cmpstr(e, ==, "99.9%");
    g_assert_cmpstr(f, ==, "100%");
    g_assert_cmpstr(g, ==, "0.0%");
}

#define RUNNING                                                           \
    "{\"id\": \"m1\", \"vm\": {\"id\": \"v\", \"name\": \"web1\"},"       \
    " \"state\": \"running\", \"source\": {\"name\": \"host1\"},"         \
    " \"destination\": {\"name\": \"host2\"},"                            \
    " \"progress\": {\"percent\": 42.5, \"transferred_bytes\": 64171212," \
    " \"throughput_mbps\": 812.3, \"pass\": 2}}"

static void test_progress_plain(void)
{
    g_autoptr(JsonObject) running = parse(RUNNING);
    g_autoptr(JsonObject) queued =
        parse("{\"vm\": {\"name\": \"web1\"}, \"state\": \"queued\", "
              "\"progress\": null}");
    g_autofree char *a = cli_progress_line(running, FALSE, 0);
    g_autofree char *b = cli_progress_line(queued, FALSE, 0);

    g_assert_cmpstr(
        a, ==, "web1: running 42.5%, 61.2 MiB transferred, 812 Mbit/s, pass 2");
    g_assert_cmpstr(b, ==, "web1: queued");
}

static void test_progress_bar(void)
{
    g_autoptr(JsonObject) running = parse(RUNNING);
    g_autoptr(JsonObject) done =
        parse("{\"vm\": {\"name\": \"web1\"}, \"state\": \"completed\", "
              "\"progress\": {\"percent\": 99, \"transferred_bytes\": 0, "
              "\"throughput_mbps\": 0, \"pass\": 3}}");
    g_autoptr(JsonObject) empty =
        parse("{\"vm\": {\"name\": \"web1\"}, \"state\": \"running\", "
              "\"progress\": {\"percent\": 0}}");
    g_autofree char *a = cli_progress_line(running, TRUE, 80);
    g_autofree char *b = cli_progress_line(running, TRUE, 20);
    g_autofree char *c = cli_progress_line(done, TRUE, 200);
    g_autofree char *d = cli_progress_line(empty, TRUE, 60);
    const char *tail = "]  42.5%  61.2 MiB  812 Mbit/s  pass 2";

    /* 80 columns: the bar takes what the text leaves */
    g_assert_cmpuint(strlen(a), ==, 80);
    g_assert_true(
        g_str_has_prefix(a, "web1 running [===========>                ]"));
    g_assert_true(g_str_has_suffix(a, tail));
    /* too narrow: the bar keeps its minimum of 10 */
    g_assert_true(g_str_has_prefix(b, "web1 running [====>     ]"));
    /* completed is full, and the bar at most 40 wide */
    g_assert_true(g_str_has_prefix(
        c, "web1 completed [========================================]  100%"));
    /* nothing done: no arrow head */
    g_assert_true(g_str_has_prefix(d, "web1 running [          "));
    g_assert_null(strchr(d, '>'));
}

static void test_progress_view_tty(void)
{
    g_autoptr(CliProgressView) view = cli_progress_view_new(TRUE, 81);
    g_autoptr(JsonObject) one = parse(RUNNING);
    g_autoptr(JsonObject) two =
        parse("{\"id\": \"m2\", \"vm\": {\"name\": \"db1\"}, \"state\": "
              "\"queued\"}");
    g_autoptr(GPtrArray) list = g_ptr_array_new();
    g_autofree char *bar1 = cli_progress_line(one, TRUE, 80);
    g_autofree char *bar2 = cli_progress_line(two, TRUE, 80);
    g_autofree char *first = NULL;
    g_autofree char *second = NULL;
    g_autofree char *third = NULL;
    g_autofree char *end = NULL;
    g_autofree char *want = NULL;

    g_ptr_array_add(list, one);
    first = cli_progress_view_update(view, list, 0);
    want = g_strdup_printf("\r\033[K%s", bar1);
    g_assert_cmpstr(first, ==, want);
    /* a second migration: a line more, drawn from the first line again */
    g_ptr_array_add(list, two);
    second = cli_progress_view_update(view, list, 1);
    g_free(want);
    want = g_strdup_printf("\r\033[K%s\n\033[K%s", bar1, bar2);
    g_assert_cmpstr(second, ==, want);
    /* redraw: up one line first */
    third = cli_progress_view_update(view, list, 2);
    g_free(want);
    want = g_strdup_printf("\r\033[A\033[K%s\n\033[K%s", bar1, bar2);
    g_assert_cmpstr(third, ==, want);
    end = cli_progress_view_finish(view);
    g_assert_cmpstr(end, ==, "\n");
}

static void test_progress_view_narrow(void)
{
    g_autoptr(CliProgressView) view = cli_progress_view_new(TRUE, 31);
    g_autoptr(JsonObject) one = parse(RUNNING);
    g_autoptr(GPtrArray) list = g_ptr_array_new();
    g_autofree char *text = NULL;

    /* never wider than the terminal less a column, or the redraw breaks */
    g_ptr_array_add(list, one);
    text = cli_progress_view_update(view, list, 0);
    g_assert_cmpstr(text, ==, "\r\033[Kweb1 running [====>     ]  42.");
}

static void test_progress_view_plain(void)
{
    g_autoptr(CliProgressView) view = cli_progress_view_new(FALSE, 80);
    g_autoptr(JsonObject) one = parse(RUNNING);
    g_autoptr(JsonObject) later =
        parse("{\"id\": \"m1\", \"vm\": {\"name\": \"web1\"}, \"state\": "
              "\"running\", \"progress\": {\"percent\": 50, \"pass\": 2}}");
    g_autoptr(GPtrArray) list = g_ptr_array_new();
    g_autofree char *a = NULL;
    g_autofree char *b = NULL;
    g_autofree char *c = NULL;
    g_autofree char *d = NULL;
    g_autofree char *end = NULL;

    g_ptr_array_add(list, one);
    a = cli_progress_view_update(view, list, 1000);
    g_assert_cmpstr(
        a, ==,
        "web1: running 42.5%, 61.2 MiB transferred, 812 Mbit/s, pass 2\n");
    /* unchanged: nothing, however late */
    b = cli_progress_view_update(view, list, 1000 + 5 * G_USEC_PER_SEC);
    g_assert_cmpstr(b, ==, "");
    /* changed, but within a second of the last line: nothing yet */
    g_ptr_array_index(list, 0) = later;
    c = cli_progress_view_update(view, list, 1000 + G_USEC_PER_SEC / 2);
    g_assert_cmpstr(c, ==, "");
    d = cli_progress_view_update(view, list, 1000 + G_USEC_PER_SEC);
    g_assert_cmpstr(d, ==,
                    "web1: running 50.0%, 0 B transferred, 0 Mbit/s, pass 2\n");
    end = cli_progress_view_finish(view);
    g_assert_cmpstr(end, ==, "");
}

static void test_result_line(void)
{
    g_autoptr(JsonObject) mig = parse(
        "{\"vm\": {\"id\": \"v\", \"name\": \"web1\"}, \"state\": "
        "\"completed\", \"source\": {\"id\": \"a\", \"name\": \"host1\"}, "
        "\"destination\": {\"id\": \"b\", \"name\": \"host2\"}, "
        "\"result\": {\"status\": \"completed\", \"total_time_ms\": 1300, "
        "\"downtime_ms\": 21, \"transferred_bytes\": 102131302}}");
    g_autoptr(JsonObject) partial =
        parse("{\"vm\": {\"id\": \"v1\"}, \"state\": \"completed\", "
              "\"source\": {\"name\": \"host1\"}, \"destination\": null, "
              "\"progress\": {\"transferred_bytes\": 2048}, "
              "\"result\": {\"total_time_ms\": 61000, \"downtime_ms\": -1}}");
    g_autoptr(JsonObject) paused =
        parse("{\"vm\": {\"name\": \"db1\"}, \"source\": {\"name\": "
              "\"host1\"}, \"destination\": {\"name\": \"host2\"}, "
              "\"result\": {\"total_time_ms\": 900, \"downtime_ms\": -1, "
              "\"was_running\": false, \"transferred_bytes\": 1024}}");
    g_autofree char *a = cli_migration_result_line(mig);
    g_autofree char *b = cli_migration_result_line(partial);
    g_autofree char *c = cli_migration_result_line(paused);

    g_assert_cmpstr(a, ==,
                    "web1 migrated from host1 to host2 in 1.3 s, downtime "
                    "21 ms, 97.4 MiB transferred");
    g_assert_cmpstr(b, ==,
                    "v1 migrated from host1 to ? in 1 min 1 s, downtime "
                    "unknown, 2.0 KiB transferred");
    g_assert_cmpstr(c, ==,
                    "db1 migrated from host1 to host2 in 900 ms, paused "
                    "throughout, 1.0 KiB transferred");
}

static void test_result_line_policy(void)
{
    g_autoptr(JsonObject) post =
        parse("{\"vm\": {\"name\": \"db1\"}, \"source\": {\"name\": \"h1\"}, "
              "\"destination\": {\"name\": \"h2\"}, \"result\": {"
              "\"total_time_ms\": 8200, \"downtime_ms\": 48, "
              "\"transferred_bytes\": 1024, \"policy\": \"adaptive\", "
              "\"postcopy\": true, \"max_throttle_percent\": 0, "
              "\"prediction\": {\"strategy\": \"post-copy\", "
              "\"total_ms\": 7000, \"downtime_ms\": 40}}}");
    g_autoptr(JsonObject) throttled =
        parse("{\"vm\": {\"name\": \"db1\"}, \"source\": {\"name\": \"h1\"}, "
              "\"destination\": {\"name\": \"h2\"}, \"result\": {"
              "\"total_time_ms\": 8200, \"downtime_ms\": 48, "
              "\"transferred_bytes\": 1024, \"policy\": \"minimal_downtime\", "
              "\"postcopy\": false, \"max_throttle_percent\": 40, "
              "\"xbzrle_pages\": 18502, \"xbzrle_ratio\": 6.31, "
              "\"prediction\": null}}");
    g_autofree char *a = cli_migration_result_line(post);
    g_autofree char *b = cli_migration_result_line(throttled);

    g_assert_cmpstr(a, ==,
                    "db1 migrated from h1 to h2 in 8.2 s, downtime 48 ms, "
                    "1.0 KiB transferred (policy adaptive, post-copy; "
                    "predicted 7.0 s, downtime 40 ms)");
    g_assert_cmpstr(b, ==,
                    "db1 migrated from h1 to h2 in 8.2 s, downtime 48 ms, "
                    "1.0 KiB transferred (policy minimal_downtime, "
                    "throttled up to 40%, 18502 pages as XBZRLE deltas "
                    "6.3x smaller)");
}

static void test_estimate_text(void)
{
    g_autoptr(JsonObject) est =
        parse("{\"vm\": {\"name\": \"web1\"}, \"source\": {\"name\": \"h1\"}, "
              "\"destination\": {\"name\": \"h2\"}, \"parameters\": {"
              "\"policy\": \"legacy\", \"post_copy\": false}, \"measured\": {"
              "\"dirty_rate_bps\": 52428800, \"memory_bytes\": 268435456, "
              "\"seconds\": 2, \"link_bps\": 12500000}, \"prediction\": {"
              "\"strategy\": \"pause\", \"total_ms\": 21500, "
              "\"downtime_ms\": 1200, \"passes\": 1, \"throttle_percent\": 0}, "
              "\"warnings\": [\"it would not finish\"]}");
    g_autofree char *text = cli_migration_estimate_text(est);
    g_autofree char *again = NULL;

    g_assert_cmpstr(text, ==,
                    "web1 would migrate from h1 to h2 with policy legacy at "
                    "100 Mbit/s\n"
                    "measured: the guest dirties 50.0 MiB/s of 256.0 MiB "
                    "(2 s sample)\n"
                    "predicted: 21.5 s, downtime 1.2 s, pause, 1 pass\n"
                    "warning: it would not finish\n");
    /* a link an earlier migration measured says so */
    json_object_set_string_member(drv_json_object_or_null(est, "measured"),
                                  "link_basis", "measured");
    again = cli_migration_estimate_text(est);
    g_assert_nonnull(strstr(again, "at 100 Mbit/s (measured by the last "
                                   "migration)\n"));
}

static void test_failure_line(void)
{
    g_autoptr(JsonObject) failed =
        parse("{\"vm\": {\"name\": \"web1\"}, \"state\": \"failed\", "
              "\"source\": {\"name\": \"host1\"}, \"destination\": {\"name\": "
              "\"host2\"}, \"error\": {\"code\": \"insufficient_memory\", "
              "\"message\": \"host2 has 100 MiB free; web1 needs 192 MiB\"}}");
    g_autoptr(JsonObject) cancelled = parse(
        "{\"vm\": {\"name\": \"web1\"}, \"state\": \"cancelled\", "
        "\"source\": {\"name\": \"host1\"}, \"destination\": null, "
        "\"requested_destination\": {\"name\": \"host3\"}, \"error\": null}");
    g_autoptr(JsonObject) from_result =
        parse("{\"vm\": {\"name\": \"web1\"}, \"state\": \"failed\", "
              "\"result\": {\"reason\": \"QEMU quit\"}}");
    g_autofree char *a = cli_migration_failure_line(failed);
    g_autofree char *b = cli_migration_failure_line(cancelled);
    g_autofree char *c = cli_migration_failure_line(from_result);

    g_assert_cmpstr(a, ==,
                    "migration of web1 from host1 to host2 failed: host2 has "
                    "100 MiB free; web1 needs 192 MiB");
    g_assert_cmpstr(b, ==,
                    "migration of web1 from host1 to host3 was cancelled");
    g_assert_cmpstr(c, ==, "migration of web1 failed: QEMU quit");
    g_assert_true(cli_migration_state_is_final("failed"));
    g_assert_true(cli_migration_state_is_final("completed"));
    g_assert_true(cli_migration_state_is_final("cancelled"));
    g_assert_false(cli_migration_state_is_final("running"));
    g_assert_false(cli_migration_state_is_final("queued"));
    g_assert_false(cli_migration_state_is_final(NULL));
}

static void test_event_line(void)
{
    g_autoptr(JsonObject) event = parse(
        "{\"index\": 42, \"time\": \"2026-11-23T10:00:00Z\", \"severity\": "
        "\"info\", \"code\": \"vm_migration_done\", \"message\": \"VM web1 "
        "migrated from host1 to host2 in 1.3 s (downtime 21 ms)\", "
        "\"user\": \"alice\"}");
    g_autoptr(JsonObject) sparse = parse("{\"code\": \"host_up\"}");
    g_autofree char *a = cli_event_line(event);
    g_autofree char *b = cli_event_line(sparse);

    g_assert_cmpstr(a, ==,
                    "2026-11-23T10:00:00Z  info     vm_migration_done    "
                    "     VM web1 migrated from host1 to host2 in 1.3 s "
                    "(downtime 21 ms)  (alice)");
    g_assert_cmpstr(b, ==, "-  -        host_up                     (-)");
}

static void test_error_line(void)
{
    g_autoptr(GError) a = g_error_new_literal(
        DRV_ERROR, DRV_ERROR_CONFLICT, "VM web1 is down\nand stays down");
    g_autoptr(GError) b =
        g_error_new_literal(DRV_ERROR, DRV_ERROR_INTERNAL, "  spaced \n");
    g_autofree char *la = cli_error_line(a);
    g_autofree char *lb = cli_error_line(b);
    g_autofree char *lc = cli_error_line(NULL);

    g_assert_cmpstr(la, ==, "drover: VM web1 is down and stays down");
    g_assert_cmpstr(lb, ==, "drover: spaced");
    g_assert_cmpstr(lc, ==, "drover: unknown error");
}

static void test_ref_and_objects(void)
{
    g_autoptr(JsonObject) obj = parse(
        "{\"a\": {\"id\": \"1\", \"name\": \"x\"}, \"b\": {\"id\": \"2\"}, "
        "\"c\": null, \"list\": [{\"n\": 1}, 2, {\"n\": 3}]}");
    g_autoptr(GPtrArray) items = cli_objects(obj, "list");
    g_autoptr(GPtrArray) none = cli_objects(obj, "missing");

    g_assert_cmpstr(cli_ref_name(obj, "a"), ==, "x");
    g_assert_cmpstr(cli_ref_name(obj, "b"), ==, "2");
    g_assert_null(cli_ref_name(obj, "c"));
    g_assert_null(cli_ref_name(NULL, "a"));
    g_assert_cmpuint(items->len, ==, 2);
    g_assert_cmpuint(none->len, ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cli/output/table-alignment", test_table_alignment);
    g_test_add_func("/cli/output/table-utf8", test_table_utf8_and_trailing);
    g_test_add_func("/cli/output/table-empty", test_table_empty);
    g_test_add_func("/cli/output/kv", test_kv);
    g_test_add_func("/cli/output/bytes", test_bytes);
    g_test_add_func("/cli/output/duration", test_duration);
    g_test_add_func("/cli/output/throughput-percent", test_throughput_percent);
    g_test_add_func("/cli/output/progress-plain", test_progress_plain);
    g_test_add_func("/cli/output/progress-bar", test_progress_bar);
    g_test_add_func("/cli/output/progress-view-tty", test_progress_view_tty);
    g_test_add_func("/cli/output/progress-view-narrow",
                    test_progress_view_narrow);
    g_test_add_func("/cli/output/progress-view-plain",
                    test_progress_view_plain);
    g_test_add_func("/cli/output/result-line", test_result_line);
    g_test_add_func("/cli/output/result-line-policy", test_result_line_policy);
    g_test_add_func("/cli/output/estimate", test_estimate_text);
    g_test_add_func("/cli/output/failure-line", test_failure_line);
    g_test_add_func("/cli/output/event-line", test_event_line);
    g_test_add_func("/cli/output/error-line", test_error_line);
    g_test_add_func("/cli/output/ref-objects", test_ref_and_objects);
    return g_test_run();
}
