#include "agent/policy.h"

#include "agent/adaptive.h"
#include "common/error.h"
#include "common/json.h"
#include "common/vmspec.h"

/* QEMU's own defaults: 300 ms, 128 MiB/s (134217728 B/s = 1073.7 Mbit/s) */
#define AGENT_QEMU_DOWNTIME_MS 300
#define AGENT_QEMU_BANDWIDTH_MBPS 1074
#define AGENT_POLICY_MAX_DOWNTIME_MS 60000

static const char *const agent_action_names[] = {
    [AGENT_ACTION_DOWNTIME] = "downtime_ms",
    [AGENT_ACTION_DOWNTIME_FACTOR] = "downtime_factor",
    [AGENT_ACTION_BANDWIDTH] = "bandwidth_mbps",
    [AGENT_ACTION_AUTO_CONVERGE] = "auto_converge",
    [AGENT_ACTION_COMPRESSION] = "compression",
    [AGENT_ACTION_POSTCOPY] = "post_copy",
    [AGENT_ACTION_PAUSE] = "pause",
    [AGENT_ACTION_ABORT] = "abort",
};

static const char *const agent_trigger_names[] = {
    [AGENT_TRIGGER_PASS] = "pass",
    [AGENT_TRIGGER_STALLED] = "stalled",
    [AGENT_TRIGGER_ELAPSED] = "elapsed_s",
    [AGENT_TRIGGER_REMAINING_GREW] = "remaining_grew",
};

const char *agent_action_name(AgentActionKind kind)
{
    return agent_action_names[kind];
}

void agent_policy_free(AgentPolicy *policy)
{
    if (policy == NULL) {
        return;
    }
    g_free(policy->name);
    g_free(policy);
}

void agent_action_free(AgentAction *action)
{
    if (action == NULL) {
        return;
    }
    g_free(action->why);
    g_free(action);
}

void agent_action_add(GPtrArray *out, AgentActionKind kind, double value,
                      char *why)
{
    AgentAction *action = g_new0(AgentAction, 1);

    action->kind = kind;
    action->value = value;
    action->why = why;
    g_ptr_array_add(out, action);
}

/* ---- built-in policies ---- */

static AgentPolicy *agent_policy_alloc(const char *name)
{
    AgentPolicy *policy = g_new0(AgentPolicy, 1);

    policy->name = g_strdup(name);
    policy->initial.downtime_ms = AGENT_QEMU_DOWNTIME_MS;
    policy->initial.bandwidth_mbps = AGENT_QEMU_BANDWIDTH_MBPS;
    return policy;
}

static void agent_policy_rule(AgentPolicy *policy, AgentTrigger trigger,
                              double threshold, AgentActionKind action,
                              double value)
{
    AgentRule *rule = &policy->rules[policy->n_rules++];

    rule->trigger = trigger;
    rule->threshold = threshold;
    rule->action = action;
    rule->value = value;
}

/*
 * oVirt's convergence schedule: 100 ms, then 150, 200, 300, 400, 500 ms
 * after 1, 2, 3, 4, 6 stalled passes (its "Minimal downtime" and
 * "Suspend workload if needed" policies share it).
 */
static void agent_policy_ovirt_steps(AgentPolicy *policy)
{
    static const struct {
        guint stalled;
        guint downtime;
    } steps[] = {{1, 150}, {2, 200}, {3, 300}, {4, 400}, {6, 500}};

    policy->initial.downtime_ms = 100;
    policy->initial.bandwidth_mbps = 0;
    policy->initial.auto_converge = AGENT_CAP_ON;
    for (guint i = 0; i < G_N_ELEMENTS(steps); i++) {
        agent_policy_rule(policy, AGENT_TRIGGER_STALLED, steps[i].stalled,
                          AGENT_ACTION_DOWNTIME, steps[i].downtime);
    }
}

