/*
 * Host facts: see host.h for the contract.
 *
 * The /proc parsers fail with DRV_ERROR_INTERNAL: text the kernel wrote
 * that we cannot read is our problem, not the client's.
 *
 * Storage checks call access(2) and statvfs(2) on the domain's directory;
 * on a hung network filesystem these block, so callers on a main loop run
 * them in a worker thread.
 */
#include "agent/host.h"

#include <errno.h>
#include <gio/gio.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <net/if.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/error.h"
#include "common/vmspec.h"

#define AGENT_PROC_STAT "/proc/stat"

struct _AgentCpuMonitor {
    char *stat_path;
    GSource *timer;
    gboolean have_sample;
    guint64 busy;
    guint64 total;
    double percent;
};

void agent_cpu_info_free(AgentCpuInfo *info)
{
    if (info == NULL) {
        return;
    }
    g_free(info->vendor);
    g_free(info->model_name);
    g_strfreev(info->flags);
    g_free(info);
}

static gint agent_host_compare_strings(gconstpointer a, gconstpointer b)
{
    return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

/* Split a flags value into a sorted list without duplicates. */
static GStrv agent_host_parse_flags(const char *value)
{
    g_auto(GStrv) words = g_strsplit_set(value, " \t", -1);
    g_autoptr(GPtrArray) flags = g_ptr_array_new_with_free_func(g_free);

    for (guint i = 0; words[i] != NULL; i++) {
        if (*words[i] != '\0') {
            g_ptr_array_add(flags, g_strdup(words[i]));
        }
    }
    g_ptr_array_sort(flags, agent_host_compare_strings);
    for (guint i = 1; i < flags->len;) {
        if (g_str_equal(g_ptr_array_index(flags, i),
                        g_ptr_array_index(flags, i - 1))) {
            g_ptr_array_remove_index(flags, i);
        } else {
            i++;
        }
    }
    g_ptr_array_add(flags, NULL);
    return (GStrv)g_ptr_array_free(g_steal_pointer(&flags), FALSE);
}

AgentCpuInfo *agent_host_parse_cpuinfo(const char *text, GError **error)
{
    g_auto(GStrv) lines = NULL;
    g_autoptr(AgentCpuInfo) info = g_new0(AgentCpuInfo, 1);
    const char *flags = NULL;
    gboolean first_block = TRUE;

    g_return_val_if_fail(text != NULL, NULL);

    lines = g_strsplit(text, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++) {
        char *line = lines[i];
        char *colon;
        char *key;
        char *value;

        if (*g_strstrip(line) == '\0') {
            /* a blank line ends a processor's block */
            if (info->cpus > 0) {
                first_block = FALSE;
            }
            continue;
        }
        colon = strchr(line, ':');
        if (colon == NULL) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_INTERNAL,
                        "cpuinfo: line %u has no ':': '%s'", i + 1, line);
            return NULL;
        }
        *colon = '\0';
        key = g_strstrip(line);
        value = g_strstrip(colon + 1);
        if (g_str_equal(key, "processor")) {
            info->cpus++;
            continue;
        }
        if (!first_block) {
            continue;
        }
        /* x86 names first; "Features" is what arm64 calls its flags */
        if (g_str_equal(key, "vendor_id") && info->vendor == NULL) {
            info->vendor = g_strdup(value);
        } else if (g_str_equal(key, "model name") && info->model_name == NULL) {
            info->model_name = g_strdup(value);
        } else if ((g_str_equal(key, "flags") ||
                    g_str_equal(key, "Features")) &&
                   flags == NULL) {
            flags = value;
        }
    }
    if (info->cpus == 0) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INTERNAL,
                    "cpuinfo: no 'processor' entries");
        return NULL;
    }
    if (info->vendor == NULL) {
        info->vendor = g_strdup("unknown");
    }
    if (info->model_name == NULL) {
        info->model_name = g_strdup("unknown");
    }
    info->flags = agent_host_parse_flags(flags ? flags : "");
    return g_steal_pointer(&info);
}

