/*
 * Migration policies: the built-in schedules, schedules from JSON, the
 * schedule controller and the adaptive controller, fed with progress
 * samples shaped like QEMU 7.2's query-migrate and with query-migrate
 * answers recorded from real migrations (data/); and the predictor.
 */
#include "agent/adaptive.h"
#include "agent/migration.h"
#include "agent/policy.h"
#include "common/error.h"
#include "common/json.h"
#include "common/predict.h"

#define MIB (1024.0 * 1024.0)

static AgentPolicy *policy_of(const char *text)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = drv_json_parse(text, -1, &error);
    AgentPolicy *policy;

    g_assert_no_error(error);
    policy = agent_policy_from_json(node, &error);
    g_assert_no_error(error);
    return policy;
}

static void policy_refused(const char *text, const char *word)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = drv_json_parse(text, -1, &error);
    g_autoptr(AgentPolicy) policy = NULL;

    g_assert_no_error(error);
    policy = agent_policy_from_json(node, &error);
    g_assert_null(policy);
    g_assert_error(error, DRV_ERROR, DRV_ERROR_INVALID);
    if (strstr(error->message, word) == NULL) {
        g_error("'%s' not in '%s'", word, error->message);
    }
}

/* A progress sample: @remaining MiB left in pass @pass at @ms. */
static void sample(AgentMigrationProgress *p, const char *status,
                   double remaining, guint64 pass, gint64 ms)
{
    g_free(p->qemu_status);
    p->qemu_status = g_strdup(status);
    p->remaining_bytes = (guint64)(remaining * MIB);
    p->total_bytes = (guint64)(256 * MIB);
    p->pass = pass;
    p->elapsed_ms = ms;
    p->page_size = 4096;
    p->throughput_mbps = 1000;
}

/* Feed @p; return the actions as "name=value[!]" joined by spaces. */
static char *step(AgentController *ctrl, AgentMigrationProgress *p)
{
    g_autoptr(GPtrArray) actions = agent_controller_step(ctrl, p);
    GString *out = g_string_new(NULL);

    for (guint i = 0; i < actions->len; i++) {
        AgentAction *a = g_ptr_array_index(actions, i);

        g_string_append_printf(out, "%s%s=%g%s", out->len ? " " : "",
                               agent_action_name(a->kind), a->value,
                               a->skipped ? "!" : "");
        g_assert_nonnull(a->why);
    }
    return g_string_free(out, FALSE);
}

static AgentController *controller(const AgentPolicy *policy,
                                   gboolean post_copy, guint timeout_s)
{
    AgentControllerContext ctx = {0};

    ctx.post_copy_allowed = post_copy;
    ctx.memory_bytes = (guint64)(256 * MIB);
    ctx.timeout_s = timeout_s;
    return agent_controller_new(policy, &ctx);
}

/*
 * A guest that never converges: each pass sends down to ~0, then the
 * next starts with its 40 MiB working set again.  Returns what happened
 * at each pass start, "pass:actions;".
 */
static char *run_stalling(AgentController *ctrl, guint passes)
{
    g_auto(AgentMigrationProgress) p = {0};
    GString *log = g_string_new(NULL);
    gint64 ms = 0;

    for (guint pass = 1; pass <= passes; pass++) {
        for (double left = (pass == 1 ? 200 : 40); left > 0; left -= 20) {
            g_autofree char *acts = NULL;

            sample(&p, "active", left, pass, ms += 250);
            acts = step(ctrl, &p);
            if (*acts != '\0') {
                g_string_append_printf(log, "%u:%s;", pass, acts);
            }
        }
    }
    return g_string_free(log, FALSE);
}

static void test_builtins(void)
{
    const char *const *names = drv_migration_policies();
    g_autoptr(AgentPolicy) legacy = NULL;
    g_autoptr(AgentPolicy) minimal = NULL;
    g_autoptr(AgentPolicy) suspend = NULL;
    g_autoptr(GError) error = NULL;

    for (guint i = 0; names[i]; i++) {
        g_autoptr(AgentPolicy) p = agent_policy_builtin(names[i], &error);

        const DrvMigrationPolicy *info = drv_migration_policy_lookup(names[i]);
        gboolean post_copy = p->adaptive;

        g_assert_no_error(error);
        g_assert_cmpstr(p->name, ==, names[i]);
        /* the manager's estimates read the common table: it must agree */
        for (guint r = 0; r < p->n_rules; r++) {
            post_copy |= p->rules[r].action == AGENT_ACTION_POSTCOPY;
        }
        g_assert_cmpint(info->post_copy, ==, post_copy);
        g_assert_cmpint(info->throttle, ==,
                        p->adaptive ||
                            p->initial.auto_converge == AGENT_CAP_ON);
        if (!p->adaptive) {
            g_assert_cmpuint(info->downtime_ms, ==, p->initial.downtime_ms);
        } else {
            g_assert_cmpuint(info->downtime_ms, ==,
                             p->downtime_target_ms -
                                 DRV_PREDICT_FIXED_PAUSE_MS);
        }
    }
    legacy = agent_policy_builtin("legacy", &error);
    g_assert_cmpuint(legacy->initial.downtime_ms, ==, 300);
    g_assert_cmpuint(legacy->initial.bandwidth_mbps, ==, 1074);
    g_assert_cmpuint(legacy->n_rules, ==, 0);
    g_assert_cmpint(legacy->initial.auto_converge, ==, AGENT_CAP_OFF);
    minimal = agent_policy_builtin("minimal_downtime", &error);
    g_assert_cmpuint(minimal->initial.downtime_ms, ==, 100);
    g_assert_cmpint(minimal->initial.auto_converge, ==, AGENT_CAP_ON);
    g_assert_cmpint(minimal->initial.compression, ==, AGENT_CAP_OFF);
    suspend = agent_policy_builtin("suspend_workload", &error);
    g_assert_cmpint(suspend->initial.compression, ==, AGENT_CAP_ON);
    g_assert_null(agent_policy_builtin("fastest", &error));
    g_assert_error(error, DRV_ERROR, DRV_ERROR_INVALID);
    g_assert_nonnull(strstr(error->message, "minimal_downtime"));
}

