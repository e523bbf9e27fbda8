#include "agent/adaptive.h"

#include "common/predict.h"

/* a pass must leave this share of the last one, or it stalls */
#define AGENT_ADAPTIVE_SHRINK 0.8
#define AGENT_ADAPTIVE_MAX_PAUSE_MS 2000
/*
 * QEMU's max-cpu-throttle (left at its default): a guest that outruns the
 * link at this throttle will not be caught by throttling harder, so after
 * this many passes without progress there it gets the longer pause now
 * rather than when the budget runs out.
 */
#define AGENT_ADAPTIVE_THROTTLE_LIMIT 99
#define AGENT_ADAPTIVE_STALLS_AT_LIMIT 2

struct _AgentAdaptive {
    AgentControllerContext ctx;
    guint target_ms; /* the guest-observed pause aimed for */
    guint qemu_downtime_ms;
    guint budget_s;
    guint64 last_pass;
    guint64 last_boundary_remaining;
    gboolean postcopy;
    gboolean throttling;
    gboolean lengthened;
    guint stalled_when_lengthened;
    gboolean paused;
    gboolean at_limit;      /* the throttle reached QEMU's most */
    guint stalled_at_limit; /* stalled passes by then */
    JsonObject *prediction;
};

AgentAdaptive *agent_adaptive_new(const AgentPolicy *policy,
                                  const AgentControllerContext *ctx,
                                  AgentPolicyInitial *initial)
{
    AgentAdaptive *ad = g_new0(AgentAdaptive, 1);

    ad->ctx = *ctx;
    ad->target_ms = policy->downtime_target_ms;
    /*
     * The budget ends well inside the migration's own timeout, so that
     * the longer pause and then pausing the guest come before the abort.
     */
    ad->budget_s = policy->time_budget_s;
    if (ctx->timeout_s > 0) {
        ad->budget_s = MIN(ad->budget_s, MAX(ctx->timeout_s / 2, 1));
    }
    /* QEMU counts only the last data: leave room for the hand-over */
    ad->qemu_downtime_ms =
        (guint)MAX(5.0, ad->target_ms - DRV_PREDICT_FIXED_PAUSE_MS);
    initial->downtime_ms = ad->qemu_downtime_ms;
    initial->bandwidth_mbps = 0;
    /* the throttle waits for the need; XBZRLE is decided before the stream */
    initial->compression = AGENT_CAP_STANDBY;
    initial->auto_converge = AGENT_CAP_STANDBY;
    return ad;
}

void agent_adaptive_free(AgentAdaptive *ad)
{
    if (ad == NULL) {
        return;
    }
    if (ad->prediction != NULL) {
        json_object_unref(ad->prediction);
    }
    g_free(ad);
}

JsonObject *agent_adaptive_prediction(AgentAdaptive *ad)
{
    return ad->prediction;
}

static void agent_adaptive_predict(AgentAdaptive *ad,
                                   const AgentMigrationProgress *p,
                                   double link_bps, double dirty_bps)
{
    DrvPredictInput in = {0};
    DrvPrediction pred;

    in.data_bytes = (double)p->remaining_bytes;
    in.working_set_bytes = (double)p->remaining_bytes * 1.5;
    in.dirty_rate_bps = dirty_bps;
    in.link_bps = link_bps;
    in.downtime_ms = ad->qemu_downtime_ms;
    in.post_copy = ad->ctx.post_copy_allowed;
    in.throttle = TRUE;
    in.max_throttle = 0.9;
    drv_predict(&in, &pred);
    ad->prediction = drv_prediction_to_json(&in, &pred);
    json_object_set_string_member(ad->prediction, "basis", "first pass");
    json_object_set_int_member(ad->prediction, "at_ms", p->elapsed_ms);
    /* from the start, to compare with the result's total */
    json_object_set_int_member(ad->prediction, "total_ms",
                               p->elapsed_ms + (gint64)pred.total_ms);
}

gboolean agent_adaptive_postcopy_wanted(double dirty_bps, double link_bps,
                                        char **why)
{
    gboolean needed = drv_predict_postcopy_needed(dirty_bps, link_bps);

    if (dirty_bps < 0 || link_bps <= 0) {
        *why = g_strdup("no dirty-rate sample: armed in case pre-copy "
                        "does not converge");
    } else {
        *why = g_strdup_printf(
            "the guest dirties %.1f MiB/s (sampled), %.0f%% of the link's "
            "%.0f Mbit/s: pre-copy %s",
            dirty_bps / 1048576.0, 100.0 * dirty_bps / link_bps,
            link_bps * 8.0 / 1e6, needed ? "may not converge" : "converges");
    }
    return needed;
}

