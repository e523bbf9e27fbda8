/*
 * droverd: the drover manager.  Stopping it (SIGTERM, SIGINT) stops nothing
 * else: agents keep running their VMs and migrations, and the next start
 * carries on from the store.
 */
#include <glib-unix.h>
#include <locale.h>
#include <signal.h>

#include "common/log.h"
#include "drover-config.h"
#include "manager/manager.h"

static gboolean mgr_main_on_signal(gpointer user_data)
{
    g_message("stopping; agents and their VMs keep running");
    g_main_loop_quit(user_data);
    return G_SOURCE_CONTINUE;
}

int main(int argc, char **argv)
{
    g_autofree char *config_path = NULL;
    gboolean verbose = FALSE;
    gboolean version = FALSE;
    GOptionEntry entries[] = {{"config", 'c', 0, G_OPTION_ARG_FILENAME,
                               &config_path, "configuration file", "FILE"},
                              {"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose,
                               "debug messages", NULL},
                              {"version", 0, 0, G_OPTION_ARG_NONE, &version,
                               "print the version", NULL},
                              {NULL}};
    g_autoptr(GOptionContext) context =
        g_option_context_new("- drover manager");
    g_autoptr(GError) error = NULL;
    g_autoptr(MgrConfig) config = NULL;
    g_autoptr(Mgr) mgr = NULL;
    g_autoptr(GMainLoop) loop = NULL;

    setlocale(LC_ALL, "");
    signal(SIGPIPE, SIG_IGN);
    g_option_context_add_main_entries(context, entries, NULL);
    if (!g_option_context_parse(context, &argc, &argv, &error)) {
        g_printerr("droverd: %s\n", error->message);
        return 2;
    }
    if (version) {
        g_print("droverd %s\n", DROVER_VERSION);
        return 0;
    }
    if (config_path == NULL) {
        g_printerr("droverd: --config FILE is required\n");
        return 2;
    }
    config = mgr_config_load(config_path, &error);
    if (config == NULL) {
        g_printerr("droverd: %s\n", error->message);
        return 2;
    }
    drv_log_init("droverd", verbose);
    mgr = mgr_new(g_steal_pointer(&config), &error);
    if (mgr == NULL || !mgr_start(mgr, &error)) {
        g_printerr("droverd: %s\n", error->message);
        return 1;
    }
    g_message("serving on http://%s, %u hosts, %u VMs, store %s",
              mgr->config->listen, g_hash_table_size(mgr->hosts),
              g_hash_table_size(mgr->vms), mgr->config->database);
    loop = g_main_loop_new(NULL, FALSE);
    g_unix_signal_add(SIGTERM, mgr_main_on_signal, loop);
    g_unix_signal_add(SIGINT, mgr_main_on_signal, loop);
    g_main_loop_run(loop);
    return 0;
}
