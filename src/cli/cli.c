#include "cli/cli.h"

#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/json.h"

void cli_usage_error(GError **error, const char *format, ...)
{
    g_autofree char *message = NULL;
    va_list args;

    va_start(args, format);
    message = g_strdup_vprintf(format, args);
    va_end(args);
    g_set_error_literal(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, message);
}

char *cli_commands_help(const char *group, const CliCommand *commands)
{
    GString *out = g_string_new(NULL);

    for (guint i = 0; commands[i].name != NULL; i++) {
        g_autofree char *usage =
            g_strdup_printf("%s %s %s", group, commands[i].name,
                            commands[i].params ? commands[i].params : "");

        g_strchomp(usage);
        g_string_append_printf(out, "  %s\n      %s\n", usage,
                               commands[i].summary);
    }
    return g_string_free(out, FALSE);
}

gboolean cli_dispatch(CliContext *ctx, const char *group,
                      const CliCommand *commands, char **argv, GError **error)
{
    GString *names = g_string_new(NULL);
    g_autofree char *list = NULL;

    if (argv[0] != NULL) {
        for (guint i = 0; commands[i].name != NULL; i++) {
            if (g_str_equal(argv[0], commands[i].name)) {
                g_string_free(names, TRUE);
                return commands[i].func(ctx, argv, error);
            }
        }
    }
    for (guint i = 0; commands[i].name != NULL; i++) {
        g_string_append_printf(names, "%s%s", i ? ", " : "", commands[i].name);
    }
    list = g_string_free(names, FALSE);
    if (argv[0] == NULL) {
        cli_usage_error(error, "'drover %s' needs a command: %s", group, list);
    } else {
        cli_usage_error(error, "unknown command 'drover %s %s' (commands: %s)",
                        group, argv[0], list);
    }
    return FALSE;
}

GStrv cli_parse(const char *name, const char *params,
                const GOptionEntry *entries, gboolean *json, char **argv,
                int min, int max, GError **error)
{
    const GOptionEntry json_entries[] = {
        {"json", 0, 0, G_OPTION_ARG_NONE, json,
         "Print the server's JSON, for scripts", NULL},
        {NULL},
    };
    g_autoptr(GOptionContext) context = g_option_context_new(params);
    g_autofree char *prgname = g_strdup_printf("drover %s", name);
    g_auto(GStrv) args = g_strdupv(argv);
    GStrvBuilder *positional = g_strv_builder_new();
    GStrv out;
    int n;

    if (entries != NULL) {
        g_option_context_add_main_entries(context, entries, NULL);
    }
    if (json != NULL) {
        g_option_context_add_main_entries(context, json_entries, NULL);
    }
    /*
     * The "Usage:" line of --help names the program by its prgname.  A
     * process parses one command only, so this is its last name.
     */
    g_set_prgname(prgname);
    if (!g_option_context_parse_strv(context, &args, error)) {
        g_strv_builder_unref(positional);
        g_prefix_error(error, "%s: ", prgname);
        return NULL;
    }
    /* args[0] is the command itself */
    for (guint i = 1; args[i] != NULL; i++) {
        g_strv_builder_add(positional, args[i]);
    }
    out = g_strv_builder_end(positional);
    g_strv_builder_unref(positional);
    n = (int)g_strv_length(out);
    if (n < min || (max >= 0 && n > max)) {
        g_autofree char *usage =
            g_strdup_printf("usage: %s %s", prgname, params ? params : "");

        cli_usage_error(error, "%s", g_strchomp(usage));
        g_strfreev(out);
        return NULL;
    }
    return out;
}

void cli_print_json(JsonNode *node)
{
    g_autofree char *text = NULL;

    if (node == NULL) {
        fputs("null\n", stdout);
        return;
    }
    text = drv_json_to_string(node, TRUE);
    fputs(text, stdout);
    fputc('\n', stdout);
}

void cli_print_object(JsonObject *object)
{
    g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), object);

    cli_print_json(node);
}

guint cli_terminal_width(void)
{
    struct winsize ws;

    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
        return ws.ws_col;
    }
    return 80;
}
