/*
 * Host power management (docs/manager.md, "Power").
 *
 * Each host may have three command templates (power.h): on, off and status,
 * typically a fence agent (fence_ipmilan, fence_redfish, ...).  A command
 * runs in the background with a timeout; its output is kept bounded.
 *
 * - Power off takes an empty host (up or in maintenance) down at once, so
 *   that nothing is scheduled there while the command runs.  Success leaves
 *   it down (host_powered_off); failure gives it back its previous status
 *   (host_power_failed) for the monitor to check again.
 * - Power on leaves a powered-off host down, "powering on", until the
 *   monitor reaches its agent (monitor.c makes it up and says
 *   host_powered_on) or power_on_timeout_s passes (host_power_failed).
 * - Status runs the status command and reads its exit code the way fence
 *   agents report: 0 on, 2 off.
 *
 * host->power_action ("on", "off") is stored, so a restarted droverd keeps
 * waiting for a host it powered on; a power-off whose command it did not
 * see finish is taken as done (monitor.c).
 */
#include "manager/power.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/json.h"
#include "manager/manager.h"

#define MGR_POWER_READ_CHUNK 4096

/* ---- templates ---- */

typedef enum {
    MGR_QUOTE_NONE,
    MGR_QUOTE_SINGLE,
    MGR_QUOTE_DOUBLE,
} MgrQuote;

/* The value of placeholder @name for @host, NULL when unknown. */
static char *mgr_power_value(const MgrHost *host, const char *name)
{
    if (g_str_equal(name, "name")) {
        return g_strdup(host->name);
    }
    if (g_str_equal(name, "address")) {
        return g_strdup(host->address);
    }
    if (g_str_equal(name, "id")) {
        return g_strdup(host->id);
    }
    if (g_str_equal(name, "host")) {
        g_autoptr(GUri) uri =
            g_uri_parse(host->address, G_URI_FLAGS_NONE, NULL);

        /* an address that is not a URL is the best guess at the machine */
        return g_strdup(uri && g_uri_get_host(uri) ? g_uri_get_host(uri)
                                                   : host->address);
    }
    return NULL;
}

/*
 * The length of the placeholder name after the '{' at @p when "{word}"
 * follows, else 0 (a brace that is just a brace).
 */
static gsize mgr_power_placeholder_len(const char *p)
{
    gsize n = 0;

    while (g_ascii_isalnum(p[1 + n]) || p[1 + n] == '_') {
        n++;
    }
    return n > 0 && p[1 + n] == '}' ? n : 0;
}

/*
 * @template with each placeholder replaced by its value quoted for where it
 * stands: the quote that is open is closed around the value, so that the
 * value is one literal word whatever it holds.
 */
static char *mgr_power_substitute(const char *template, const MgrHost *host,
                                  GError **error)
{
    g_autoptr(GString) out = g_string_new(NULL);
    MgrQuote quote = MGR_QUOTE_NONE;

    for (const char *p = template; *p != '\0'; p++) {
        gsize len;

        if (*p == '{' && p[1] == '{') {
            g_string_append_c(out, '{');
            p++;
            continue;
        }
        if (*p == '}' && p[1] == '}') {
            g_string_append_c(out, '}');
            p++;
            continue;
        }
        len = *p == '{' ? mgr_power_placeholder_len(p) : 0;
        if (len > 0) {
            g_autofree char *name = g_strndup(p + 1, len);
            g_autofree char *value = mgr_power_value(host, name);
            g_autofree char *quoted = NULL;

            if (value == NULL) {
                g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                            "unknown placeholder {%s} (known: {name}, "
                            "{address}, {host}, {id}; {{ and }} are braces)",
                            name);
                return NULL;
            }
            quoted = g_shell_quote(value);
            if (quote == MGR_QUOTE_SINGLE) {
                g_string_append_printf(out, "'%s'", quoted);
            } else if (quote == MGR_QUOTE_DOUBLE) {
                g_string_append_printf(out, "\"%s\"", quoted);
            } else {
                g_string_append(out, quoted);
            }
            p += len + 1;
            continue;
        }
        g_string_append_c(out, *p);
        /* follow the quoting the way g_shell_parse_argv() reads it */
        if (*p == '\\' && quote != MGR_QUOTE_SINGLE && p[1] != '\0') {
            g_string_append_c(out, *++p);
        } else if (*p == '\'' && quote != MGR_QUOTE_DOUBLE) {
            quote =
                quote == MGR_QUOTE_SINGLE ? MGR_QUOTE_NONE : MGR_QUOTE_SINGLE;
        } else if (*p == '"' && quote != MGR_QUOTE_SINGLE) {
            quote =
                quote == MGR_QUOTE_DOUBLE ? MGR_QUOTE_NONE : MGR_QUOTE_DOUBLE;
        }
    }
    return g_string_free(g_steal_pointer(&out), FALSE);
}