/* oVirt's schedules, step by step, on a guest that never converges. */
static void test_ovirt_schedules(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(AgentPolicy) minimal =
        agent_policy_builtin("minimal_downtime", &error);
    g_autoptr(AgentPolicy) suspend =
        agent_policy_builtin("suspend_workload", &error);
    g_autoptr(AgentPolicy) post = agent_policy_builtin("post_copy", &error);
    g_autoptr(AgentController) c1 = controller(minimal, FALSE, 0);
    g_autoptr(AgentController) c2 = controller(suspend, FALSE, 0);
    g_autoptr(AgentController) c3 = controller(post, TRUE, 0);
    g_autoptr(AgentController) c4 = controller(post, FALSE, 0);
    g_autofree char *log1 = run_stalling(c1, 9);
    g_autofree char *log2 = run_stalling(c2, 10);
    g_autofree char *log3 = run_stalling(c3, 6);
    g_autofree char *log4 = run_stalling(c4, 6);

    /* 100 ms, then 150-400 at passes 2-5, 500 at 7, then abort */
    g_assert_cmpstr(log1, ==,
                    "2:downtime_ms=150;3:downtime_ms=200;4:downtime_ms=300;"
                    "5:downtime_ms=400;7:downtime_ms=500;8:abort=0;");
    g_assert_cmpstr(log2, ==,
                    "2:downtime_ms=150;3:downtime_ms=200;4:downtime_ms=300;"
                    "5:downtime_ms=400;7:downtime_ms=500;8:downtime_ms=5000;"
                    "9:abort=0;");
    g_assert_cmpstr(log3, ==,
                    "2:downtime_ms=150;3:downtime_ms=200;4:post_copy=0;"
                    "5:abort=0;");
    /* a VM that does not allow post-copy: recorded, skipped */
    g_assert_cmpstr(log4, ==,
                    "2:downtime_ms=150;3:downtime_ms=200;4:post_copy=0!;"
                    "5:abort=0;");
    g_assert_cmpuint(agent_controller_downtime(c1), ==, 500);
}

static void test_no_stall_no_steps(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(AgentPolicy) minimal =
        agent_policy_builtin("minimal_downtime", &error);
    g_autoptr(AgentController) ctrl = controller(minimal, FALSE, 0);
    g_auto(AgentMigrationProgress) p = {0};
    /* each pass starts with less than any earlier sample showed */
    const double starts[] = {200, 30, 10, 3, 1};

    for (guint i = 0; i < G_N_ELEMENTS(starts); i++) {
        g_autofree char *acts = NULL;

        sample(&p, "active", starts[i], i + 1, (i + 1) * 500);
        acts = step(ctrl, &p);
        g_assert_cmpstr(acts, ==, "");
    }
}

static void test_schedule_parse(void)
{
    g_autoptr(AgentPolicy) p = policy_of(
        "{\"name\": \"mine\", \"initial\": {\"downtime_ms\": 100, "
        "\"bandwidth_mbps\": \"unlimited\", \"auto_converge\": true, "
        "\"compression\": \"standby\"}, \"rules\": ["
        "{\"when\": {\"stalled\": 1}, \"then\": {\"downtime_ms\": 150}},"
        "{\"when\": {\"elapsed_s\": 30}, \"then\": {\"compression\": true}},"
        "{\"when\": {\"remaining_grew\": 5, \"repeat\": true},"
        " \"then\": {\"downtime_factor\": 2}},"
        "{\"when\": {\"pass\": 5}, \"then\": {\"action\": \"post_copy\"}},"
        "{\"when\": {\"stalled\": 8}, \"then\": {\"action\": \"abort\"}}]}");
    g_autoptr(JsonObject) back = agent_policy_to_json(p);
    g_autofree char *text = drv_json_object_to_string(back, FALSE);
    g_autoptr(AgentPolicy) again = policy_of(text);

    g_assert_cmpstr(p->name, ==, "mine");
    g_assert_cmpuint(p->initial.downtime_ms, ==, 100);
    g_assert_cmpuint(p->initial.bandwidth_mbps, ==, G_MAXUINT);
    g_assert_cmpint(p->initial.compression, ==, AGENT_CAP_STANDBY);
    g_assert_cmpuint(p->n_rules, ==, 5);
    g_assert_true(p->rules[2].repeat);
    g_assert_cmpint(p->rules[2].action, ==, AGENT_ACTION_DOWNTIME_FACTOR);
    g_assert_cmpint(p->rules[3].action, ==, AGENT_ACTION_POSTCOPY);
    /* what is recorded reads back as the same schedule */
    g_assert_cmpuint(again->n_rules, ==, 5);
    g_assert_cmpint(again->initial.compression, ==, AGENT_CAP_STANDBY);
    g_assert_cmpfloat(again->rules[2].value, ==, 2);
    g_assert_true(again->rules[2].repeat);
    g_assert_cmpuint(again->initial.bandwidth_mbps, ==, G_MAXUINT);
}