AgentPolicy *agent_policy_builtin(const char *name, GError **error)
{
    g_autoptr(AgentPolicy) policy = agent_policy_alloc(name);

    if (g_strcmp0(name, "adaptive") == 0) {
        policy->adaptive = TRUE;
        policy->initial.bandwidth_mbps = 0;
        policy->downtime_target_ms = AGENT_ADAPTIVE_DOWNTIME_TARGET_MS;
        policy->time_budget_s = AGENT_ADAPTIVE_TIME_BUDGET_S;
    } else if (g_strcmp0(name, "legacy") == 0) {
        /* QEMU's defaults, left alone */
    } else if (g_strcmp0(name, "minimal_downtime") == 0) {
        agent_policy_ovirt_steps(policy);
        agent_policy_rule(policy, AGENT_TRIGGER_STALLED, 7, AGENT_ACTION_ABORT,
                          0);
    } else if (g_strcmp0(name, "post_copy") == 0) {
        /* oVirt's "Post-copy migration": two steps, then post-copy */
        policy->initial.downtime_ms = 100;
        policy->initial.bandwidth_mbps = 0;
        policy->initial.auto_converge = AGENT_CAP_ON;
        agent_policy_rule(policy, AGENT_TRIGGER_STALLED, 1,
                          AGENT_ACTION_DOWNTIME, 150);
        agent_policy_rule(policy, AGENT_TRIGGER_STALLED, 2,
                          AGENT_ACTION_DOWNTIME, 200);
        agent_policy_rule(policy, AGENT_TRIGGER_STALLED, 3,
                          AGENT_ACTION_POSTCOPY, 0);
        agent_policy_rule(policy, AGENT_TRIGGER_STALLED, 4, AGENT_ACTION_ABORT,
                          0);
    } else if (g_strcmp0(name, "suspend_workload") == 0) {
        agent_policy_ovirt_steps(policy);
        policy->initial.compression = AGENT_CAP_ON;
        agent_policy_rule(policy, AGENT_TRIGGER_STALLED, 7,
                          AGENT_ACTION_DOWNTIME, 5000);
        agent_policy_rule(policy, AGENT_TRIGGER_STALLED, 8, AGENT_ACTION_ABORT,
                          0);
    } else {
        g_autofree char *known =
            g_strjoinv(", ", (char **)drv_migration_policies());

        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "migrate: no policy named '%s' (built-in: %s; or give a "
                    "schedule object)",
                    name, known);
        return NULL;
    }
    return g_steal_pointer(&policy);
}

/* ---- schedules from JSON ---- */