/* "Key:   12345 kB" → 12345; lines for other keys are left alone. */
static gboolean agent_host_meminfo_value(const char *line, const char *key,
                                         guint64 *out, gboolean *found,
                                         GError **error)
{
    gsize len = strlen(key);
    const char *p;
    char *end = NULL;
    guint64 value;

    if (strncmp(line, key, len) != 0 || line[len] != ':') {
        return TRUE;
    }
    p = line + len + 1;
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    errno = 0;
    value = g_ascii_isdigit(*p) ? g_ascii_strtoull(p, &end, 10) : 0;
    if (end != NULL && errno == 0) {
        p = end;
        while (*p == ' ' || *p == '\t') {
            p++;
        }
        if (g_str_has_prefix(p, "kB")) {
            p += 2;
        }
        while (*p == ' ' || *p == '\t') {
            p++;
        }
    }
    if (end == NULL || errno != 0 || *p != '\0') {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INTERNAL,
                    "meminfo: cannot read %s from '%s'", key, line);
        return FALSE;
    }
    *out = value;
    *found = TRUE;
    return TRUE;
}

gboolean agent_host_parse_meminfo(const char *text, guint64 *total_kib,
                                  guint64 *available_kib, GError **error)
{
    g_auto(GStrv) lines = NULL;
    guint64 total = 0;
    guint64 available = 0;
    guint64 free_kib = 0;
    guint64 buffers = 0;
    guint64 cached = 0;
    gboolean have_total = FALSE;
    gboolean have_available = FALSE;
    gboolean have_free = FALSE;
    gboolean have_buffers = FALSE;
    gboolean have_cached = FALSE;

    g_return_val_if_fail(text != NULL, FALSE);

    lines = g_strsplit(text, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++) {
        if (!agent_host_meminfo_value(lines[i], "MemTotal", &total, &have_total,
                                      error) ||
            !agent_host_meminfo_value(lines[i], "MemAvailable", &available,
                                      &have_available, error) ||
            !agent_host_meminfo_value(lines[i], "MemFree", &free_kib,
                                      &have_free, error) ||
            !agent_host_meminfo_value(lines[i], "Buffers", &buffers,
                                      &have_buffers, error) ||
            !agent_host_meminfo_value(lines[i], "Cached", &cached, &have_cached,
                                      error)) {
            return FALSE;
        }
    }
    if (!have_total) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INTERNAL,
                    "meminfo: no MemTotal");
        return FALSE;
    }
    if (!have_available) {
        /* kernels before 3.14: the usual estimate */
        if (!have_free) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_INTERNAL,
                        "meminfo: neither MemAvailable nor MemFree");
            return FALSE;
        }
        available = free_kib + buffers + cached;
    }
    *total_kib = total;
    *available_kib = MIN(available, total);
    return TRUE;
}

gboolean agent_host_parse_stat(const char *text, guint64 *busy, guint64 *total,
                               GError **error)
{
    g_auto(GStrv) lines = NULL;

    g_return_val_if_fail(text != NULL, FALSE);

    lines = g_strsplit(text, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++) {
        g_auto(GStrv) words = NULL;
        guint64 values[8] = {0};
        guint64 sum = 0;
        guint n = 0;

        if (!g_str_has_prefix(lines[i], "cpu ")) {
            continue;
        }
        words = g_strsplit_set(lines[i] + 4, " \t", -1);
        for (guint j = 0; words[j] != NULL; j++) {
            guint64 value;

            if (*words[j] == '\0') {
                continue;
            }
            if (!g_ascii_string_to_unsigned(words[j], 10, 0, G_MAXUINT64,
                                            &value, NULL)) {
                g_set_error(error, DRV_ERROR, DRV_ERROR_INTERNAL,
                            "stat: '%s' in the cpu line is not a number",
                            words[j]);
                return FALSE;
            }
            /*
             * user nice system idle iowait irq softirq steal; guest and
             * guest_nice are already counted in user and nice
             */
            if (n < G_N_ELEMENTS(values)) {
                values[n] = value;
            }
            n++;
        }
        if (n < 4) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_INTERNAL,
                        "stat: the cpu line has %u fields, not at least 4", n);
            return FALSE;
        }
        for (guint j = 0; j < G_N_ELEMENTS(values); j++) {
            sum += values[j];
        }
        *total = sum;
        *busy = sum - values[3] - values[4];
        return TRUE;
    }
    g_set_error(error, DRV_ERROR, DRV_ERROR_INTERNAL,
                "stat: no aggregate cpu line");
    return FALSE;
}

