/*
 * Command-line arguments that become request bodies: --disk and --nic
 * values, "drover vm create" options (over an optional --file spec) and
 * "drover cluster set" KEY=VALUE pairs with their types.  No server is
 * involved: names in them are resolved by the commands afterwards.
 * Malformed arguments are usage errors (G_OPTION_ERROR).
 */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* "DOMAIN:PATH[:FORMAT]" → {"storage_domain", "path"[, "format"]} */
JsonObject *cli_parse_disk(const char *text, GError **error);
/* "NETWORK[:MAC]" → {"network"[, "mac"]} */
JsonObject *cli_parse_nic(const char *text, GError **error);

/*
 * "drover cluster set" pairs → the PUT /api/clusters/{id} body, each value
 * of its key's type (string, integer, boolean); "migration.x" keys go in
 * the "migration" object.
 */
JsonObject *cli_parse_cluster_settings(const char *const *pairs,
                                       GError **error);
/* The keys "drover cluster set" knows, for help texts. */
const char *cli_cluster_setting_keys(void);

/*
 * "drover vm create" (@argv[0] "create") → the POST /api/vms body: the
 * spec from --file if given, the options on top.  --pin values go to
 * "pinned_hosts" and --cluster to "cluster": {"name"} as given.  *@json
 * gets --json.
 */
JsonObject *cli_vm_create_body(char **argv, gboolean *json, GError **error);

/*
 * "drover host add" and "host set" power options → "power_management" in
 * @body: the commands given (droverd keeps the others on "set"; an empty
 * one removes it), or null for --no-power, which goes with no command.
 * Nothing given leaves @body as it is.
 */
gboolean cli_host_power_options(JsonObject *body, const char *on,
                                const char *off, const char *status,
                                gboolean none, GError **error);

G_END_DECLS