static int agent_name_index(const char *const *names, guint n, const char *name)
{
    for (guint i = 0; i < n; i++) {
        if (g_strcmp0(names[i], name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static gboolean agent_parse_cap(JsonObject *obj, const char *member,
                                AgentCapMode *out, GError **error)
{
    JsonNode *node = json_object_get_member(obj, member);

    if (node == NULL) {
        return TRUE;
    }
    if (JSON_NODE_HOLDS_VALUE(node) &&
        json_node_get_value_type(node) == G_TYPE_BOOLEAN) {
        *out = json_node_get_boolean(node) ? AGENT_CAP_ON : AGENT_CAP_OFF;
        return TRUE;
    }
    if (JSON_NODE_HOLDS_VALUE(node) &&
        json_node_get_value_type(node) == G_TYPE_STRING &&
        g_str_equal(json_node_get_string(node), "standby")) {
        *out = AGENT_CAP_STANDBY;
        return TRUE;
    }
    g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                "policy: initial '%s' must be true, false or \"standby\"",
                member);
    return FALSE;
}

static gboolean agent_parse_bandwidth(JsonObject *obj, const char *what,
                                      guint *out, GError **error)
{
    JsonNode *node = json_object_get_member(obj, "bandwidth_mbps");
    gint64 value;

    if (node == NULL) {
        return TRUE;
    }
    if (JSON_NODE_HOLDS_VALUE(node) &&
        json_node_get_value_type(node) == G_TYPE_STRING &&
        g_str_equal(json_node_get_string(node), "unlimited")) {
        *out = G_MAXUINT;
        return TRUE;
    }
    if (!drv_json_get_int(obj, what, "bandwidth_mbps", TRUE, 1, 1000000, &value,
                          error)) {
        return FALSE;
    }
    *out = (guint)value;
    return TRUE;
}

static gboolean agent_parse_initial(JsonObject *obj, AgentPolicy *policy,
                                    GError **error)
{
    static const char *const known[] = {"downtime_ms",      "bandwidth_mbps",
                                        "auto_converge",    "compression",
                                        "throttle_initial", NULL};
    gint64 downtime = policy->initial.downtime_ms;
    gint64 throttle = 0;

    if (!drv_json_check_members(obj, "policy initial", known, error) ||
        !drv_json_get_int(obj, "policy initial", "downtime_ms", FALSE, 1,
                          AGENT_POLICY_MAX_DOWNTIME_MS, &downtime, error) ||
        !drv_json_get_int(obj, "policy initial", "throttle_initial", FALSE, 1,
                          99, &throttle, error) ||
        !agent_parse_bandwidth(obj, "policy initial",
                               &policy->initial.bandwidth_mbps, error) ||
        !agent_parse_cap(obj, "auto_converge", &policy->initial.auto_converge,
                         error) ||
        !agent_parse_cap(obj, "compression", &policy->initial.compression,
                         error)) {
        return FALSE;
    }
    policy->initial.downtime_ms = (guint)downtime;
    policy->initial.throttle_initial = (guint)throttle;
    return TRUE;
}

/* The one member of @obj, for "when" and "then". */
static gboolean agent_single_member(JsonObject *obj, const char *what,
                                    const char **name, JsonNode **node,
                                    GError **error)
{
    JsonObjectIter iter;
    const char *member;
    JsonNode *value;
    guint n = 0;

    json_object_iter_init(&iter, obj);
    while (json_object_iter_next(&iter, &member, &value)) {
        if (g_str_equal(member, "repeat")) {
            continue;
        }
        *name = member;
        *node = value;
        n++;
    }
    if (n != 1) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "policy: each rule's '%s' needs exactly one member", what);
        return FALSE;
    }
    return TRUE;
}

static gboolean agent_parse_action(JsonObject *then, const char *what,
                                   AgentRule *rule, GError **error)
{
    static const char *const words[] = {"post_copy", "pause", "abort", NULL};
    static const AgentActionKind word_kinds[] = {
        AGENT_ACTION_POSTCOPY, AGENT_ACTION_PAUSE, AGENT_ACTION_ABORT};
    const char *name = NULL;
    JsonNode *node = NULL;
    int idx;

    if (!agent_single_member(then, "then", &name, &node, error)) {
        return FALSE;
    }
    if (g_str_equal(name, "action")) {
        const char *word =
            JSON_NODE_HOLDS_VALUE(node) &&
                    json_node_get_value_type(node) == G_TYPE_STRING
                ? json_node_get_string(node)
                : "";

        idx = agent_name_index(words, G_N_ELEMENTS(words) - 1, word);
        if (idx < 0) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                        "%s: 'action' must be post_copy, pause or abort", what);
            return FALSE;
        }
        rule->action = word_kinds[idx];
        return TRUE;
    }
    idx = agent_name_index(agent_action_names, G_N_ELEMENTS(agent_action_names),
                           name);
    if (idx < 0 || idx > AGENT_ACTION_COMPRESSION) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "%s: unknown action '%s'", what, name);
        return FALSE;
    }
    rule->action = (AgentActionKind)idx;
    switch (rule->action) {
    case AGENT_ACTION_DOWNTIME: {
        gint64 ms;

        if (!drv_json_get_int(then, what, name, TRUE, 1,
                              AGENT_POLICY_MAX_DOWNTIME_MS, &ms, error)) {
            return FALSE;
        }
        rule->value = (double)ms;
        return TRUE;
    }
    case AGENT_ACTION_DOWNTIME_FACTOR:
        rule->value = drv_json_double_or(then, name, 0);
        if (rule->value < 1 || rule->value > 10) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                        "%s: downtime_factor must be in [1, 10]", what);
            return FALSE;
        }
        return TRUE;
    case AGENT_ACTION_BANDWIDTH: {
        guint bw = 0;

        if (!agent_parse_bandwidth(then, what, &bw, error)) {
            return FALSE;
        }
        rule->value = bw == G_MAXUINT ? 0 : bw;
        return TRUE;
    }
    default:
        if (!drv_json_bool_or(then, name, FALSE)) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                        "%s: '%s' can only be turned on (true)", what, name);
            return FALSE;
        }
        return TRUE;
    }
}

