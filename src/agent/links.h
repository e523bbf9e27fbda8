/*
 * What this host has measured of its links to the agents it migrates to.
 *
 * A migration's prediction and its choice of means need the rate the path
 * to the destination carries.  The bandwidth a migration is granted (the
 * host's configured or NIC speed, shared) is only an upper bound: a switch,
 * a shaped or shared path may carry less.  So every tuned outgoing stream
 * that moved enough data leaves its measured rate here, keyed by the
 * destination agent's URL, and the next migration to that agent takes the
 * smaller of the two.  Kept in state_dir/links.json across restarts;
 * bounded in peers and in age.
 */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define AGENT_LINKS_MAX_PEERS 256
/* a measurement older than this no longer says what the path carries */
#define AGENT_LINKS_MAX_AGE_S (G_GINT64_CONSTANT(24) * 3600)

typedef struct _AgentLinks AgentLinks;

/* Empty links that persist to @path (NULL: kept in memory only). */
AgentLinks *agent_links_new(const char *path);
void agent_links_free(AgentLinks *links);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AgentLinks, agent_links_free)

/* Read @links' file; a missing file is no error. */
gboolean agent_links_load(AgentLinks *links, GError **error);

/*
 * Record that the path to @peer carried @bps bytes/s at @now_us, replacing
 * what was known of it; the oldest peer makes room past
 * AGENT_LINKS_MAX_PEERS.  Saves the file.
 */
gboolean agent_links_learn(AgentLinks *links, const char *peer, double bps,
                           gint64 now_us, GError **error);

/* The rate last measured to @peer, if at most AGENT_LINKS_MAX_AGE_S old. */
gboolean agent_links_lookup(AgentLinks *links, const char *peer, gint64 now_us,
                            double *bps, gint64 *age_us);

/* [{"peer", "mbps", "measured_us"}], newest first. */
JsonArray *agent_links_to_json(AgentLinks *links);

G_END_DECLS
