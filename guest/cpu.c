/*
 * IDT, 8259 PIC and PIT setup.
 *
 * Guest time is the number of PIT interrupts seen, not wall-clock time, on
 * purpose: while QEMU stops the VM no interrupts arrive, so a migration
 * pause shows up as a gap between host-side timestamps of heartbeat lines
 * while the guest's own clock runs on smoothly.
 */
#include <stdint.h>

#include "cpu.h"
#include "io.h"
#include "serial.h"

#define PIT_INPUT_HZ 1193182u
#define PIT_CMD 0x43
#define PIT_CH0 0x40

#define PIC1_CMD 0x20
#define PIC1_DATA 0x21
#define PIC2_CMD 0xA0
#define PIC2_DATA 0xA1
#define PIC_VECTOR_BASE 0x20

#define KERNEL_CS 0x08
#define GATE_INTR32 0x8E

struct idt_gate {
    uint16_t off_lo;
    uint16_t sel;
    uint8_t zero;
    uint8_t attr;
    uint16_t off_hi;
} __attribute__((packed));

struct idt_ptr {
    uint16_t limit;
    uint32_t base;
} __attribute__((packed));

volatile uint32_t guest_ticks;

static struct idt_gate idt[256];

extern void irq0_entry(void);
extern void ignore_entry(void);
extern const char exc_stubs[];

#define EXC_STUB_SIZE 8

static void set_gate(unsigned vector, uint32_t handler)
{
    idt[vector].off_lo = handler & 0xFFFF;
    idt[vector].sel = KERNEL_CS;
    idt[vector].zero = 0;
    idt[vector].attr = GATE_INTR32;
    idt[vector].off_hi = handler >> 16;
}

static void pic_remap(void)
{
    /* ICW1..ICW4: cascade, vectors 0x20/0x28, slave on IRQ2, 8086 mode */
    outb(PIC1_CMD, 0x11);
    io_wait();
    outb(PIC2_CMD, 0x11);
    io_wait();
    outb(PIC1_DATA, PIC_VECTOR_BASE);
    io_wait();
    outb(PIC2_DATA, PIC_VECTOR_BASE + 8);
    io_wait();
    outb(PIC1_DATA, 0x04);
    io_wait();
    outb(PIC2_DATA, 0x02);
    io_wait();
    outb(PIC1_DATA, 0x01);
    io_wait();
    outb(PIC2_DATA, 0x01);
    io_wait();

    /*
     * Only the timer: the ACPI SCI (IRQ9) stays masked because the power
     * button status is polled from the main loop instead.
     */
    outb(PIC1_DATA, 0xFE);
    outb(PIC2_DATA, 0xFF);
}

void cpu_init(void)
{
    struct idt_ptr ptr;
    unsigned i;

    for (i = 0; i < 32; i++) {
        set_gate(i, (uint32_t)exc_stubs + i * EXC_STUB_SIZE);
    }
    for (i = 32; i < 256; i++) {
        set_gate(i, (uint32_t)ignore_entry);
    }
    set_gate(PIC_VECTOR_BASE, (uint32_t)irq0_entry);

    ptr.limit = sizeof(idt) - 1;
    ptr.base = (uint32_t)idt;
    __asm__ volatile("lidt %0" : : "m"(ptr));

    pic_remap();
}

void cpu_start_timer(void)
{
    uint32_t divisor = (PIT_INPUT_HZ + TICK_HZ / 2) / TICK_HZ;

    guest_ticks = 0;
    /* channel 0, lobyte/hibyte, mode 2 (rate generator), binary */
    outb(PIT_CMD, 0x34);
    outb(PIT_CH0, divisor & 0xFF);
    outb(PIT_CH0, divisor >> 8);
    __asm__ volatile("sti" : : : "memory");
}

void cpu_wait_tick(uint32_t seen)
{
    /*
     * Interrupts off while testing, so a tick arriving between the test
     * and the hlt cannot be missed: sti only takes effect after the next
     * instruction, so "sti; hlt" is atomic with respect to the IRQ.
     */
    __asm__ volatile("cli" : : : "memory");
    if (guest_ticks == seen) {
        __asm__ volatile("sti; hlt" : : : "memory");
    } else {
        __asm__ volatile("sti" : : : "memory");
    }
}

void cpu_halt_forever(void)
{
    for (;;) {
        __asm__ volatile("cli; hlt" : : : "memory");
    }
}

void guest_fault(uint32_t vector, uint32_t word1, uint32_t word2)
{
    out_printf("panic exception=%u stack=0x%x,0x%x\n", vector, word1, word2);
    cpu_halt_forever();
}
