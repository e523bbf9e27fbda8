/*
 * What every command shares: the context (client, --json, terminal or
 * not), the command tables and their dispatch, option parsing with GLib's
 * GOptionContext, and printing JSON.
 *
 * Errors: a command returns FALSE with a GError and prints nothing about
 * it; main prints the one "drover: ..." line.  Usage errors are in the
 * G_OPTION_ERROR domain (exit status 2), everything else exits with 1.
 */
#pragma once

#include <json-glib/json-glib.h>

#include "cli/client.h"

G_BEGIN_DECLS

typedef struct {
    CliClient *client;
    gboolean json; /* print the server's JSON */
    gboolean tty;  /* stdout is a terminal: progress bars redrawn in place */
} CliContext;

/* @argv: NULL-terminated, argv[0] the command's own name. */
typedef gboolean (*CliCommandFunc)(CliContext *ctx, char **argv,
                                   GError **error);

typedef struct {
    const char *name;
    CliCommandFunc func;
    const char *params;  /* "VM [--to HOST] [--wait]" */
    const char *summary; /* one line */
} CliCommand;

/* The command tables, NULL-name terminated. */
extern const CliCommand cli_host_commands[];
extern const CliCommand cli_vm_commands[];
extern const CliCommand cli_cluster_commands[];

/*
 * Run @argv[0] of @commands (the commands of @group, "vm"), with
 * argv[0] the command and the rest its arguments.
 */
gboolean cli_dispatch(CliContext *ctx, const char *group,
                      const CliCommand *commands, char **argv, GError **error);
/* "  list     list hosts\n  show ..." for help texts. */
char *cli_commands_help(const char *group, const CliCommand *commands);

/*
 * Parse the options of command @name ("vm migrate") in @argv (argv[0] the
 * command) against @entries (may be NULL), plus --json which sets *@json
 * (may be NULL: no --json here).  Returns the positional arguments, between
 * @min and @max of them (max -1: no limit), else a usage error quoting
 * @params.
 */
GStrv cli_parse(const char *name, const char *params,
                const GOptionEntry *entries, gboolean *json, char **argv,
                int min, int max, GError **error);

/* A usage error (exit status 2). */
void cli_usage_error(GError **error, const char *format, ...)
    G_GNUC_PRINTF(2, 3);

/* Pretty JSON on stdout, for --json. */
void cli_print_json(JsonNode *node);
void cli_print_object(JsonObject *object);

/* The terminal's width in columns, 80 when unknown. */
guint cli_terminal_width(void);

G_END_DECLS
