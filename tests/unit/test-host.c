/*
 * Host facts: /proc parsers fed recorded samples, the CPU monitor fed a
 * fake /proc/stat, storage and network checks against the real system.
 */
#include <glib/gstdio.h>
#include <unistd.h>

#include "agent/host.h"
#include "common/error.h"

/* Recorded on a 2-vCPU AMD EPYC guest (Debian 12, 6.1), trimmed. */
static const char cpuinfo_epyc[] =
    "processor\t: 0\n"
    "vendor_id\t: AuthenticAMD\n"
    "cpu family\t: 26\n"
    "model\t\t: 2\n"
    "model name\t: AMD EPYC\n"
    "stepping\t: 1\n"
    "cpu MHz\t\t: 2096.026\n"
    "cache size\t: 1024 KB\n"
    "physical id\t: 0\n"
    "siblings\t: 2\n"
    "fpu\t\t: yes\n"
    "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep pge mca cmov "
    "pat pse36 clflush mmx fxsr sse sse2 ht syscall nx mmxext lm "
    "constant_tsc rep_good nopl pni pclmulqdq ssse3 fma cx16 sse4_1 sse4_2 "
    "x2apic movbe popcnt aes xsave avx f16c rdrand hypervisor lahf_lm pti  "
    "      vmmcall bmi1 avx2 bmi2 erms avx512f\n"
    "bugs\t\t: cpu_meltdown spectre_v1 spectre_v2\n"
    "bogomips\t: 4192.05\n"
    "power management:\n"
    "\n"
    "processor\t: 1\n"
    "vendor_id\t: AuthenticAMD\n"
    "cpu family\t: 26\n"
    "model name\t: AMD EPYC\n"
    "flags\t\t: fpu vme de pse\n"
    "power management:\n"
    "\n";

/* A 4-thread Intel host: later blocks must not override the first. */
static const char cpuinfo_intel[] =
    "processor\t: 0\nvendor_id\t: GenuineIntel\n"
    "model name\t: Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz\n"
    "flags\t\t: vmx sse2 sse fpu sse2\n\n"
    "processor\t: 1\nvendor_id\t: OtherVendor\nmodel name\t: Other\n"
    "flags\t\t: other\n\n"
    "processor\t: 2\nvendor_id\t: GenuineIntel\n\n"
    "processor\t: 3\nvendor_id\t: GenuineIntel\n";

static const char meminfo_sample[] = "MemTotal:       24683620 kB\n"
                                     "MemFree:        23864940 kB\n"
                                     "MemAvailable:   24013820 kB\n"
                                     "Buffers:            1368 kB\n"
                                     "Cached:           330508 kB\n"
                                     "SwapCached:            0 kB\n"
                                     "HugePages_Total:       0\n"
                                     "Hugepagesize:       2048 kB\n";

/* Before Linux 3.14 there is no MemAvailable. */
static const char meminfo_old[] = "MemTotal:        2048000 kB\n"
                                  "MemFree:          100000 kB\n"
                                  "Buffers:           20000 kB\n"
                                  "Cached:           300000 kB\n";

static const char stat_sample[] =
    "cpu  12035 0 7948 193262 721 0 431 0 0 0\n"
    "cpu0 4901 0 3110 98983 49 0 184 0 0 0\n"
    "cpu1 7134 0 4838 94279 672 0 247 0 0 0\n"
    "intr 1404327 0 9 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
    "ctxt 2376212\n"
    "btime 1700000000\n"
    "processes 10391\n";