GStrv mgr_power_expand(const char *template, const MgrHost *host,
                       GError **error)
{
    g_autofree char *line = mgr_power_substitute(template, host, error);
    g_autoptr(GError) local = NULL;
    GStrv argv = NULL;
    gint argc = 0;

    if (line == NULL) {
        return NULL;
    }
    if (!g_shell_parse_argv(line, &argc, &argv, &local)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "not a command line: %s", local->message);
        return NULL;
    }
    return argv;
}

gboolean mgr_power_template_check(const char *template, GError **error)
{
    /* values like a real host's; quoting makes any value as good */
    g_autoptr(MgrHost) host =
        mgr_host_new(NULL, "host1", "http://127.0.1.1:7001", "cluster");
    g_auto(GStrv) argv = NULL;

    if (template == NULL || *template == '\0') {
        g_set_error_literal(error, DRV_ERROR, DRV_ERROR_INVALID,
                            "the command is empty");
        return FALSE;
    }
    if (strlen(template) > 4096) {
        g_set_error_literal(error, DRV_ERROR, DRV_ERROR_INVALID,
                            "the command is longer than 4096 bytes");
        return FALSE;
    }
    argv = mgr_power_expand(template, host, error);
    return argv != NULL;
}

/* ---- results ---- */

void mgr_power_result_free(MgrPowerResult *result)
{
    if (result == NULL) {
        return;
    }
    g_free(result->output);
    g_free(result);
}

gboolean mgr_power_result_ok(const MgrPowerResult *result)
{
    return !result->timed_out && !result->signaled && result->exit_status == 0;
}

const char *mgr_power_state_from_result(const MgrPowerResult *result)
{
    if (result->timed_out || result->signaled) {
        return "unknown";
    }
    switch (result->exit_status) {
    case 0:
        return "on";
    case 2:
        return "off";
    default:
        return "unknown";
    }
}

/* The last non-empty line of @output, or NULL. */
static char *mgr_power_last_line(const char *output)
{
    g_auto(GStrv) lines = g_strsplit(output ? output : "", "\n", -1);

    for (guint i = g_strv_length(lines); i > 0; i--) {
        g_strstrip(lines[i - 1]);
        if (*lines[i - 1] != '\0') {
            return g_strdup(lines[i - 1]);
        }
    }
    return NULL;
}

char *mgr_power_result_describe(const MgrPowerResult *result)
{
    g_autofree char *what = NULL;
    g_autofree char *line = mgr_power_last_line(result->output);

    if (result->timed_out) {
        what = g_strdup_printf("killed after %u s", result->timeout_s);
    } else if (result->signaled) {
        what = g_strdup("killed by a signal");
    } else {
        what = g_strdup_printf("exited with status %d", result->exit_status);
    }
    if (line == NULL) {
        return g_steal_pointer(&what);
    }
    return g_strdup_printf("%s: %s", what, line);
}

const char *mgr_host_power_state(const MgrHost *host)
{
    if (g_strcmp0(host->power_action, "on") == 0) {
        return "powering_on";
    }
    if (g_strcmp0(host->power_action, "off") == 0) {
        return "powering_off";
    }
    return host->status == MGR_HOST_DOWN ? "off" : "on";
}

/* ---- the runner ---- */

/*
 * A run is the task data of its GTask; every pending operation (read,
 * wait, timers) holds a reference to the task, so late callbacks find the
 * run and see ->done.
 */