gboolean agent_host_parse_loadavg(const char *text, double load[3],
                                  GError **error)
{
    const char *p = text;

    g_return_val_if_fail(text != NULL, FALSE);

    for (guint i = 0; i < 3; i++) {
        char *end = NULL;
        double value;

        while (*p == ' ' || *p == '\t') {
            p++;
        }
        value = g_ascii_strtod(p, &end);
        if (end == p ||
            (*end != ' ' && *end != '\t' && *end != '\n' && *end != '\0') ||
            !(value >= 0.0) || value > 1e9) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_INTERNAL,
                        "loadavg: cannot read load %u from '%s'", i + 1, text);
            return FALSE;
        }
        load[i] = value;
        p = end;
    }
    return TRUE;
}

static gboolean agent_cpu_monitor_sample(AgentCpuMonitor *monitor)
{
    g_autofree char *text = NULL;
    guint64 busy;
    guint64 total;

    /* a virtual file: reading it does not block */
    if (!g_file_get_contents(monitor->stat_path, &text, NULL, NULL) ||
        !agent_host_parse_stat(text, &busy, &total, NULL)) {
        return FALSE;
    }
    if (monitor->have_sample && total > monitor->total) {
        guint64 dbusy = busy > monitor->busy ? busy - monitor->busy : 0;

        monitor->percent =
            CLAMP(100.0 * (double)dbusy / (double)(total - monitor->total), 0.0,
                  100.0);
    }
    monitor->busy = busy;
    monitor->total = total;
    monitor->have_sample = TRUE;
    return TRUE;
}

static gboolean agent_cpu_monitor_tick(gpointer data)
{
    agent_cpu_monitor_sample(data);
    return G_SOURCE_CONTINUE;
}

AgentCpuMonitor *agent_cpu_monitor_new_for_file(const char *stat_path,
                                                guint interval_ms)
{
    AgentCpuMonitor *monitor = g_new0(AgentCpuMonitor, 1);

    g_return_val_if_fail(stat_path != NULL, NULL);

    monitor->stat_path = g_strdup(stat_path);
    monitor->percent = -1;
    agent_cpu_monitor_sample(monitor);
    monitor->timer = g_timeout_source_new(MAX(interval_ms, 1));
    g_source_set_callback(monitor->timer, agent_cpu_monitor_tick, monitor,
                          NULL);
    g_source_attach(monitor->timer, g_main_context_get_thread_default());
    return monitor;
}

AgentCpuMonitor *agent_cpu_monitor_new(guint interval_ms)
{
    return agent_cpu_monitor_new_for_file(AGENT_PROC_STAT, interval_ms);
}

void agent_cpu_monitor_free(AgentCpuMonitor *monitor)
{
    if (monitor == NULL) {
        return;
    }
    g_source_destroy(monitor->timer);
    g_source_unref(monitor->timer);
    g_free(monitor->stat_path);
    g_free(monitor);
}

double agent_cpu_monitor_get_percent(AgentCpuMonitor *monitor)
{
    g_return_val_if_fail(monitor != NULL, -1);

    return monitor->percent;
}

JsonObject *agent_host_storage_status(const char *name, const char *path)
{
    JsonObject *obj = json_object_new();
    gboolean exists = g_file_test(path, G_FILE_TEST_IS_DIR);
    /* a directory is usable through its search bit as well */
    gboolean readable = exists && access(path, R_OK | X_OK) == 0;
    gboolean writable = exists && access(path, W_OK | X_OK) == 0;
    struct statvfs st;
    guint64 total = 0;
    guint64 avail = 0;

    if (exists && statvfs(path, &st) == 0) {
        total = (guint64)st.f_blocks * st.f_frsize;
        /* what an unprivileged writer (QEMU) can still use */
        avail = (guint64)st.f_bavail * st.f_frsize;
    }
    json_object_set_string_member(obj, "name", name);
    json_object_set_string_member(obj, "path", path);
    json_object_set_boolean_member(obj, "exists", exists);
    json_object_set_boolean_member(obj, "readable", readable);
    json_object_set_boolean_member(obj, "writable", writable);
    json_object_set_int_member(obj, "total_bytes", (gint64)total);
    json_object_set_int_member(obj, "free_bytes", (gint64)avail);
    return obj;
}

gboolean agent_host_storage_usable(const char *path)
{
    return g_file_test(path, G_FILE_TEST_IS_DIR) &&
           access(path, R_OK | W_OK | X_OK) == 0;
}

