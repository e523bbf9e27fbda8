#include "agent/qemu.h"

#include <errno.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/error.h"
#include "common/glib-extra.h"
#include "common/fileutil.h"
#include "common/json.h"
#include "qmp/qmp.h"

/* How much of QEMU's stderr a start failure quotes. */
#define AGENT_QEMU_ERROR_TAIL 2048
#define AGENT_QEMU_PROBE_TIMEOUT_MS 20000
#define AGENT_UNIX_PATH_MAX 107

void agent_qemu_caps_free(AgentQemuCaps *caps)
{
    if (caps == NULL) {
        return;
    }
    g_free(caps->version);
    g_free(caps->accel);
    g_strfreev(caps->cpu_models);
    g_strfreev(caps->machines);
    g_free(caps->default_machine);
    g_free(caps);
}

gboolean agent_qemu_caps_has_cpu_model(const AgentQemuCaps *caps,
                                       const char *model)
{
    return caps->cpu_models &&
           g_strv_contains((const char *const *)caps->cpu_models, model);
}

gboolean agent_qemu_caps_has_machine(const AgentQemuCaps *caps,
                                     const char *machine)
{
    return caps->machines &&
           g_strv_contains((const char *const *)caps->machines, machine);
}

#define AGENT_QEMU_TCG_RAM_PAD_KIB 128

/* "7.2.22" → 7; unparsable versions count as old, the safe side. */
static guint agent_qemu_major(const char *version)
{
    return version ? (guint)g_ascii_strtoull(version, NULL, 10) : 0;
}

guint64 agent_qemu_ram_kib(const AgentQemuCaps *caps, guint memory_mib)
{
    guint64 kib = (guint64)memory_mib * 1024;

    if (g_strcmp0(caps->accel, "tcg") == 0 &&
        agent_qemu_major(caps->version) < 9) {
        kib += AGENT_QEMU_TCG_RAM_PAD_KIB;
    }
    return kib;
}

gboolean agent_qemu_ram_kib_valid(guint memory_mib, guint64 ram_kib)
{
    guint64 kib = (guint64)memory_mib * 1024;

    return ram_kib == kib || ram_kib == kib + AGENT_QEMU_TCG_RAM_PAD_KIB;
}

void agent_qemu_paths_free(AgentQemuPaths *paths)
{
    if (paths == NULL) {
        return;
    }
    g_free(paths->qmp_socket);
    g_free(paths->console_socket);
    g_free(paths->pidfile);
    g_free(paths->kernel);
    g_clear_pointer(&paths->disk_paths, g_ptr_array_unref);
    g_free(paths);
}

static gboolean agent_qemu_check_socket_path(const char *path, GError **error)
{
    if (strlen(path) > AGENT_UNIX_PATH_MAX) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "socket path %s is longer than %d bytes: set a shorter "
                    "[agent] run_dir",
                    path, AGENT_UNIX_PATH_MAX);
        return FALSE;
    }
    return TRUE;
}

AgentQemuPaths *agent_qemu_paths_new(const AgentConfig *config,
                                     const DrvVmSpec *spec, const char *vm_dir,
                                     GError **error)
{
    g_autoptr(AgentQemuPaths) paths = g_new0(AgentQemuPaths, 1);
    g_autofree char *qmp_name = g_strdup_printf("%s.qmp", spec->id);
    g_autofree char *con_name = g_strdup_printf("%s.con", spec->id);

    paths->qmp_socket = g_build_filename(config->run_dir, qmp_name, NULL);
    paths->console_socket = g_build_filename(config->run_dir, con_name, NULL);
    paths->pidfile = g_build_filename(vm_dir, "qemu.pid", NULL);
    if (!agent_qemu_check_socket_path(paths->qmp_socket, error) ||
        !agent_qemu_check_socket_path(paths->console_socket, error)) {
        return NULL;
    }
    if (spec->kernel != NULL) {
        paths->kernel =
            g_canonicalize_filename(spec->kernel, config->kernel_dir);
        if (!g_file_test(paths->kernel, G_FILE_TEST_IS_REGULAR)) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_NOT_FOUND,
                        "kernel %s not found on host %s", paths->kernel,
                        config->name);
            return NULL;
        }
    }
    paths->disk_paths = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < spec->disks->len; i++) {
        DrvDiskSpec *disk = g_ptr_array_index(spec->disks, i);
        const char *base =
            g_hash_table_lookup(config->storage, disk->storage_domain);
        char *path;

        if (base == NULL) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_NO_STORAGE,
                        "host %s has no storage domain '%s' (disk %u)",
                        config->name, disk->storage_domain, i);
            return NULL;
        }
        path = drv_path_join_within(base, disk->path, error);
        if (path == NULL) {
            return NULL;
        }
        g_ptr_array_add(paths->disk_paths, path);
        if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_NOT_FOUND,
                        "disk image %s not found in storage domain '%s' on "
                        "host %s",
                        disk->path, disk->storage_domain, config->name);
            return NULL;
        }
    }
    return g_steal_pointer(&paths);
}

