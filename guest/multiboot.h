/* Multiboot v1 information structure (the parts we read). */
#ifndef DROVER_GUEST_MULTIBOOT_H
#define DROVER_GUEST_MULTIBOOT_H

#include <stdint.h>

#define MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002u

#define MB_INFO_MEMORY (1u << 0)
#define MB_INFO_CMDLINE (1u << 2)
#define MB_INFO_MMAP (1u << 6)

#define MB_MMAP_AVAILABLE 1

struct mb_info {
    uint32_t flags;
    uint32_t mem_lower; /* KiB below 1 MiB */
    uint32_t mem_upper; /* KiB from 1 MiB up to the first hole */
    uint32_t boot_device;
    uint32_t cmdline;
    uint32_t mods_count;
    uint32_t mods_addr;
    uint32_t syms[4];
    uint32_t mmap_length;
    uint32_t mmap_addr;
} __attribute__((packed));

struct mb_mmap_entry {
    uint32_t size; /* of the rest of the entry */
    uint64_t addr;
    uint64_t len;
    uint32_t type;
} __attribute__((packed));

#endif