static void test_cpuinfo(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(AgentCpuInfo) info =
        agent_host_parse_cpuinfo(cpuinfo_epyc, &error);
    guint n;

    g_assert_no_error(error);
    g_assert_nonnull(info);
    g_assert_cmpstr(info->vendor, ==, "AuthenticAMD");
    g_assert_cmpstr(info->model_name, ==, "AMD EPYC");
    g_assert_cmpuint(info->cpus, ==, 2);
    /* the first processor's flags, sorted, none empty */
    n = g_strv_length(info->flags);
    g_assert_cmpuint(n, ==, 53);
    for (guint i = 0; i < n; i++) {
        g_assert_cmpstr(info->flags[i], !=, "");
        if (i > 0) {
            g_assert_cmpint(strcmp(info->flags[i - 1], info->flags[i]), <, 0);
        }
    }
    g_assert_true(g_strv_contains((const char *const *)info->flags, "avx2"));
    g_assert_true(g_strv_contains((const char *const *)info->flags, "vmmcall"));
    g_assert_true(g_strv_contains((const char *const *)info->flags, "avx512f"));
    g_assert_cmpstr(info->flags[0], ==, "aes");
}

static void test_cpuinfo_first_block(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(AgentCpuInfo) info =
        agent_host_parse_cpuinfo(cpuinfo_intel, &error);
    const char *const expected[] = {"fpu", "sse", "sse2", "vmx", NULL};

    g_assert_no_error(error);
    g_assert_cmpstr(info->vendor, ==, "GenuineIntel");
    g_assert_cmpstr(info->model_name, ==,
                    "Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz");
    g_assert_cmpuint(info->cpus, ==, 4);
    /* duplicates dropped */
    g_assert_true(g_strv_equal((const char *const *)info->flags, expected));
}

static void test_cpuinfo_this_host(void)
{
    g_autofree char *text = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(AgentCpuInfo) info = NULL;

    if (!g_file_get_contents("/proc/cpuinfo", &text, NULL, NULL)) {
        g_test_skip("no /proc/cpuinfo");
        return;
    }
    info = agent_host_parse_cpuinfo(text, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(info->cpus, ==, (guint)sysconf(_SC_NPROCESSORS_ONLN));
}

static void test_cpuinfo_malformed(void)
{
    const char *const bad[] = {
        "",
        "\n\n",
        "vendor_id\t: AuthenticAMD\nflags\t: fpu\n",
        "processor\t: 0\nthis line has no colon\n",
    };

    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(AgentCpuInfo) info = agent_host_parse_cpuinfo(bad[i], &error);

        g_assert_null(info);
        g_assert_error(error, DRV_ERROR, DRV_ERROR_INTERNAL);
        g_assert_true(g_str_has_prefix(error->message, "cpuinfo: "));
    }
}

