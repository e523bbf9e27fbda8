/*
 * Host power management without a manager (src/manager/power.h): command
 * templates (placeholders, quoting wherever they stand, refusals), the
 * fence-agent reading of exit codes, the power state of a host, and the
 * command runner (merged output kept bounded, a timeout that kills the
 * command's whole process group, a leftover process holding the pipe).
 */
#include <signal.h>
#include <unistd.h>

#include "common/error.h"
#include "manager/manager.h"
#include "manager/power.h"

static MgrHost *make_host(const char *name, const char *address)
{
    return mgr_host_new("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", name, address,
                        "cluster");
}

static void assert_argv(GStrv argv, const char *const *expected)
{
    g_assert_nonnull(argv);
    g_assert_cmpuint(g_strv_length(argv), ==, g_strv_length((GStrv)expected));
    for (guint i = 0; expected[i] != NULL; i++) {
        g_assert_cmpstr(argv[i], ==, expected[i]);
    }
}

static void test_expand(void)
{
    g_autoptr(MgrHost) host = make_host("host1", "http://127.0.1.1:7001");
    const struct {
        const char *template;
        const char *argv[10];
    } cases[] = {
        {"fence_ipmilan --ip={host} -n {name} -o on",
         {"fence_ipmilan", "--ip=127.0.1.1", "-n", "host1", "-o", "on"}},
        {"probe {address} {id}",
         {"probe", "http://127.0.1.1:7001",
          "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"}},
        /* inside quotes the value joins the quoted word */
        {"echo 'dir/{name}/x' \"dir/{name}/y\"",
         {"echo", "dir/host1/x", "dir/host1/y"}},
        {"scripts/agent-power.sh on /srv/{name} /usr/bin/drover-agent",
         {"scripts/agent-power.sh", "on", "/srv/host1",
          "/usr/bin/drover-agent"}},
        /* escaped braces and braces that name nothing stay braces */
        {"echo {{name}} {} { x } a{b c}d",
         {"echo", "{name}", "{}", "{", "x", "}", "a{b", "c}d"}},
        {"awk '{print $1, NR}'", {"awk", "{print $1, NR}"}},
        /* a backslash-escaped quote does not open a quote */
        {"echo \\'{name} \"a\\\"{name}\"", {"echo", "'host1", "a\"host1"}},
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = NULL;
        g_auto(GStrv) argv = mgr_power_expand(cases[i].template, host, &error);

        g_assert_no_error(error);
        assert_argv(argv, cases[i].argv);
        g_assert_true(mgr_power_template_check(cases[i].template, NULL));
    }
}

/* Whatever a value holds, it is the one word where it stands. */
static void test_expand_quotes_values(void)
{
    static const char *const evil = "a b'c\"d $(rm -rf /) `x` \\ ; {id}";
    g_autoptr(MgrHost) host = make_host(evil, "http://[::1]:7001");
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) bare = mgr_power_expand("cmd {name} {host}", host, &error);
    g_auto(GStrv) single = mgr_power_expand("cmd 'x{name}y'", host, &error);
    g_auto(GStrv) dbl = mgr_power_expand("cmd \"x{name}y\"", host, &error);
    g_autofree char *wrapped = g_strdup_printf("x%sy", evil);

    g_assert_no_error(error);
    assert_argv(bare, (const char *const[]){"cmd", evil, "::1", NULL});
    assert_argv(single, (const char *const[]){"cmd", wrapped, NULL});
    assert_argv(dbl, (const char *const[]){"cmd", wrapped, NULL});
}

static void test_template_refused(void)
{
    const struct {
        const char *template;
        const char *message;
    } cases[] = {
        {"", "empty"},
        {"   ", "not a command line"},
        {"fence -n {nmae}", "unknown placeholder {nmae}"},
        {"awk '{print}'", "unknown placeholder {print}"},
        {"echo 'unclosed {name}", "not a command line"},
        {"echo \"unclosed", "not a command line"},
    };
    g_autofree char *huge = g_strnfill(5000, 'x');
    g_autoptr(GError) error = NULL;

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) local = NULL;

        g_assert_false(mgr_power_template_check(cases[i].template, &local));
        g_assert_error(local, DRV_ERROR, DRV_ERROR_INVALID);
        if (strstr(local->message, cases[i].message) == NULL) {
            g_error("'%s': '%s' does not say '%s'", cases[i].template,
                    local->message, cases[i].message);
        }
    }
    g_assert_false(mgr_power_template_check(huge, &error));
    g_assert_error(error, DRV_ERROR, DRV_ERROR_INVALID);
}

