/*
 * Host hooks: real shell scripts in a temporary directory, run through the
 * main loop exactly as the agent runs them.
 */
#include <errno.h>
#include <glib/gstdio.h>
#include <malloc.h>
#include <signal.h>

#include "agent/hooks.h"
#include "common/error.h"

#define EVENT "before_vm_start"

typedef struct {
    char *tmp;
    char *hooks;  /* HOOKS_DIR */
    char *dir;    /* HOOKS_DIR/EVENT */
    char *order;  /* each hook appends a line here */
    char *env[4]; /* extras given to the run */
} Fixture;

typedef struct {
    gboolean done;
    gboolean ok;
    GError *error;
} RunResult;

static void remove_tree(const char *path)
{
    g_autoptr(GDir) dir = NULL;
    const char *name;

    if (!g_file_test(path, G_FILE_TEST_IS_SYMLINK) &&
        g_file_test(path, G_FILE_TEST_IS_DIR)) {
        g_chmod(path, 0700);
        dir = g_dir_open(path, 0, NULL);
        while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
            g_autofree char *child = g_build_filename(path, name, NULL);

            remove_tree(child);
        }
        g_rmdir(path);
    } else {
        g_unlink(path);
    }
}

static void fixture_setup(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;

    f->tmp = g_dir_make_tmp("drover-hooks-XXXXXX", &error);
    g_assert_no_error(error);
    f->hooks = g_build_filename(f->tmp, "hooks", NULL);
    f->dir = g_build_filename(f->hooks, EVENT, NULL);
    g_assert_cmpint(g_mkdir_with_parents(f->dir, 0755), ==, 0);
    f->order = g_build_filename(f->tmp, "order", NULL);
    f->env[0] = g_strdup_printf("ORDER_FILE=%s", f->order);
    f->env[1] = g_strdup_printf("OUT_DIR=%s", f->tmp);
    /* an extra may not override the event */
    f->env[2] = g_strdup("DROVER_HOOK=not-the-event");
    f->env[3] = NULL;
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
    remove_tree(f->tmp);
    g_free(f->tmp);
    g_free(f->hooks);
    g_free(f->dir);
    g_free(f->order);
    for (guint i = 0; i < G_N_ELEMENTS(f->env); i++) {
        g_free(f->env[i]);
    }
}

static void write_hook(Fixture *f, const char *name, int mode, const char *body)
{
    g_autofree char *path = g_build_filename(f->dir, name, NULL);
    g_autofree char *text = g_strdup_printf("#!/bin/sh\n%s\n", body);
    g_autoptr(GError) error = NULL;

    g_assert_true(g_file_set_contents(path, text, -1, &error));
    g_assert_no_error(error);
    g_assert_cmpint(g_chmod(path, mode), ==, 0);
}

/* A hook that records that it ran, and fails nothing. */
static void write_recording_hook(Fixture *f, const char *name)
{
    write_hook(f, name, 0755, "echo \"$(basename \"$0\")\" >> \"$ORDER_FILE\"");
}

static char *read_file(const char *path)
{
    g_autoptr(GError) error = NULL;
    char *data = NULL;

    if (!g_file_get_contents(path, &data, NULL, &error)) {
        return NULL;
    }
    return data;
}

static void on_done(GObject *source, GAsyncResult *result, gpointer data)
{
    RunResult *r = data;

    r->ok = agent_hooks_run_finish(result, &r->error);
    r->done = TRUE;
}

static gboolean run_hooks_full(Fixture *f, const char *hooks_dir,
                               const char *input, guint timeout_s,
                               GCancellable *cancellable, GError **error)
{
    RunResult r = {0};

    agent_hooks_run_async(hooks_dir, EVENT, input, (const char *const *)f->env,
                          timeout_s, cancellable, on_done, &r);
    /* never completes synchronously: the caller may still be setting up */
    g_assert_false(r.done);
    while (!r.done) {
        g_main_context_iteration(NULL, TRUE);
    }
    g_assert_true(r.ok == (r.error == NULL));
    if (r.error != NULL) {
        g_propagate_error(error, r.error);
    }
    return r.ok;
}