static void test_schedule_refused(void)
{
    policy_refused("42", "policy");
    policy_refused("{\"rules\": [{\"when\": {\"tide\": 1}, "
                   "\"then\": {\"downtime_ms\": 5}}]}",
                   "tide");
    policy_refused("{\"rules\": [{\"when\": {\"pass\": 1, \"stalled\": 2}, "
                   "\"then\": {\"downtime_ms\": 5}}]}",
                   "exactly one");
    policy_refused("{\"rules\": [{\"when\": {\"pass\": 1}, "
                   "\"then\": {\"action\": \"explode\"}}]}",
                   "action");
    policy_refused("{\"rules\": [{\"when\": {\"pass\": 1}, "
                   "\"then\": {\"downtime_ms\": 0}}]}",
                   "downtime_ms");
    policy_refused("{\"rules\": [{\"when\": {\"pass\": 1}, "
                   "\"then\": {\"downtime_factor\": 50}}]}",
                   "downtime_factor");
    policy_refused("{\"initial\": {\"auto_converge\": \"maybe\"}}",
                   "auto_converge");
    policy_refused("{\"initial\": {\"speed\": 1}}", "speed");
    policy_refused("{\"name\": \"adaptive\", \"rules\": []}", "adaptive");
    policy_refused("\"turbo\"", "turbo");
}

static void test_elapsed_and_growth(void)
{
    /* Nova's first steps, and Proxmox's doubling */
    g_autoptr(AgentPolicy) nova = policy_of(
        "{\"name\": \"nova\", \"initial\": {\"downtime_ms\": 50}, \"rules\": ["
        "{\"when\": {\"elapsed_s\": 150}, \"then\": {\"downtime_ms\": 95}},"
        "{\"when\": {\"elapsed_s\": 300}, \"then\": {\"downtime_ms\": 140}}"
        "]}");
    g_autoptr(AgentPolicy) pve = policy_of(
        "{\"name\": \"pve\", \"initial\": {\"downtime_ms\": 100}, \"rules\": ["
        "{\"when\": {\"remaining_grew\": 5, \"repeat\": true},"
        " \"then\": {\"downtime_factor\": 2}}]}");
    g_autoptr(AgentController) c1 = controller(nova, FALSE, 0);
    g_autoptr(AgentController) c2 = controller(pve, FALSE, 0);
    g_auto(AgentMigrationProgress) p = {0};
    GString *log = g_string_new(NULL);
    g_autofree char *text = NULL;

    for (gint64 s = 0; s <= 320; s += 10) {
        g_autofree char *acts = NULL;

        sample(&p, "active", 50, 3, s * 1000);
        acts = step(c1, &p);
        if (*acts) {
            g_string_append_printf(log, "%" G_GINT64_FORMAT ":%s;", s, acts);
        }
    }
    text = g_string_free(log, FALSE);
    g_assert_cmpstr(text, ==, "150:downtime_ms=95;300:downtime_ms=140;");
    /* growing on 5 samples, twice: 100 -> 200 -> 400 */
    log = g_string_new(NULL);
    for (guint i = 0; i < 12; i++) {
        g_autofree char *acts = NULL;

        sample(&p, "active", 10 + i, 2, i * 500);
        acts = step(c2, &p);
        if (*acts) {
            g_string_append_printf(log, "%u:%s;", i, acts);
        }
    }
    g_free(text);
    text = g_string_free(log, FALSE);
    g_assert_cmpstr(text, ==, "5:downtime_ms=200;10:downtime_ms=400;");
}

static void test_timeout_and_idle_states(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(AgentPolicy) legacy = agent_policy_builtin("legacy", &error);
    g_autoptr(AgentController) ctrl = controller(legacy, FALSE, 10);
    g_auto(AgentMigrationProgress) p = {0};
    guint aborts = 0;

    /* nothing steers a migration that is not a running pre-copy */
    sample(&p, "postcopy-active", 50, 3, 60000);
    g_free(step(ctrl, &p));
    sample(&p, "setup", 50, 0, 60000);
    g_free(step(ctrl, &p));
    for (gint64 ms = 0; ms <= 20000; ms += 1000) {
        g_autofree char *acts = NULL;

        sample(&p, "active", 50, 1, ms);
        acts = step(ctrl, &p);
        if (g_str_has_prefix(acts, "abort")) {
            g_assert_cmpint(ms, ==, 11000);
            aborts++;
        }
    }
    g_assert_cmpuint(aborts, ==, 1);
}

/* ---- adaptive ---- */

/* Pass starts with @dirty_pps pages/s dirtied and @sent_pps sent. */
static char *adaptive_boundary(AgentController *ctrl, AgentMigrationProgress *p,
                               guint64 pass, double left_mib, double dirty_pps,
                               double sent_pps, gint64 ms)
{
    sample(p, "active", left_mib, pass, ms);
    p->dirty_rate_bps = (guint64)(dirty_pps * 4096);
    p->pages_per_second = (guint64)sent_pps;
    return step(ctrl, p);
}

