/*
 * Host hooks: see hooks.h for the contract.
 *
 * One run is a GTask whose task data (AgentHookRun) holds the sorted hook
 * names and the index of the next one.  The directory is listed in a worker
 * thread (it may sit on a slow filesystem); everything else happens on the
 * caller's main context.
 *
 * Each hook is an AgentHookProc: a reference-counted box that every pending
 * operation on the hook (stdin write, two output reads, wait, timers) holds
 * a reference to, so that late callbacks of a finished hook find valid
 * memory and see proc->finished.  A hook is finished when it has exited and
 * both output pipes are at EOF, or when a grace period has run out (a
 * process it left behind may hold the pipes open; a process stuck in the
 * kernel may not die at once).
 *
 * Hooks run in their own process group so that a timeout or a cancellation
 * kills what they started too ("sleep 60" in a shell script is a child of
 * the shell, and would keep the output pipes open).
 */
#include "agent/hooks.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"

#define AGENT_HOOK_READ_CHUNK 8192
/* How long to wait for the pipes after exit, or for the exit after kill. */
#define AGENT_HOOK_GRACE_MS 2000
/* A failure message is one line for a person, not a dump. */
#define AGENT_HOOK_MESSAGE_MAX 1024

typedef struct _AgentHookProc AgentHookProc;

typedef struct {
    char *dir; /* HOOKS_DIR/EVENT */
    char *event;
    GBytes *input;
    GStrv envp;
    guint timeout_s;  /* 0: no limit */
    GPtrArray *names; /* sorted, filled by the listing thread */
    guint next;
    AgentHookProc *proc; /* the running hook */
} AgentHookRun;

typedef struct {
    GInputStream *stream; /* owned by the subprocess */
    GByteArray *tail;     /* the last AGENT_HOOK_OUTPUT_MAX bytes */
    guint8 buf[AGENT_HOOK_READ_CHUNK];
    gboolean eof;
} AgentHookStream;

struct _AgentHookProc {
    GTask *task;
    char *name;
    GSubprocess *subprocess;
    pid_t pid;
    GCancellable *io_cancel;
    GSource *timeout_source;
    GSource *grace_source;
    GSource *cancel_source;
    AgentHookStream out[2]; /* stdout, stderr */
    gboolean exited;
    gboolean killed;
    gboolean grace_over;
    gboolean timed_out;
    gboolean cancelled;
    gboolean finished;
};

static void agent_hook_run_free(AgentHookRun *run)
{
    if (run == NULL) {
        return;
    }
    g_free(run->dir);
    g_free(run->event);
    g_bytes_unref(run->input);
    g_strfreev(run->envp);
    g_clear_pointer(&run->names, g_ptr_array_unref);
    /* a run is freed with its task, which a running proc keeps alive */
    g_assert(run->proc == NULL);
    g_free(run);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AgentHookRun, agent_hook_run_free)

static void agent_hook_proc_clear(gpointer data)
{
    AgentHookProc *proc = data;

    g_clear_object(&proc->task);
    g_free(proc->name);
    g_clear_object(&proc->subprocess);
    g_clear_object(&proc->io_cancel);
    for (guint i = 0; i < G_N_ELEMENTS(proc->out); i++) {
        g_clear_pointer(&proc->out[i].tail, g_byte_array_unref);
    }
}

static AgentHookProc *agent_hook_proc_ref(AgentHookProc *proc)
{
    return g_rc_box_acquire(proc);
}

static void agent_hook_proc_unref(AgentHookProc *proc)
{
    if (proc != NULL) {
        g_rc_box_release_full(proc, agent_hook_proc_clear);
    }
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AgentHookProc, agent_hook_proc_unref)

static void agent_hook_source_clear(GSource **source)
{
    if (*source != NULL) {
        g_source_destroy(*source);
        g_source_unref(*source);
        *source = NULL;
    }
}

static gpointer agent_hooks_ignore_sigpipe(gpointer data)
{
    struct sigaction sa;

    /*
     * A hook that exits without reading its stdin makes our write fail with
     * EPIPE, and by default kill the whole agent with SIGPIPE.  GIO does the
     * same when its socket class initializes; a daemon that set its own
     * handler keeps it.
     */
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        signal(SIGPIPE, SIG_IGN);
    }
    return NULL;
}

