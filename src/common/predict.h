/*
 * Predicting a live migration: how long it takes and how long the guest is
 * paused, from the data to send, the link, the guest's dirty rate and what
 * the migration may use (post-copy, throttling).  Pure functions, shared by
 * the agent's adaptive controller and the manager's estimates.
 *
 * The model is pre-copy's geometric series: each pass sends what the last
 * one left, meanwhile the guest dirties D bytes/s of at most its working
 * set; the copy stops when what is left fits the downtime at the link's
 * rate.  Post-copy stops after a first pass and pulls the rest while the
 * guest runs; throttling lowers D at the guest's expense.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* What a pause costs beyond the last data: device state, the hand-over. */
#define DRV_PREDICT_FIXED_PAUSE_MS 15.0
#define DRV_PREDICT_MAX_PASSES 30

typedef enum {
    DRV_STRATEGY_PRECOPY,  /* converges as it is */
    DRV_STRATEGY_POSTCOPY, /* switch after the first pass */
    DRV_STRATEGY_THROTTLE, /* auto-converge as hard as needed */
    DRV_STRATEGY_PAUSE,    /* nothing else works: stop the guest */
} DrvStrategy;

const char *drv_strategy_name(DrvStrategy strategy);

typedef struct {
    double data_bytes;        /* what the first pass sends (non-zero RAM) */
    double working_set_bytes; /* what the guest rewrites; 0: unknown */
    double dirty_rate_bps;    /* bytes/s the guest dirties */
    double link_bps;          /* bytes/s the migration gets */
    double downtime_ms;       /* the pause aimed for */
    gboolean post_copy;       /* allowed */
    gboolean throttle;        /* allowed */
    double max_throttle;      /* 0–0.99 */
} DrvPredictInput;

typedef struct {
    DrvStrategy strategy;
    double total_ms;
    double downtime_ms; /* guest-observed */
    guint passes;
    double throttle; /* the share of CPU taken from the guest, 0–1 */
    double sent_bytes;
    gboolean converges; /* pre-copy alone, as it is */
} DrvPrediction;

/* Pre-copy alone: the series, stopping when the rest fits the downtime. */
void drv_predict_precopy(const DrvPredictInput *in, DrvPrediction *out);

/* The cheapest way to finish: pre-copy, post-copy, throttle, pause. */
void drv_predict(const DrvPredictInput *in, DrvPrediction *out);

/* dirtying at this share of the sending rate or more does not converge */
#define DRV_PREDICT_CONVERGE_RATIO 0.6

/*
 * Whether a guest sampled dirtying @sampled_dirty_bps (calc-dirty-rate;
 * negative: not sampled) may outrun pre-copy on a link of @link_bps, so
 * that post-copy is worth arming.  A sample counts a page once however
 * often the guest rewrote it within the period, so the rate is taken
 * higher than sampled; no sample says nothing, hence TRUE.
 */
gboolean drv_predict_postcopy_needed(double sampled_dirty_bps, double link_bps);

/*
 * Whether that guest, the same undercount allowed for, dirties at least
 * as fast as the link carries: no sample, FALSE.
 */
gboolean drv_predict_outruns_link(double sampled_dirty_bps, double link_bps);

/*
 * {"strategy", "total_ms", "downtime_ms", "passes", "throttle_percent",
 *  "sent_bytes", "converges", "dirty_rate_bps", "link_bps"}: what agents
 * put in a migration's result and droverd in an estimate.
 */
JsonObject *drv_prediction_to_json(const DrvPredictInput *in,
                                   const DrvPrediction *prediction);

/*
 * The longest a dirty-rate sample (QEMU's calc-dirty-rate, page-sampling)
 * of a guest of memory_mib may take for a period of seconds: QEMU reads its
 * sampled pages before the period and again after it, and where the kernel
 * maps no zero page, reading RAM the guest never touched allocates it (a
 * 2 MiB huge page per region: 2 GiB took 3.9 s for a one-second sample on
 * the development machine, about 1.5 s per GiB).  Allowed: 2 s, and 4 s
 * per GiB, at most 30 s, so that a migration's prepare (which waits for
 * the destination's sample) ends well inside its own timeout.
 */
guint drv_dirty_rate_sample_max_ms(guint memory_mib, guint seconds);

G_END_DECLS
