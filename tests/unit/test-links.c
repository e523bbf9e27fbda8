/*
 * The links an agent measured to its peers: lookup by peer and age,
 * replacement, the bound on peers, and the file that keeps them across
 * restarts (a broken one is refused, a missing one is empty).
 */
#include <glib/gstdio.h>

#include "agent/links.h"
#include "common/json.h"

#define SEC G_USEC_PER_SEC
#define T0 (G_GINT64_CONSTANT(1800000000) * SEC)

static void test_lookup_and_age(void)
{
    g_autoptr(AgentLinks) links = agent_links_new(NULL);
    g_autoptr(GError) error = NULL;
    double bps = 0;
    gint64 age = 0;

    g_assert_false(agent_links_lookup(links, "http://b:7001", T0, &bps, &age));
    g_assert_true(agent_links_learn(links, "http://b:7001", 119e6, T0, &error));
    g_assert_no_error(error);
    g_assert_true(
        agent_links_lookup(links, "http://b:7001", T0 + 5 * SEC, &bps, &age));
    g_assert_cmpfloat(bps, ==, 119e6);
    g_assert_cmpint(age, ==, 5 * SEC);
    g_assert_false(agent_links_lookup(links, "http://c:7001", T0, &bps, &age));
    /* a day later the figure no longer counts */
    g_assert_false(agent_links_lookup(links, "http://b:7001",
                                      T0 + (AGENT_LINKS_MAX_AGE_S + 1) * SEC,
                                      &bps, &age));
    /* a new measurement replaces the old one */
    g_assert_true(
        agent_links_learn(links, "http://b:7001", 60e6, T0 + 10 * SEC, &error));
    g_assert_true(
        agent_links_lookup(links, "http://b:7001", T0 + 10 * SEC, &bps, NULL));
    g_assert_cmpfloat(bps, ==, 60e6);
}

static void test_bounded(void)
{
    g_autoptr(AgentLinks) links = agent_links_new(NULL);
    g_autoptr(JsonArray) list = NULL;
    double bps;

    for (guint i = 0; i < AGENT_LINKS_MAX_PEERS + 10; i++) {
        g_autofree char *peer = g_strdup_printf("http://h%u:7001", i);

        g_assert_true(
            agent_links_learn(links, peer, 1e6 * (i + 1), T0 + i * SEC, NULL));
    }
    list = agent_links_to_json(links);
    g_assert_cmpuint(json_array_get_length(list), ==, AGENT_LINKS_MAX_PEERS);
    /* the oldest made room; the newest come first */
    g_assert_false(agent_links_lookup(links, "http://h0:7001", T0 + 300 * SEC,
                                      &bps, NULL));
    g_assert_cmpstr(
        drv_json_string_or(json_array_get_object_element(list, 0), "peer", ""),
        ==, "http://h265:7001");
}

static void test_persisted(void)
{
    g_autofree char *dir = g_dir_make_tmp("drover-links-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "links.json", NULL);
    g_autoptr(GError) error = NULL;
    double bps = 0;

    {
        g_autoptr(AgentLinks) links = agent_links_new(path);

        /* no file yet: empty, no error */
        g_assert_true(agent_links_load(links, &error));
        g_assert_no_error(error);
        g_assert_true(
            agent_links_learn(links, "http://a:7001", 50e6, T0, &error));
        g_assert_true(
            agent_links_learn(links, "http://b:7001", 119e6, T0 + SEC, &error));
        g_assert_no_error(error);
    }
    {
        g_autoptr(AgentLinks) links = agent_links_new(path);
        g_autoptr(JsonArray) list = NULL;

        g_assert_true(agent_links_load(links, &error));
        g_assert_no_error(error);
        g_assert_true(
            agent_links_lookup(links, "http://b:7001", T0 + SEC, &bps, NULL));
        /* kept at Mbit/s precision */
        g_assert_cmpfloat_with_epsilon(bps, 119e6, 1e6 / 8);
        list = agent_links_to_json(links);
        g_assert_cmpstr(drv_json_string_or(
                            json_array_get_object_element(list, 0), "peer", ""),
                        ==, "http://b:7001");
        g_assert_cmpint(
            drv_json_int_or(json_array_get_object_element(list, 1), "mbps", 0),
            ==, 400);
    }
    g_assert_true(g_file_set_contents(path, "{not json", -1, NULL));
    {
        g_autoptr(AgentLinks) links = agent_links_new(path);

        g_assert_false(agent_links_load(links, &error));
        g_assert_nonnull(error);
        g_assert_false(
            agent_links_lookup(links, "http://b:7001", T0, &bps, NULL));
    }
    g_unlink(path);
    g_rmdir(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/links/lookup-and-age", test_lookup_and_age);
    g_test_add_func("/links/bounded", test_bounded);
    g_test_add_func("/links/persisted", test_persisted);
    return g_test_run();
}
