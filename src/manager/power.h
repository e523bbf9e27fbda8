/*
 * Host power management, the parts without a manager: command templates
 * and the bounded command runner.  power.c builds the actions on them;
 * they are apart so that tests/unit/test-power.c reaches them.
 *
 * A template is a command line with placeholders, split like a shell
 * would (g_shell_parse_argv) but run without one:
 *
 *   fence_ipmilan --ip={host} --username=admin --password-script=... -o on
 *
 * {name} the host's name, {address} its agent's URL, {host} the host part
 * of that URL, {id} the host's id.  A value always stays one word, quoted
 * for wherever the placeholder stands (bare, in '...' or in "..."), so that
 * a name cannot smuggle in more arguments.  "{{" and "}}" are literal
 * braces; any other {word} is refused.
 */
#pragma once

#include <gio/gio.h>

#include "manager/model.h"

G_BEGIN_DECLS

/* The output of a command kept for events and the API: its beginning. */
#define MGR_POWER_OUTPUT_MAX 4096
/* After exit, how long output still in the pipe is read. */
#define MGR_POWER_GRACE_MS 1000

/*
 * Whether @template is a command line: it parses into at least one word
 * and names only known placeholders.  The message says what is wrong.
 */
gboolean mgr_power_template_check(const char *template, GError **error);

/* @template with @host's values, as an argv. */
GStrv mgr_power_expand(const char *template, const MgrHost *host,
                       GError **error);

/* What a command did. */
typedef struct {
    gboolean timed_out; /* killed after the timeout */
    gboolean signaled;  /* ended by a signal (also after a timeout) */
    int exit_status;    /* when it exited by itself */
    guint timeout_s;    /* the timeout it had */
    char *output;       /* stdout and stderr, the first MGR_POWER_OUTPUT_MAX
                         * bytes as valid UTF-8, trailing space removed */
    gboolean truncated; /* there was more output */
} MgrPowerResult;

void mgr_power_result_free(MgrPowerResult *result);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MgrPowerResult, mgr_power_result_free)

gboolean mgr_power_result_ok(const MgrPowerResult *result);
/* "exited with status 1: <last line>", "killed after 60 s", ... */
char *mgr_power_result_describe(const MgrPowerResult *result);
/*
 * The fence-agent convention for "status": exit 0 on, 2 off; anything
 * else (and a timeout) unknown.
 */
const char *mgr_power_state_from_result(const MgrPowerResult *result);

/*
 * Run @argv (no shell) in its own process group, stdin /dev/null, stdout
 * and stderr merged and kept up to MGR_POWER_OUTPUT_MAX bytes (the rest is
 * read and dropped, so the command never blocks on a full pipe).  After
 * @timeout_s the whole group is killed and the result says timed_out.
 * Fails only when the command cannot be started.
 */
void mgr_power_run_async(const char *const *argv, guint timeout_s,
                         GAsyncReadyCallback callback, gpointer user_data);
MgrPowerResult *mgr_power_run_finish(GAsyncResult *result, GError **error);

/* "on", "off", "powering_on" or "powering_off" (docs/manager-api.md). */
const char *mgr_host_power_state(const MgrHost *host);

G_END_DECLS