static void test_adaptive_start(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(AgentPolicy) ad = agent_policy_builtin("adaptive", &error);
    g_autoptr(AgentController) ctrl = controller(ad, TRUE, 0);
    const AgentPolicyInitial *initial = agent_controller_initial(ctrl);

    /* room for the hand-over within the 50 ms the guest may see */
    g_assert_cmpuint(initial->downtime_ms, ==, 35);
    /* XBZRLE is decided before the stream; the throttle waits */
    g_assert_cmpint(initial->compression, ==, AGENT_CAP_STANDBY);
    g_assert_cmpint(initial->auto_converge, ==, AGENT_CAP_STANDBY);
    g_assert_cmpuint(initial->bandwidth_mbps, ==, 0);
}

static void test_adaptive_converging(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(AgentPolicy) ad = agent_policy_builtin("adaptive", &error);
    g_autoptr(AgentController) ctrl = controller(ad, TRUE, 0);
    g_auto(AgentMigrationProgress) p = {0};
    g_autofree char *a1 = adaptive_boundary(ctrl, &p, 1, 200, 0, 0, 250);
    g_autofree char *a2 =
        adaptive_boundary(ctrl, &p, 2, 14, 10000, 30000, 2000);
    g_autofree char *a3 = adaptive_boundary(ctrl, &p, 3, 5, 10000, 30000, 2200);
    JsonObject *prediction = agent_controller_prediction(ctrl);

    /* converging: nothing to change, XBZRLE least of all (fixed) */
    g_assert_cmpstr(a1, ==, "");
    g_assert_cmpstr(a2, ==, "");
    g_assert_cmpstr(a3, ==, "");
    g_assert_nonnull(prediction);
    g_assert_cmpstr(drv_json_string_or(prediction, "strategy", ""), ==,
                    "pre-copy");
    g_assert_cmpint(drv_json_int_or(prediction, "total_ms", 0), >, 2000);
}

static void test_adaptive_postcopy(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(AgentPolicy) ad = agent_policy_builtin("adaptive", &error);
    g_autoptr(AgentController) ctrl = controller(ad, TRUE, 0);
    g_auto(AgentMigrationProgress) p = {0};
    g_autofree char *a2 = NULL;
    g_autofree char *a3 = NULL;

    g_free(adaptive_boundary(ctrl, &p, 1, 200, 0, 0, 250));
    /* dirtying faster than sending: post-copy at once, and only once */
    a2 = adaptive_boundary(ctrl, &p, 2, 64, 40000, 30000, 2000);
    a3 = adaptive_boundary(ctrl, &p, 3, 64, 40000, 30000, 2600);
    g_assert_cmpstr(a2, ==, "post_copy=0");
    g_assert_cmpstr(a3, ==, "");
    g_assert_cmpstr(
        drv_json_string_or(agent_controller_prediction(ctrl), "strategy", ""),
        ==, "post-copy");
}

/*
 * Passes 1 and 2 of a guest dirtying 4/3 of what is sent, post-copy not
 * at hand: the controller throttles as hard as the ratio says,
 * 1 - 0.6 / (4/3) = 55%.
 */
static void adaptive_throttling(AgentController *ctrl,
                                AgentMigrationProgress *p, gint64 ms)
{
    g_autofree char *a2 = NULL;

    g_free(adaptive_boundary(ctrl, p, 1, 200, 0, 0, 250));
    a2 = adaptive_boundary(ctrl, p, 2, 64, 40000, 30000, ms);
    g_assert_cmpstr(a2, ==, "auto_converge=55");
}

/*
 * Pass 3 sampled every second from 3 s to @until_ms, expecting a 700 ms
 * pause; what the controller did, "ms:actions;".
 */
static char *adaptive_later(AgentController *ctrl, AgentMigrationProgress *p,
                            gint64 until_ms)
{
    GString *log = g_string_new(NULL);

    for (gint64 ms = 3000; ms <= until_ms; ms += 1000) {
        g_autofree char *acts = NULL;

        sample(p, "active", 64, 3, ms);
        p->expected_downtime_ms = 700;
        acts = step(ctrl, p);
        if (*acts) {
            g_string_append_printf(log, "%" G_GINT64_FORMAT ":%s;", ms, acts);
        }
    }
    return g_string_free(log, FALSE);
}

static void test_adaptive_no_postcopy(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(AgentPolicy) ad = policy_of(
        "{\"name\": \"adaptive\", \"adaptive\": {\"time_budget_s\": 20}}");
    g_autoptr(AgentController) ctrl = controller(ad, FALSE, 0);
    g_auto(AgentMigrationProgress) p = {0};
    g_autofree char *text = NULL;

    adaptive_throttling(ctrl, &p, 2000);
    /* then, past the budget: a longer pause; past 1.5x: pause */
    text = adaptive_later(ctrl, &p, 32000);
    g_assert_cmpstr(text, ==, "21000:downtime_ms=910;31000:pause=0;");
    g_assert_null(strstr(text, "post_copy"));
}

/*
 * A guest that outruns the link even at QEMU's 99% throttle: two passes
 * without progress there bring the longer pause, two more the guest's
 * pause, long before the budget.
 */
