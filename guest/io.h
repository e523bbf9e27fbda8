/* Port I/O and CPU control primitives. */
#ifndef DROVER_GUEST_IO_H
#define DROVER_GUEST_IO_H

#include <stdint.h>

static inline void outb(uint16_t port, uint8_t val)
{
    __asm__ volatile("outb %0, %1" : : "a"(val), "Nd"(port));
}

static inline void outw(uint16_t port, uint16_t val)
{
    __asm__ volatile("outw %0, %1" : : "a"(val), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
    uint8_t val;

    __asm__ volatile("inb %1, %0" : "=a"(val) : "Nd"(port));
    return val;
}

static inline uint16_t inw(uint16_t port)
{
    uint16_t val;

    __asm__ volatile("inw %1, %0" : "=a"(val) : "Nd"(port));
    return val;
}

/* A write to the POST port gives old PICs time to settle between ICWs. */
static inline void io_wait(void)
{
    outb(0x80, 0);
}

#endif