/* Between fork and exec: async-signal-safe calls only. */
static void agent_hook_child_setup(gpointer data)
{
    struct sigaction sa;

    /* the agent ignores SIGPIPE; hooks get the ordinary behaviour */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    sigaction(SIGPIPE, &sa, NULL);
    setpgid(0, 0);
}

static GStrv agent_hooks_environ(const char *event, const char *const *extra)
{
    GStrv envp = g_get_environ();

    for (guint i = 0; extra != NULL && extra[i] != NULL; i++) {
        const char *eq = strchr(extra[i], '=');
        g_autofree char *key = NULL;

        /* not KEY=VALUE: nothing sensible to set */
        if (eq == NULL || eq == extra[i]) {
            continue;
        }
        key = g_strndup(extra[i], eq - extra[i]);
        envp = g_environ_setenv(envp, key, eq + 1, TRUE);
    }
    return g_environ_setenv(envp, "DROVER_HOOK", event, TRUE);
}

static gint agent_hooks_compare(gconstpointer a, gconstpointer b)
{
    return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

static void agent_hooks_list_thread(GTask *task, gpointer source,
                                    gpointer task_data,
                                    GCancellable *cancellable)
{
    const char *dir = task_data;
    g_autoptr(GError) local = NULL;
    g_autoptr(GDir) handle = g_dir_open(dir, 0, &local);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    const char *name;

    if (handle == NULL &&
        !g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
        g_task_return_new_error(task, DRV_ERROR, DRV_ERROR_HOOK,
                                "cannot read hooks directory %s: %s", dir,
                                local->message);
        return;
    }
    while (handle != NULL && (name = g_dir_read_name(handle)) != NULL) {
        g_autofree char *path = NULL;

        if (name[0] == '.') {
            continue;
        }
        path = g_build_filename(dir, name, NULL);
        if (!g_file_test(path, G_FILE_TEST_IS_REGULAR) ||
            access(path, X_OK) != 0) {
            continue;
        }
        g_ptr_array_add(names, g_strdup(name));
    }
    g_ptr_array_sort(names, agent_hooks_compare);
    g_task_return_pointer(task, g_steal_pointer(&names),
                          (GDestroyNotify)g_ptr_array_unref);
}

/* Keep the last AGENT_HOOK_OUTPUT_MAX bytes: the failure message is last. */
static void agent_hook_keep_tail(GByteArray *tail, const guint8 *data,
                                 gsize len)
{
    if (len >= AGENT_HOOK_OUTPUT_MAX) {
        g_byte_array_set_size(tail, 0);
        g_byte_array_append(tail, data + len - AGENT_HOOK_OUTPUT_MAX,
                            AGENT_HOOK_OUTPUT_MAX);
        return;
    }
    if (tail->len + len > AGENT_HOOK_OUTPUT_MAX) {
        g_byte_array_remove_range(tail, 0,
                                  tail->len + len - AGENT_HOOK_OUTPUT_MAX);
    }
    g_byte_array_append(tail, data, (guint)len);
}

/* The last non-empty line of @tail, made valid UTF-8 and bounded. */
static char *agent_hook_last_line(GByteArray *tail)
{
    const char *data = (const char *)tail->data;
    gsize end = tail->len;

    while (end > 0) {
        gsize start = end;
        g_autofree char *line = NULL;

        while (start > 0 && data[start - 1] != '\n') {
            start--;
        }
        line = g_utf8_make_valid(data + start, (gssize)(end - start));
        g_strstrip(line);
        if (*line != '\0') {
            if (strlen(line) > AGENT_HOOK_MESSAGE_MAX) {
                char *cut = line + AGENT_HOOK_MESSAGE_MAX;

                while (cut > line && ((guchar)*cut & 0xC0) == 0x80) {
                    cut--;
                }
                strcpy(cut, "...");
            }
            return g_steal_pointer(&line);
        }
        end = start > 0 ? start - 1 : 0;
    }
    return NULL;
}

static char *agent_hook_failure_message(AgentHookProc *proc)
{
    char *line = agent_hook_last_line(proc->out[1].tail);

    if (line == NULL) {
        line = agent_hook_last_line(proc->out[0].tail);
    }
    if (line != NULL) {
        return line;
    }
    if (g_subprocess_get_if_signaled(proc->subprocess)) {
        int sig = g_subprocess_get_term_sig(proc->subprocess);

        return g_strdup_printf("killed by signal %d (%s)", sig,
                               g_strsignal(sig));
    }
    return g_strdup_printf("exited with status %d",
                           g_subprocess_get_exit_status(proc->subprocess));
}

static void agent_hooks_run_next(GTask *task);

static void agent_hook_maybe_finish(AgentHookProc *proc)
{
    g_autoptr(GTask) task = NULL;
    AgentHookRun *run;
    g_autofree char *message = NULL;

    if (proc->finished) {
        return;
    }
    if (!(proc->exited && proc->out[0].eof && proc->out[1].eof) &&
        !proc->grace_over) {
        return;
    }
    proc->finished = TRUE;
    agent_hook_source_clear(&proc->timeout_source);
    agent_hook_source_clear(&proc->grace_source);
    agent_hook_source_clear(&proc->cancel_source);
    /* stops the reads still pending on pipes a leftover process holds */
    g_cancellable_cancel(proc->io_cancel);

    task = g_object_ref(proc->task);
    run = g_task_get_task_data(task);
    g_assert(run->proc == proc);
    run->proc = NULL;

    if (proc->cancelled) {
        g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                "hook %s/%s was cancelled", run->event,
                                proc->name);
    } else if (proc->timed_out) {
        g_task_return_new_error(task, DRV_ERROR, DRV_ERROR_HOOK,
                                "hook %s/%s timed out after %u s", run->event,
                                proc->name, run->timeout_s);
    } else if (!g_subprocess_get_successful(proc->subprocess)) {
        message = agent_hook_failure_message(proc);
        g_task_return_new_error(task, DRV_ERROR, DRV_ERROR_HOOK,
                                "hook %s/%s failed: %s", run->event, proc->name,
                                message);
    } else {
        agent_hooks_run_next(task);
    }
    /* the run's reference; the caller still holds one */
    agent_hook_proc_unref(proc);
}