GStrv agent_qemu_build_argv(const AgentConfig *config, const char *accel,
                            const DrvVmSpec *spec, const char *machine,
                            guint64 ram_kib, const AgentQemuPaths *paths,
                            AgentQemuStart start, GError **error)
{
    g_autoptr(GStrvBuilder) b = g_strv_builder_new();

    g_strv_builder_add_many(b, config->qemu_binary, "-name", NULL);
    drv_strv_builder_take(
        b, g_strdup_printf("guest=%s,debug-threads=on", spec->name));
    g_strv_builder_add_many(b, "-uuid", spec->id, "-machine", machine, "-accel",
                            accel, "-cpu", spec->cpu_model, "-m", NULL);
    drv_strv_builder_take(b,
                          g_strdup_printf("%" G_GUINT64_FORMAT "K", ram_kib));
    g_strv_builder_add(b, "-smp");
    drv_strv_builder_take(b, g_strdup_printf("%u", spec->vcpus));
    g_strv_builder_add_many(b, "-nodefaults", "-no-user-config", "-display",
                            "none", "-S", "-daemonize", "-pidfile",
                            paths->pidfile, "-msg", "timestamp=on", "-chardev",
                            NULL);
    drv_strv_builder_take(b, g_strdup_printf("socket,id=qmp,path=%s,"
                                             "server=on,wait=off",
                                             paths->qmp_socket));
    g_strv_builder_add_many(b, "-mon", "chardev=qmp,mode=control", "-chardev",
                            NULL);
    drv_strv_builder_take(b, g_strdup_printf("socket,id=console0,path=%s,"
                                             "server=on,wait=off",
                                             paths->console_socket));
    g_strv_builder_add_many(b, "-serial", "chardev:console0", NULL);
    if (paths->kernel != NULL) {
        g_strv_builder_add_many(b, "-kernel", paths->kernel, NULL);
        if (spec->append != NULL) {
            g_strv_builder_add_many(b, "-append", spec->append, NULL);
        }
    }
    for (guint i = 0; i < spec->disks->len; i++) {
        DrvDiskSpec *disk = g_ptr_array_index(spec->disks, i);

        /*
         * cache=none: the source's host page cache must not hold data the
         * destination cannot see once it takes over the image.
         */
        g_strv_builder_add(b, "-drive");
        drv_strv_builder_take(
            b, g_strdup_printf("file=%s,format=%s,if=none,id=drive%u,"
                               "cache=none,aio=threads",
                               (char *)g_ptr_array_index(paths->disk_paths, i),
                               drv_disk_format_name(disk->format), i));
        g_strv_builder_add(b, "-device");
        drv_strv_builder_take(
            b, g_strdup_printf("virtio-blk-pci,drive=drive%u,id=disk%u", i, i));
    }
    for (guint i = 0; i < spec->nics->len; i++) {
        DrvNicSpec *nic = g_ptr_array_index(spec->nics, i);
        const char *kind = g_hash_table_lookup(config->networks, nic->network);

        if (kind == NULL) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_NO_NETWORK,
                        "host %s has no network '%s' (nic %u)", config->name,
                        nic->network, i);
            return NULL;
        }
        g_strv_builder_add(b, "-netdev");
        if (g_str_equal(kind, "user")) {
            drv_strv_builder_take(b, g_strdup_printf("user,id=net%u", i));
        } else {
            drv_strv_builder_take(
                b, g_strdup_printf("bridge,id=net%u,br=%s", i, kind));
        }
        g_strv_builder_add(b, "-device");
        drv_strv_builder_take(
            b, g_strdup_printf("virtio-net-pci,netdev=net%u,mac=%s,"
                               "id=nic%u",
                               i, nic->mac, i));
    }
    if (start == AGENT_QEMU_INCOMING_PREALLOC) {
        g_strv_builder_add(b, "-mem-prealloc");
    }
    if (start != AGENT_QEMU_RUN) {
        g_strv_builder_add_many(b, "-incoming", "defer", NULL);
    }
    return g_strv_builder_end(b);
}

/* ---- spawn ---- */