static gboolean run_hooks(Fixture *f, const char *input, GError **error)
{
    return run_hooks_full(f, f->hooks, input, 10, NULL, error);
}

static void test_order_stdin_env(Fixture *f, gconstpointer data)
{
    const char *spec = "{\"id\": \"x\", \"name\": \"web1\"}\n";
    const char *body =
        "me=$(basename \"$0\")\n"
        "echo \"$me $DROVER_HOOK $INHERITED\" >> \"$ORDER_FILE\"\n"
        "cat > \"$OUT_DIR/$me.stdin\"";
    g_autoptr(GError) error = NULL;
    g_autofree char *order = NULL;
    g_autofree char *expected = NULL;

    /* byte order: "10" < "9" and "B" < "a" */
    write_hook(f, "a-last", 0755, body);
    write_hook(f, "9-third", 0755, body);
    write_hook(f, "10-first", 0755, body);
    write_hook(f, "20-second", 0755, body);
    write_hook(f, "B-fourth", 0755, body);

    g_assert_true(run_hooks(f, spec, &error));
    g_assert_no_error(error);

    order = read_file(f->order);
    expected = g_strdup_printf("10-first %s from-agent\n"
                               "20-second %s from-agent\n"
                               "9-third %s from-agent\n"
                               "B-fourth %s from-agent\n"
                               "a-last %s from-agent\n",
                               EVENT, EVENT, EVENT, EVENT, EVENT);
    g_assert_cmpstr(order, ==, expected);
    for (guint i = 0; i < 5; i++) {
        static const char *const names[] = {"10-first", "20-second", "9-third",
                                            "B-fourth", "a-last"};
        g_autofree char *name = g_strdup_printf("%s.stdin", names[i]);
        g_autofree char *path = g_build_filename(f->tmp, name, NULL);
        g_autofree char *got = read_file(path);

        g_assert_cmpstr(got, ==, spec);
    }
}

static void test_extra_env(Fixture *f, gconstpointer data)
{
    const char *env[] = {"DRV_A=1", "DRV_B=has spaces and = signs",
                         "not-an-assignment", NULL};
    g_autofree char *out = g_build_filename(f->tmp, "env", NULL);
    g_autofree char *body = g_strdup_printf(
        "printf '%%s|%%s|%%s\\n' \"$DRV_A\" \"$DRV_B\" \"$DROVER_HOOK\" "
        "> %s",
        out);
    g_autoptr(GError) error = NULL;
    RunResult r = {0};
    g_autofree char *got = NULL;

    write_hook(f, "10-env", 0755, body);
    agent_hooks_run_async(f->hooks, EVENT, NULL, env, 10, NULL, on_done, &r);
    while (!r.done) {
        g_main_context_iteration(NULL, TRUE);
    }
    g_assert_no_error(r.error);
    g_assert_true(r.ok);
    got = read_file(out);
    g_assert_cmpstr(got, ==, "1|has spaces and = signs|" EVENT "\n");
}

static void test_failure_stops_chain(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *order = NULL;

    write_recording_hook(f, "10-ok");
    write_hook(f, "20-fail", 0755,
               "echo \"$(basename \"$0\")\" >> \"$ORDER_FILE\"\n"
               "echo 'some progress' \n"
               "echo 'first complaint' >&2\n"
               "printf 'the real reason\\n\\n  \\n' >&2\n"
               "exit 3");
    write_recording_hook(f, "30-never");

    g_assert_false(run_hooks(f, "{}", &error));
    g_assert_error(error, DRV_ERROR, DRV_ERROR_HOOK);
    g_assert_cmpstr(error->message, ==,
                    "hook " EVENT "/20-fail failed: the real reason");
    order = read_file(f->order);
    g_assert_cmpstr(order, ==, "10-ok\n20-fail\n");
}