static gboolean agent_parse_rule(JsonObject *obj, guint index, AgentRule *rule,
                                 GError **error)
{
    static const char *const known[] = {"when", "then", "repeat", NULL};
    g_autofree char *what = g_strdup_printf("policy rules[%u]", index);
    JsonObject *when = NULL;
    JsonObject *then = NULL;
    const char *name = NULL;
    JsonNode *node = NULL;
    int idx;

    if (!drv_json_check_members(obj, what, known, error) ||
        !drv_json_get_object(obj, what, "when", TRUE, &when, error) ||
        !drv_json_get_object(obj, what, "then", TRUE, &then, error) ||
        !agent_single_member(when, "when", &name, &node, error)) {
        return FALSE;
    }
    idx = agent_name_index(agent_trigger_names,
                           G_N_ELEMENTS(agent_trigger_names), name);
    if (idx < 0) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "%s: unknown trigger '%s' (pass, stalled, elapsed_s, "
                    "remaining_grew)",
                    what, name);
        return FALSE;
    }
    rule->trigger = (AgentTrigger)idx;
    rule->threshold = drv_json_double_or(when, name, -1);
    if (rule->threshold < 0 || rule->threshold > 1e6) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "%s: '%s' must be a number from 0", what, name);
        return FALSE;
    }
    rule->repeat = drv_json_bool_or(when, "repeat", FALSE) ||
                   drv_json_bool_or(obj, "repeat", FALSE);
    return agent_parse_action(then, what, rule, error);
}

static AgentPolicy *agent_policy_parse(JsonObject *obj, GError **error)
{
    static const char *const known[] = {"name", "initial", "rules", "adaptive",
                                        NULL};
    const char *name = "custom";
    JsonObject *initial = NULL;
    JsonArray *rules = NULL;
    JsonObject *params = NULL;
    g_autoptr(AgentPolicy) policy = NULL;
    guint n;

    if (!drv_json_check_members(obj, "policy", known, error) ||
        !drv_json_get_string(obj, "policy", "name", FALSE, &name, error) ||
        !drv_json_get_object(obj, "policy", "initial", FALSE, &initial,
                             error) ||
        !drv_json_get_array(obj, "policy", "rules", FALSE, &rules, error) ||
        !drv_json_get_object(obj, "policy", "adaptive", FALSE, &params,
                             error)) {
        return NULL;
    }
    if (!drv_name_is_valid(name)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "policy: 'name' must be a name, not '%s'", name);
        return NULL;
    }
    if (g_str_equal(name, "adaptive")) {
        gint64 target = AGENT_ADAPTIVE_DOWNTIME_TARGET_MS;
        gint64 budget = AGENT_ADAPTIVE_TIME_BUDGET_S;

        if (initial != NULL || rules != NULL) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                        "policy: adaptive takes 'adaptive' parameters, not "
                        "a schedule");
            return NULL;
        }
        if (params != NULL &&
            (!drv_json_get_int(params, "adaptive", "downtime_target_ms", FALSE,
                               5, 10000, &target, error) ||
             !drv_json_get_int(params, "adaptive", "time_budget_s", FALSE, 5,
                               86400, &budget, error))) {
            return NULL;
        }
        policy = agent_policy_builtin("adaptive", error);
        policy->downtime_target_ms = (guint)target;
        policy->time_budget_s = (guint)budget;
        return g_steal_pointer(&policy);
    }
    policy = agent_policy_alloc(name);
    policy->initial.bandwidth_mbps = 0;
    if (initial != NULL && !agent_parse_initial(initial, policy, error)) {
        return NULL;
    }
    n = rules ? json_array_get_length(rules) : 0;
    if (n > AGENT_POLICY_MAX_RULES) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "policy: at most %d rules, not %u", AGENT_POLICY_MAX_RULES,
                    n);
        return NULL;
    }
    for (guint i = 0; i < n; i++) {
        JsonNode *node = json_array_get_element(rules, i);

        if (!JSON_NODE_HOLDS_OBJECT(node)) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                        "policy rules[%u] must be an object", i);
            return NULL;
        }
        if (!agent_parse_rule(json_node_get_object(node), i, &policy->rules[i],
                              error)) {
            return NULL;
        }
        policy->n_rules++;
    }
    return g_steal_pointer(&policy);
}

AgentPolicy *agent_policy_from_json(JsonNode *node, GError **error)
{
    if (node == NULL || JSON_NODE_HOLDS_NULL(node)) {
        return agent_policy_builtin("adaptive", error);
    }
    if (JSON_NODE_HOLDS_VALUE(node) &&
        json_node_get_value_type(node) == G_TYPE_STRING) {
        return agent_policy_builtin(json_node_get_string(node), error);
    }
    if (JSON_NODE_HOLDS_OBJECT(node)) {
        return agent_policy_parse(json_node_get_object(node), error);
    }
    g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                "migrate: 'policy' must be a policy name or a schedule "
                "object");
    return NULL;
}