typedef struct {
    GSubprocess *subprocess;
    pid_t pid;
    GInputStream *stream; /* owned by the subprocess */
    GByteArray *head;
    gboolean truncated;
    guint8 buf[MGR_POWER_READ_CHUNK];
    guint timeout_s;
    GCancellable *io_cancel;
    GSource *timeout_source;
    GSource *grace_source;
    gboolean exited;
    gboolean eof;
    gboolean killed;
    gboolean grace_over;
    gboolean timed_out;
    gboolean done;
} MgrPowerRun;

static void mgr_power_source_clear(GSource **source)
{
    if (*source != NULL) {
        g_source_destroy(*source);
        g_source_unref(*source);
        *source = NULL;
    }
}

static void mgr_power_run_free(MgrPowerRun *run)
{
    mgr_power_source_clear(&run->timeout_source);
    mgr_power_source_clear(&run->grace_source);
    g_clear_object(&run->subprocess);
    g_clear_object(&run->io_cancel);
    g_byte_array_unref(run->head);
    g_free(run);
}

/* Between fork and exec: async-signal-safe calls only. */
static void mgr_power_child_setup(gpointer data)
{
    struct sigaction sa;

    /* droverd ignores SIGPIPE; the command gets the ordinary behaviour */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    sigaction(SIGPIPE, &sa, NULL);
    /* its own group, so that a timeout kills what it started too */
    setpgid(0, 0);
}

static void mgr_power_maybe_finish(GTask *task)
{
    MgrPowerRun *run = g_task_get_task_data(task);
    MgrPowerResult *result;
    gsize len;

    if (run->done || !((run->exited && run->eof) || run->grace_over)) {
        return;
    }
    run->done = TRUE;
    mgr_power_source_clear(&run->timeout_source);
    mgr_power_source_clear(&run->grace_source);
    /* ends a read on a pipe that something the command left holds open */
    g_cancellable_cancel(run->io_cancel);
    result = g_new0(MgrPowerResult, 1);
    result->timed_out = run->timed_out;
    result->timeout_s = run->timeout_s;
    if (!run->exited) {
        /* it would not die within the grace period: a signal it is */
        result->signaled = TRUE;
    } else if (g_subprocess_get_if_signaled(run->subprocess)) {
        result->signaled = TRUE;
    } else {
        result->exit_status = g_subprocess_get_exit_status(run->subprocess);
    }
    result->truncated = run->truncated;
    /* an empty GByteArray has no data at all */
    len = run->head->len;
    result->output = g_utf8_make_valid(
        len > 0 ? (const char *)run->head->data : "", (gssize)len);
    g_strchomp(result->output);
    g_task_return_pointer(task, result, (GDestroyNotify)mgr_power_result_free);
}

static gboolean mgr_power_grace_over(gpointer data)
{
    GTask *task = data;
    MgrPowerRun *run = g_task_get_task_data(task);

    run->grace_over = TRUE;
    mgr_power_maybe_finish(task);
    return G_SOURCE_REMOVE;
}

static void mgr_power_start_grace(GTask *task)
{
    MgrPowerRun *run = g_task_get_task_data(task);

    if (run->grace_source != NULL || run->done) {
        return;
    }
    run->grace_source = g_timeout_source_new(MGR_POWER_GRACE_MS);
    g_source_set_callback(run->grace_source, mgr_power_grace_over,
                          g_object_ref(task), g_object_unref);
    g_source_attach(run->grace_source, g_task_get_context(task));
}

static gboolean mgr_power_timed_out(gpointer data)
{
    GTask *task = data;
    MgrPowerRun *run = g_task_get_task_data(task);

    if (run->exited || run->done) {
        return G_SOURCE_REMOVE;
    }
    run->timed_out = TRUE;
    run->killed = TRUE;
    /* not reaped yet, so the group id is still the command's own */
    if (run->pid > 0) {
        kill(-run->pid, SIGKILL);
    }
    g_subprocess_force_exit(run->subprocess);
    /* a process stuck in the kernel may not die at once */
    mgr_power_start_grace(task);
    return G_SOURCE_REMOVE;
}