static void test_failure_messages(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;

    /* no stderr: the last line of stdout */
    write_hook(f, "10-stdout", 0755, "echo one\necho two\nexit 1");
    g_assert_false(run_hooks(f, NULL, &error));
    g_assert_error(error, DRV_ERROR, DRV_ERROR_HOOK);
    g_assert_cmpstr(error->message, ==, "hook " EVENT "/10-stdout failed: two");
    g_clear_error(&error);

    /* no output at all: the exit status */
    write_hook(f, "10-stdout", 0755, "exit 7");
    g_assert_false(run_hooks(f, NULL, &error));
    g_assert_error(error, DRV_ERROR, DRV_ERROR_HOOK);
    g_assert_cmpstr(error->message, ==,
                    "hook " EVENT "/10-stdout failed: exited with status 7");
    g_clear_error(&error);

    /* killed by a signal */
    write_hook(f, "10-stdout", 0755, "kill -TERM $$");
    g_assert_false(run_hooks(f, NULL, &error));
    g_assert_error(error, DRV_ERROR, DRV_ERROR_HOOK);
    g_assert_true(g_str_has_prefix(error->message,
                                   "hook " EVENT
                                   "/10-stdout failed: killed by signal 15"));
    g_clear_error(&error);

    /* not executable as a program (no interpreter line, not ELF) */
    {
        g_autofree char *path = g_build_filename(f->dir, "10-stdout", NULL);

        g_assert_true(g_file_set_contents(path,
                                          "\x7f"
                                          "garbage",
                                          -1, NULL));
        g_assert_cmpint(g_chmod(path, 0755), ==, 0);
    }
    g_assert_false(run_hooks(f, NULL, &error));
    g_assert_error(error, DRV_ERROR, DRV_ERROR_HOOK);
    g_assert_true(
        g_str_has_prefix(error->message, "hook " EVENT "/10-stdout failed: "));
}

static void test_skipped_entries(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *order = NULL;
    g_autofree char *subdir = g_build_filename(f->dir, "15-directory", NULL);
    g_autofree char *link = g_build_filename(f->dir, "17-link", NULL);
    g_autofree char *dangling = g_build_filename(f->dir, "18-dangling", NULL);

    write_recording_hook(f, "10-runs");
    /* each of these would fail the run if it were started */
    write_hook(f, "12-not-executable", 0644, "exit 1");
    write_hook(f, ".hidden", 0755, "exit 1");
    write_hook(f, ".20-hidden", 0755, "exit 1");
    g_assert_cmpint(g_mkdir(subdir, 0755), ==, 0);
    g_assert_cmpint(symlink(subdir, link), ==, 0);
    g_assert_cmpint(symlink("/nonexistent/hook", dangling), ==, 0);
    write_recording_hook(f, "30-runs");

    g_assert_true(run_hooks(f, NULL, &error));
    g_assert_no_error(error);
    order = read_file(f->order);
    g_assert_cmpstr(order, ==, "10-runs\n30-runs\n");
}

static void test_nothing_to_run(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *missing = g_build_filename(f->tmp, "no-such-dir", NULL);

    /* missing HOOKS_DIR/EVENT */
    g_assert_true(run_hooks_full(f, missing, "{}", 10, NULL, &error));
    g_assert_no_error(error);
    /* no hooks configured */
    g_assert_true(run_hooks_full(f, NULL, "{}", 10, NULL, &error));
    g_assert_no_error(error);
    /* empty EVENT directory */
    g_assert_true(run_hooks(f, "{}", &error));
    g_assert_no_error(error);
}

static void test_event_not_a_directory(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;

    remove_tree(f->dir);
    g_assert_true(g_file_set_contents(f->dir, "", 0, NULL));
    g_assert_false(run_hooks(f, "{}", &error));
    g_assert_error(error, DRV_ERROR, DRV_ERROR_HOOK);
    g_assert_nonnull(strstr(error->message, f->dir));
}

/* Gone, or a zombie nobody reaped (PID 1 of a container may not). */
static gboolean process_is_dead(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *stat = read_file(path);
    const char *paren = stat ? strrchr(stat, ')') : NULL;

    return stat == NULL || (paren != NULL && paren[1] == ' ' &&
                            (paren[2] == 'Z' || paren[2] == 'X'));
}