static void test_adaptive_throttle_exhausted(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(AgentPolicy) ad = agent_policy_builtin("adaptive", &error);
    g_autoptr(AgentController) ctrl = controller(ad, FALSE, 0);
    g_auto(AgentMigrationProgress) p = {0};
    GString *later = g_string_new(NULL);
    g_autofree char *text = NULL;

    adaptive_throttling(ctrl, &p, 1000);
    g_free(adaptive_boundary(ctrl, &p, 2, 10, 40000, 30000, 1500));
    for (guint pass = 3; pass <= 12; pass++) {
        for (guint half = 0; half < 2; half++) {
            g_autofree char *acts = NULL;

            sample(&p, "active", half ? 10 : 64, pass,
                   (gint64)pass * 1000 + half * 500);
            p.throttle_percent = MIN(99, 55 + 10 * (pass - 2));
            p.expected_downtime_ms = 400;
            acts = step(ctrl, &p);
            if (*acts) {
                g_string_append_printf(later, "%u:%s;", pass, acts);
            }
        }
    }
    text = g_string_free(later, FALSE);
    /* 99% from pass 7; passes 8 and 9, then 10 and 11, made no progress */
    g_assert_cmpstr(text, ==, "9:downtime_ms=520;11:pause=0;");
}

/* The budget ends inside the migration's timeout: no abort first. */
static void test_adaptive_budget_within_timeout(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(AgentPolicy) ad = agent_policy_builtin("adaptive", &error);
    g_autoptr(AgentController) ctrl = controller(ad, FALSE, 30);
    g_auto(AgentMigrationProgress) p = {0};
    g_autofree char *text = NULL;

    adaptive_throttling(ctrl, &p, 2000);
    text = adaptive_later(ctrl, &p, 29000);
    /* 120 s by default, 15 s within a 30 s timeout; pause past 22.5 s */
    g_assert_cmpstr(text, ==, "16000:downtime_ms=910;23000:pause=0;");
}

/*
 * Real query-migrate answers, recorded from two QEMU 7.2 on a shaped
 * 1 Gbit/s veth, polled every 250 ms as the agent does (qemu_pair.py
 * --record, commands in data/README.md), fed to @ctrl in order: what it
 * did, "pass:actions;".
 */
static char *replay(AgentController *ctrl, const char *name)
{
    g_autofree char *path = g_build_filename(DRV_TEST_DATA_DIR, name, NULL);
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    g_auto(AgentMigrationProgress) p = {0};
    GString *log = g_string_new(NULL);
    g_autoptr(GError) error = NULL;

    g_assert_true(g_file_get_contents(path, &text, NULL, &error));
    g_assert_no_error(error);
    lines = g_strsplit(text, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++) {
        g_autoptr(JsonNode) node = NULL;
        g_autofree char *acts = NULL;

        if (*lines[i] == '\0') {
            continue;
        }
        node = drv_json_parse(lines[i], -1, &error);
        g_assert_no_error(error);
        agent_migration_progress_update(&p, json_node_get_object(node));
        acts = step(ctrl, &p);
        if (*acts) {
            g_string_append_printf(log, "%" G_GUINT64_FORMAT ":%s;", p.pass,
                                   acts);
        }
    }
    return g_string_free(log, FALSE);
}

static void test_replay_stream(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(AgentPolicy) ad = agent_policy_builtin("adaptive", &error);
    g_autoptr(AgentPolicy) legacy = agent_policy_builtin("legacy", &error);
    g_autoptr(AgentController) armed = controller(ad, TRUE, 0);
    g_autoptr(AgentController) unarmed = controller(ad, TRUE, 0);
    g_autoptr(AgentController) l = controller(legacy, TRUE, 0);
    g_autofree char *a = NULL;
    g_autofree char *u = NULL;
    g_autofree char *n = NULL;

    agent_controller_arm_postcopy(armed, TRUE);
    agent_controller_arm_postcopy(unarmed, FALSE);
    a = replay(armed, "qmp-stream-autoconverge.jsonl");
    u = replay(unarmed, "qmp-stream-autoconverge.jsonl");
    n = replay(l, "qmp-stream-autoconverge.jsonl");
    /* QEMU's dirty rate comes after a second: judged at pass 3 */
    g_assert_cmpstr(a, ==, "3:post_copy=0;");
    /*
     * Not armed: throttled; QEMU's throttle reaches 99% at pass 19 and
     * passes 20 and 21 still start with 80-128 MiB: the longer pause
     * (QEMU's expected 1074 ms x 1.3), two passes later the guest's.
     */
    g_assert_cmpstr(a, !=, u);
    g_assert_cmpstr(u, ==,
                    "3:auto_converge=47.245;"
                    "21:downtime_ms=1396.2;23:pause=0;");
    g_assert_cmpstr(n, ==, "");
}

static void test_replay_db(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(AgentPolicy) ad = agent_policy_builtin("adaptive", &error);
    g_autoptr(AgentController) ctrl = controller(ad, TRUE, 0);
    g_autofree char *log = NULL;

    agent_controller_arm_postcopy(ctrl, TRUE);
    log = replay(ctrl, "qmp-db-converging.jsonl");
    /* converging: nothing to do */
    g_assert_cmpstr(log, ==, "");
}

/*
 * postcopy-ram costs every pre-copy pause, so it is armed only where
 * post-copy may be used: adaptive from the sample against the link, a
 * schedule when it names post-copy, never where the VM forbids it.
 */
static gboolean wanted(AgentController *ctrl, double dirty_mib_s,
                       double link_mbps, const char *word)
{
    g_autofree char *why = NULL;
    gboolean out = agent_controller_postcopy_wanted(
        ctrl, dirty_mib_s < 0 ? -1 : dirty_mib_s * MIB, link_mbps * 1e6 / 8,
        &why);

    g_assert_nonnull(why);
    if (strstr(why, word) == NULL) {
        g_error("'%s' not in '%s'", word, why);
    }
    return out;
}