static void test_state_from_result(void)
{
    MgrPowerResult result = {0};
    g_autofree char *exited = NULL;
    g_autofree char *killed = NULL;
    g_autofree char *quiet = NULL;

    result.exit_status = 0;
    g_assert_cmpstr(mgr_power_state_from_result(&result), ==, "on");
    g_assert_true(mgr_power_result_ok(&result));
    result.exit_status = 2;
    g_assert_cmpstr(mgr_power_state_from_result(&result), ==, "off");
    g_assert_false(mgr_power_result_ok(&result));
    result.exit_status = 1;
    g_assert_cmpstr(mgr_power_state_from_result(&result), ==, "unknown");
    result.output = (char *)"Connecting...\nFailed: Unable to obtain power "
                            "status\n\n";
    exited = mgr_power_result_describe(&result);
    g_assert_cmpstr(exited, ==,
                    "exited with status 1: Failed: Unable to obtain power "
                    "status");
    result.exit_status = 0;
    result.timed_out = TRUE;
    result.signaled = TRUE;
    result.timeout_s = 60;
    result.output = NULL;
    g_assert_cmpstr(mgr_power_state_from_result(&result), ==, "unknown");
    g_assert_false(mgr_power_result_ok(&result));
    killed = mgr_power_result_describe(&result);
    g_assert_cmpstr(killed, ==, "killed after 60 s");
    result.timed_out = FALSE;
    g_assert_false(mgr_power_result_ok(&result));
    quiet = mgr_power_result_describe(&result);
    g_assert_cmpstr(quiet, ==, "killed by a signal");
}

static void test_host_state(void)
{
    g_autoptr(MgrHost) host = make_host("host1", "http://127.0.1.1:7001");

    g_assert_false(mgr_host_can_power(host));
    host->power_on_cmd = g_strdup("on");
    g_assert_false(mgr_host_can_power(host));
    host->power_off_cmd = g_strdup("off");
    g_assert_true(mgr_host_can_power(host));

    host->status = MGR_HOST_UP;
    g_assert_cmpstr(mgr_host_power_state(host), ==, "on");
    g_assert_false(mgr_host_is_powered_off(host));
    g_assert_false(mgr_host_is_powering_on(host));
    host->status = MGR_HOST_NON_RESPONSIVE;
    g_assert_cmpstr(mgr_host_power_state(host), ==, "on");

    host->status = MGR_HOST_DOWN;
    host->power_action = g_strdup("off");
    g_assert_cmpstr(mgr_host_power_state(host), ==, "powering_off");
    g_assert_true(mgr_host_is_powered_off(host));
    g_assert_false(mgr_host_is_powering_on(host));

    g_clear_pointer(&host->power_action, g_free);
    g_assert_cmpstr(mgr_host_power_state(host), ==, "off");
    g_assert_true(mgr_host_is_powered_off(host));

    host->power_action = g_strdup("on");
    g_assert_cmpstr(mgr_host_power_state(host), ==, "powering_on");
    g_assert_false(mgr_host_is_powered_off(host));
    g_assert_true(mgr_host_is_powering_on(host));
}

/* ---- the runner ---- */

static void on_run(GObject *source, GAsyncResult *res, gpointer user_data)
{
    GAsyncResult **out = user_data;

    *out = g_object_ref(res);
}

/* Run @argv to its end on the main context; the error is the runner's. */
static MgrPowerResult *run(const char *const *argv, guint timeout_s,
                           gint64 *elapsed_ms, GError **error)
{
    GAsyncResult *res = NULL;
    gint64 start = g_get_monotonic_time();
    MgrPowerResult *result;

    mgr_power_run_async(argv, timeout_s, on_run, &res);
    while (res == NULL) {
        g_main_context_iteration(NULL, TRUE);
    }
    if (elapsed_ms != NULL) {
        *elapsed_ms = (g_get_monotonic_time() - start) / 1000;
    }
    result = mgr_power_run_finish(res, error);
    g_object_unref(res);
    return result;
}

static void test_run_exit_and_output(void)
{
    const char *const argv[] = {
        "sh", "-c", "echo to stdout; echo to stderr >&2; exit 2", NULL};
    const char *const ok[] = {"true", NULL};
    g_autoptr(GError) error = NULL;
    g_autoptr(MgrPowerResult) result = run(argv, 10, NULL, &error);
    g_autoptr(MgrPowerResult) quiet = run(ok, 10, NULL, &error);

    g_assert_no_error(error);
    g_assert_false(result->timed_out);
    g_assert_false(result->signaled);
    g_assert_cmpint(result->exit_status, ==, 2);
    g_assert_cmpstr(result->output, ==, "to stdout\nto stderr");
    g_assert_false(result->truncated);
    g_assert_cmpstr(mgr_power_state_from_result(result), ==, "off");
    g_assert_true(mgr_power_result_ok(quiet));
    g_assert_cmpstr(quiet->output, ==, "");
}

