#include "cli/sse.h"

#include <string.h>

#include "common/error.h"

struct _CliSseParser {
    gsize max_event;
    GString *line; /* the unfinished line */
    GString *data; /* data lines of the event being read */
    gboolean has_data;
    char *event;
    char *id;
    GQueue ready; /* CliSseEvent */
    guint comments;
    gboolean failed;
};

void cli_sse_event_free(CliSseEvent *event)
{
    if (event == NULL) {
        return;
    }
    g_free(event->event);
    g_free(event->id);
    g_free(event->data);
    g_free(event);
}

CliSseParser *cli_sse_parser_new(gsize max_event)
{
    CliSseParser *parser = g_new0(CliSseParser, 1);

    parser->max_event = max_event ? max_event : CLI_SSE_MAX_EVENT;
    parser->line = g_string_new(NULL);
    parser->data = g_string_new(NULL);
    g_queue_init(&parser->ready);
    return parser;
}

void cli_sse_parser_free(CliSseParser *parser)
{
    if (parser == NULL) {
        return;
    }
    g_string_free(parser->line, TRUE);
    g_string_free(parser->data, TRUE);
    g_free(parser->event);
    g_free(parser->id);
    g_queue_clear_full(&parser->ready, (GDestroyNotify)cli_sse_event_free);
    g_free(parser);
}

static void cli_sse_dispatch(CliSseParser *parser)
{
    CliSseEvent *event;

    if (!parser->has_data) {
        /* the format drops an event without data, fields and all */
        g_clear_pointer(&parser->event, g_free);
        return;
    }
    event = g_new0(CliSseEvent, 1);
    event->event = g_steal_pointer(&parser->event);
    event->id = g_strdup(parser->id);
    event->data = g_strdup(parser->data->str);
    g_queue_push_tail(&parser->ready, event);
    g_string_truncate(parser->data, 0);
    parser->has_data = FALSE;
}

static void cli_sse_line(CliSseParser *parser, const char *line, gsize len)
{
    const char *colon;
    g_autofree char *field = NULL;
    const char *value;

    if (len == 0) {
        cli_sse_dispatch(parser);
        return;
    }
    if (line[0] == ':') {
        parser->comments++;
        return;
    }
    colon = memchr(line, ':', len);
    if (colon == NULL) {
        field = g_strndup(line, len);
        value = "";
    } else {
        field = g_strndup(line, (gsize)(colon - line));
        value = colon + 1;
        if (*value == ' ') {
            value++;
        }
    }
    if (g_str_equal(field, "data")) {
        if (parser->has_data) {
            g_string_append_c(parser->data, '\n');
        }
        g_string_append(parser->data, value);
        parser->has_data = TRUE;
    } else if (g_str_equal(field, "event")) {
        g_free(parser->event);
        parser->event = g_strdup(value);
    } else if (g_str_equal(field, "id")) {
        /* the id persists until the next one, as the format says */
        g_free(parser->id);
        parser->id = g_strdup(value);
    }
    /* "retry" and unknown fields are ignored */
}

gboolean cli_sse_parser_feed(CliSseParser *parser, const char *data, gsize len,
                             GError **error)
{
    if (parser->failed) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_TOO_LARGE,
                    "event stream: an event exceeds %" G_GSIZE_FORMAT " bytes",
                    parser->max_event);
        return FALSE;
    }
    for (gsize i = 0; i < len; i++) {
        char c = data[i];

        if (c != '\n') {
            g_string_append_c(parser->line, c);
            if (parser->line->len + parser->data->len > parser->max_event) {
                parser->failed = TRUE;
                g_set_error(error, DRV_ERROR, DRV_ERROR_TOO_LARGE,
                            "event stream: an event exceeds %" G_GSIZE_FORMAT
                            " bytes",
                            parser->max_event);
                return FALSE;
            }
            continue;
        }
        if (parser->line->len > 0 &&
            parser->line->str[parser->line->len - 1] == '\r') {
            g_string_truncate(parser->line, parser->line->len - 1);
        }
        cli_sse_line(parser, parser->line->str, parser->line->len);
        g_string_truncate(parser->line, 0);
    }
    return TRUE;
}

CliSseEvent *cli_sse_parser_pop(CliSseParser *parser)
{
    return g_queue_pop_head(&parser->ready);
}

guint cli_sse_parser_comments(CliSseParser *parser)
{
    return parser->comments;
}