static void test_postcopy_arming(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(AgentPolicy) ad = agent_policy_builtin("adaptive", &error);
    g_autoptr(AgentPolicy) legacy = agent_policy_builtin("legacy", &error);
    g_autoptr(AgentPolicy) pc = agent_policy_builtin("post_copy", &error);
    g_autoptr(AgentController) a = controller(ad, TRUE, 0);
    g_autoptr(AgentController) forbidden = controller(ad, FALSE, 0);
    g_autoptr(AgentController) l = controller(legacy, TRUE, 0);
    g_autoptr(AgentController) p = controller(pc, TRUE, 0);
    gboolean post_copy, throttle;

    /* the bench's figures on a 955 Mbit/s link: db 30, hot 66, stream 122 */
    g_assert_false(wanted(a, 30, 955, "converges"));
    g_assert_true(wanted(a, 66, 955, "may not converge"));
    g_assert_true(wanted(a, 122, 955, "may not converge"));
    /* the same guest on a 10 Gbit/s link converges */
    g_assert_false(wanted(a, 122, 10000, "converges"));
    /* nothing sampled: armed, in case */
    g_assert_true(wanted(a, -1, 955, "no dirty-rate sample"));
    g_assert_false(wanted(forbidden, 500, 955, "does not allow"));
    g_assert_false(wanted(l, 500, 955, "never switches"));
    g_assert_true(wanted(p, 0, 955, "may switch"));

    /* until decided, adaptive may use post-copy; once not armed, not */
    agent_controller_means(a, &post_copy, &throttle);
    g_assert_true(post_copy);
    agent_controller_arm_postcopy(a, FALSE);
    agent_controller_means(a, &post_copy, &throttle);
    g_assert_false(post_copy);
}

/* Not armed: adaptive throttles the guest it would have moved post-copy. */
static void test_adaptive_not_armed(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(AgentPolicy) ad = agent_policy_builtin("adaptive", &error);
    g_autoptr(AgentController) ctrl = controller(ad, TRUE, 0);
    g_autoptr(AgentPolicy) pc = agent_policy_builtin("post_copy", &error);
    g_autoptr(AgentController) sched = controller(pc, TRUE, 0);
    g_auto(AgentMigrationProgress) p = {0};
    g_autofree char *log = NULL;

    agent_controller_arm_postcopy(ctrl, FALSE);
    adaptive_throttling(ctrl, &p, 2000);
    /* a schedule's post-copy step is recorded, skipped */
    agent_controller_arm_postcopy(sched, FALSE);
    log = run_stalling(sched, 5);
    g_assert_nonnull(strstr(log, "post_copy=0!"));
}

/* A small hot set that fits the pause: no XBZRLE, no action at all. */
static void test_adaptive_small_hot_set(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(AgentPolicy) ad = agent_policy_builtin("adaptive", &error);
    g_autoptr(AgentController) ctrl = controller(ad, TRUE, 0);
    g_auto(AgentMigrationProgress) p = {0};
    g_autofree char *a1 = adaptive_boundary(ctrl, &p, 1, 200, 0, 0, 250);
    g_autofree char *a2 = adaptive_boundary(ctrl, &p, 2, 6, 2000, 30000, 1900);
    g_autofree char *a3 = adaptive_boundary(ctrl, &p, 3, 3, 2000, 30000, 2000);

    g_assert_cmpstr(a1, ==, "");
    g_assert_cmpstr(a2, ==, "");
    g_assert_cmpstr(a3, ==, "");
}

/*
 * QEMU's last-period mbps can be near zero at a pass boundary (a period
 * spent syncing the bitmap): the link is then judged from the average, and
 * a 2 s migration is not predicted to take minutes (seen in the demo).
 */
static void test_adaptive_link_rate(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(AgentPolicy) ad = agent_policy_builtin("adaptive", &error);
    g_autoptr(AgentController) ctrl = controller(ad, TRUE, 0);
    g_auto(AgentMigrationProgress) p = {0};
    AgentControllerContext capped = {.cap_mbps = 500};
    g_autofree char *a1 = NULL;
    g_autofree char *a2 = NULL;
    JsonObject *prediction;

    sample(&p, "active", 200, 1, 250);
    p.throughput_mbps = 0.3;
    p.transferred_bytes = (guint64)(190 * MIB);
    p.elapsed_ms = 1600;
    /* 190 MiB in 1.6 s: about 1 Gbit/s, whatever the last period said */
    g_assert_cmpfloat(agent_adaptive_link_bps(&capped, &p), ==, 500e6 / 8);
    capped.cap_mbps = 0;
    g_assert_cmpfloat_with_epsilon(agent_adaptive_link_bps(&capped, &p),
                                   190 * MIB / 1.6, 1);
    p.throughput_mbps = 2000;
    g_assert_cmpfloat(agent_adaptive_link_bps(&capped, &p), ==, 250e6);

    a1 = adaptive_boundary(ctrl, &p, 1, 200, 0, 0, 250);
    sample(&p, "active", 3, 2, 1600);
    p.throughput_mbps = 0.3;
    p.transferred_bytes = (guint64)(190 * MIB);
    a2 = step(ctrl, &p);
    prediction = agent_controller_prediction(ctrl);
    g_assert_nonnull(prediction);
    g_assert_cmpint(drv_json_int_or(prediction, "total_ms", 0), <, 3000);
    g_assert_cmpstr(a2, ==, "");
}