typedef struct {
    char *pidfile;
    char *logfile;
} AgentQemuSpawn;

static void agent_qemu_spawn_free(gpointer p)
{
    AgentQemuSpawn *spawn = p;

    g_free(spawn->pidfile);
    g_free(spawn->logfile);
    g_free(spawn);
}

/* The end of QEMU's stderr, where it says why it would not start. */
static char *agent_qemu_error_tail(const char *logfile)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    const char *start;

    if (!g_file_get_contents(logfile, &data, &len, NULL) || len == 0) {
        return g_strdup("no message");
    }
    start =
        len > AGENT_QEMU_ERROR_TAIL ? data + len - AGENT_QEMU_ERROR_TAIL : data;
    return g_strstrip(g_strdup(start));
}

static GPid agent_qemu_read_pidfile(const char *pidfile, GError **error)
{
    g_autofree char *text = NULL;
    guint64 pid;

    if (!g_file_get_contents(pidfile, &text, NULL, error)) {
        return 0;
    }
    g_strstrip(text);
    if (!g_ascii_string_to_unsigned(text, 10, 1, G_MAXINT32, &pid, NULL)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INTERNAL,
                    "QEMU pidfile %s holds '%s'", pidfile, text);
        return 0;
    }
    return (GPid)pid;
}

static void agent_qemu_on_parent_exit(GObject *source, GAsyncResult *result,
                                      gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    AgentQemuSpawn *spawn = g_task_get_task_data(task);
    GSubprocess *proc = G_SUBPROCESS(source);
    g_autoptr(GError) error = NULL;
    GPid pid;

    if (!g_subprocess_wait_finish(proc, result, &error)) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    if (!g_subprocess_get_successful(proc)) {
        g_autofree char *tail = agent_qemu_error_tail(spawn->logfile);

        g_task_return_new_error(task, DRV_ERROR, DRV_ERROR_QEMU,
                                "QEMU did not start: %s", tail);
        return;
    }
    pid = agent_qemu_read_pidfile(spawn->pidfile, &error);
    if (pid == 0) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    g_task_return_int(task, pid);
}

void agent_qemu_spawn_async(GStrv argv, const char *pidfile,
                            GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
    g_autoptr(GSubprocessLauncher) launcher = NULL;
    g_autoptr(GSubprocess) proc = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *dir = g_path_get_dirname(pidfile);
    AgentQemuSpawn *spawn = g_new0(AgentQemuSpawn, 1);

    g_task_set_source_tag(task, agent_qemu_spawn_async);
    g_task_set_task_data(task, spawn, agent_qemu_spawn_free);
    spawn->pidfile = g_strdup(pidfile);
    spawn->logfile = g_build_filename(dir, "qemu.log", NULL);
    g_unlink(pidfile);
    launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDIN_INHERIT);
    /*
     * QEMU's errors before it daemonizes go to this file; the daemon then
     * points its stderr at /dev/null.
     */
    g_subprocess_launcher_set_stdout_file_path(launcher, "/dev/null");
    g_subprocess_launcher_set_stderr_file_path(launcher, spawn->logfile);
    proc = g_subprocess_launcher_spawnv(launcher, (const char *const *)argv,
                                        &error);
    if (proc == NULL) {
        g_task_return_new_error(task, DRV_ERROR, DRV_ERROR_QEMU,
                                "cannot run %s: %s", argv[0], error->message);
        return;
    }
    g_subprocess_wait_async(proc, cancellable, agent_qemu_on_parent_exit,
                            g_steal_pointer(&task));
}

GPid agent_qemu_spawn_finish(GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, NULL), 0);
    return (GPid)g_task_propagate_int(G_TASK(result), error);
}

/* ---- exit watch ---- */

typedef struct {
    GPid pid;
    int pidfd;
    AgentQemuExitFunc func;
    gpointer user_data;
} AgentQemuWatch;

static void agent_qemu_watch_free(gpointer p)
{
    AgentQemuWatch *watch = p;

    close(watch->pidfd);
    g_free(watch);
}

static gboolean agent_qemu_on_pidfd(gint fd, GIOCondition condition,
                                    gpointer user_data)
{
    AgentQemuWatch *watch = user_data;

    watch->func(watch->pid, watch->user_data);
    return G_SOURCE_REMOVE;
}

