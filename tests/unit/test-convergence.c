/*
 * Migration parameters, progress and the convergence controller, fed with
 * query-migrate answers shaped like QEMU 7.2's.
 */
#include "agent/convergence.h"
#include "common/error.h"
#include "common/json.h"

static JsonObject *obj(const char *text)
{
    g_autoptr(GError) error = NULL;
    JsonObject *o = drv_json_parse_object(text, -1, &error);

    g_assert_no_error(error);
    return o;
}

/* A query-migrate answer: 100 MiB guest, @remaining MiB left. */
static JsonObject *sample(const char *status, guint remaining_mib, guint pass,
                          guint throttle, gint64 elapsed_ms)
{
    g_autofree char *text = g_strdup_printf(
        "{\"status\": \"%s\", \"total-time\": %" G_GINT64_FORMAT ","
        " \"expected-downtime\": 42, \"cpu-throttle-percentage\": %u,"
        " \"ram\": {\"total\": 104857600, \"remaining\": %u,"
        " \"transferred\": %u, \"mbps\": 812.5, \"dirty-pages-rate\": 1000,"
        " \"page-size\": 4096, \"dirty-sync-count\": %u},"
        " \"xbzrle-cache\": {\"pages\": 77, \"bytes\": 1000}}",
        status, elapsed_ms, throttle, remaining_mib * 1048576,
        (100 - MIN(remaining_mib, 100)) * 1048576, pass);

    return obj(text);
}

static void test_progress(void)
{
    g_auto(AgentMigrationProgress) p = {0};
    /* remaining falls, then rises again as a busy guest dirties pages */
    const guint remaining[] = {100, 60, 20, 35, 50, 10, 3};
    double last = -1;

    for (guint i = 0; i < G_N_ELEMENTS(remaining); i++) {
        g_autoptr(JsonObject) s =
            sample("active", remaining[i], i + 1, i * 10, i * 250);

        agent_migration_progress_update(&p, s);
        g_assert_cmpfloat(p.percent, >=, last);
        g_assert_cmpfloat(p.percent, <=, 99);
        last = p.percent;
    }
    g_assert_cmpfloat(p.percent, >=, 97);
    g_assert_cmpuint(p.pass, ==, 7);
    g_assert_cmpuint(p.throttle_percent, ==, 60);
    g_assert_cmpuint(p.max_throttle_percent, ==, 60);
    g_assert_cmpuint(p.dirty_rate_bps, ==, 1000 * 4096);
    g_assert_cmpint(p.expected_downtime_ms, ==, 42);
    g_assert_cmpuint(p.xbzrle_pages, ==, 77);
    g_assert_cmpstr(p.qemu_status, ==, "active");

    /* nothing left but not completed: still not 100 */
    {
        g_autoptr(JsonObject) s = sample("device", 0, 8, 20, 2000);

        agent_migration_progress_update(&p, s);
        g_assert_cmpfloat(p.percent, ==, 99);
        /* the highest throttle is kept when QEMU lowers it */
        g_assert_cmpuint(p.throttle_percent, ==, 20);
        g_assert_cmpuint(p.max_throttle_percent, ==, 60);
    }
    {
        g_autoptr(JsonObject) s = sample("completed", 0, 8, 0, 2100);

        agent_migration_progress_update(&p, s);
        g_assert_cmpfloat(p.percent, ==, 100);
    }
}

static void test_progress_json(void)
{
    g_auto(AgentMigrationProgress) p = {0};
    g_autoptr(JsonObject) s = sample("active", 25, 2, 0, 500);
    g_autoptr(JsonObject) out = json_object_new();

    agent_migration_progress_update(&p, s);
    agent_migration_progress_to_json(&p, out);
    g_assert_cmpfloat(json_object_get_double_member(out, "percent"), ==, 75);
    g_assert_cmpint(json_object_get_int_member(out, "remaining_bytes"), ==,
                    25 * 1048576);
    g_assert_cmpint(json_object_get_int_member(out, "pass"), ==, 2);
    g_assert_cmpstr(json_object_get_string_member(out, "qemu_status"), ==,
                    "active");
}

/*
 * Compressibility as XBZRLE met it: deltas and overflows (sent whole) over
 * the bytes they took; nothing said before 1,024 pages went through it.
 */
