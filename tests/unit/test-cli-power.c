/*
 * The CLI's power options: "host add" and "host set" --power-on/off/status
 * and --no-power as the "power_management" of a request body, and the
 * usage errors of "host set" and "host power" that come before any call
 * to droverd (the client points at a port nothing listens on).
 */
#include "cli/args.h"
#include "cli/cli.h"
#include "common/json.h"

static char *power_body(const char *on, const char *off, const char *status,
                        gboolean none, GError **error)
{
    g_autoptr(JsonObject) body = json_object_new();

    if (!cli_host_power_options(body, on, off, status, none, error)) {
        return NULL;
    }
    return drv_json_object_to_string(body, FALSE);
}

static void test_power_options(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *all =
        power_body("on {name}", "off {name}", "status {name}", FALSE, &error);
    g_autofree char *some = power_body(NULL, NULL, "st", FALSE, &error);
    g_autofree char *clear = power_body("", NULL, NULL, FALSE, &error);
    g_autofree char *none = power_body(NULL, NULL, NULL, TRUE, &error);
    g_autofree char *nothing = power_body(NULL, NULL, NULL, FALSE, &error);

    g_assert_no_error(error);
    g_assert_cmpstr(all, ==,
                    "{\"power_management\":{\"on\":\"on {name}\","
                    "\"off\":\"off {name}\",\"status\":\"status {name}\"}}");
    g_assert_cmpstr(some, ==, "{\"power_management\":{\"status\":\"st\"}}");
    g_assert_cmpstr(clear, ==, "{\"power_management\":{\"on\":\"\"}}");
    g_assert_cmpstr(none, ==, "{\"power_management\":null}");
    g_assert_cmpstr(nothing, ==, "{}");
}

static void test_no_power_alone(void)
{
    g_autoptr(GError) error = NULL;

    g_assert_null(power_body("on", NULL, NULL, TRUE, &error));
    g_assert_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED);
    g_assert_nonnull(strstr(error->message, "--no-power"));
}

/* Run "drover host ARGS..." against nothing; its error. */
static GError *host_command(const char *const *args)
{
    g_autoptr(CliClient) client =
        cli_client_new("http://127.0.0.1:1", "tester", NULL);
    CliContext ctx = {.client = client};
    g_auto(GStrv) argv = g_strdupv((GStrv)args);
    GError *error = NULL;

    g_assert_false(cli_dispatch(&ctx, "host", cli_host_commands, argv, &error));
    g_assert_nonnull(error);
    return error;
}

static void test_usage_errors(void)
{
    const struct {
        const char *args[8];
        const char *message;
    } cases[] = {
        {{"power", "host1", "reboot", NULL}, "on, off or status"},
        {{"power", "host1", NULL}, "HOST on|off|status"},
        {{"set", "host1", NULL}, "nothing to set"},
        {{"set", "host1", "--no-power", "--power-off", "x", NULL},
         "--no-power"},
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = host_command(cases[i].args);

        g_assert_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED);
        if (strstr(error->message, cases[i].message) == NULL) {
            g_error("'%s': '%s' does not say '%s'", cases[i].args[0],
                    error->message, cases[i].message);
        }
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cli/power/options", test_power_options);
    g_test_add_func("/cli/power/no-power-alone", test_no_power_alone);
    g_test_add_func("/cli/power/usage-errors", test_usage_errors);
    return g_test_run();
}