static void agent_set_cap(JsonObject *obj, const char *member,
                          AgentCapMode mode)
{
    if (mode == AGENT_CAP_STANDBY) {
        json_object_set_string_member(obj, member, "standby");
    } else {
        json_object_set_boolean_member(obj, member, mode == AGENT_CAP_ON);
    }
}

static void agent_set_bandwidth(JsonObject *obj, guint mbps)
{
    if (mbps == G_MAXUINT) {
        json_object_set_string_member(obj, "bandwidth_mbps", "unlimited");
    } else if (mbps == 0) {
        json_object_set_string_member(obj, "bandwidth_mbps", "host");
    } else {
        json_object_set_int_member(obj, "bandwidth_mbps", mbps);
    }
}

JsonObject *agent_policy_to_json(const AgentPolicy *policy)
{
    JsonObject *obj = json_object_new();
    JsonObject *initial = json_object_new();
    JsonArray *rules = json_array_new();

    json_object_set_string_member(obj, "name", policy->name);
    if (policy->adaptive) {
        JsonObject *params = json_object_new();

        json_object_set_int_member(params, "downtime_target_ms",
                                   policy->downtime_target_ms);
        json_object_set_int_member(params, "time_budget_s",
                                   policy->time_budget_s);
        json_object_set_object_member(obj, "adaptive", params);
        json_array_unref(rules);
        json_object_unref(initial);
        return obj;
    }
    json_object_set_int_member(initial, "downtime_ms",
                               policy->initial.downtime_ms);
    agent_set_bandwidth(initial, policy->initial.bandwidth_mbps);
    agent_set_cap(initial, "auto_converge", policy->initial.auto_converge);
    agent_set_cap(initial, "compression", policy->initial.compression);
    json_object_set_object_member(obj, "initial", initial);
    for (guint i = 0; i < policy->n_rules; i++) {
        const AgentRule *rule = &policy->rules[i];
        JsonObject *r = json_object_new();
        JsonObject *when = json_object_new();
        JsonObject *then = json_object_new();

        json_object_set_double_member(when, agent_trigger_names[rule->trigger],
                                      rule->threshold);
        if (rule->repeat) {
            json_object_set_boolean_member(when, "repeat", TRUE);
        }
        if (rule->action >= AGENT_ACTION_POSTCOPY) {
            json_object_set_string_member(then, "action",
                                          agent_action_names[rule->action]);
        } else if (rule->action >= AGENT_ACTION_AUTO_CONVERGE) {
            json_object_set_boolean_member(
                then, agent_action_names[rule->action], TRUE);
        } else {
            json_object_set_double_member(
                then, agent_action_names[rule->action], rule->value);
        }
        json_object_set_object_member(r, "when", when);
        json_object_set_object_member(r, "then", then);
        json_array_add_object_element(rules, r);
    }
    json_object_set_array_member(obj, "rules", rules);
    return obj;
}

/* ---- controllers ---- */

struct _AgentController {
    AgentPolicy policy;
    AgentControllerContext ctx;
    AgentPolicyInitial initial;
    guint downtime_ms; /* what QEMU aims for now */
    /* what the samples have shown */
    guint64 last_pass;
    guint64 lowmark;
    guint64 last_remaining;
    guint stalled;
    gboolean fired[AGENT_POLICY_MAX_RULES];
    guint grew[AGENT_POLICY_MAX_RULES];
    gboolean timed_out;
    gboolean postcopy_asked;
    gboolean postcopy_decided;
    gboolean postcopy_armed;
    AgentAdaptive *adaptive; /* the adaptive controller, or NULL */
};

AgentController *agent_controller_new(const AgentPolicy *policy,
                                      const AgentControllerContext *ctx)
{
    AgentController *ctrl = g_new0(AgentController, 1);

    ctrl->policy = *policy;
    ctrl->policy.name = g_strdup(policy->name);
    ctrl->ctx = *ctx;
    ctrl->initial = policy->initial;
    ctrl->lowmark = G_MAXUINT64;
    if (policy->adaptive) {
        ctrl->adaptive = agent_adaptive_new(policy, ctx, &ctrl->initial);
    }
    ctrl->downtime_ms = ctrl->initial.downtime_ms;
    return ctrl;
}