static void test_meminfo(void)
{
    g_autoptr(GError) error = NULL;
    guint64 total = 0;
    guint64 available = 0;

    g_assert_true(
        agent_host_parse_meminfo(meminfo_sample, &total, &available, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(total, ==, 24683620);
    g_assert_cmpuint(available, ==, 24013820);

    g_assert_true(
        agent_host_parse_meminfo(meminfo_old, &total, &available, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(total, ==, 2048000);
    g_assert_cmpuint(available, ==, 100000 + 20000 + 300000);
}

static void test_meminfo_malformed(void)
{
    const char *const bad[] = {
        "",
        "MemFree: 100 kB\nMemAvailable: 100 kB\n",
        "MemTotal: lots kB\nMemAvailable: 1 kB\n",
        "MemTotal: 100 kB\nMemAvailable: 12x kB\n",
        "MemTotal: 100 kB extra\nMemAvailable: 1 kB\n",
        "MemTotal: 99999999999999999999999 kB\nMemAvailable: 1 kB\n",
        "MemTotal: 100 kB\n",
    };

    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;
        guint64 total = 7;
        guint64 available = 7;

        g_assert_false(
            agent_host_parse_meminfo(bad[i], &total, &available, &error));
        g_assert_error(error, DRV_ERROR, DRV_ERROR_INTERNAL);
        g_assert_true(g_str_has_prefix(error->message, "meminfo: "));
        /* outputs untouched on failure */
        g_assert_cmpuint(total, ==, 7);
        g_assert_cmpuint(available, ==, 7);
    }
}

static void test_stat(void)
{
    g_autoptr(GError) error = NULL;
    guint64 busy = 0;
    guint64 total = 0;

    g_assert_true(agent_host_parse_stat(stat_sample, &busy, &total, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(total, ==, 12035 + 7948 + 193262 + 721 + 431);
    g_assert_cmpuint(busy, ==, 12035 + 7948 + 431);

    /* guest time is part of user time already: not counted twice */
    g_assert_true(agent_host_parse_stat("cpu  100 20 30 400 50 6 7 8 90 10\n",
                                        &busy, &total, &error));
    g_assert_cmpuint(total, ==, 100 + 20 + 30 + 400 + 50 + 6 + 7 + 8);
    g_assert_cmpuint(busy, ==, 100 + 20 + 30 + 6 + 7 + 8);

    /* old kernels: user nice system idle */
    g_assert_true(
        agent_host_parse_stat("cpu 10 0 5 85\n", &busy, &total, &error));
    g_assert_cmpuint(total, ==, 100);
    g_assert_cmpuint(busy, ==, 15);
}

static void test_stat_malformed(void)
{
    const char *const bad[] = {
        "",
        "cpu0 1 2 3 4 5 6 7 8\n",
        "cpu  1 2 x 4 5 6 7 8\n",
        "cpu  1 2 3\n",
        "cpu  -1 2 3 4 5\n",
    };

    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;
        guint64 busy = 0;
        guint64 total = 0;

        g_assert_false(agent_host_parse_stat(bad[i], &busy, &total, &error));
        g_assert_error(error, DRV_ERROR, DRV_ERROR_INTERNAL);
        g_assert_true(g_str_has_prefix(error->message, "stat: "));
    }
}

static void test_loadavg(void)
{
    g_autoptr(GError) error = NULL;
    double load[3] = {-1, -1, -1};
    const char *const bad[] = {
        "", "0.26 0.21", "abc def ghi", "0.26x 0.21 0.12", "-1 0 0", "nan 0 0",
    };

    g_assert_true(
        agent_host_parse_loadavg("0.26 0.21 0.12 1/109 10277\n", load, &error));
    g_assert_no_error(error);
    g_assert_cmpfloat(load[0], ==, 0.26);
    g_assert_cmpfloat(load[1], ==, 0.21);
    g_assert_cmpfloat(load[2], ==, 0.12);

    g_assert_true(agent_host_parse_loadavg("12.50 3 0.00\n", load, &error));
    g_assert_cmpfloat(load[0], ==, 12.5);
    g_assert_cmpfloat(load[1], ==, 3.0);
    g_assert_cmpfloat(load[2], ==, 0.0);

    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) local = NULL;

        g_assert_false(agent_host_parse_loadavg(bad[i], load, &local));
        g_assert_error(local, DRV_ERROR, DRV_ERROR_INTERNAL);
    }
}

static gboolean tick(gpointer data)
{
    return G_SOURCE_CONTINUE;
}

static gboolean wait_percent(AgentCpuMonitor *monitor, double want,
                             guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + timeout_ms * 1000;
    guint id = g_timeout_add(5, tick, NULL);

    while (agent_cpu_monitor_get_percent(monitor) != want &&
           g_get_monotonic_time() < deadline) {
        g_main_context_iteration(NULL, TRUE);
    }
    g_source_remove(id);
    return agent_cpu_monitor_get_percent(monitor) == want;
}

static void test_cpu_monitor(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *tmp = g_dir_make_tmp("drover-host-XXXXXX", &error);
    g_autofree char *path = g_build_filename(tmp, "stat", NULL);
    g_autoptr(AgentCpuMonitor) monitor = NULL;

    g_assert_no_error(error);
    g_assert_true(g_file_set_contents(
        path, "cpu  100 0 0 900 0 0 0 0 0 0\ncpu0 1 1 1 1\n", -1, NULL));
    monitor = agent_cpu_monitor_new_for_file(path, 20);
    /* one sample is no rate */
    g_assert_cmpfloat(agent_cpu_monitor_get_percent(monitor), ==, -1);

    /* 50 of 100 jiffies busy */
    g_assert_true(
        g_file_set_contents(path, "cpu  140 0 10 945 5 0 0 0 0 0\n", -1, NULL));
    g_assert_true(wait_percent(monitor, 50.0, 2000));
    /* all idle */
    g_assert_true(g_file_set_contents(path, "cpu  140 0 10 1045 5 0 0 0 0 0\n",
                                      -1, NULL));
    g_assert_true(wait_percent(monitor, 0.0, 2000));
    /* all busy, iowait counted as idle */
    g_assert_true(g_file_set_contents(
        path, "cpu  240 0 10 1045 105 0 0 100 0 0\n", -1, NULL));
    g_assert_true(wait_percent(monitor, 100.0 * 200 / 300, 2000));
    /* an unreadable sample keeps the last value */
    g_assert_true(g_file_set_contents(path, "garbage\n", -1, NULL));
    {
        gint64 until = g_get_monotonic_time() + 100 * 1000;

        while (g_get_monotonic_time() < until) {
            g_main_context_iteration(NULL, FALSE);
            g_usleep(1000);
        }
    }
    g_assert_cmpfloat(agent_cpu_monitor_get_percent(monitor), ==,
                      100.0 * 200 / 300);

    g_clear_pointer(&monitor, agent_cpu_monitor_free);
    g_unlink(path);
    g_rmdir(tmp);
}

static void test_cpu_monitor_real(void)
{
    g_autoptr(AgentCpuMonitor) monitor = agent_cpu_monitor_new(20);
    gint64 deadline = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;
    guint id = g_timeout_add(5, tick, NULL);
    double percent;

    while (agent_cpu_monitor_get_percent(monitor) < 0 &&
           g_get_monotonic_time() < deadline) {
        g_main_context_iteration(NULL, TRUE);
    }
    g_source_remove(id);
    percent = agent_cpu_monitor_get_percent(monitor);
    g_assert_cmpfloat(percent, >=, 0.0);
    g_assert_cmpfloat(percent, <=, 100.0);
}

static void assert_storage(JsonObject *obj, const char *name, const char *path,
                           gboolean exists, gboolean readable,
                           gboolean writable)
{
    g_assert_cmpstr(json_object_get_string_member(obj, "name"), ==, name);
    g_assert_cmpstr(json_object_get_string_member(obj, "path"), ==, path);
    g_assert_cmpint(json_object_get_boolean_member(obj, "exists"), ==, exists);
    g_assert_cmpint(json_object_get_boolean_member(obj, "readable"), ==,
                    readable);
    g_assert_cmpint(json_object_get_boolean_member(obj, "writable"), ==,
                    writable);
    if (exists) {
        gint64 total = json_object_get_int_member(obj, "total_bytes");
        gint64 avail = json_object_get_int_member(obj, "free_bytes");

        g_assert_cmpint(total, >, 0);
        g_assert_cmpint(avail, >=, 0);
        g_assert_cmpint(avail, <=, total);
    } else {
        g_assert_cmpint(json_object_get_int_member(obj, "total_bytes"), ==, 0);
        g_assert_cmpint(json_object_get_int_member(obj, "free_bytes"), ==, 0);
    }
}

/* Whether a file can really be created in @dir. */
static gboolean can_create_in(const char *dir)
{
    g_autofree char *path = g_build_filename(dir, "probe", NULL);

    if (!g_file_set_contents(path, "x", 1, NULL)) {
        return FALSE;
    }
    g_unlink(path);
    return TRUE;
}

static void test_storage(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *tmp = g_dir_make_tmp("drover-host-XXXXXX", &error);
    g_autofree char *ro = g_build_filename(tmp, "readonly", NULL);
    g_autofree char *missing = g_build_filename(tmp, "missing", NULL);
    g_autofree char *file = g_build_filename(tmp, "file", NULL);
    g_autoptr(JsonObject) rw_status = NULL;
    g_autoptr(JsonObject) ro_status = NULL;
    g_autoptr(JsonObject) missing_status = NULL;
    g_autoptr(JsonObject) file_status = NULL;
    gboolean ro_writable;

    g_assert_no_error(error);
    rw_status = agent_host_storage_status("shared", tmp);
    assert_storage(rw_status, "shared", tmp, TRUE, TRUE, TRUE);
    g_assert_true(agent_host_storage_usable(tmp));

    /*
     * Mode 0555.  "writable" must say whether a write would work: for an
     * ordinary user it would not; root (CAP_DAC_OVERRIDE, as in the usual
     * test container) writes anyway, and so does the agent running as root.
     */
    g_assert_cmpint(g_mkdir(ro, 0555), ==, 0);
    g_assert_cmpint(g_chmod(ro, 0555), ==, 0);
    ro_writable = can_create_in(ro);
    if (geteuid() != 0) {
        g_assert_false(ro_writable);
    }
    ro_status = agent_host_storage_status("ro", ro);
    assert_storage(ro_status, "ro", ro, TRUE, TRUE, ro_writable);
    g_assert_cmpint(agent_host_storage_usable(ro), ==, ro_writable);
    g_test_message("read-only (0555) directory writable as uid %u: %s",
                   (guint)geteuid(), ro_writable ? "yes" : "no");

    missing_status = agent_host_storage_status("gone", missing);
    assert_storage(missing_status, "gone", missing, FALSE, FALSE, FALSE);
    g_assert_false(agent_host_storage_usable(missing));

    /* a file is not a storage domain */
    g_assert_true(g_file_set_contents(file, "", 0, NULL));
    file_status = agent_host_storage_status("file", file);
    assert_storage(file_status, "file", file, FALSE, FALSE, FALSE);
    g_assert_false(agent_host_storage_usable(file));

    g_chmod(ro, 0755);
    g_rmdir(ro);
    g_unlink(file);
    g_rmdir(tmp);
}

static void test_network(void)
{
    g_autoptr(JsonObject) user = agent_host_network_status("vmnet", "user");
    g_autoptr(JsonObject) missing =
        agent_host_network_status("lan", "drvnobr0");
    g_autoptr(JsonObject) invalid = agent_host_network_status("lan", "../../x");

    g_assert_cmpstr(json_object_get_string_member(user, "name"), ==, "vmnet");
    g_assert_cmpstr(json_object_get_string_member(user, "kind"), ==, "user");
    g_assert_true(json_object_get_boolean_member(user, "available"));
    g_assert_false(json_object_has_member(user, "bridge"));
    g_assert_false(json_object_has_member(user, "reason"));
    g_assert_true(agent_host_network_available("user"));

    g_assert_cmpstr(json_object_get_string_member(missing, "name"), ==, "lan");
    g_assert_cmpstr(json_object_get_string_member(missing, "kind"), ==,
                    "bridge");
    g_assert_cmpstr(json_object_get_string_member(missing, "bridge"), ==,
                    "drvnobr0");
    g_assert_false(json_object_get_boolean_member(missing, "available"));
    g_assert_cmpstr(json_object_get_string_member(missing, "reason"), ==,
                    "bridge drvnobr0 does not exist");
    g_assert_false(agent_host_network_available("drvnobr0"));

    g_assert_false(json_object_get_boolean_member(invalid, "available"));
    g_assert_nonnull(strstr(json_object_get_string_member(invalid, "reason"),
                            "not a valid interface name"));
    g_assert_false(agent_host_network_available("../../x"));
    g_assert_false(agent_host_network_available("averyveryverylongname"));

    /* an interface that exists but is not a bridge */
    if (g_file_test("/sys/class/net/lo", G_FILE_TEST_EXISTS)) {
        g_autoptr(JsonObject) lo = agent_host_network_status("lan", "lo");

        g_assert_false(json_object_get_boolean_member(lo, "available"));
        g_assert_cmpstr(json_object_get_string_member(lo, "reason"), ==,
                        "interface lo is not a bridge");
        g_assert_false(agent_host_network_available("lo"));
    }
}

static void test_nic_speed(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *dir = g_dir_make_tmp("drv-nic-XXXXXX", &error);
    g_autofree char *eth = g_build_filename(dir, "eth0", NULL);
    g_autofree char *veth = g_build_filename(dir, "veth0", NULL);
    g_autofree char *f1 = g_build_filename(eth, "speed", NULL);
    g_autofree char *f2 = g_build_filename(veth, "speed", NULL);

    g_assert_no_error(error);
    g_assert_cmpint(g_mkdir(eth, 0700), ==, 0);
    g_assert_cmpint(g_mkdir(veth, 0700), ==, 0);
    g_assert_true(g_file_set_contents(f1, "25000\n", -1, NULL));
    g_assert_true(g_file_set_contents(f2, "-1\n", -1, NULL));
    g_assert_cmpuint(agent_host_nic_speed_of(dir, "eth0"), ==, 25000);
    /* virtual links and missing interfaces: unknown */
    g_assert_cmpuint(agent_host_nic_speed_of(dir, "veth0"), ==, 0);
    g_assert_cmpuint(agent_host_nic_speed_of(dir, "nope"), ==, 0);
    /* loopback has no speed: unknown, so the agent falls back */
    g_assert_cmpuint(agent_host_nic_speed_mbps("127.0.0.1"), ==, 0);
    g_assert_cmpuint(agent_host_nic_speed_mbps("not an address"), ==, 0);
    g_unlink(f1);
    g_unlink(f2);
    g_rmdir(eth);
    g_rmdir(veth);
    g_rmdir(dir);
}

static void test_pid_stat(void)
{
    /* a command name with a space and a parenthesis, as QEMU's may be */
    const char *text =
        "4242 (qemu-system-x86 (x)) S 1 4241 4241 0 -1 4194560 21931 0 0 0 "
        "1500 250 0 0 20 0 5 0 123456 1073741824 12345 18446744073709551615 "
        "1 1 0 0 0 0 0 4096 17475 0 0 0 17 1 0 0 0 0 0\n";
    guint64 ticks = 0;
    g_autoptr(GError) error = NULL;

    g_assert_true(agent_host_parse_pid_stat(text, &ticks, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(ticks, ==, 1750);
    g_assert_false(
        agent_host_parse_pid_stat("4242 (short) S 1 2", &ticks, &error));
    g_assert_error(error, DRV_ERROR, DRV_ERROR_INTERNAL);
    g_clear_error(&error);
    g_assert_false(agent_host_parse_pid_stat("no parenthesis", &ticks, &error));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/host/cpuinfo", test_cpuinfo);
    g_test_add_func("/host/cpuinfo-first-block", test_cpuinfo_first_block);
    g_test_add_func("/host/cpuinfo-this-host", test_cpuinfo_this_host);
    g_test_add_func("/host/cpuinfo-malformed", test_cpuinfo_malformed);
    g_test_add_func("/host/meminfo", test_meminfo);
    g_test_add_func("/host/meminfo-malformed", test_meminfo_malformed);
    g_test_add_func("/host/stat", test_stat);
    g_test_add_func("/host/stat-malformed", test_stat_malformed);
    g_test_add_func("/host/loadavg", test_loadavg);
    g_test_add_func("/host/pid-stat", test_pid_stat);
    g_test_add_func("/host/nic-speed", test_nic_speed);
    g_test_add_func("/host/cpu-monitor", test_cpu_monitor);
    g_test_add_func("/host/cpu-monitor-real", test_cpu_monitor_real);
    g_test_add_func("/host/storage", test_storage);
    g_test_add_func("/host/network", test_network);
    return g_test_run();
}