void agent_adaptive_arm_postcopy(AgentAdaptive *ad, gboolean armed)
{
    ad->ctx.post_copy_allowed = armed;
}

/*
 * What the link carries, in bytes/s.  QEMU's "mbps" covers only its last
 * rate period, and at a pass boundary that period can be one spent
 * synchronising the dirty bitmap, with next to nothing sent: the average
 * since the start is the floor, and a granted cap the ceiling.
 */
double agent_adaptive_link_bps(const AgentControllerContext *ctx,
                               const AgentMigrationProgress *p)
{
    double last = p->throughput_mbps * 1e6 / 8.0;
    double average = p->elapsed_ms > 0 ? (double)p->transferred_bytes * 1000.0 /
                                             (double)p->elapsed_ms
                                       : 0.0;
    double link = MAX(last, average);

    if (ctx->cap_mbps > 0) {
        link = MIN(link, ctx->cap_mbps * 1e6 / 8.0);
    }
    return link;
}

/*
 * XBZRLE's cache is sized once, before the stream: QEMU 7.2 keeps the
 * cache a migration starts with (growing it later reports the new size
 * but the cache still misses nearly every page).  So the sample decides:
 * - a guest pre-copy moves as it is gets none: its small hot set would
 *   only pay for deltas in the stop-copy, while the guest waits (web:
 *   69 ms median pause with XBZRLE from the start, 52 without);
 * - a guest that outruns the link outright, post-copy armed, gets none
 *   either: post-copy moves it, and the deltas' CPU only lengthens the
 *   switch (stream: 62 ms median with them, 52 without, 6 and 4 runs);
 * - in between — or with post-copy not at hand, or no sample — the full
 *   cache, so that re-sent pages go as deltas and pre-copy can finish
 *   (hot: 17 thousand deltas, pre-copy to the end in 2.8 s).
 */
void agent_adaptive_plan_compression(AgentAdaptive *ad,
                                     AgentPolicyInitial *initial,
                                     double dirty_bps, double link_bps,
                                     char **why)
{
    gboolean outruns = drv_predict_outruns_link(dirty_bps, link_bps);
    gboolean full = drv_predict_postcopy_needed(dirty_bps, link_bps) &&
                    !(outruns && ad->ctx.post_copy_allowed);

    initial->compression = full ? AGENT_CAP_ON : AGENT_CAP_OFF;
    if (dirty_bps < 0 || link_bps <= 0) {
        *why = g_strdup("no dirty-rate sample: XBZRLE's full cache in case "
                        "pre-copy does not converge");
        return;
    }
    *why = g_strdup_printf(
        "the guest dirties %.1f MiB/s (sampled) on a %.0f Mbit/s link: %s",
        dirty_bps / 1048576.0, link_bps * 8.0 / 1e6,
        full      ? "re-sent pages go as deltas, XBZRLE's cache full "
                    "from the start"
        : outruns ? "it outruns the link, post-copy will move it; "
                    "XBZRLE would only cost CPU"
                  : "pre-copy converges without XBZRLE");
}

/* At the start of each pass: does pre-copy converge as it is? */
static void agent_adaptive_boundary(AgentAdaptive *ad,
                                    const AgentMigrationProgress *p,
                                    GPtrArray *out)
{
    double link_bps = agent_adaptive_link_bps(&ad->ctx, p);
    double dirty_bps = (double)p->dirty_rate_bps;
    double page = (double)MAX(p->page_size, 1);
    double sent_pps = (double)p->pages_per_second;
    double dirty_pps = dirty_bps / page;
    double ratio;
    gboolean converging;
    double fits = ad->qemu_downtime_ms / 1000.0 * link_bps;
    gboolean shrinking = ad->last_boundary_remaining == 0 ||
                         p->remaining_bytes < ad->last_boundary_remaining *
                                                  AGENT_ADAPTIVE_SHRINK;

    /*
     * Pages, not bytes: with XBZRLE a re-sent page costs a delta, so the
     * link carries more pages than its bytes suggest.
     */
    ratio =
        sent_pps > 0 ? dirty_pps / sent_pps : dirty_bps / MAX(link_bps, 1.0);
    if (ad->prediction == NULL) {
        agent_adaptive_predict(ad, p, link_bps, dirty_bps);
    }
    ad->last_boundary_remaining = p->remaining_bytes;
    if (p->remaining_bytes <= fits * 2) {
        return;
    }
    converging = ratio < DRV_PREDICT_CONVERGE_RATIO && shrinking;
    if (!converging && ad->ctx.post_copy_allowed && !ad->postcopy) {
        double xbzrle = agent_migration_progress_xbzrle_ratio(p);
        g_autofree char *deltas =
            xbzrle > 0 ? g_strdup_printf(" (XBZRLE's deltas %.1fx smaller "
                                         "than pages)",
                                         xbzrle)
                       : g_strdup("");

        ad->postcopy = TRUE;
        agent_action_add(out, AGENT_ACTION_POSTCOPY, 0,
                         g_strdup_printf("the guest dirties %.0f pages/s "
                                         "against %.0f sent%s: pre-copy "
                                         "cannot converge",
                                         dirty_pps, sent_pps, deltas));
        return;
    }
    if (converging) {
        return;
    }
    if (!ad->ctx.post_copy_allowed && !ad->throttling) {
        /* as hard as the ratio says, at least QEMU's usual start */
        double throttle =
            CLAMP(100.0 * (1.0 - DRV_PREDICT_CONVERGE_RATIO / MAX(ratio, 0.01)),
                  20.0, 90.0);

        ad->throttling = TRUE;
        agent_action_add(out, AGENT_ACTION_AUTO_CONVERGE, throttle,
                         g_strdup_printf("dirtying %.0f%% of the sending "
                                         "rate and post-copy not at hand: "
                                         "throttling from %.0f%%",
                                         ratio * 100, throttle));
    }
}

