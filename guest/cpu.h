/* Interrupts and timekeeping: one guest tick is one PIT period (1 ms). */
#ifndef DROVER_GUEST_CPU_H
#define DROVER_GUEST_CPU_H

#include <stdint.h>

#define TICK_HZ 1000u

/* Incremented by the IRQ0 stub in boot.S. */
extern volatile uint32_t guest_ticks;

/* Load the IDT and remap the PICs with every line masked except IRQ0. */
void cpu_init(void);

/* Program the PIT to TICK_HZ and enable interrupts: guest time starts. */
void cpu_start_timer(void);

/* Halt until the tick counter moves past @seen. */
void cpu_wait_tick(uint32_t seen);

/* Stop for good; used after power-off requests and fatal errors. */
void cpu_halt_forever(void) __attribute__((noreturn));

/* Called from the exception stubs in boot.S. */
void guest_fault(uint32_t vector, uint32_t word1, uint32_t word2);

static inline uint32_t ticks_now(void)
{
    return guest_ticks;
}

#endif
