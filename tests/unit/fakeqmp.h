/*
 * A scripted fake QMP server for unit tests.
 *
 * It listens on a UNIX socket in a fresh temporary directory, on the
 * thread-default main context, accepts one client, sends the greeting and
 * answers qmp_capabilities by itself.  Every other command is matched, in
 * order, against the steps the test declared with fake_qmp_expect(); a
 * step's actions (send text, wait, close) then run one after the other while
 * the server keeps reading, so commands arriving meanwhile are recorded.
 *
 * In sent text, "@ID@" stands for the id of the command that started the
 * step, "@NEXTID@" for that id plus one and "@ARGS@" for its arguments as
 * compact JSON ("null" without arguments).
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _FakeQmp FakeQmp;
typedef struct _FakeQmpStep FakeQmpStep;

/* The greeting sent unless fake_qmp_set_greeting() changes it. */
#define FAKE_QMP_GREETING                                                 \
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 1, \"minor\": 2, "    \
    "\"major\": 8}, \"package\": \"Debian 1:8.2.1\"}, \"capabilities\": " \
    "[\"oob\"]}}"

FakeQmp *fake_qmp_new(void);
void fake_qmp_free(FakeQmp *fake);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FakeQmp, fake_qmp_free)

const char *fake_qmp_get_path(FakeQmp *fake);
/* @line without terminator, or NULL to send no greeting at all. */
void fake_qmp_set_greeting(FakeQmp *fake, const char *line);

/* The next command received must be @command; returns its step. */
FakeQmpStep *fake_qmp_expect(FakeQmp *fake, const char *command);
/* Sends @text (with its terminators) in one write. */
void fake_qmp_step_send(FakeQmpStep *step, const char *text);
/* Sends @text @chunk bytes at a time, waiting @delay_ms between writes. */
void fake_qmp_step_send_chunked(FakeQmpStep *step, const char *text,
                                gsize chunk, guint delay_ms);
/* Sends {"return": @json, "id": <id>} and "\r\n". */
void fake_qmp_step_reply(FakeQmpStep *step, const char *json);
void fake_qmp_step_delay(FakeQmpStep *step, guint delay_ms);
/* Closes the connection: the client sees EOF. */
void fake_qmp_step_close(FakeQmpStep *step);

/*
 * What happened, in order: "recv:NAME" for each command received (including
 * qmp_capabilities), "send:NAME" when the first byte of a step's text is
 * written, "unexpected:NAME" for a command no step matched, "close".
 */
GPtrArray *fake_qmp_get_log(FakeQmp *fake);
/* Index of @entry in the log, or -1. */
gint fake_qmp_log_index(FakeQmp *fake, const char *entry);
/* The log joined with spaces, for assertions. */
char *fake_qmp_log_string(FakeQmp *fake);

G_END_DECLS
