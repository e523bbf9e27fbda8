/*
 * droverd configuration (GKeyFile):
 *
 *   [manager]
 *   listen=127.0.0.1:8080
 *   database=/var/lib/drover/drover.db
 *   poll_interval_s=3
 *
 * Every key, its default and its bounds are in docs/manager.md.
 */
#pragma once

#include <glib.h>

#include "common/vmspec.h"

G_BEGIN_DECLS

typedef struct {
    char *listen;
    char *database;
    char *web_dir;                 /* the portal's static files, or NULL */
    guint poll_interval_s;         /* how often each agent is polled */
    guint host_timeout_s;          /* unreachable this long: non_responsive */
    guint agent_timeout_ms;        /* one call to an agent */
    guint maintenance_retry_s;     /* a stuck maintenance tries again */
    guint migration_attempts;      /* hosts an automatic migration tries */
    guint migration_poll_ms;       /* progress of a running migration */
    guint migration_history;       /* finished migrations kept */
    guint events_kept;             /* events kept in the store */
    guint balance_interval_s;      /* between balancing passes */
    guint power_command_timeout_s; /* a power command is killed after */
    guint power_on_timeout_s;      /* a powered-on host must be up by then */
    /* migration settings clusters and VMs inherit (docs/policies.md) */
    char *migration_policy;              /* a built-in policy */
    gboolean migration_post_copy;        /* allowed */
    DrvTristate migration_auto_converge; /* INHERIT: the policy decides */
    DrvTristate migration_compression;   /* INHERIT: the policy decides */
} MgrConfig;

void mgr_config_free(MgrConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MgrConfig, mgr_config_free)

MgrConfig *mgr_config_load(const char *path, GError **error);
MgrConfig *mgr_config_parse(const char *data, const char *origin,
                            GError **error);

G_END_DECLS