static gboolean agent_hook_grace_over(gpointer data)
{
    AgentHookProc *proc = data;

    proc->grace_over = TRUE;
    agent_hook_maybe_finish(proc);
    return G_SOURCE_REMOVE;
}

static void agent_hook_start_grace(AgentHookProc *proc)
{
    if (proc->grace_source != NULL) {
        return;
    }
    proc->grace_source = g_timeout_source_new(AGENT_HOOK_GRACE_MS);
    g_source_set_callback(proc->grace_source, agent_hook_grace_over,
                          agent_hook_proc_ref(proc),
                          (GDestroyNotify)agent_hook_proc_unref);
    g_source_attach(proc->grace_source, g_task_get_context(proc->task));
}

static void agent_hook_kill(AgentHookProc *proc)
{
    if (proc->exited || proc->killed) {
        return;
    }
    proc->killed = TRUE;
    /*
     * Not yet reaped (we have not seen the exit), so the group id is still
     * the hook's own.
     */
    if (proc->pid > 0) {
        kill(-proc->pid, SIGKILL);
    }
    g_subprocess_force_exit(proc->subprocess);
    agent_hook_start_grace(proc);
}

static gboolean agent_hook_timed_out(gpointer data)
{
    AgentHookProc *proc = data;

    proc->timed_out = TRUE;
    agent_hook_kill(proc);
    return G_SOURCE_REMOVE;
}

static gboolean agent_hook_cancelled(GCancellable *cancellable, gpointer data)
{
    AgentHookProc *proc = data;

    proc->cancelled = TRUE;
    if (proc->exited) {
        /* only the pipes were left: no need to wait for them */
        proc->grace_over = TRUE;
        agent_hook_maybe_finish(proc);
    } else {
        agent_hook_kill(proc);
    }
    return G_SOURCE_REMOVE;
}