static void mgr_power_read(GTask *task);

static void mgr_power_read_done(GObject *source, GAsyncResult *res,
                                gpointer data)
{
    g_autoptr(GTask) task = data;
    MgrPowerRun *run = g_task_get_task_data(task);
    gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), res, NULL);

    if (run->done) {
        return;
    }
    if (n > 0) {
        gsize room = MGR_POWER_OUTPUT_MAX - run->head->len;

        g_byte_array_append(run->head, run->buf, (guint)MIN((gsize)n, room));
        run->truncated |= (gsize)n > room;
        mgr_power_read(task);
        return;
    }
    /* EOF, or an error that ends the output just the same */
    run->eof = TRUE;
    mgr_power_maybe_finish(task);
}

static void mgr_power_read(GTask *task)
{
    MgrPowerRun *run = g_task_get_task_data(task);

    g_input_stream_read_async(run->stream, run->buf, sizeof(run->buf),
                              G_PRIORITY_DEFAULT, run->io_cancel,
                              mgr_power_read_done, g_object_ref(task));
}

static void mgr_power_waited(GObject *source, GAsyncResult *res, gpointer data)
{
    g_autoptr(GTask) task = data;
    MgrPowerRun *run = g_task_get_task_data(task);

    if (!g_subprocess_wait_finish(G_SUBPROCESS(source), res, NULL) ||
        run->done) {
        return;
    }
    run->exited = TRUE;
    mgr_power_source_clear(&run->timeout_source);
    if (!run->eof) {
        /* output still in the pipe, or a child of it holding the pipe */
        mgr_power_start_grace(task);
    }
    mgr_power_maybe_finish(task);
}

void mgr_power_run_async(const char *const *argv, guint timeout_s,
                         GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(NULL, NULL, callback, user_data);
    g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(
        G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE);
    g_autoptr(GError) local = NULL;
    GSubprocess *subprocess;
    MgrPowerRun *run;
    const char *ident;

    g_task_set_source_tag(task, mgr_power_run_async);
    g_subprocess_launcher_set_child_setup(launcher, mgr_power_child_setup, NULL,
                                          NULL);
    subprocess = g_subprocess_launcher_spawnv(launcher, argv, &local);
    if (subprocess == NULL) {
        g_task_return_new_error(task, DRV_ERROR, DRV_ERROR_INVALID,
                                "cannot run %s: %s", argv[0], local->message);
        return;
    }
    run = g_new0(MgrPowerRun, 1);
    run->subprocess = subprocess;
    ident = g_subprocess_get_identifier(subprocess);
    run->pid = ident ? (pid_t)g_ascii_strtoll(ident, NULL, 10) : 0;
    run->stream = g_subprocess_get_stdout_pipe(subprocess);
    run->head = g_byte_array_new();
    run->timeout_s = timeout_s;
    run->io_cancel = g_cancellable_new();
    g_task_set_task_data(task, run, (GDestroyNotify)mgr_power_run_free);
    mgr_power_read(task);
    g_subprocess_wait_async(subprocess, run->io_cancel, mgr_power_waited,
                            g_object_ref(task));
    /* not _seconds(): GLib may fire those up to a second early */
    run->timeout_source =
        g_timeout_source_new(MIN(timeout_s, G_MAXUINT / 1000) * 1000);
    g_source_set_callback(run->timeout_source, mgr_power_timed_out,
                          g_object_ref(task), g_object_unref);
    g_source_attach(run->timeout_source, g_task_get_context(task));
}

MgrPowerResult *mgr_power_run_finish(GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}

/* ---- hosts ---- */

gboolean mgr_host_can_power(const MgrHost *host)
{
    return host->power_on_cmd != NULL && host->power_off_cmd != NULL;
}

gboolean mgr_host_is_powered_off(const MgrHost *host)
{
    return host->status == MGR_HOST_DOWN &&
           g_strcmp0(host->power_action, "on") != 0;
}

gboolean mgr_host_is_powering_on(const MgrHost *host)
{
    return g_strcmp0(host->power_action, "on") == 0;
}

