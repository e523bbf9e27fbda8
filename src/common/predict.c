#include "common/predict.h"

#include <string.h>

static const char *const drv_strategy_names[] = {
    [DRV_STRATEGY_PRECOPY] = "pre-copy",
    [DRV_STRATEGY_POSTCOPY] = "post-copy",
    [DRV_STRATEGY_THROTTLE] = "auto-converge",
    [DRV_STRATEGY_PAUSE] = "pause",
};

guint drv_dirty_rate_sample_max_ms(guint memory_mib, guint seconds)
{
    guint64 gib = ((guint64)memory_mib + 1023) / 1024;
    guint64 reads_ms = 2000 + gib * 4000;

    return MIN(seconds, 3600) * 1000 + (guint)MIN(reads_ms, 30000);
}

const char *drv_strategy_name(DrvStrategy strategy)
{
    return drv_strategy_names[strategy];
}

/* how much faster than sampled a stream meets the guest dirtying */
#define DRV_PREDICT_SAMPLE_UNDERCOUNT 1.5

/*
 * The share of the link a sampled guest dirties once the sample's
 * undercount is allowed for; negative when there is no sample or link.
 */
static double drv_predict_link_share(double sampled_dirty_bps, double link_bps)
{
    if (sampled_dirty_bps < 0 || link_bps <= 0) {
        return -1;
    }
    return sampled_dirty_bps * DRV_PREDICT_SAMPLE_UNDERCOUNT / link_bps;
}

gboolean drv_predict_postcopy_needed(double sampled_dirty_bps, double link_bps)
{
    double share = drv_predict_link_share(sampled_dirty_bps, link_bps);

    return share < 0 || share >= DRV_PREDICT_CONVERGE_RATIO;
}

gboolean drv_predict_outruns_link(double sampled_dirty_bps, double link_bps)
{
    return drv_predict_link_share(sampled_dirty_bps, link_bps) >= 1.0;
}

/* What the guest dirties while @seconds pass, bounded by its working set. */
static double drv_dirtied(const DrvPredictInput *in, double rate,
                          double seconds)
{
    double dirtied = rate * seconds;

    if (in->working_set_bytes > 0) {
        dirtied = MIN(dirtied, in->working_set_bytes);
    }
    return dirtied;
}

static void drv_predict_series(const DrvPredictInput *in, double rate,
                               DrvPrediction *out)
{
    double link = MAX(in->link_bps, 1.0);
    double fits = in->downtime_ms / 1000.0 * link;
    double left = in->data_bytes;
    double elapsed = 0;
    double sent = 0;
    guint pass = 0;

    memset(out, 0, sizeof(*out));
    out->strategy = DRV_STRATEGY_PRECOPY;
    while (pass < DRV_PREDICT_MAX_PASSES) {
        double seconds = left / link;

        pass++;
        elapsed += seconds;
        sent += left;
        left = drv_dirtied(in, rate, seconds);
        if (left <= fits) {
            out->converges = TRUE;
            break;
        }
    }
    out->passes = pass;
    out->sent_bytes = sent + left;
    out->downtime_ms = left / link * 1000.0 + DRV_PREDICT_FIXED_PAUSE_MS;
    out->total_ms = elapsed * 1000.0 + out->downtime_ms;
}

void drv_predict_precopy(const DrvPredictInput *in, DrvPrediction *out)
{
    drv_predict_series(in, in->dirty_rate_bps, out);
}

void drv_predict(const DrvPredictInput *in, DrvPrediction *out)
{
    double link = MAX(in->link_bps, 1.0);
    double first_s = in->data_bytes / link;

    drv_predict_precopy(in, out);
    if (out->converges &&
        out->downtime_ms <= in->downtime_ms + DRV_PREDICT_FIXED_PAUSE_MS) {
        return;
    }
    if (in->post_copy) {
        double rest = drv_dirtied(in, in->dirty_rate_bps, first_s);

        /* one pass, a pause for the device state, then the rest pulled */
        memset(out, 0, sizeof(*out));
        out->strategy = DRV_STRATEGY_POSTCOPY;
        out->passes = 2;
        out->downtime_ms = DRV_PREDICT_FIXED_PAUSE_MS;
        out->sent_bytes = in->data_bytes + rest;
        out->total_ms = (first_s + rest / link) * 1000.0 + out->downtime_ms;
        return;
    }
    if (in->throttle && in->max_throttle > 0) {
        /* the least throttle that lets the series converge */
        for (double t = 0.2; t <= in->max_throttle + 1e-9; t += 0.1) {
            DrvPrediction tried;

            drv_predict_series(in, in->dirty_rate_bps * (1.0 - t), &tried);
            if (tried.converges) {
                *out = tried;
                out->strategy = DRV_STRATEGY_THROTTLE;
                out->throttle = t;
                return;
            }
        }
    }
    /* stop the guest and send what is left: the pause is all of it */
    {
        double rest = drv_dirtied(in, in->dirty_rate_bps, first_s);

        memset(out, 0, sizeof(*out));
        out->strategy = DRV_STRATEGY_PAUSE;
        out->passes = 2;
        out->sent_bytes = in->data_bytes + rest;
        out->downtime_ms = rest / link * 1000.0 + DRV_PREDICT_FIXED_PAUSE_MS;
        out->total_ms = first_s * 1000.0 + out->downtime_ms;
    }
}

JsonObject *drv_prediction_to_json(const DrvPredictInput *in,
                                   const DrvPrediction *prediction)
{
    JsonObject *obj = json_object_new();

    json_object_set_string_member(obj, "strategy",
                                  drv_strategy_name(prediction->strategy));
    json_object_set_int_member(obj, "total_ms", (gint64)prediction->total_ms);
    json_object_set_int_member(obj, "downtime_ms",
                               (gint64)prediction->downtime_ms);
    json_object_set_int_member(obj, "passes", prediction->passes);
    json_object_set_int_member(obj, "throttle_percent",
                               (gint64)(prediction->throttle * 100.0 + 0.5));
    json_object_set_int_member(obj, "sent_bytes",
                               (gint64)prediction->sent_bytes);
    json_object_set_boolean_member(obj, "converges", prediction->converges);
    json_object_set_int_member(obj, "dirty_rate_bps",
                               (gint64)in->dirty_rate_bps);
    json_object_set_int_member(obj, "link_bps", (gint64)in->link_bps);
    return obj;
}
