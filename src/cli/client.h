/*
 * The CLI's side of the manager's REST API: one synchronous call at a time
 * (drv_http_call under a short main loop: bounded answers, a timeout on
 * every call, the server's error message verbatim), names resolved to ids,
 * and the Server-Sent Event stream.  Every request carries the user in
 * X-Drover-User.
 */
#pragma once

#include <json-glib/json-glib.h>

#include "cli/sse.h"

G_BEGIN_DECLS

#define CLI_DEFAULT_URL "http://127.0.0.1:8080"
#define CLI_CALL_TIMEOUT_MS 30000
/* the server sends a keep-alive every 15 s; four missed ones is a failure */
#define CLI_STREAM_IDLE_S 60

typedef struct _CliClient CliClient;

/*
 * @url: the manager's base URL ("http://host:port"), checked here;
 * @user: sent as X-Drover-User, or NULL to send none.
 */
CliClient *cli_client_new(const char *url, const char *user, GError **error);
void cli_client_free(CliClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CliClient, cli_client_free)

const char *cli_client_url(CliClient *client);

/*
 * @method @path ("/api/...") with @body (may be NULL).  *@out gets the
 * answer's JSON, NULL for an empty answer (204).
 */
gboolean cli_client_call(CliClient *client, const char *method,
                         const char *path, JsonObject *body, JsonNode **out,
                         GError **error);
/* A call whose answer must be a JSON object; a new reference. */
JsonObject *cli_client_call_object(CliClient *client, const char *method,
                                   const char *path, JsonObject *body,
                                   GError **error);
JsonObject *cli_client_get(CliClient *client, const char *path, GError **error);
/* GET with printf-style path; path arguments must be escaped already. */
JsonObject *cli_client_getf(CliClient *client, GError **error,
                            const char *format, ...) G_GNUC_PRINTF(3, 4);

typedef enum {
    CLI_KIND_HOST,
    CLI_KIND_VM,
    CLI_KIND_CLUSTER,
} CliKind;

/* "host", "VM", "cluster": for messages. */
const char *cli_kind_label(CliKind kind);
/* "/api/hosts", "/api/vms", "/api/clusters". */
const char *cli_kind_path(CliKind kind);

/*
 * The object @name_or_id names: an exact name match from
 * GET /api/{kind}s?name=, else the object with that id; else
 * DRV_ERROR_NOT_FOUND "no host named X".  The full object
 * (GET /api/{kind}s/{id}) is returned; @id_out (may be NULL) gets its id.
 */
JsonObject *cli_client_lookup(CliClient *client, CliKind kind,
                              const char *name_or_id, char **id_out,
                              GError **error);

/*
 * The GError a non-2xx answer stands for: the code and message of its
 * {"error": {"code", "message"}} body verbatim, else the status.
 */
GError *cli_error_from_answer(const char *url, guint status, const char *reason,
                              const char *data, gsize len);

/* ---- event stream ---- */

typedef struct _CliStream CliStream;

/* GET @path as a Server-Sent Event stream; fails on a non-2xx answer. */
CliStream *cli_client_stream_open(CliClient *client, const char *path,
                                  GError **error);
/*
 * Block for the next event.  NULL without an error when the server ended
 * the stream; DRV_ERROR_TIMEOUT when nothing, not even a keep-alive, came
 * for CLI_STREAM_IDLE_S.
 */
CliSseEvent *cli_stream_next(CliStream *stream, GError **error);
void cli_stream_free(CliStream *stream);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CliStream, cli_stream_free)

G_END_DECLS