static void test_run_output_bounded(void)
{
    /* far more than the pipe holds: the command must not block on it */
    const char *const argv[] = {
        "sh", "-c", "head -c 1000000 /dev/zero | tr '\\0' x; echo; exit 3",
        NULL};
    g_autoptr(GError) error = NULL;
    g_autoptr(MgrPowerResult) result = run(argv, 20, NULL, &error);

    g_assert_no_error(error);
    g_assert_cmpint(result->exit_status, ==, 3);
    g_assert_true(result->truncated);
    g_assert_cmpuint(strlen(result->output), ==, MGR_POWER_OUTPUT_MAX);
    g_assert_cmpint(result->output[0], ==, 'x');
}

static gboolean pid_gone(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/cmdline", (int)pid);
    g_autofree char *cmdline = NULL;
    gsize len = 0;

    /* gone, or a zombie (an empty command line) waiting for its parent */
    return kill(pid, 0) != 0 ||
           !g_file_get_contents(path, &cmdline, &len, NULL) || len == 0;
}

static void test_run_timeout_kills_group(void)
{
    /* the shell's child prints its pid, then both wait far too long */
    const char *const argv[] = {"sh", "-c", "sleep 60 & echo $!; wait", NULL};
    g_autoptr(GError) error = NULL;
    gint64 elapsed_ms = 0;
    g_autoptr(MgrPowerResult) result = run(argv, 1, &elapsed_ms, &error);
    g_autofree char *describe = NULL;
    pid_t child;

    g_assert_no_error(error);
    g_assert_true(result->timed_out);
    g_assert_true(result->signaled);
    g_assert_false(mgr_power_result_ok(result));
    g_assert_cmpint(elapsed_ms, >=, 900);
    g_assert_cmpint(elapsed_ms, <, 5000);
    describe = mgr_power_result_describe(result);
    g_assert_true(g_str_has_prefix(describe, "killed after 1 s"));
    child = (pid_t)g_ascii_strtoll(result->output, NULL, 10);
    g_assert_cmpint(child, >, 1);
    for (guint i = 0; i < 50 && !pid_gone(child); i++) {
        g_usleep(50 * 1000);
    }
    g_assert_true(pid_gone(child));
}

/* A process left behind with the pipe open does not hold the result. */
static void test_run_leftover_holds_pipe(void)
{
    const char *const argv[] = {"sh", "-c", "sleep 30 & echo $!; exit 0", NULL};
    g_autoptr(GError) error = NULL;
    gint64 elapsed_ms = 0;
    g_autoptr(MgrPowerResult) result = run(argv, 20, &elapsed_ms, &error);
    pid_t leftover;

    g_assert_no_error(error);
    g_assert_true(mgr_power_result_ok(result));
    g_assert_cmpint(elapsed_ms, <, MGR_POWER_GRACE_MS + 2000);
    leftover = (pid_t)g_ascii_strtoll(result->output, NULL, 10);
    g_assert_cmpint(leftover, >, 1);
    kill(leftover, SIGKILL);
}

static void test_run_missing_command(void)
{
    const char *const argv[] = {"/nonexistent/fence_nothing", "-o", "on", NULL};
    g_autoptr(GError) error = NULL;
    g_autoptr(MgrPowerResult) result = run(argv, 5, NULL, &error);

    g_assert_null(result);
    g_assert_error(error, DRV_ERROR, DRV_ERROR_INVALID);
    g_assert_nonnull(strstr(error->message, "/nonexistent/fence_nothing"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/power/template/expand", test_expand);
    g_test_add_func("/power/template/quotes-values", test_expand_quotes_values);
    g_test_add_func("/power/template/refused", test_template_refused);
    g_test_add_func("/power/result/state", test_state_from_result);
    g_test_add_func("/power/host-state", test_host_state);
    g_test_add_func("/power/run/exit-and-output", test_run_exit_and_output);
    g_test_add_func("/power/run/output-bounded", test_run_output_bounded);
    g_test_add_func("/power/run/timeout-kills-group",
                    test_run_timeout_kills_group);
    g_test_add_func("/power/run/leftover-holds-pipe",
                    test_run_leftover_holds_pipe);
    g_test_add_func("/power/run/missing-command", test_run_missing_command);
    return g_test_run();
}