void agent_controller_free(AgentController *ctrl)
{
    if (ctrl == NULL) {
        return;
    }
    agent_adaptive_free(ctrl->adaptive);
    g_free(ctrl->policy.name);
    g_free(ctrl);
}

const AgentPolicyInitial *agent_controller_initial(AgentController *ctrl)
{
    return &ctrl->initial;
}

AgentPolicyInitial *agent_controller_initial_mut(AgentController *ctrl)
{
    return &ctrl->initial;
}

guint agent_controller_downtime(AgentController *ctrl)
{
    return ctrl->downtime_ms;
}

/* Whether @ctrl may ever take @action, the VM's permissions aside. */
static gboolean agent_controller_may(AgentController *ctrl,
                                     AgentActionKind action)
{
    for (guint i = 0; i < ctrl->policy.n_rules; i++) {
        if (ctrl->policy.rules[i].action == action) {
            return TRUE;
        }
    }
    return FALSE;
}

static gboolean agent_controller_may_postcopy(AgentController *ctrl)
{
    return ctrl->adaptive != NULL || ctrl->ctx.post_copy_after_passes ||
           agent_controller_may(ctrl, AGENT_ACTION_POSTCOPY);
}

void agent_controller_means(AgentController *ctrl, gboolean *post_copy,
                            gboolean *throttle)
{
    *post_copy = agent_controller_may_postcopy(ctrl) &&
                 ctrl->ctx.post_copy_allowed &&
                 (!ctrl->postcopy_decided || ctrl->postcopy_armed);
    *throttle = ctrl->adaptive != NULL ||
                ctrl->initial.auto_converge != AGENT_CAP_OFF ||
                agent_controller_may(ctrl, AGENT_ACTION_AUTO_CONVERGE);
}

gboolean agent_controller_postcopy_wanted(AgentController *ctrl,
                                          double dirty_bps, double link_bps,
                                          char **why)
{
    if (!ctrl->ctx.post_copy_allowed) {
        *why = g_strdup("the VM does not allow post-copy");
        return FALSE;
    }
    if (!agent_controller_may_postcopy(ctrl)) {
        *why = g_strdup_printf("policy %s never switches to post-copy",
                               ctrl->policy.name);
        return FALSE;
    }
    if (ctrl->adaptive == NULL || ctrl->ctx.post_copy_after_passes) {
        *why = g_strdup(ctrl->adaptive == NULL
                            ? "the policy may switch to post-copy"
                            : "the request asks for post-copy");
        return TRUE;
    }
    return agent_adaptive_postcopy_wanted(dirty_bps, link_bps, why);
}

void agent_controller_arm_postcopy(AgentController *ctrl, gboolean armed)
{
    ctrl->postcopy_decided = TRUE;
    ctrl->postcopy_armed = armed && ctrl->ctx.post_copy_allowed;
    if (ctrl->adaptive != NULL) {
        agent_adaptive_arm_postcopy(ctrl->adaptive, ctrl->postcopy_armed);
    }
}

void agent_controller_plan_compression(AgentController *ctrl, double dirty_bps,
                                       double link_bps, char **why)
{
    *why = NULL;
    if (ctrl->adaptive != NULL &&
        ctrl->initial.compression == AGENT_CAP_STANDBY) {
        agent_adaptive_plan_compression(ctrl->adaptive, &ctrl->initial,
                                        dirty_bps, link_bps, why);
    }
}

JsonObject *agent_controller_prediction(AgentController *ctrl)
{
    return ctrl->adaptive ? agent_adaptive_prediction(ctrl->adaptive) : NULL;
}

/* The counters every controller keeps, from one sample. */
static void agent_controller_observe(AgentController *ctrl,
                                     const AgentMigrationProgress *p)
{
    if (ctrl->last_remaining > 0 && p->remaining_bytes > ctrl->last_remaining) {
        for (guint i = 0; i < ctrl->policy.n_rules; i++) {
            ctrl->grew[i]++;
        }
    }
    /*
     * oVirt's stalling: a new pass that starts with more left than the
     * least seen so far made no progress.
     */
    if (p->pass > ctrl->last_pass && ctrl->last_pass >= 1 &&
        p->remaining_bytes > ctrl->lowmark) {
        ctrl->stalled++;
    }
    ctrl->last_pass = MAX(ctrl->last_pass, p->pass);
    ctrl->lowmark = MIN(ctrl->lowmark, p->remaining_bytes);
    ctrl->last_remaining = p->remaining_bytes;
}