static void test_xbzrle_ratio(void)
{
    AgentMigrationProgress p = {.page_size = 4096};
    g_autoptr(JsonObject) out = json_object_new();

    /* 4000 deltas of 3 KiB and 1000 overflows: 4096 * 5000 / 16.4 MB */
    p.xbzrle_pages = 4000;
    p.xbzrle_bytes = 4000 * 3072;
    p.xbzrle_overflow = 1000;
    g_assert_cmpfloat_with_epsilon(agent_migration_progress_xbzrle_ratio(&p),
                                   5000.0 * 4096 / (4000 * 3072 + 1000 * 4096),
                                   1e-9);
    agent_migration_progress_to_json(&p, out);
    g_assert_cmpfloat(json_object_get_double_member(out, "xbzrle_ratio"), ==,
                      1.25);
    /* deltas a tenth of a page */
    p.xbzrle_bytes = 4000 * 400;
    p.xbzrle_overflow = 0;
    g_assert_cmpfloat_with_epsilon(agent_migration_progress_xbzrle_ratio(&p),
                                   4096.0 / 400, 1e-9);
    /* too few pages to judge */
    p.xbzrle_pages = 100;
    g_assert_cmpfloat(agent_migration_progress_xbzrle_ratio(&p), ==, 0);
}

static void test_params_unset(void)
{
    g_auto(AgentMigrationParams) p = {0};
    g_autoptr(JsonObject) req = obj("{}");
    g_autoptr(GError) error = NULL;

    /* what is not asked is the policy's to decide */
    g_assert_true(agent_migration_params_parse(req, &p, &error));
    g_assert_cmpint(p.auto_converge, ==, DRV_TRISTATE_INHERIT);
    g_assert_cmpint(p.compression, ==, DRV_TRISTATE_INHERIT);
    g_assert_cmpuint(p.downtime_ms, ==, 0);
    /* drover's tuned stream unless told otherwise */
    g_assert_false(p.plain_stream);
}

static void test_params(void)
{
    g_auto(AgentMigrationParams) p = {0};
    g_autoptr(JsonObject) req = obj(
        "{\"downtime_ms\": 100, \"bandwidth_mbps\": 800, \"auto_converge\": "
        "true, \"compression\": false, \"post_copy\": true, "
        "\"post_copy_after_passes\": 3, \"timeout_s\": 60, "
        "\"stream_tuning\": false}");
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) out = json_object_new();
    g_auto(AgentMigrationParams) back = {0};

    g_assert_true(agent_migration_params_parse(req, &p, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(p.downtime_ms, ==, 100);
    g_assert_cmpuint(p.bandwidth_mbps, ==, 800);
    g_assert_cmpint(p.auto_converge, ==, DRV_TRISTATE_TRUE);
    g_assert_cmpint(p.compression, ==, DRV_TRISTATE_FALSE);
    g_assert_true(p.post_copy);
    g_assert_cmpuint(p.post_copy_after_passes, ==, 3);
    g_assert_true(p.plain_stream);
    /* what is recorded reads back the same */
    agent_migration_params_to_json(&p, out);
    agent_migration_params_from_json(out, &back);
    g_assert_cmpuint(back.downtime_ms, ==, 100);
    g_assert_cmpuint(back.post_copy_after_passes, ==, 3);
    g_assert_cmpint(back.compression, ==, DRV_TRISTATE_FALSE);
    g_assert_true(back.plain_stream);
}

static void test_params_refused(void)
{
    const struct {
        const char *text;
        const char *word;
    } cases[] = {
        {"{\"downtime_ms\": 0}", "downtime_ms"},
        {"{\"downtime_ms\": 60001}", "downtime_ms"},
        {"{\"bandwidth_mbps\": \"fast\"}", "bandwidth_mbps"},
        {"{\"auto_converge\": 1}", "auto_converge"},
        {"{\"post_copy_after_passes\": 2}", "post_copy"},
        {"{\"timeout_s\": 5}", "timeout_s"},
        {"{\"stream_tuning\": \"no\"}", "stream_tuning"},
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_auto(AgentMigrationParams) p = {0};
        g_autoptr(JsonObject) req = obj(cases[i].text);
        g_autoptr(GError) error = NULL;

        g_assert_false(agent_migration_params_parse(req, &p, &error));
        g_assert_error(error, DRV_ERROR, DRV_ERROR_INVALID);
        g_assert_nonnull(strstr(error->message, cases[i].word));
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/convergence/progress", test_progress);
    g_test_add_func("/convergence/progress-json", test_progress_json);
    g_test_add_func("/convergence/xbzrle-ratio", test_xbzrle_ratio);
    g_test_add_func("/convergence/params", test_params);
    g_test_add_func("/convergence/params-unset", test_params_unset);
    g_test_add_func("/convergence/params-refused", test_params_refused);
    return g_test_run();
}
