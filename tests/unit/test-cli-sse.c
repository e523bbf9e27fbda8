/*
 * The CLI's Server-Sent Events parser: events split anywhere across reads,
 * keep-alive comments, multi-line data, CRLF, ids that persist, events
 * without data, and the size bound.
 */
#include <string.h>

#include "cli/sse.h"
#include "common/error.h"

static void feed(CliSseParser *parser, const char *text)
{
    g_autoptr(GError) error = NULL;

    g_assert_true(cli_sse_parser_feed(parser, text, strlen(text), &error));
    g_assert_no_error(error);
}

static void test_one_event(void)
{
    g_autoptr(CliSseParser) parser = cli_sse_parser_new(0);
    g_autoptr(CliSseEvent) event = NULL;

    feed(parser, "event: vm_migration_done\nid: 42\ndata: {\"index\": 42}\n");
    /* not complete before the blank line */
    g_assert_null(cli_sse_parser_pop(parser));
    feed(parser, "\n");
    event = cli_sse_parser_pop(parser);
    g_assert_nonnull(event);
    g_assert_cmpstr(event->event, ==, "vm_migration_done");
    g_assert_cmpstr(event->id, ==, "42");
    g_assert_cmpstr(event->data, ==, "{\"index\": 42}");
    g_assert_null(cli_sse_parser_pop(parser));
}

static void test_split_anywhere(void)
{
    const char *stream = ": keepalive\n\nevent: a\nid: 1\ndata: one\n\n"
                         "event: b\nid: 2\ndata: two\n\n";
    gsize len = strlen(stream);

    /* every way of cutting the stream in two gives the same events */
    for (gsize cut = 0; cut <= len; cut++) {
        g_autoptr(CliSseParser) parser = cli_sse_parser_new(0);
        g_autoptr(CliSseEvent) a = NULL;
        g_autoptr(CliSseEvent) b = NULL;

        g_assert_true(cli_sse_parser_feed(parser, stream, cut, NULL));
        g_assert_true(
            cli_sse_parser_feed(parser, stream + cut, len - cut, NULL));
        a = cli_sse_parser_pop(parser);
        b = cli_sse_parser_pop(parser);
        g_assert_nonnull(a);
        g_assert_nonnull(b);
        g_assert_cmpstr(a->event, ==, "a");
        g_assert_cmpstr(a->data, ==, "one");
        g_assert_cmpstr(b->id, ==, "2");
        g_assert_cmpstr(b->data, ==, "two");
        g_assert_null(cli_sse_parser_pop(parser));
        g_assert_cmpuint(cli_sse_parser_comments(parser), ==, 1);
    }
    /* and byte by byte */
    {
        g_autoptr(CliSseParser) parser = cli_sse_parser_new(0);
        guint n = 0;

        for (gsize i = 0; i < len; i++) {
            g_assert_true(cli_sse_parser_feed(parser, stream + i, 1, NULL));
        }
        for (CliSseEvent *e; (e = cli_sse_parser_pop(parser)) != NULL;) {
            cli_sse_event_free(e);
            n++;
        }
        g_assert_cmpuint(n, ==, 2);
    }
}

static void test_keepalives_only(void)
{
    g_autoptr(CliSseParser) parser = cli_sse_parser_new(0);

    feed(parser, ": keepalive\n\n: keepalive\n\n:\n\n");
    g_assert_null(cli_sse_parser_pop(parser));
    g_assert_cmpuint(cli_sse_parser_comments(parser), ==, 3);
}

static void test_multiline_data(void)
{
    g_autoptr(CliSseParser) parser = cli_sse_parser_new(0);
    g_autoptr(CliSseEvent) event = NULL;

    feed(parser, "data: {\ndata:  \"a\": 1\ndata:}\ndata\n\n");
    event = cli_sse_parser_pop(parser);
    g_assert_nonnull(event);
    /* one space after the colon goes, the rest stays; "data" alone is "" */
    g_assert_cmpstr(event->data, ==, "{\n \"a\": 1\n}\n");
    g_assert_null(event->event);
    g_assert_null(event->id);
}

static void test_crlf_and_unknown_fields(void)
{
    g_autoptr(CliSseParser) parser = cli_sse_parser_new(0);
    g_autoptr(CliSseEvent) event = NULL;

    feed(parser, "retry: 100\r\nfoo: bar\r\nevent: x\r\ndata: y\r\n\r\n");
    event = cli_sse_parser_pop(parser);
    g_assert_nonnull(event);
    g_assert_cmpstr(event->event, ==, "x");
    g_assert_cmpstr(event->data, ==, "y");
}

static void test_id_persists_and_dataless(void)
{
    g_autoptr(CliSseParser) parser = cli_sse_parser_new(0);
    g_autoptr(CliSseEvent) first = NULL;
    g_autoptr(CliSseEvent) second = NULL;

    /* an event without data is not dispatched, its type forgotten */
    feed(parser, "event: lonely\nid: 7\n\n");
    g_assert_null(cli_sse_parser_pop(parser));
    feed(parser, "data: a\n\n");
    first = cli_sse_parser_pop(parser);
    g_assert_nonnull(first);
    g_assert_null(first->event);
    g_assert_cmpstr(first->id, ==, "7");
    feed(parser, "id: 8\ndata: b\n\n");
    second = cli_sse_parser_pop(parser);
    g_assert_cmpstr(second->id, ==, "8");
}

static void test_bound(void)
{
    g_autoptr(CliSseParser) parser = cli_sse_parser_new(64);
    g_autoptr(GError) error = NULL;
    g_autoptr(GError) again = NULL;
    g_autofree char *big = g_strnfill(100, 'x');

    feed(parser, "data: ");
    g_assert_false(cli_sse_parser_feed(parser, big, strlen(big), &error));
    g_assert_error(error, DRV_ERROR, DRV_ERROR_TOO_LARGE);
    /* spent */
    g_assert_false(cli_sse_parser_feed(parser, "\n\n", 2, &again));
    g_assert_error(again, DRV_ERROR, DRV_ERROR_TOO_LARGE);
    g_assert_null(cli_sse_parser_pop(parser));
}

static void test_bound_across_lines(void)
{
    g_autoptr(CliSseParser) parser = cli_sse_parser_new(64);
    g_autoptr(GError) error = NULL;
    gboolean ok = TRUE;

    /* many short data lines of one event count together */
    for (guint i = 0; i < 20 && ok; i++) {
        ok = cli_sse_parser_feed(parser, "data: 0123456789\n", 17, &error);
    }
    g_assert_false(ok);
    g_assert_error(error, DRV_ERROR, DRV_ERROR_TOO_LARGE);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cli/sse/one-event", test_one_event);
    g_test_add_func("/cli/sse/split-anywhere", test_split_anywhere);
    g_test_add_func("/cli/sse/keepalives", test_keepalives_only);
    g_test_add_func("/cli/sse/multiline-data", test_multiline_data);
    g_test_add_func("/cli/sse/crlf-unknown-fields",
                    test_crlf_and_unknown_fields);
    g_test_add_func("/cli/sse/id-persists", test_id_persists_and_dataless);
    g_test_add_func("/cli/sse/bound", test_bound);
    g_test_add_func("/cli/sse/bound-across-lines", test_bound_across_lines);
    return g_test_run();
}