/*
 * A killed process closes its files (ending our reads) a moment before it
 * turns into a zombie: allow for that moment.
 */
static gboolean process_dies(pid_t pid)
{
    gint64 deadline = g_get_monotonic_time() + G_USEC_PER_SEC;

    while (!process_is_dead(pid) && g_get_monotonic_time() < deadline) {
        g_usleep(5000);
    }
    return process_is_dead(pid);
}

static pid_t read_pid(const char *path)
{
    g_autofree char *text = read_file(path);

    return text ? (pid_t)g_ascii_strtoll(text, NULL, 10) : 0;
}

static void test_timeout(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *order = NULL;
    g_autofree char *child_file = g_build_filename(f->tmp, "child", NULL);
    g_autofree char *body =
        g_strdup_printf("sleep 30 &\necho $! > %s\nwait\n", child_file);
    gint64 start = g_get_monotonic_time();
    gint64 elapsed;
    pid_t child;

    write_hook(f, "10-sleeps", 0755, body);
    write_recording_hook(f, "20-never");
    g_assert_false(run_hooks_full(f, f->hooks, "{}", 1, NULL, &error));
    elapsed = g_get_monotonic_time() - start;
    g_assert_error(error, DRV_ERROR, DRV_ERROR_HOOK);
    g_assert_cmpstr(error->message, ==,
                    "hook " EVENT "/10-sleeps timed out after 1 s");
    g_assert_cmpint(elapsed, >=, 900 * 1000);
    /*
     * Well before the grace period for open pipes: the whole process
     * group, the shell's own child included, was killed.
     */
    g_assert_cmpint(elapsed, <, 2500 * 1000);
    child = read_pid(child_file);
    g_assert_cmpint(child, >, 0);
    g_assert_true(process_dies(child));
    g_assert_false(g_file_test(f->order, G_FILE_TEST_EXISTS));
}

static gsize heap_in_use(void)
{
    struct mallinfo2 info = mallinfo2();

    return info.uordblks + info.hblkhd;
}

typedef struct {
    gsize base;
    gsize peak;
} HeapWatch;

/* Output is read on the main loop: between two reads we see the heap. */
static gboolean watch_heap(gpointer data)
{
    HeapWatch *watch = data;

    watch->peak = MAX(watch->peak, heap_in_use());
    return G_SOURCE_CONTINUE;
}

static void test_large_output(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    HeapWatch watch = {heap_in_use(), heap_in_use()};
    guint id = g_timeout_add(1, watch_heap, &watch);

    /* 10 MiB on stdout, then a last line; success */
    write_hook(f, "10-chatty", 0755,
               "head -c 10485760 /dev/zero | tr '\\0' x\n"
               "head -c 10485760 /dev/zero | tr '\\0' y >&2\n"
               "echo\necho done");
    g_assert_true(run_hooks(f, "{}", &error));
    g_assert_no_error(error);

    /* same, failing: the message is still the very last line */
    write_hook(f, "10-chatty", 0755,
               "head -c 10485760 /dev/zero | tr '\\0' x\n"
               "printf '\\nthe end of it\\n'\nexit 1");
    g_assert_false(run_hooks(f, "{}", &error));
    g_assert_error(error, DRV_ERROR, DRV_ERROR_HOOK);
    g_assert_cmpstr(error->message, ==,
                    "hook " EVENT "/10-chatty failed: the end of it");
    g_clear_error(&error);

    /* a 10 MiB line is cut to a readable message */
    write_hook(f, "10-chatty", 0755,
               "head -c 10485760 /dev/zero | tr '\\0' z >&2\nexit 1");
    g_assert_false(run_hooks(f, "{}", &error));
    g_assert_error(error, DRV_ERROR, DRV_ERROR_HOOK);
    g_assert_cmpuint(strlen(error->message), <, 2 * 1024);
    g_assert_true(g_str_has_suffix(error->message, "zzz..."));

    /*
     * 40 MiB went through; what we kept stayed near the 64 KiB bound per
     * stream.  (Under valgrind, whose allocator glibc does not see, this
     * measures nothing and passes.)
     */
    g_source_remove(id);
    g_test_message("peak heap growth: %" G_GSIZE_FORMAT " bytes",
                   watch.peak - watch.base);
    g_assert_cmpuint(watch.peak - watch.base, <, 1024 * 1024);
}

