/*
 * COM1 console.
 *
 * Lines are written whole from a buffer so a line is never interleaved
 * with another one.  Transmission is polled; if nobody drains the host
 * side of the serial port the UART never becomes ready again, and we would
 * rather drop output than freeze the workload, so a bounded wait marks the
 * port stalled and later characters are dropped until it recovers.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io.h"
#include "serial.h"

#define COM1 0x3F8
#define UART_THR 0
#define UART_DLL 0
#define UART_IER 1
#define UART_DLM 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define LSR_THRE 0x20

#define SERIAL_SPIN_LIMIT 200000u

static bool serial_stalled;

void serial_init(void)
{
    outb(COM1 + UART_IER, 0x00);
    outb(COM1 + UART_LCR, 0x80);
    outb(COM1 + UART_DLL, 0x01); /* 115200 / 1 */
    outb(COM1 + UART_DLM, 0x00);
    outb(COM1 + UART_LCR, 0x03); /* 8N1 */
    outb(COM1 + UART_FCR, 0xC7);
    outb(COM1 + UART_MCR, 0x03);
}

static void serial_putc(char c)
{
    uint32_t spins = 0;

    while (!(inb(COM1 + UART_LSR) & LSR_THRE)) {
        if (serial_stalled || ++spins > SERIAL_SPIN_LIMIT) {
            serial_stalled = true;
            return;
        }
    }
    serial_stalled = false;
    outb(COM1 + UART_THR, (uint8_t)c);
}

void serial_write(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        serial_putc(s[i]);
    }
}

/*
 * 64-bit division would need libgcc; dividing a 64-bit value by 10 in two
 * 32-bit steps with divl is enough for printing.
 */
static uint32_t divmod10_u64(uint64_t *n)
{
    uint32_t hi = (uint32_t)(*n >> 32);
    uint32_t lo = (uint32_t)*n;
    uint32_t qhi = hi / 10;
    uint32_t rem = hi % 10;
    uint32_t qlo;

    __asm__("divl %4" : "=a"(qlo), "=d"(rem) : "a"(lo), "d"(rem), "rm"(10u));
    *n = ((uint64_t)qhi << 32) | qlo;
    return rem;
}

struct outbuf {
    char *buf;
    size_t size;
    size_t len;
};

static void put(struct outbuf *o, char c)
{
    if (o->len + 1 < o->size) {
        o->buf[o->len++] = c;
    }
}

static void put_str(struct outbuf *o, const char *s)
{
    if (!s) {
        s = "(null)";
    }
    while (*s) {
        put(o, *s++);
    }
}

static void put_u64(struct outbuf *o, uint64_t v)
{
    char tmp[24];
    int i = 0;

    do {
        tmp[i++] = (char)('0' + divmod10_u64(&v));
    } while (v);
    while (i > 0) {
        put(o, tmp[--i]);
    }
}

static void put_hex(struct outbuf *o, uint32_t v)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[8];
    int i = 0;

    do {
        tmp[i++] = digits[v & 0xF];
        v >>= 4;
    } while (v);
    while (i > 0) {
        put(o, tmp[--i]);
    }
}

size_t fmt_v(char *buf, size_t size, const char *f, va_list ap)
{
    struct outbuf o = {buf, size, 0};

    for (; *f; f++) {
        if (*f != '%') {
            put(&o, *f);
            continue;
        }
        f++;
        if (f[0] == 'l' && f[1] == 'l' && f[2] == 'u') {
            put_u64(&o, va_arg(ap, unsigned long long));
            f += 2;
            continue;
        }
        switch (*f) {
        case 's':
            put_str(&o, va_arg(ap, const char *));
            break;
        case 'c':
            put(&o, (char)va_arg(ap, int));
            break;
        case 'u':
            put_u64(&o, va_arg(ap, unsigned int));
            break;
        case 'd': {
            int v = va_arg(ap, int);

            if (v < 0) {
                put(&o, '-');
                put_u64(&o, (uint64_t)(-(int64_t)v));
            } else {
                put_u64(&o, (uint64_t)v);
            }
            break;
        }
        case 'x':
            put_hex(&o, va_arg(ap, unsigned int));
            break;
        case '%':
            put(&o, '%');
            break;
        case '\0':
            f--;
            break;
        default:
            put(&o, '%');
            put(&o, *f);
            break;
        }
    }
    if (o.size) {
        o.buf[o.len] = '\0';
    }
    return o.len;
}

size_t fmt(char *buf, size_t size, const char *f, ...)
{
    va_list ap;
    size_t len;

    va_start(ap, f);
    len = fmt_v(buf, size, f, ap);
    va_end(ap);
    return len;
}

void out_printf(const char *f, ...)
{
    char line[OUT_LINE_MAX];
    va_list ap;
    size_t len;

    va_start(ap, f);
    len = fmt_v(line, sizeof(line), f, ap);
    va_end(ap);
    serial_write(line, len);
}