static void agent_hook_read(AgentHookProc *proc, AgentHookStream *stream);

static void agent_hook_read_done(GObject *source, GAsyncResult *result,
                                 gpointer data)
{
    g_autoptr(AgentHookProc) proc = data;
    GInputStream *input = G_INPUT_STREAM(source);
    AgentHookStream *stream = &proc->out[input == proc->out[0].stream ? 0 : 1];
    gssize n = g_input_stream_read_finish(input, result, NULL);

    if (n > 0 && !proc->finished) {
        agent_hook_keep_tail(stream->tail, stream->buf, (gsize)n);
        agent_hook_read(proc, stream);
        return;
    }
    /* EOF, or an error that ends this stream just the same */
    stream->eof = TRUE;
    agent_hook_maybe_finish(proc);
}

static void agent_hook_read(AgentHookProc *proc, AgentHookStream *stream)
{
    g_input_stream_read_async(stream->stream, stream->buf, sizeof(stream->buf),
                              G_PRIORITY_DEFAULT, proc->io_cancel,
                              agent_hook_read_done, agent_hook_proc_ref(proc));
}

static void agent_hook_stdin_done(GObject *source, GAsyncResult *result,
                                  gpointer data)
{
    g_autoptr(AgentHookProc) proc = data;
    GOutputStream *output = G_OUTPUT_STREAM(source);

    /* a hook need not read its input: EPIPE is not a failure */
    g_output_stream_write_all_finish(output, result, NULL, NULL);
    g_output_stream_close(output, NULL, NULL);
}

static void agent_hook_waited(GObject *source, GAsyncResult *result,
                              gpointer data)
{
    g_autoptr(AgentHookProc) proc = data;

    if (!g_subprocess_wait_finish(G_SUBPROCESS(source), result, NULL)) {
        /* cancelled: the hook was given up on already */
        return;
    }
    proc->exited = TRUE;
    agent_hook_source_clear(&proc->timeout_source);
    if (!(proc->out[0].eof && proc->out[1].eof)) {
        agent_hook_start_grace(proc);
    }
    agent_hook_maybe_finish(proc);
}

static void agent_hook_start(GTask *task, const char *name)
{
    AgentHookRun *run = g_task_get_task_data(task);
    g_autoptr(GSubprocessLauncher) launcher = NULL;
    g_autofree char *path = g_build_filename(run->dir, name, NULL);
    const char *const argv[] = {path, NULL};
    g_autoptr(GError) local = NULL;
    g_autoptr(GSubprocess) subprocess = NULL;
    GCancellable *cancellable = g_task_get_cancellable(task);
    GOutputStream *input;
    AgentHookProc *proc;
    const char *ident;

    launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                         G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                         G_SUBPROCESS_FLAGS_STDERR_PIPE);
    g_subprocess_launcher_set_environ(launcher, run->envp);
    g_subprocess_launcher_set_child_setup(launcher, agent_hook_child_setup,
                                          NULL, NULL);
    subprocess = g_subprocess_launcher_spawnv(launcher, argv, &local);
    if (subprocess == NULL) {
        g_task_return_new_error(task, DRV_ERROR, DRV_ERROR_HOOK,
                                "hook %s/%s failed: %s", run->event, name,
                                local->message);
        return;
    }

    proc = g_rc_box_new0(AgentHookProc);
    proc->task = g_object_ref(task);
    proc->name = g_strdup(name);
    proc->subprocess = g_steal_pointer(&subprocess);
    ident = g_subprocess_get_identifier(proc->subprocess);
    proc->pid = ident ? (pid_t)g_ascii_strtoll(ident, NULL, 10) : 0;
    proc->io_cancel = g_cancellable_new();
    proc->out[0].stream = g_subprocess_get_stdout_pipe(proc->subprocess);
    proc->out[1].stream = g_subprocess_get_stderr_pipe(proc->subprocess);
    for (guint i = 0; i < G_N_ELEMENTS(proc->out); i++) {
        proc->out[i].tail = g_byte_array_new();
    }
    run->proc = proc;

    input = g_subprocess_get_stdin_pipe(proc->subprocess);
    if (g_bytes_get_size(run->input) > 0) {
        g_output_stream_write_all_async(
            input, g_bytes_get_data(run->input, NULL),
            g_bytes_get_size(run->input), G_PRIORITY_DEFAULT, proc->io_cancel,
            agent_hook_stdin_done, agent_hook_proc_ref(proc));
    } else {
        g_output_stream_close(input, NULL, NULL);
    }
    for (guint i = 0; i < G_N_ELEMENTS(proc->out); i++) {
        agent_hook_read(proc, &proc->out[i]);
    }
    g_subprocess_wait_async(proc->subprocess, proc->io_cancel,
                            agent_hook_waited, agent_hook_proc_ref(proc));
    if (run->timeout_s > 0) {
        proc->timeout_source =
            g_timeout_source_new(MIN(run->timeout_s, G_MAXUINT / 1000) * 1000);
        g_source_set_callback(proc->timeout_source, agent_hook_timed_out,
                              agent_hook_proc_ref(proc),
                              (GDestroyNotify)agent_hook_proc_unref);
        g_source_attach(proc->timeout_source, g_task_get_context(task));
    }
    if (cancellable != NULL) {
        proc->cancel_source = g_cancellable_source_new(cancellable);
        g_source_set_callback(
            proc->cancel_source, G_SOURCE_FUNC(agent_hook_cancelled),
            agent_hook_proc_ref(proc), (GDestroyNotify)agent_hook_proc_unref);
        g_source_attach(proc->cancel_source, g_task_get_context(task));
    }
}

