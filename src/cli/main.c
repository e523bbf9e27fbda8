/*
 * drover: the command-line client of droverd's REST API (DESIGN.md §4).
 *
 *   drover [--url URL] [--json] [--user NAME] COMMAND ...
 *
 * Every failure is one line "drover: <reason>" on stderr; the exit status
 * is 2 for usage errors and 1 for anything the server refused or failed.
 */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/events.h"
#include "cli/migrate.h"
#include "cli/output.h"
#include "drover-config.h"

static char *cli_main_help(void)
{
    g_autofree char *host = cli_commands_help("host", cli_host_commands);
    g_autofree char *vm = cli_commands_help("vm", cli_vm_commands);
    g_autofree char *cluster =
        cli_commands_help("cluster", cli_cluster_commands);

    return g_strdup_printf(
        "Commands:\n%s%s%s"
        "  migrations [--all]\n"
        "      Queued and running migrations (--all: finished ones too)\n"
        "  events [--follow] [--from N] [--max N]\n"
        "      The audit log\n"
        "\n"
        "HOST, VM and CLUSTER are names or ids.  Each command has --help.\n"
        "The manager's URL: --url, else $DROVER_URL, else " CLI_DEFAULT_URL
        ".\n"
        "The user (X-Drover-User): --user, else $USER.\n"
        "Exit status: 0 done, 1 refused or failed, 2 usage error.",
        host, vm, cluster);
}

static gboolean cli_main_run(int argc, char **argv, GError **error)
{
    g_autofree char *url = NULL;
    g_autofree char *user = NULL;
    g_autofree char *help = cli_main_help();
    gboolean json = FALSE;
    gboolean version = FALSE;
    const GOptionEntry entries[] = {
        {"url", 0, 0, G_OPTION_ARG_STRING, &url, "The manager's URL", "URL"},
        {"json", 0, 0, G_OPTION_ARG_NONE, &json,
         "Print the server's JSON, for scripts", NULL},
        {"user", 0, 0, G_OPTION_ARG_STRING, &user,
         "Who is asking (default: $USER)", "NAME"},
        {"version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version",
         NULL},
        {NULL},
    };
    g_autoptr(GOptionContext) context = g_option_context_new("COMMAND ...");
    g_auto(GStrv) args = g_strdupv(argv);
    g_autoptr(CliClient) client = NULL;
    CliContext ctx = {0};
    const char *group;

    g_option_context_add_main_entries(context, entries, NULL);
    g_option_context_set_description(context, help);
    /* global options come before the command; the rest is the command's */
    g_option_context_set_strict_posix(context, TRUE);
    if (!g_option_context_parse_strv(context, &args, error)) {
        return FALSE;
    }
    if (version) {
        printf("drover %s\n", DROVER_VERSION);
        return TRUE;
    }
    group = args[1];
    if (group == NULL) {
        cli_usage_error(error, "a command is needed: host, vm, cluster, "
                               "migrations or events (see drover --help)");
        return FALSE;
    }
    if (url == NULL) {
        url = g_strdup(g_getenv("DROVER_URL"));
    }
    if (url == NULL || *url == '\0') {
        g_free(url);
        url = g_strdup(CLI_DEFAULT_URL);
    }
    if (user == NULL) {
        user = g_strdup(g_getenv("USER"));
    }
    client = cli_client_new(url, user, error);
    if (client == NULL) {
        return FALSE;
    }
    ctx.client = client;
    ctx.json = json;
    /* bars redrawn in place need a terminal that moves its cursor */
    ctx.tty = isatty(STDOUT_FILENO) && g_strcmp0(g_getenv("TERM"), "dumb") != 0;
    if (g_str_equal(group, "host")) {
        return cli_dispatch(&ctx, "host", cli_host_commands, args + 2, error);
    }
    if (g_str_equal(group, "vm")) {
        return cli_dispatch(&ctx, "vm", cli_vm_commands, args + 2, error);
    }
    if (g_str_equal(group, "cluster")) {
        return cli_dispatch(&ctx, "cluster", cli_cluster_commands, args + 2,
                            error);
    }
    if (g_str_equal(group, "migrations")) {
        return cli_migrations_command(&ctx, args + 1, error);
    }
    if (g_str_equal(group, "events")) {
        return cli_events_command(&ctx, args + 1, error);
    }
    cli_usage_error(error,
                    "unknown command '%s': host, vm, cluster, migrations or "
                    "events (see drover --help)",
                    group);
    return FALSE;
}

int main(int argc, char **argv)
{
    g_autoptr(GError) error = NULL;

    setlocale(LC_ALL, "");
    g_set_prgname("drover");
    if (!cli_main_run(argc, argv, &error)) {
        g_autofree char *line = cli_error_line(error);

        fflush(stdout);
        fprintf(stderr, "%s\n", line);
        return error->domain == G_OPTION_ERROR ? 2 : 1;
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "drover: cannot write the output\n");
        return 1;
    }
    return 0;
}
