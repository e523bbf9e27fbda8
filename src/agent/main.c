/*
 * drover-agent: runs this host's VMs and both ends of their migrations.
 *
 * Stopping the agent (SIGTERM, SIGINT) leaves every QEMU running; the next
 * start reattaches to them.
 */
#include <glib-unix.h>
#include <locale.h>
#include <signal.h>

#include "agent/agent.h"
#include "common/log.h"
#include "drover-config.h"

typedef struct {
    GMainLoop *loop;
    Agent *agent;
    int status;
} AgentMain;

static gboolean agent_main_on_signal(gpointer user_data)
{
    AgentMain *main_data = user_data;

    g_message("stopping; VMs keep running");
    g_main_loop_quit(main_data->loop);
    return G_SOURCE_CONTINUE;
}

static void agent_main_on_started(GObject *source, GAsyncResult *result,
                                  gpointer user_data)
{
    AgentMain *main_data = user_data;
    g_autoptr(GError) error = NULL;

    if (!agent_start_finish(main_data->agent, result, &error)) {
        g_critical("cannot start: %s", error->message);
        main_data->status = 1;
        g_main_loop_quit(main_data->loop);
        return;
    }
    g_message("host %s (%s) serving on %s, QEMU %s (%s), %u VMs",
              main_data->agent->config->name, main_data->agent->host_id,
              main_data->agent->config->url, main_data->agent->caps->version,
              main_data->agent->caps->accel,
              g_hash_table_size(main_data->agent->vms));
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
        g_option_context_new("- drover host agent");
    g_autoptr(GError) error = NULL;
    g_autoptr(AgentConfig) config = NULL;
    AgentMain main_data = {0};

    setlocale(LC_ALL, "");
    /* a peer or a hook closing its end early must not kill the agent */
    signal(SIGPIPE, SIG_IGN);
    g_option_context_add_main_entries(context, entries, NULL);
    if (!g_option_context_parse(context, &argc, &argv, &error)) {
        g_printerr("drover-agent: %s\n", error->message);
        return 2;
    }
    if (version) {
        g_print("drover-agent %s\n", DROVER_VERSION);
        return 0;
    }
    if (config_path == NULL) {
        g_printerr("drover-agent: --config FILE is required\n");
        return 2;
    }
    config = agent_config_load(config_path, &error);
    if (config == NULL) {
        g_printerr("drover-agent: %s\n", error->message);
        return 2;
    }
    drv_log_init(config->name, verbose);
    main_data.agent = agent_new(g_steal_pointer(&config), &error);
    if (main_data.agent == NULL) {
        g_printerr("drover-agent: %s\n", error->message);
        return 1;
    }
    main_data.loop = g_main_loop_new(NULL, FALSE);
    g_unix_signal_add(SIGTERM, agent_main_on_signal, &main_data);
    g_unix_signal_add(SIGINT, agent_main_on_signal, &main_data);
    agent_start_async(main_data.agent, NULL, agent_main_on_started, &main_data);
    g_main_loop_run(main_data.loop);
    agent_free(main_data.agent);
    g_main_loop_unref(main_data.loop);
    return main_data.status;
}