static void agent_hooks_run_next(GTask *task)
{
    AgentHookRun *run = g_task_get_task_data(task);

    if (g_task_return_error_if_cancelled(task)) {
        return;
    }
    if (run->next >= run->names->len) {
        g_task_return_boolean(task, TRUE);
        return;
    }
    agent_hook_start(task, g_ptr_array_index(run->names, run->next++));
}

static void agent_hooks_listed(GObject *source, GAsyncResult *result,
                               gpointer data)
{
    g_autoptr(GTask) task = data;
    AgentHookRun *run = g_task_get_task_data(task);
    GError *error = NULL;

    run->names = g_task_propagate_pointer(G_TASK(result), &error);
    if (run->names == NULL) {
        g_task_return_error(task, error);
        return;
    }
    agent_hooks_run_next(task);
}

void agent_hooks_run_async(const char *hooks_dir, const char *event,
                           const char *stdin_data, const char *const *env,
                           guint timeout_s, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = NULL;
    g_autoptr(GTask) list = NULL;
    g_autoptr(AgentHookRun) run = NULL;
    static GOnce sigpipe_once = G_ONCE_INIT;

    g_return_if_fail(event != NULL && *event != '\0');

    task = g_task_new(NULL, cancellable, callback, user_data);
    g_task_set_source_tag(task, agent_hooks_run_async);
    if (hooks_dir == NULL) {
        g_task_return_boolean(task, TRUE);
        return;
    }
    g_once(&sigpipe_once, agent_hooks_ignore_sigpipe, NULL);

    run = g_new0(AgentHookRun, 1);
    run->dir = g_build_filename(hooks_dir, event, NULL);
    run->event = g_strdup(event);
    run->input = g_bytes_new(stdin_data, stdin_data ? strlen(stdin_data) : 0);
    run->envp = agent_hooks_environ(event, env);
    run->timeout_s = timeout_s;

    list =
        g_task_new(NULL, cancellable, agent_hooks_listed, g_object_ref(task));
    g_task_set_source_tag(list, agent_hooks_list_thread);
    g_task_set_task_data(list, g_strdup(run->dir), g_free);
    g_task_set_task_data(task, g_steal_pointer(&run),
                         (GDestroyNotify)agent_hook_run_free);
    g_task_run_in_thread(list, agent_hooks_list_thread);
}

gboolean agent_hooks_run_finish(GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, NULL), FALSE);
    g_return_val_if_fail(
        g_async_result_is_tagged(result, agent_hooks_run_async), FALSE);

    return g_task_propagate_boolean(G_TASK(result), error);
}