static gboolean agent_rule_due(AgentController *ctrl, guint i,
                               const AgentMigrationProgress *p)
{
    const AgentRule *rule = &ctrl->policy.rules[i];

    if (ctrl->fired[i] && !rule->repeat) {
        return FALSE;
    }
    switch (rule->trigger) {
    case AGENT_TRIGGER_PASS:
        return p->pass >= rule->threshold;
    case AGENT_TRIGGER_STALLED:
        return ctrl->stalled >= rule->threshold;
    case AGENT_TRIGGER_ELAPSED:
        return p->elapsed_ms >= rule->threshold * 1000;
    case AGENT_TRIGGER_REMAINING_GREW:
        return ctrl->grew[i] >= rule->threshold;
    }
    return FALSE;
}

static void agent_schedule_step(AgentController *ctrl,
                                const AgentMigrationProgress *p, GPtrArray *out)
{
    for (guint i = 0; i < ctrl->policy.n_rules; i++) {
        const AgentRule *rule = &ctrl->policy.rules[i];
        double value = rule->value;
        char *why;

        if (!agent_rule_due(ctrl, i, p)) {
            continue;
        }
        ctrl->fired[i] = TRUE;
        ctrl->grew[i] = 0;
        why = g_strdup_printf("%s %g (pass %" G_GUINT64_FORMAT ", %u stalled)",
                              agent_trigger_names[rule->trigger],
                              rule->threshold, p->pass, ctrl->stalled);
        if (rule->action == AGENT_ACTION_DOWNTIME_FACTOR) {
            value = MIN(ctrl->downtime_ms * rule->value,
                        AGENT_POLICY_MAX_DOWNTIME_MS);
            agent_action_add(out, AGENT_ACTION_DOWNTIME, value, why);
            continue;
        }
        agent_action_add(out, rule->action, value, why);
    }
}

GPtrArray *agent_controller_step(AgentController *ctrl,
                                 const AgentMigrationProgress *progress)
{
    GPtrArray *out =
        g_ptr_array_new_with_free_func((GDestroyNotify)agent_action_free);

    /* rules steer a running pre-copy; nothing to steer otherwise */
    if (g_strcmp0(progress->qemu_status, "active") != 0) {
        return out;
    }
    agent_controller_observe(ctrl, progress);
    if (ctrl->ctx.timeout_s > 0 && !ctrl->timed_out &&
        progress->elapsed_ms > (gint64)ctrl->ctx.timeout_s * 1000) {
        ctrl->timed_out = TRUE;
        agent_action_add(out, AGENT_ACTION_ABORT, 0,
                         g_strdup_printf("did not complete within %u s",
                                         ctrl->ctx.timeout_s));
        return out;
    }
    if (ctrl->ctx.post_copy_after_passes > 0 && !ctrl->postcopy_asked &&
        progress->pass > ctrl->ctx.post_copy_after_passes) {
        ctrl->postcopy_asked = TRUE;
        agent_action_add(out, AGENT_ACTION_POSTCOPY, 0,
                         g_strdup_printf("after %u passes, as requested",
                                         ctrl->ctx.post_copy_after_passes));
    }
    if (ctrl->adaptive != NULL) {
        agent_adaptive_step(ctrl->adaptive, progress, ctrl->stalled, out);
    } else {
        agent_schedule_step(ctrl, progress, out);
    }
    for (guint i = 0; i < out->len; i++) {
        AgentAction *action = g_ptr_array_index(out, i);

        /* what the controller asks is what QEMU will aim for */
        if (action->kind == AGENT_ACTION_DOWNTIME) {
            ctrl->downtime_ms = (guint)action->value;
        }
        /* a schedule may name post-copy; only the VM may allow it */
        if (action->kind == AGENT_ACTION_POSTCOPY &&
            (!ctrl->ctx.post_copy_allowed ||
             (ctrl->postcopy_decided && !ctrl->postcopy_armed))) {
            char *why = g_strdup_printf(
                "%s; skipped: %s", action->why,
                ctrl->ctx.post_copy_allowed
                    ? "post-copy was not armed for this migration"
                    : "VM does not allow post-copy");

            g_free(action->why);
            action->why = why;
            action->skipped = TRUE;
        }
    }
    return out;
}
