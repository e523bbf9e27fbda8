/*
 * drover vm migrate | cancel-migration | targets, and drover migrations:
 * the commands about moving VMs.
 */
#pragma once

#include "cli/cli.h"

G_BEGIN_DECLS

gboolean cli_vm_migrate(CliContext *ctx, char **argv, GError **error);
gboolean cli_vm_cancel_migration(CliContext *ctx, char **argv, GError **error);
gboolean cli_vm_targets(CliContext *ctx, char **argv, GError **error);
/* drover migrations [--all] */
gboolean cli_migrations_command(CliContext *ctx, char **argv, GError **error);

G_END_DECLS
