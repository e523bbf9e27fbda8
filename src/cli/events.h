/* drover events [--follow] [--from N] [--max N]: the manager's audit log. */
#pragma once

#include "cli/cli.h"

G_BEGIN_DECLS

#define CLI_EVENTS_DEFAULT_MAX 50
#define CLI_EVENTS_PAGE 1000

gboolean cli_events_command(CliContext *ctx, char **argv, GError **error);

/*
 * The line --follow prints for one stream event: with @json the event's
 * JSON on one line, else cli_event_line(); NULL for data that is not a
 * JSON object (then the raw data is shown by the caller).
 */
char *cli_events_format(const char *data, gboolean json);

G_END_DECLS