static void test_large_input_not_read(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *input = g_strnfill(4 * 1024 * 1024, 'x');
    g_autofree char *order = NULL;

    /* exits at once: our write of its input fails with EPIPE, quietly */
    write_recording_hook(f, "10-ignores-input");
    write_hook(f, "20-reads-some", 0755,
               "head -c 10 > /dev/null\n"
               "echo \"$(basename \"$0\")\" >> \"$ORDER_FILE\"");
    g_assert_true(run_hooks(f, input, &error));
    g_assert_no_error(error);
    order = read_file(f->order);
    g_assert_cmpstr(order, ==, "10-ignores-input\n20-reads-some\n");
}

static gboolean cancel_when_started(gpointer data)
{
    gpointer *args = data;
    const char *pid_file = args[0];
    GCancellable *cancellable = args[1];

    if (!g_file_test(pid_file, G_FILE_TEST_EXISTS)) {
        return G_SOURCE_CONTINUE;
    }
    g_cancellable_cancel(cancellable);
    return G_SOURCE_REMOVE;
}

static void test_cancel(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GCancellable) cancellable = g_cancellable_new();
    g_autofree char *pid_file = g_build_filename(f->tmp, "pid", NULL);
    g_autofree char *child_file = g_build_filename(f->tmp, "child", NULL);
    g_autofree char *body = g_strdup_printf(
        "sleep 30 &\necho $! > %s\necho $$ > %s.tmp\nmv %s.tmp %s\nwait\n",
        child_file, pid_file, pid_file, pid_file);
    gpointer args[] = {pid_file, cancellable};
    gint64 start;

    write_hook(f, "10-sleeps", 0755, body);
    write_recording_hook(f, "20-never");
    g_timeout_add(10, cancel_when_started, args);
    start = g_get_monotonic_time();
    g_assert_false(run_hooks_full(f, f->hooks, "{}", 60, cancellable, &error));
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    g_assert_cmpint(g_get_monotonic_time() - start, <, 2500 * 1000);
    g_assert_true(g_cancellable_is_cancelled(cancellable));
    g_assert_true(process_dies(read_pid(pid_file)));
    g_assert_true(process_dies(read_pid(child_file)));
    g_assert_false(g_file_test(f->order, G_FILE_TEST_EXISTS));
    /* normally gone already; not if the run failed some other way */
    g_source_remove_by_user_data(args);
}

static void test_cancel_before_start(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GCancellable) cancellable = g_cancellable_new();

    write_recording_hook(f, "10-never");
    g_cancellable_cancel(cancellable);
    g_assert_false(run_hooks_full(f, f->hooks, "{}", 10, cancellable, &error));
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    g_assert_false(g_file_test(f->order, G_FILE_TEST_EXISTS));
}

int main(int argc, char **argv)
{
    /* hooks inherit the agent's environment; set before any thread runs */
    g_setenv("INHERITED", "from-agent", TRUE);
    g_test_init(&argc, &argv, NULL);

#define ADD(name, fn)                                            \
    g_test_add("/hooks/" name, Fixture, NULL, fixture_setup, fn, \
               fixture_teardown)
    ADD("order-stdin-env", test_order_stdin_env);
    ADD("extra-env", test_extra_env);
    ADD("failure-stops-chain", test_failure_stops_chain);
    ADD("failure-messages", test_failure_messages);
    ADD("skipped-entries", test_skipped_entries);
    ADD("nothing-to-run", test_nothing_to_run);
    ADD("event-not-a-directory", test_event_not_a_directory);
    ADD("timeout", test_timeout);
    ADD("large-output", test_large_output);
    ADD("large-input-not-read", test_large_input_not_read);
    ADD("cancel", test_cancel);
    ADD("cancel-before-start", test_cancel_before_start);
#undef ADD
    return g_test_run();
}
