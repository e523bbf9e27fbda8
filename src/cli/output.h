/*
 * What the CLI shows a person: aligned tables, key: value blocks, sizes,
 * durations, migration progress and result lines, event lines and the one
 * error line.  Pure functions over the manager's JSON, so the unit tests
 * reach every format without a server.
 */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* ---- tables ---- */

typedef struct _CliTable CliTable;

/* A table with the NULL-terminated column @headers. */
CliTable *cli_table_new(const char *const *headers);
void cli_table_free(CliTable *table);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CliTable, cli_table_free)

/* Right-align column @column (numbers). */
void cli_table_align_right(CliTable *table, guint column);
/* One value per column, copied; NULL shows as "-". */
void cli_table_add_row(CliTable *table, ...);
void cli_table_add_rowv(CliTable *table, const char *const *cells);
guint cli_table_rows(CliTable *table);
/*
 * Columns two spaces apart, each as wide as its widest cell (in
 * characters, not bytes); no trailing spaces; every line ends in '\n'.
 */
char *cli_table_render(CliTable *table);

/* ---- key: value blocks ---- */

typedef struct _CliKv CliKv;

CliKv *cli_kv_new(void);
void cli_kv_free(CliKv *kv);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CliKv, cli_kv_free)

/* @value NULL or empty shows as "-". */
void cli_kv_add(CliKv *kv, const char *key, const char *value);
void cli_kv_addf(CliKv *kv, const char *key, const char *format, ...)
    G_GNUC_PRINTF(3, 4);
/* "key:" padded so that the values line up. */
char *cli_kv_render(CliKv *kv);

/* ---- quantities ---- */

/* "512 B", "1.5 KiB", "97.4 MiB", "2.0 GiB". */
char *cli_format_bytes(gint64 bytes);
/* "21 ms", "1.3 s", "2 min 5 s", "1 h 3 min"; negative: "unknown". */
char *cli_format_duration_ms(gint64 ms);
/* "812 Mbit/s", "1.2 Gbit/s" from megabits per second. */
char *cli_format_throughput(double mbps);
/* "42.5%" with one decimal, "100%" without. */
char *cli_format_percent(double percent);

/* ---- JSON helpers ---- */

/* The name of the reference @member of @obj ({"id", "name"}), or its id. */
const char *cli_ref_name(JsonObject *obj, const char *member);
/*
 * The objects of the array @member of @obj (borrowed; elements that are
 * not objects are skipped); empty when there is no such array.
 */
GPtrArray *cli_objects(JsonObject *obj, const char *member);

/* ---- migrations ---- */

/* Whether a manager migration state is final. */
gboolean cli_migration_state_is_final(const char *state);

/*
 * One progress line for a manager migration object.  With @bar (a
 * terminal), a bar fitted to @width columns:
 *   "web1 running [=====>    ]  42.5%  61.2 MiB  812 Mbit/s  pass 2"
 * without, a line for logs:
 *   "web1: running 42.5%, 61.2 MiB transferred, 812 Mbit/s, pass 2"
 */
char *cli_progress_line(JsonObject *migration, gboolean bar, guint width);

/*
 * "web1 migrated from host1 to host2 in 1.3 s, downtime 21 ms, 97.4 MiB
 * transferred" from a completed migration's result.
 */
char *cli_migration_result_line(JsonObject *migration);

/*
 * Why a migration did not complete, one line: "migration of web1 from
 * host1 to host2 failed: <the error message verbatim>".
 */
char *cli_migration_failure_line(JsonObject *migration);
/* A dry run's answer (POST /api/vms/{id}/migrate, dry_run), lines. */
char *cli_migration_estimate_text(JsonObject *estimate);

/* ---- events ---- */

/*
 * One line per event: time, severity, code, message, user:
 * "2026-11-23T10:00:00Z  info     vm_migration_done  VM web1 ...  alice"
 */
char *cli_event_line(JsonObject *event);

/* ---- errors ---- */

/* "drover: <message>", on one line whatever the message holds. */
char *cli_error_line(const GError *error);

G_END_DECLS
