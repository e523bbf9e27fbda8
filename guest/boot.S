/*
 * Multiboot (v1) entry point and interrupt stubs of drover-testguest.
 *
 * The loader leaves us in 32-bit protected mode with paging off; we load
 * our own GDT because the multiboot spec says the loader's GDTR may point
 * anywhere, then call guest_main(magic, mbi) in C.
 */

    .set MB_MAGIC, 0x1BADB002
    /* bit 0: page-aligned modules, bit 1: we need mem_* and mmap */
    .set MB_FLAGS, 0x00000003

    .section .multiboot, "a"
    .align 4
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)

    .section .text
    .globl _start
    .type _start, @function
_start:
    cli
    cld
    lgdt gdt_desc
    ljmp $0x08, $1f
1:
    mov $0x10, %cx
    mov %cx, %ds
    mov %cx, %es
    mov %cx, %fs
    mov %cx, %gs
    mov %cx, %ss

    /* The loader should have zeroed .bss; do it anyway (keep eax/ebx). */
    mov %eax, %esi
    mov %ebx, %ebp
    mov $__bss_start, %edi
    mov $__bss_end, %ecx
    sub %edi, %ecx
    xor %eax, %eax
    rep stosb

    mov $stack_top, %esp
    push %ebp
    push %esi
    call guest_main
2:
    cli
    hlt
    jmp 2b
    .size _start, . - _start

/* IRQ0 (PIT, 1000 Hz): count a guest millisecond and acknowledge. */
    .globl irq0_entry
    .type irq0_entry, @function
irq0_entry:
    push %eax
    incl guest_ticks
    mov $0x20, %al
    outb %al, $0x20
    pop %eax
    iret
    .size irq0_entry, . - irq0_entry

/*
 * Every other IRQ line is masked, so anything arriving here is a spurious
 * IRQ7/IRQ15, which must not be acknowledged.
 */
    .globl ignore_entry
    .type ignore_entry, @function
ignore_entry:
    iret
    .size ignore_entry, . - ignore_entry

/*
 * CPU exceptions: one 8-byte stub per vector (cpu.c computes their
 * addresses), each pushing its vector number; the handler reports the
 * vector and two stack words, then stops.
 */
    .balign 8
    .globl exc_stubs
exc_stubs:
    .set vector, 0
    .rept 32
    .balign 8
    push $vector
    jmp exc_common
    .set vector, vector + 1
    .endr

exc_common:
    call guest_fault
3:
    cli
    hlt
    jmp 3b

    .section .rodata
    .align 8
gdt:
    .quad 0
    .quad 0x00CF9A000000FFFF    /* 0x08: flat 4 GiB code, ring 0 */
    .quad 0x00CF92000000FFFF    /* 0x10: flat 4 GiB data, ring 0 */
gdt_end:

    .align 4
gdt_desc:
    .word gdt_end - gdt - 1
    .long gdt

    .section .bss
    .align 16
stack_bottom:
    .skip 32768
stack_top:

    .section .note.GNU-stack, "", @progbits
