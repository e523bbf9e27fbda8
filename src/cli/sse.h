/*
 * A Server-Sent Events parser (the WHATWG event-stream format) for the
 * manager's event stream: bytes in, as they arrive in any split; complete
 * events out.  Lines starting with ':' are comments (the server's
 * keep-alives); several "data:" lines make one data joined by '\n'; an
 * event is dispatched at a blank line, and only if it had data.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define CLI_SSE_MAX_EVENT (1024 * 1024)

typedef struct {
    char *event; /* the "event:" field, or NULL */
    char *id;    /* the "id:" field, or NULL */
    char *data;  /* the "data:" lines joined by '\n' */
} CliSseEvent;

void cli_sse_event_free(CliSseEvent *event);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CliSseEvent, cli_sse_event_free)

typedef struct _CliSseParser CliSseParser;

/* @max_event: bytes an unfinished line or event may hold (0: default). */
CliSseParser *cli_sse_parser_new(gsize max_event);
void cli_sse_parser_free(CliSseParser *parser);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CliSseParser, cli_sse_parser_free)

/*
 * Take the next @len bytes of the stream.  Fails (DRV_ERROR_TOO_LARGE)
 * once a line or an event outgrows the bound; the parser is then spent.
 */
gboolean cli_sse_parser_feed(CliSseParser *parser, const char *data, gsize len,
                             GError **error);
/* The next complete event, or NULL. */
CliSseEvent *cli_sse_parser_pop(CliSseParser *parser);
/* Comment lines seen so far (keep-alives). */
guint cli_sse_parser_comments(CliSseParser *parser);

G_END_DECLS