guint agent_qemu_watch(GPid pid, AgentQemuExitFunc func, gpointer user_data)
{
    AgentQemuWatch *watch;
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);

    if (fd < 0) {
        return 0;
    }
    watch = g_new0(AgentQemuWatch, 1);
    watch->pid = pid;
    watch->pidfd = fd;
    watch->func = func;
    watch->user_data = user_data;
    return g_unix_fd_add_full(G_PRIORITY_DEFAULT, fd, G_IO_IN,
                              agent_qemu_on_pidfd, watch,
                              agent_qemu_watch_free);
}

void agent_qemu_unwatch(guint handle)
{
    if (handle != 0) {
        g_source_remove(handle);
    }
}

gboolean agent_qemu_pid_matches(GPid pid, const char *uuid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/cmdline", (int)pid);
    g_autofree char *data = NULL;
    gsize len = 0;
    gboolean prev_uuid = FALSE;

    if (pid <= 0 || !g_file_get_contents(path, &data, &len, NULL)) {
        return FALSE;
    }
    for (gsize off = 0; off < len; off += strlen(data + off) + 1) {
        if (prev_uuid && g_str_equal(data + off, uuid)) {
            return TRUE;
        }
        prev_uuid = g_str_equal(data + off, "-uuid");
    }
    return FALSE;
}

void agent_qemu_kill(GPid pid)
{
    if (pid > 0) {
        kill(pid, SIGKILL);
    }
}

/* ---- probe ---- */

typedef struct {
    char *dir;
    GPid pid;
    QmpClient *qmp;
    AgentQemuCaps *caps;
    GStrv allowed; /* config restriction, or NULL */
} AgentQemuProbe;

static void agent_qemu_probe_free(gpointer p)
{
    AgentQemuProbe *probe = p;

    if (probe->qmp) {
        qmp_client_close(probe->qmp);
        g_object_unref(probe->qmp);
    }
    if (probe->pid > 0) {
        agent_qemu_kill(probe->pid);
    }
    if (probe->dir) {
        g_autofree char *sock = g_build_filename(probe->dir, "probe.qmp", NULL);
        g_autofree char *pidfile =
            g_build_filename(probe->dir, "probe.pid", NULL);
        g_autofree char *log = g_build_filename(probe->dir, "qemu.log", NULL);

        g_unlink(sock);
        g_unlink(pidfile);
        g_unlink(log);
        g_rmdir(probe->dir);
        g_free(probe->dir);
    }
    agent_qemu_caps_free(probe->caps);
    g_strfreev(probe->allowed);
    g_free(probe);
}

static gint agent_strcmp_p(gconstpointer a, gconstpointer b)
{
    return g_strcmp0(*(char *const *)a, *(char *const *)b);
}

static GStrv agent_sorted_strv(GPtrArray *names)
{
    g_ptr_array_sort(names, agent_strcmp_p);
    g_ptr_array_add(names, NULL);
    return (GStrv)g_ptr_array_free(names, FALSE);
}

static void agent_qemu_probe_on_quit(GObject *source, GAsyncResult *result,
                                     gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    AgentQemuProbe *probe = g_task_get_task_data(task);
    g_autoptr(JsonNode) node =
        qmp_client_execute_finish(QMP_CLIENT(source), result, NULL);

    /* quit has been asked: the process is on its way out */
    probe->pid = 0;
    g_task_return_pointer(task, g_steal_pointer(&probe->caps),
                          (GDestroyNotify)agent_qemu_caps_free);
}

static void agent_qemu_probe_on_machines(GObject *source, GAsyncResult *result,
                                         gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    AgentQemuProbe *probe = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node =
        qmp_client_execute_finish(QMP_CLIENT(source), result, &error);
    g_autoptr(GPtrArray) names = g_ptr_array_new();
    JsonArray *list;

    if (node == NULL) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    list = json_node_get_array(node);
    for (guint i = 0; list && i < json_array_get_length(list); i++) {
        JsonObject *m = json_array_get_object_element(list, i);
        const char *name = drv_json_string_or(m, "name", NULL);

        if (name == NULL) {
            continue;
        }
        g_ptr_array_add(names, g_strdup(name));
        if (g_strcmp0(drv_json_string_or(m, "alias", NULL), "pc") == 0 ||
            (probe->caps->default_machine == NULL &&
             drv_json_bool_or(m, "is-default", FALSE))) {
            g_free(probe->caps->default_machine);
            probe->caps->default_machine = g_strdup(name);
        }
    }
    probe->caps->machines = agent_sorted_strv(g_steal_pointer(&names));
    if (probe->caps->default_machine == NULL) {
        g_task_return_new_error(task, DRV_ERROR, DRV_ERROR_QEMU,
                                "QEMU reports no default machine type");
        return;
    }
    qmp_client_execute_async(probe->qmp, "quit", NULL, 0, NULL,
                             agent_qemu_probe_on_quit, g_steal_pointer(&task));
}