/* A power action in the background: what its end needs to know. */
typedef struct {
    Mgr *mgr;
    char *host_id;
    char *action; /* "on", "off" */
    char *user;
    MgrHostStatus previous; /* off: the status to give back on failure */
} MgrPowerJob;

static void mgr_power_job_free(MgrPowerJob *job)
{
    if (job == NULL) {
        return;
    }
    g_free(job->host_id);
    g_free(job->action);
    g_free(job->user);
    g_free(job);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MgrPowerJob, mgr_power_job_free)

/*
 * Start @action: the host is down (with @reason) before its command runs,
 * so that nothing is placed there meanwhile.
 */
static void mgr_power_begin(Mgr *mgr, MgrHost *host, const char *action,
                            const char *reason)
{
    g_free(host->power_action);
    host->power_action = g_strdup(action);
    host->power_action_us = g_get_real_time();
    mgr_set_host_status(mgr, host, MGR_HOST_DOWN, reason);
    mgr_save_host(mgr, host);
}

/* The action's command failed: none is under way; why, in words. */
static char *mgr_power_failed(MgrHost *host, const MgrPowerResult *result,
                              const GError *error)
{
    host->power_failed_us = g_get_real_time();
    g_clear_pointer(&host->power_action, g_free);
    host->power_action_us = 0;
    return result ? mgr_power_result_describe(result)
                  : g_strdup(error->message);
}

/*
 * What a command did, into @obj: exit_status (null when killed),
 * timed_out and output; a command that did not start has its error as
 * output.
 */
static void mgr_power_set_result(JsonObject *obj, const MgrPowerResult *result,
                                 const GError *error)
{
    if (result == NULL || result->timed_out || result->signaled) {
        json_object_set_null_member(obj, "exit_status");
    } else {
        json_object_set_int_member(obj, "exit_status", result->exit_status);
    }
    json_object_set_boolean_member(obj, "timed_out",
                                   result != NULL && result->timed_out);
    json_object_set_string_member(obj, "output",
                                  result ? result->output : error->message);
}

/* The event data of a failed command. */
static JsonObject *mgr_power_failure_data(const char *action,
                                          const MgrPowerResult *result,
                                          const GError *error)
{
    JsonObject *data = json_object_new();

    json_object_set_string_member(data, "action", action);
    mgr_power_set_result(data, result, error);
    return data;
}

static void mgr_power_off_done(GObject *source, GAsyncResult *res,
                               gpointer user_data)
{
    g_autoptr(MgrPowerJob) job = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(MgrPowerResult) result = mgr_power_run_finish(res, &error);
    g_autofree char *why = NULL;
    Mgr *mgr = job->mgr;
    MgrHost *host = g_hash_table_lookup(mgr->hosts, job->host_id);

    /* removed meanwhile, or no longer this action's (droverd's own view) */
    if (host == NULL || g_strcmp0(host->power_action, "off") != 0) {
        return;
    }
    if (result != NULL && mgr_power_result_ok(result)) {
        host->power_failed_us = 0;
        g_clear_pointer(&host->power_action, g_free);
        host->power_action_us = 0;
        mgr_save_host(mgr, host);
        mgr_event(mgr, MGR_SEVERITY_INFO, "host_powered_off", job->user, NULL,
                  NULL, host->id, NULL, NULL, "host %s is powered off",
                  host->name);
        return;
    }
    why = mgr_power_failed(host, result, error);
    /* the monitor checks it again from here */
    mgr_set_host_status(mgr, host, job->previous, NULL);
    mgr_save_host(mgr, host);
    mgr_event(mgr, MGR_SEVERITY_ERROR, "host_power_failed", job->user, NULL,
              NULL, host->id, NULL,
              mgr_power_failure_data("off", result, error),
              "powering off host %s failed: the command %s; it is %s again",
              host->name, why, mgr_host_status_name(job->previous));
}