/*
 * XBZRLE is sized before the stream (QEMU 7.2 keeps the cache a migration
 * starts with): adaptive gives it the full cache where the guest may
 * outrun the link but deltas can still carry pre-copy, none where pre-copy
 * converges as it is or post-copy will move a guest that outruns the link
 * outright; a setting the request or a schedule made stands.
 */
static AgentCapMode compression_planned(const char *policy, double dirty_mib_s,
                                        gboolean post_copy,
                                        AgentCapMode requested, char **why)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(AgentPolicy) p = agent_policy_builtin(policy, &error);
    g_autoptr(AgentController) ctrl = controller(p, post_copy, 0);

    if (requested != AGENT_CAP_STANDBY) {
        agent_controller_initial_mut(ctrl)->compression = requested;
    }
    agent_controller_plan_compression(
        ctrl, dirty_mib_s < 0 ? -1 : dirty_mib_s * MIB, 125e6, why);
    return agent_controller_initial(ctrl)->compression;
}

static void test_adaptive_compression_plan(void)
{
    g_autofree char *hot = NULL;
    g_autofree char *stream = NULL;
    g_autofree char *stream_pinned = NULL;
    g_autofree char *web = NULL;
    g_autofree char *unsampled = NULL;
    g_autofree char *asked = NULL;
    g_autofree char *refused = NULL;
    g_autofree char *schedule = NULL;

    /* hot: sampled 63 MiB/s, 99 MB/s allowed for, on 125 MB/s: deltas */
    g_assert_cmpint(
        compression_planned("adaptive", 63, TRUE, AGENT_CAP_STANDBY, &hot), ==,
        AGENT_CAP_ON);
    g_assert_nonnull(strstr(hot, "full from the start"));
    /* stream: 128 MiB/s sampled outruns the link; post-copy will move it */
    g_assert_cmpint(
        compression_planned("adaptive", 128, TRUE, AGENT_CAP_STANDBY, &stream),
        ==, AGENT_CAP_OFF);
    g_assert_nonnull(strstr(stream, "post-copy will move it"));
    /* ... unless post-copy is not at hand: then deltas help pre-copy */
    g_assert_cmpint(compression_planned("adaptive", 128, FALSE,
                                        AGENT_CAP_STANDBY, &stream_pinned),
                    ==, AGENT_CAP_ON);
    /* web: 5 MiB/s */
    g_assert_cmpint(
        compression_planned("adaptive", 5, TRUE, AGENT_CAP_STANDBY, &web), ==,
        AGENT_CAP_OFF);
    g_assert_nonnull(strstr(web, "converges without XBZRLE"));
    g_assert_cmpint(compression_planned("adaptive", -1, TRUE, AGENT_CAP_STANDBY,
                                        &unsampled),
                    ==, AGENT_CAP_ON);
    g_assert_nonnull(strstr(unsampled, "no dirty-rate sample"));
    /* what the request asked for stands, either way */
    g_assert_cmpint(
        compression_planned("adaptive", 5, TRUE, AGENT_CAP_ON, &asked), ==,
        AGENT_CAP_ON);
    g_assert_null(asked);
    g_assert_cmpint(
        compression_planned("adaptive", 63, TRUE, AGENT_CAP_OFF, &refused), ==,
        AGENT_CAP_OFF);
    g_assert_null(refused);
    /* a schedule's own setting stands */
    g_assert_cmpint(compression_planned("minimal_downtime", 63, TRUE,
                                        AGENT_CAP_STANDBY, &schedule),
                    ==, AGENT_CAP_OFF);
    g_assert_null(schedule);
}

/* ---- predictor ---- */

/*
 * The arming rule agents and droverd's estimate share: a sample at 40 % of
 * the link or more (60 % once its undercount is allowed for).
 */
static void test_postcopy_needed(void)
{
    g_assert_true(drv_predict_postcopy_needed(-1, 125e6));
    g_assert_true(drv_predict_postcopy_needed(10 * MIB, 0));
    g_assert_false(drv_predict_postcopy_needed(0, 125e6));
    g_assert_false(drv_predict_postcopy_needed(0.39 * 125e6, 125e6));
    g_assert_true(drv_predict_postcopy_needed(0.41 * 125e6, 125e6));
    g_assert_true(drv_predict_postcopy_needed(300 * MIB, 125e6));
    /* outrunning it outright: two thirds of the link sampled, or more */
    g_assert_false(drv_predict_outruns_link(-1, 125e6));
    g_assert_false(drv_predict_outruns_link(10 * MIB, 0));
    g_assert_false(drv_predict_outruns_link(0.66 * 125e6, 125e6));
    g_assert_true(drv_predict_outruns_link(0.67 * 125e6, 125e6));
}

/*
 * How long an agent waits for a dirty-rate sample grows with the guest: a
 * 2 GiB guest's one-second sample took QEMU 3.9 s where reading untouched
 * RAM allocates it, about 1.5 s per GiB; a fixed wait failed it.
 */
