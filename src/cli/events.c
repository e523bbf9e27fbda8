#include "cli/events.h"

#include <stdio.h>

#include "cli/output.h"
#include "common/error.h"
#include "common/json.h"

/* stream ends in a row, without an event between, before giving up */
#define CLI_EVENTS_MAX_RECONNECTS 3

char *cli_events_format(const char *data, gboolean json)
{
    g_autoptr(JsonObject) event = drv_json_parse_object(data, -1, NULL);

    if (event == NULL) {
        return NULL;
    }
    if (json) {
        return drv_json_object_to_string(event, FALSE);
    }
    return cli_event_line(event);
}

static gboolean events_parse_number(const char *option, const char *text,
                                    guint64 min, gint64 *out, GError **error)
{
    guint64 value;

    if (text == NULL) {
        return TRUE;
    }
    if (!g_ascii_string_to_unsigned(text, 10, min, G_MAXINT64, &value, NULL)) {
        cli_usage_error(error,
                        "%s must be a whole number, at least %" G_GUINT64_FORMAT
                        ", not '%s'",
                        option, min, text);
        return FALSE;
    }
    *out = (gint64)value;
    return TRUE;
}

/* One page from @from: its events added to @into; *@next the next index. */
static gboolean events_page(CliContext *ctx, gint64 from, gint64 max,
                            GQueue *into, gint64 *next, guint *got,
                            GError **error)
{
    g_autoptr(JsonObject) page = cli_client_getf(
        ctx->client, error,
        "/api/events?from=%" G_GINT64_FORMAT "&max=%" G_GINT64_FORMAT, from,
        max);
    g_autoptr(GPtrArray) events = NULL;
    gint64 last = from - 1;

    if (page == NULL) {
        return FALSE;
    }
    events = cli_objects(page, "events");
    for (guint i = 0; i < events->len; i++) {
        JsonObject *event = g_ptr_array_index(events, i);

        last = MAX(last, drv_json_int_or(event, "index", last));
        g_queue_push_tail(into, json_object_ref(event));
    }
    *got = events->len;
    *next = MAX(drv_json_int_or(page, "next", last + 1), last + 1);
    return TRUE;
}

/*
 * The events to list: @max from @from on, or without @from the last @max
 * (paging through the log when the server does not say where it ends).
 */
static gboolean events_list(CliContext *ctx, gint64 from, gint64 max,
                            GError **error)
{
    GQueue events = G_QUEUE_INIT;
    gint64 next = from >= 0 ? from : 0;
    gboolean tail = from < 0;
    gboolean ok = TRUE;

    if (tail) {
        g_autoptr(JsonObject) probe =
            cli_client_get(ctx->client, "/api/events?from=0&max=1", error);
        gint64 last;

        if (probe == NULL) {
            return FALSE;
        }
        last = drv_json_int_or(probe, "last", -1);
        if (last >= 0) {
            next = MAX(last - max + 1, 0);
            tail = FALSE;
        }
    }
    for (;;) {
        gint64 ask = tail ? CLI_EVENTS_PAGE
                          : MIN(CLI_EVENTS_PAGE, max - (gint64)events.length);
        gint64 after = next;
        guint got = 0;

        if (ask <= 0) {
            break;
        }
        if (!events_page(ctx, next, ask, &events, &after, &got, error)) {
            ok = FALSE;
            break;
        }
        while (tail && events.length > (guint)max) {
            json_object_unref(g_queue_pop_head(&events));
        }
        if (got < ask || after <= next) {
            break;
        }
        next = after;
    }
    if (ok && ctx->json) {
        g_autoptr(JsonObject) out = json_object_new();
        JsonArray *array = json_array_new();

        for (GList *l = events.head; l; l = l->next) {
            json_array_add_object_element(array, json_object_ref(l->data));
        }
        json_object_set_array_member(out, "events", array);
        cli_print_object(out);
    } else if (ok) {
        for (GList *l = events.head; l; l = l->next) {
            g_autofree char *line = cli_event_line(l->data);

            printf("%s\n", line);
        }
    }
    g_queue_clear_full(&events, (GDestroyNotify)json_object_unref);
    return ok;
}

/*
 * Follow the stream; when the server ends it (a restart, or this client
 * fell behind), go on from the event after the last one seen.
 */
static gboolean events_follow(CliContext *ctx, gint64 from, gint64 max,
                              GError **error)
{
    gint64 shown = 0;
    guint empty_ends = 0;

    for (;;) {
        g_autofree char *path =
            from >= 0 ? g_strdup_printf(
                            "/api/events/stream?from=%" G_GINT64_FORMAT, from)
                      : g_strdup("/api/events/stream");
        g_autoptr(CliStream) stream =
            cli_client_stream_open(ctx->client, path, error);
        gboolean any = FALSE;

        if (stream == NULL) {
            return FALSE;
        }
        for (;;) {
            GError *local = NULL;
            g_autoptr(CliSseEvent) event = cli_stream_next(stream, &local);
            g_autofree char *line = NULL;
            gint64 index;

            if (local != NULL) {
                g_propagate_error(error, local);
                return FALSE;
            }
            if (event == NULL) {
                break;
            }
            any = TRUE;
            line = cli_events_format(event->data, ctx->json);
            printf("%s\n", line ? line : event->data);
            fflush(stdout);
            if (event->id != NULL &&
                g_ascii_string_to_signed(event->id, 10, 0, G_MAXINT64, &index,
                                         NULL)) {
                from = index + 1;
            }
            if (max > 0 && ++shown >= max) {
                return TRUE;
            }
        }
        empty_ends = any ? 0 : empty_ends + 1;
        if (empty_ends >= CLI_EVENTS_MAX_RECONNECTS) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_UNREACHABLE,
                        "the event stream at %s%s keeps ending",
                        cli_client_url(ctx->client), path);
            return FALSE;
        }
        g_usleep(G_USEC_PER_SEC);
    }
}

gboolean cli_events_command(CliContext *ctx, char **argv, GError **error)
{
    gboolean follow = FALSE;
    g_autofree char *from_text = NULL;
    g_autofree char *max_text = NULL;
    const GOptionEntry entries[] = {
        {"follow", 'f', 0, G_OPTION_ARG_NONE, &follow,
         "Print events as they happen", NULL},
        {"from", 0, 0, G_OPTION_ARG_STRING, &from_text,
         "Start at event index N", "N"},
        {"max", 0, 0, G_OPTION_ARG_STRING, &max_text,
         "At most N events (default 50 without --follow)", "N"},
        {NULL},
    };
    g_auto(GStrv) rest = cli_parse("events", "[--follow] [--from N] [--max N]",
                                   entries, &ctx->json, argv, 0, 0, error);
    gint64 from = -1;
    gint64 max = follow ? 0 : CLI_EVENTS_DEFAULT_MAX;

    if (rest == NULL ||
        !events_parse_number("--from", from_text, 0, &from, error) ||
        !events_parse_number("--max", max_text, 1, &max, error)) {
        return FALSE;
    }
    if (follow) {
        return events_follow(ctx, from, max, error);
    }
    return events_list(ctx, from, max, error);
}