/* NULL when @bridge is usable, else why not. */
static char *agent_host_bridge_problem(const char *bridge)
{
    g_autofree char *dev = NULL;
    g_autofree char *br = NULL;

    /* also keeps the name from walking out of /sys/class/net */
    if (!drv_name_is_valid(bridge) || strlen(bridge) >= IFNAMSIZ) {
        return g_strdup_printf("'%s' is not a valid interface name", bridge);
    }
    dev = g_build_filename("/sys/class/net", bridge, NULL);
    if (!g_file_test(dev, G_FILE_TEST_EXISTS)) {
        return g_strdup_printf("bridge %s does not exist", bridge);
    }
    br = g_build_filename(dev, "bridge", NULL);
    if (!g_file_test(br, G_FILE_TEST_IS_DIR)) {
        return g_strdup_printf("interface %s is not a bridge", bridge);
    }
    return NULL;
}

JsonObject *agent_host_network_status(const char *name, const char *kind)
{
    JsonObject *obj = json_object_new();
    g_autofree char *problem = NULL;

    json_object_set_string_member(obj, "name", name);
    if (g_strcmp0(kind, "user") == 0) {
        json_object_set_string_member(obj, "kind", "user");
        json_object_set_boolean_member(obj, "available", TRUE);
        return obj;
    }
    json_object_set_string_member(obj, "kind", "bridge");
    json_object_set_string_member(obj, "bridge", kind);
    problem = agent_host_bridge_problem(kind ? kind : "");
    json_object_set_boolean_member(obj, "available", problem == NULL);
    if (problem != NULL) {
        json_object_set_string_member(obj, "reason", problem);
    }
    return obj;
}

gboolean agent_host_network_available(const char *kind)
{
    g_autofree char *problem = NULL;

    if (g_strcmp0(kind, "user") == 0) {
        return TRUE;
    }
    problem = agent_host_bridge_problem(kind ? kind : "");
    return problem == NULL;
}

gboolean agent_host_parse_pid_stat(const char *text, guint64 *cpu_ticks,
                                   GError **error)
{
    const char *end = text ? strrchr(text, ')') : NULL;
    g_auto(GStrv) fields = NULL;
    guint64 utime;
    guint64 stime;

    /* after "pid (comm)": state is field 3, utime 14 and stime 15 */
    if (end != NULL) {
        fields = g_strsplit_set(end + 1, " \n", -1);
    }
    if (fields == NULL || g_strv_length(fields) < 14 ||
        !g_ascii_string_to_unsigned(fields[12], 10, 0, G_MAXUINT64, &utime,
                                    NULL) ||
        !g_ascii_string_to_unsigned(fields[13], 10, 0, G_MAXUINT64, &stime,
                                    NULL)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INTERNAL,
                    "malformed /proc/PID/stat");
        return FALSE;
    }
    *cpu_ticks = utime + stime;
    return TRUE;
}

guint agent_host_nic_speed_of(const char *sysfs, const char *ifname)
{
    g_autofree char *path = g_build_filename(sysfs, ifname, "speed", NULL);
    g_autofree char *text = NULL;
    gint64 speed;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return 0;
    }
    g_strstrip(text);
    /* virtual links say -1 */
    if (!g_ascii_string_to_signed(text, 10, 1, G_MAXINT32, &speed, NULL)) {
        return 0;
    }
    return (guint)speed;
}

guint agent_host_nic_speed_mbps(const char *address)
{
    struct ifaddrs *list = NULL;
    g_autoptr(GInetAddress) wanted = g_inet_address_new_from_string(address);
    guint speed = 0;

    if (wanted == NULL || getifaddrs(&list) < 0) {
        return 0;
    }
    for (struct ifaddrs *ifa = list; ifa != NULL && speed == 0;
         ifa = ifa->ifa_next) {
        g_autoptr(GSocketAddress) sa = NULL;

        if (ifa->ifa_addr == NULL || (ifa->ifa_addr->sa_family != AF_INET &&
                                      ifa->ifa_addr->sa_family != AF_INET6)) {
            continue;
        }
        sa = g_socket_address_new_from_native(
            ifa->ifa_addr, ifa->ifa_addr->sa_family == AF_INET
                               ? sizeof(struct sockaddr_in)
                               : sizeof(struct sockaddr_in6));
        if (sa != NULL &&
            g_inet_address_equal(
                g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(sa)),
                wanted)) {
            speed = agent_host_nic_speed_of("/sys/class/net", ifa->ifa_name);
        }
    }
    freeifaddrs(list);
    return speed;
}
