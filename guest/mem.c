/*
 * Page contents and their verification.
 *
 * Hot page p at version v holds a header (HOT_MAGIC ^ p, v) and
 * SPREAD_WORDS words hash(p, v, k) spread over the page.  The hash input
 * is a linear combination with odd multipliers pushed through a bijective
 * mixer, so two different versions of a page differ in *every* checked
 * word: a page that a migration left at an older version can never pass.
 *
 * Fill pages are written once; every word is a non-zero hash(p, i) so
 * that QEMU cannot send them as zero pages and XBZRLE finds nothing to
 * delta against.
 */
#include <stdbool.h>
#include <stdint.h>

#include "mem.h"

#define REGION_BASE (4u * MIB)
/* Room for 262144 versions, i.e. a hot set of up to 1 GiB. */
#define TABLE_BYTES MIB
#define MAX_WSS_MIB (TABLE_BYTES / 4 / PAGES_PER_MIB)
/* Stay below the PCI hole; only the first 4 GiB are addressable anyway. */
#define MAX_RAM_END 0xC0000000u

#define HOT_MAGIC 0xD20FE700u
#define FILL_SEED 0x6A09E667u

struct mem_layout mem;
uint64_t mem_dirtied;
uint32_t mem_frozen_page = NO_PAGE;

static inline uint32_t mix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x7FEB352Du;
    h ^= h >> 15;
    h *= 0x846CA68Bu;
    h ^= h >> 16;
    return h;
}

static inline uint32_t hot_word(uint32_t page, uint32_t ver, uint32_t k)
{
    return mix32(page * 0x9E3779B1u + ver * 0x85EBCA6Bu + k * 0xC2B2AE35u);
}

static inline uint32_t fill_word(uint32_t page, uint32_t i)
{
    uint32_t h = mix32(page * 0x9E3779B1u + i * 0x27D4EB2Fu + FILL_SEED);

    return h ? h : 0xA5A5A5A5u;
}

unsigned mem_plan(uint32_t ram_end, uint32_t *wss_mib, uint32_t *fill_mib)
{
    uint32_t avail = 0;
    unsigned clamped = 0;

    if (ram_end > MAX_RAM_END) {
        ram_end = MAX_RAM_END;
    }
    if (ram_end > REGION_BASE + TABLE_BYTES) {
        avail = (ram_end - REGION_BASE - TABLE_BYTES) / MIB;
    }
    if (*wss_mib > MAX_WSS_MIB) {
        *wss_mib = MAX_WSS_MIB;
        clamped |= MEM_CLAMPED_WSS;
    }
    if (*wss_mib > avail) {
        *wss_mib = avail;
        clamped |= MEM_CLAMPED_WSS;
    }
    if (*fill_mib > avail - *wss_mib) {
        *fill_mib = avail - *wss_mib;
        clamped |= MEM_CLAMPED_FILL;
    }

    mem.versions = (uint32_t *)REGION_BASE;
    mem.hot = (uint8_t *)(REGION_BASE + TABLE_BYTES);
    mem.hot_pages = *wss_mib * PAGES_PER_MIB;
    mem.fill = mem.hot + mem.hot_pages * PAGE_SIZE;
    mem.fill_pages = *fill_mib * PAGES_PER_MIB;
    return clamped;
}

static void write_hot(uint32_t page, uint32_t ver)
{
    uint32_t *w = mem_hot_page(page);
    uint32_t k;

    w[0] = HOT_MAGIC ^ page;
    w[1] = ver;
    for (k = 0; k < SPREAD_WORDS; k++) {
        w[mem_spread_pos(k)] = hot_word(page, ver, k);
    }
    mem.versions[page] = ver;
}

void mem_init_contents(void)
{
    uint32_t p, i;

    for (p = 0; p < mem.hot_pages; p++) {
        write_hot(p, 1);
    }
    for (p = 0; p < mem.fill_pages; p++) {
        uint32_t *w = mem_fill_page(p);

        for (i = 0; i < PAGE_WORDS; i++) {
            w[i] = fill_word(p, i);
        }
    }
}

bool mem_dirty(uint32_t page, uint32_t *want, uint32_t *got)
{
    const volatile uint32_t *w = mem_hot_page(page);
    uint32_t ver = mem.versions[page];
    bool ok = w[0] == (HOT_MAGIC ^ page) && w[1] == ver;

    *want = ver;
    *got = w[1];
    write_hot(page, ver + 1);
    mem_dirtied++;
    return ok;
}

bool mem_check_hot(uint32_t page, uint32_t *got, int32_t *word)
{
    const volatile uint32_t *w = mem_hot_page(page);
    uint32_t want = mem.versions[page];
    uint32_t k;

    *got = w[1];
    if (w[0] != (HOT_MAGIC ^ page) || w[1] != want) {
        *word = WORD_HEADER;
        return false;
    }
    for (k = 0; k < SPREAD_WORDS; k++) {
        if (w[mem_spread_pos(k)] != hot_word(page, want, k)) {
            *word = (int32_t)k;
            return false;
        }
    }
    return true;
}

uint32_t mem_fill_sample(uint32_t page, uint32_t sweep, uint32_t j)
{
    uint32_t stride = PAGE_WORDS / FILL_SAMPLES;

    return j * stride + ((page * 7 + sweep * 13 + j * 29) % stride);
}

bool mem_check_fill(uint32_t page, uint32_t sweep, int32_t *word)
{
    const volatile uint32_t *w = mem_fill_page(page);
    uint32_t j;

    for (j = 0; j < FILL_SAMPLES; j++) {
        uint32_t i = mem_fill_sample(page, sweep, j);

        if (w[i] != fill_word(page, i)) {
            *word = (int32_t)i;
            return false;
        }
    }
    return true;
}