/* Accepts the pause QEMU expects, within reason, to finish pre-copy. */
static void agent_adaptive_lengthen(AgentAdaptive *ad,
                                    const AgentMigrationProgress *p,
                                    guint stalled, const char *reason,
                                    GPtrArray *out)
{
    double pause = CLAMP(p->expected_downtime_ms * 1.3, ad->target_ms,
                         AGENT_ADAPTIVE_MAX_PAUSE_MS);

    ad->lengthened = TRUE;
    ad->stalled_when_lengthened = stalled;
    agent_action_add(
        out, AGENT_ACTION_DOWNTIME, pause,
        g_strdup_printf("%s: accepting a %.0f ms pause", reason, pause));
}

/* The last resort: pause the guest, pre-copy ends as an offline copy. */
static void agent_adaptive_pause(AgentAdaptive *ad, char *why, GPtrArray *out)
{
    ad->paused = TRUE;
    agent_action_add(out, AGENT_ACTION_PAUSE, 0, why);
}

void agent_adaptive_step(AgentAdaptive *ad, const AgentMigrationProgress *p,
                         guint stalled, GPtrArray *out)
{
    gint64 budget_ms = (gint64)ad->budget_s * 1000;

    if (p->pass > ad->last_pass && p->pass >= 2) {
        agent_adaptive_boundary(ad, p, out);
    }
    ad->last_pass = MAX(ad->last_pass, p->pass);
    if (ad->postcopy) {
        return;
    }
    if (ad->throttling && !ad->at_limit &&
        p->throttle_percent >= AGENT_ADAPTIVE_THROTTLE_LIMIT) {
        ad->at_limit = TRUE;
        ad->stalled_at_limit = stalled;
    }
    if (!ad->lengthened && ad->at_limit &&
        stalled >= ad->stalled_at_limit + AGENT_ADAPTIVE_STALLS_AT_LIMIT) {
        g_autofree char *why = g_strdup_printf(
            "throttled to %u%% and still %u passes without progress",
            p->throttle_percent, AGENT_ADAPTIVE_STALLS_AT_LIMIT);

        agent_adaptive_lengthen(ad, p, stalled, why, out);
        return;
    }
    /* a longer pause that did not do it leads to the last resort */
    if (ad->lengthened && !ad->paused &&
        stalled >=
            ad->stalled_when_lengthened + AGENT_ADAPTIVE_STALLS_AT_LIMIT) {
        agent_adaptive_pause(ad,
                             g_strdup_printf("%u passes without progress "
                                             "after the longer pause: "
                                             "pausing the guest",
                                             AGENT_ADAPTIVE_STALLS_AT_LIMIT),
                             out);
        return;
    }
    if (p->elapsed_ms <= budget_ms) {
        return;
    }
    /* the budget is spent: the cheapest way left to finish */
    if (ad->ctx.post_copy_allowed) {
        ad->postcopy = TRUE;
        agent_action_add(
            out, AGENT_ACTION_POSTCOPY, 0,
            g_strdup_printf("time budget of %u s spent", ad->budget_s));
    } else if (!ad->lengthened) {
        g_autofree char *why =
            g_strdup_printf("time budget of %u s spent", ad->budget_s);

        agent_adaptive_lengthen(ad, p, stalled, why, out);
    } else if (!ad->paused && p->elapsed_ms > budget_ms * 3 / 2) {
        agent_adaptive_pause(ad,
                             g_strdup_printf("still not done %u s after the "
                                             "budget: pausing the guest",
                                             ad->budget_s / 2),
                             out);
    }
}