static void mgr_power_on_done(GObject *source, GAsyncResult *res,
                              gpointer user_data)
{
    g_autoptr(MgrPowerJob) job = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(MgrPowerResult) result = mgr_power_run_finish(res, &error);
    g_autofree char *why = NULL;
    g_autofree char *reason = NULL;
    Mgr *mgr = job->mgr;
    MgrHost *host = g_hash_table_lookup(mgr->hosts, job->host_id);

    /*
     * Success: the host stays down until the monitor reaches its agent.
     * An action already over (the agent answered first, or the wait timed
     * out) is not this command's to judge any more.
     */
    if (host == NULL || !mgr_host_is_powering_on(host) ||
        (result != NULL && mgr_power_result_ok(result))) {
        return;
    }
    why = mgr_power_failed(host, result, error);
    reason =
        g_strdup_printf("powered off; powering on failed: the command %s", why);
    mgr_set_host_status(mgr, host, MGR_HOST_DOWN, reason);
    mgr_save_host(mgr, host);
    mgr_event(mgr, MGR_SEVERITY_ERROR, "host_power_failed", job->user, NULL,
              NULL, host->id, NULL, mgr_power_failure_data("on", result, error),
              "powering on host %s failed: the command %s; it stays down",
              host->name, why);
}

static MgrPowerJob *mgr_power_job_new(Mgr *mgr, MgrHost *host,
                                      const char *action, const char *user)
{
    MgrPowerJob *job = g_new0(MgrPowerJob, 1);

    job->mgr = mgr;
    job->host_id = g_strdup(host->id);
    job->action = g_strdup(action);
    job->user = g_strdup(user);
    job->previous = host->status;
    return job;
}

/* What keeps @host from being powered off, as a sentence, or NULL. */
static char *mgr_power_off_blockers(Mgr *mgr, MgrHost *host)
{
    g_autoptr(GPtrArray) vms = mgr_host_vms(mgr, host->id);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) moving = g_ptr_array_new_with_free_func(g_free);
    GHashTableIter iter;
    gpointer value;

    for (guint i = 0; i < vms->len; i++) {
        MgrVm *vm = g_ptr_array_index(vms, i);

        if (vm->status != MGR_VM_DOWN) {
            g_ptr_array_add(names, g_strdup(vm->spec->name));
        }
    }
    if (names->len > 0) {
        g_autofree char *list = mgr_join(names, ", ");

        return g_strdup_printf("it still runs VM%s %s: move %s away first "
                               "(drover host maintenance)",
                               names->len > 1 ? "s" : "", list,
                               names->len > 1 ? "them" : "it");
    }
    g_hash_table_iter_init(&iter, mgr->migrations);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        MgrMigration *mig = value;

        if (mgr_migration_is_active(mig) &&
            (g_strcmp0(mig->source_host_id, host->id) == 0 ||
             g_strcmp0(mig->destination_host_id, host->id) == 0 ||
             g_strcmp0(mig->requested_host_id, host->id) == 0)) {
            g_ptr_array_add(moving, g_strdup(mgr_vm_name(mgr, mig->vm_id)));
        }
    }
    if (moving->len > 0) {
        g_autofree char *list = mgr_join(moving, ", ");

        return g_strdup_printf("migrations of %s to or from it are queued or "
                               "running",
                               list);
    }
    return NULL;
}

/* A power action under way refuses another one. */
static gboolean mgr_power_check_idle(MgrHost *host, GError **error)
{
    if (host->power_action == NULL) {
        return TRUE;
    }
    g_set_error(error, DRV_ERROR, DRV_ERROR_CONFLICT,
                "host %s is being powered %s: wait until that is over",
                host->name, host->power_action);
    return FALSE;
}

static gboolean mgr_power_check_managed(MgrHost *host, GError **error)
{
    if (mgr_host_can_power(host)) {
        return TRUE;
    }
    g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                "host %s has no power management: give it power on and off "
                "commands first",
                host->name);
    return FALSE;
}

