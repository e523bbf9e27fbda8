/* COM1 console output (115200 8N1, polled) and a tiny formatter. */
#ifndef DROVER_GUEST_SERIAL_H
#define DROVER_GUEST_SERIAL_H

#include <stdarg.h>
#include <stddef.h>

void serial_init(void);
void serial_write(const char *s, size_t len);

/*
 * printf subset: %s %c %d %u %x and %llu; no width or flags.  Output is
 * truncated to one line buffer (OUT_LINE_MAX bytes).
 */
#define OUT_LINE_MAX 256

size_t fmt_v(char *buf, size_t size, const char *fmt, va_list ap);
size_t fmt(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void out_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