static void test_sample_wait(void)
{
    g_assert_cmpuint(drv_dirty_rate_sample_max_ms(64, 1), >=, 3000);
    g_assert_cmpuint(drv_dirty_rate_sample_max_ms(64, 1), <=, 10000);
    g_assert_cmpuint(drv_dirty_rate_sample_max_ms(2048, 1), >, 2 * 3900);
    g_assert_cmpuint(drv_dirty_rate_sample_max_ms(2048, 10), >,
                     10000 + 2 * 2900);
    g_assert_cmpuint(drv_dirty_rate_sample_max_ms(8 * 1024, 1), >,
                     2 * 8 * 1500);
    /* bounded: a migration's prepare waits for the destination's sample */
    g_assert_cmpuint(drv_dirty_rate_sample_max_ms(64 * 1024, 1), <=,
                     AGENT_MIGRATION_PREPARE_TIMEOUT_MS / 2);
    g_assert_cmpuint(drv_dirty_rate_sample_max_ms(G_MAXUINT, G_MAXUINT), <,
                     G_MAXUINT / 2);
}

static void test_predict(void)
{
    DrvPredictInput in = {0};
    DrvPrediction out;

    in.data_bytes = 200 * MIB;
    in.link_bps = 125e6;
    in.downtime_ms = 35;
    /* an idle guest: one pass, a small pause */
    drv_predict(&in, &out);
    g_assert_cmpint(out.strategy, ==, DRV_STRATEGY_PRECOPY);
    g_assert_true(out.converges);
    g_assert_cmpuint(out.passes, ==, 1);
    g_assert_cmpfloat_with_epsilon(
        out.total_ms, 200 * MIB / 125e6 * 1000 + DRV_PREDICT_FIXED_PAUSE_MS, 1);
    /* dirtying a third of the link: a few passes, still converging */
    in.dirty_rate_bps = 40 * MIB;
    in.working_set_bytes = 32 * MIB;
    drv_predict_precopy(&in, &out);
    g_assert_true(out.converges);
    g_assert_cmpuint(out.passes, >=, 2);
    g_assert_cmpfloat(out.downtime_ms, <=, 35 + DRV_PREDICT_FIXED_PAUSE_MS);
    /* faster than the link: pre-copy cannot, post-copy can */
    in.dirty_rate_bps = 200 * MIB;
    in.working_set_bytes = 64 * MIB;
    drv_predict_precopy(&in, &out);
    g_assert_false(out.converges);
    g_assert_cmpuint(out.passes, ==, DRV_PREDICT_MAX_PASSES);
    in.post_copy = TRUE;
    drv_predict(&in, &out);
    g_assert_cmpint(out.strategy, ==, DRV_STRATEGY_POSTCOPY);
    g_assert_cmpfloat(out.downtime_ms, ==, DRV_PREDICT_FIXED_PAUSE_MS);
    g_assert_cmpfloat(out.sent_bytes, ==, 264 * MIB);
    /* no post-copy: the least throttle that converges */
    in.post_copy = FALSE;
    in.throttle = TRUE;
    in.max_throttle = 0.9;
    drv_predict(&in, &out);
    g_assert_cmpint(out.strategy, ==, DRV_STRATEGY_THROTTLE);
    g_assert_cmpfloat(out.throttle, >=, 0.39);
    g_assert_cmpfloat(out.throttle, <=, 0.9);
    g_assert_true(out.converges);
    /* neither: the guest pauses for all that is left */
    in.throttle = FALSE;
    drv_predict(&in, &out);
    g_assert_cmpint(out.strategy, ==, DRV_STRATEGY_PAUSE);
    g_assert_cmpfloat(out.downtime_ms, >, 500);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/policy/builtins", test_builtins);
    g_test_add_func("/policy/ovirt-schedules", test_ovirt_schedules);
    g_test_add_func("/policy/no-stall-no-steps", test_no_stall_no_steps);
    g_test_add_func("/policy/schedule-parse", test_schedule_parse);
    g_test_add_func("/policy/schedule-refused", test_schedule_refused);
    g_test_add_func("/policy/elapsed-and-growth", test_elapsed_and_growth);
    g_test_add_func("/policy/timeout-and-idle-states",
                    test_timeout_and_idle_states);
    g_test_add_func("/policy/adaptive-start", test_adaptive_start);
    g_test_add_func("/policy/adaptive-converging", test_adaptive_converging);
    g_test_add_func("/policy/adaptive-small-hot-set",
                    test_adaptive_small_hot_set);
    g_test_add_func("/policy/adaptive-link-rate", test_adaptive_link_rate);
    g_test_add_func("/policy/adaptive-compression-plan",
                    test_adaptive_compression_plan);
    g_test_add_func("/policy/adaptive-postcopy", test_adaptive_postcopy);
    g_test_add_func("/policy/adaptive-no-postcopy", test_adaptive_no_postcopy);
    g_test_add_func("/policy/adaptive-throttle-exhausted",
                    test_adaptive_throttle_exhausted);
    g_test_add_func("/policy/adaptive-budget-within-timeout",
                    test_adaptive_budget_within_timeout);
    g_test_add_func("/policy/replay-stream", test_replay_stream);
    g_test_add_func("/policy/replay-db", test_replay_db);
    g_test_add_func("/policy/postcopy-arming", test_postcopy_arming);
    g_test_add_func("/policy/adaptive-not-armed", test_adaptive_not_armed);
    g_test_add_func("/policy/predict", test_predict);
    g_test_add_func("/policy/sample-wait", test_sample_wait);
    g_test_add_func("/policy/postcopy-needed", test_postcopy_needed);
    return g_test_run();
}