gboolean mgr_power_off(Mgr *mgr, MgrHost *host, const char *user,
                       const char *reason, GError **error)
{
    g_auto(GStrv) argv = NULL;
    g_autofree char *blockers = NULL;
    MgrPowerJob *job;

    if (!mgr_power_check_managed(host, error) ||
        !mgr_power_check_idle(host, error)) {
        return FALSE;
    }
    if (host->status == MGR_HOST_DOWN) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_CONFLICT,
                    "host %s is already powered off", host->name);
        return FALSE;
    }
    if (host->status != MGR_HOST_UP && host->status != MGR_HOST_MAINTENANCE) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_CONFLICT,
                    "host %s is %s: only a host that is up or in maintenance "
                    "is powered off",
                    host->name, mgr_host_status_name(host->status));
        return FALSE;
    }
    blockers = mgr_power_off_blockers(mgr, host);
    if (blockers != NULL) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_CONFLICT,
                    "host %s cannot be powered off: %s", host->name, blockers);
        return FALSE;
    }
    argv = mgr_power_expand(host->power_off_cmd, host, error);
    if (argv == NULL) {
        g_prefix_error(error, "host %s: power-off command: ", host->name);
        return FALSE;
    }
    job = mgr_power_job_new(mgr, host, "off", user);
    mgr_power_begin(mgr, host, "off", reason);
    /* "powered off by alice" reads as the end of the sentence */
    mgr_event(
        mgr, MGR_SEVERITY_INFO, "host_power_off", user, NULL, NULL, host->id,
        NULL, NULL, "host %s is being %s%s", host->name,
        g_str_has_prefix(reason, "powered off") ? "" : "powered off: ", reason);
    mgr_power_run_async((const char *const *)argv,
                        mgr->config->power_command_timeout_s,
                        mgr_power_off_done, job);
    return TRUE;
}

gboolean mgr_power_on(Mgr *mgr, MgrHost *host, const char *user,
                      const char *reason, GError **error)
{
    g_auto(GStrv) argv = NULL;
    g_autofree char *status_reason = NULL;

    if (!mgr_power_check_managed(host, error) ||
        !mgr_power_check_idle(host, error)) {
        return FALSE;
    }
    if (host->status != MGR_HOST_DOWN) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_CONFLICT,
                    "host %s is %s, not powered off", host->name,
                    mgr_host_status_name(host->status));
        return FALSE;
    }
    argv = mgr_power_expand(host->power_on_cmd, host, error);
    if (argv == NULL) {
        g_prefix_error(error, "host %s: power-on command: ", host->name);
        return FALSE;
    }
    status_reason = g_strdup_printf("powering on: %s", reason);
    mgr_power_begin(mgr, host, "on", status_reason);
    mgr_event(mgr, MGR_SEVERITY_INFO, "host_power_on", user, NULL, NULL,
              host->id, NULL, NULL, "host %s is being powered on: %s",
              host->name, reason);
    mgr_power_run_async((const char *const *)argv,
                        mgr->config->power_command_timeout_s, mgr_power_on_done,
                        mgr_power_job_new(mgr, host, "on", user));
    return TRUE;
}

static void mgr_power_status_done(GObject *source, GAsyncResult *res,
                                  gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(MgrPowerResult) result = mgr_power_run_finish(res, &error);
    JsonObject *out;

    if (result == NULL) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    out = json_object_new();
    json_object_set_object_member(out, "host",
                                  json_object_ref(g_task_get_task_data(task)));
    json_object_set_string_member(out, "power",
                                  mgr_power_state_from_result(result));
    mgr_power_set_result(out, result, NULL);
    g_task_return_pointer(task, out, (GDestroyNotify)json_object_unref);
}

void mgr_power_status_async(Mgr *mgr, MgrHost *host,
                            GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(NULL, NULL, callback, user_data);
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) argv = NULL;

    g_task_set_source_tag(task, mgr_power_status_async);
    g_task_set_task_data(task, mgr_present_ref(host->id, host->name),
                         (GDestroyNotify)json_object_unref);
    if (host->power_status_cmd == NULL) {
        g_task_return_new_error(task, DRV_ERROR, DRV_ERROR_INVALID,
                                "host %s has no power status command",
                                host->name);
        return;
    }
    argv = mgr_power_expand(host->power_status_cmd, host, &error);
    if (argv == NULL) {
        g_prefix_error(&error, "host %s: power status command: ", host->name);
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    mgr_power_run_async((const char *const *)argv,
                        mgr->config->power_command_timeout_s,
                        mgr_power_status_done, g_steal_pointer(&task));
}

JsonObject *mgr_power_status_finish(GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}