static void agent_qemu_probe_on_cpus(GObject *source, GAsyncResult *result,
                                     gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    AgentQemuProbe *probe = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node =
        qmp_client_execute_finish(QMP_CLIENT(source), result, &error);
    g_autoptr(GPtrArray) names = g_ptr_array_new();
    JsonArray *list;

    if (node == NULL) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    list = json_node_get_array(node);
    for (guint i = 0; list && i < json_array_get_length(list); i++) {
        JsonObject *cpu = json_array_get_object_element(list, i);
        const char *name = drv_json_string_or(cpu, "name", NULL);
        JsonArray *missing =
            drv_json_array_or_null(cpu, "unavailable-features");

        if (name == NULL || (missing && json_array_get_length(missing))) {
            continue;
        }
        if (probe->allowed &&
            !g_strv_contains((const char *const *)probe->allowed, name)) {
            continue;
        }
        g_ptr_array_add(names, g_strdup(name));
    }
    probe->caps->cpu_models = agent_sorted_strv(g_steal_pointer(&names));
    qmp_client_execute_async(probe->qmp, "query-machines", NULL, 0, NULL,
                             agent_qemu_probe_on_machines,
                             g_steal_pointer(&task));
}

static void agent_qemu_probe_on_connect(GObject *source, GAsyncResult *result,
                                        gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    AgentQemuProbe *probe = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;

    if (!qmp_client_connect_finish(QMP_CLIENT(source), result, &error)) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    probe->caps->version = g_strdup(qmp_client_get_qemu_version(probe->qmp));
    qmp_client_execute_async(probe->qmp, "query-cpu-definitions", NULL, 0, NULL,
                             agent_qemu_probe_on_cpus, g_steal_pointer(&task));
}

static void agent_qemu_probe_on_spawn(GObject *source, GAsyncResult *result,
                                      gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    AgentQemuProbe *probe = g_task_get_task_data(task);
    GCancellable *cancellable = g_task_get_cancellable(task);
    g_autoptr(GError) error = NULL;
    g_autofree char *sock = g_build_filename(probe->dir, "probe.qmp", NULL);

    probe->pid = agent_qemu_spawn_finish(result, &error);
    if (probe->pid == 0) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    probe->qmp = qmp_client_new(8 * 1024 * 1024);
    qmp_client_connect_async(probe->qmp, sock, AGENT_QEMU_PROBE_TIMEOUT_MS,
                             cancellable, agent_qemu_probe_on_connect,
                             g_steal_pointer(&task));
}

void agent_qemu_probe_async(const AgentConfig *config,
                            GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
    AgentQemuProbe *probe = g_new0(AgentQemuProbe, 1);
    g_autoptr(GError) error = NULL;
    g_autofree char *sock = NULL;
    g_autofree char *pidfile = NULL;
    g_autofree char *chardev = NULL;
    const char *accel;

    g_task_set_source_tag(task, agent_qemu_probe_async);
    g_task_set_task_data(task, probe, agent_qemu_probe_free);
    probe->caps = g_new0(AgentQemuCaps, 1);
    accel = config->accel                            ? config->accel
            : g_access("/dev/kvm", R_OK | W_OK) == 0 ? "kvm"
                                                     : "tcg";
    probe->caps->accel = g_strdup(accel);
    probe->allowed = g_strdupv(config->cpu_models);
    probe->dir = g_build_filename(config->run_dir, "probe", NULL);
    if (!drv_mkdir_p(probe->dir, 0700, &error)) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    sock = g_build_filename(probe->dir, "probe.qmp", NULL);
    pidfile = g_build_filename(probe->dir, "probe.pid", NULL);
    chardev = g_strdup_printf("socket,id=qmp,path=%s,server=on,wait=off", sock);
    g_unlink(sock);
    {
        const char *argv[] = {config->qemu_binary,
                              "-machine",
                              "none",
                              "-accel",
                              accel,
                              "-nodefaults",
                              "-no-user-config",
                              "-display",
                              "none",
                              "-S",
                              "-daemonize",
                              "-pidfile",
                              pidfile,
                              "-chardev",
                              chardev,
                              "-mon",
                              "chardev=qmp,mode=control",
                              NULL};

        agent_qemu_spawn_async((GStrv)argv, pidfile, cancellable,
                               agent_qemu_probe_on_spawn,
                               g_steal_pointer(&task));
    }
}

AgentQemuCaps *agent_qemu_probe_finish(GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}
