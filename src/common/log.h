/*
 * Logging for the daemons: one line per message on stderr with a UTC
 * timestamp, the level and the domain, so that a journal or a test log reads
 * the same.  Only top-level code (request handlers, job runners, main) logs;
 * everything below reports through GError.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* @verbose: also print debug messages. */
void drv_log_init(const char *program, gboolean verbose);

G_END_DECLS
