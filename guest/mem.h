/*
 * The workload's memory: a version table, the hot working set and the
 * static fill region, all above the kernel image.
 */
#ifndef DROVER_GUEST_MEM_H
#define DROVER_GUEST_MEM_H

#include <stdbool.h>
#include <stdint.h>

#define PAGE_SIZE 4096u
#define PAGE_WORDS (PAGE_SIZE / 4)
#define MIB (1024u * 1024u)
#define PAGES_PER_MIB (MIB / PAGE_SIZE)

/* Number of hash-derived words written into a hot page besides its header */
#define SPREAD_WORDS 64u
/* Words sampled per fill page and verification pass */
#define FILL_SAMPLES 16u

#define NO_PAGE 0xFFFFFFFFu
/* word index reported when a hot page's header itself is wrong */
#define WORD_HEADER (-1)

struct mem_layout {
    uint32_t *versions; /* one per hot page; 0 = never written */
    uint8_t *hot;
    uint32_t hot_pages;
    uint8_t *fill;
    uint32_t fill_pages;
};

extern struct mem_layout mem;
/* Pages dirtied by the workload since boot (boot-time writes excluded). */
extern uint64_t mem_dirtied;
/* Hot page the corruption self-test damaged; the dirtier leaves it alone. */
extern uint32_t mem_frozen_page;

#define MEM_CLAMPED_WSS 1u
#define MEM_CLAMPED_FILL 2u

/*
 * Place the regions in [4 MiB, @ram_end).  Shrinks *@wss_mib and then
 * *@fill_mib if they do not fit; returns MEM_CLAMPED_* flags.
 */
unsigned mem_plan(uint32_t ram_end, uint32_t *wss_mib, uint32_t *fill_mib);

/* Write every hot page once (version 1) and the whole fill region. */
void mem_init_contents(void);

/*
 * Write the next version of a hot page.  The header is checked against
 * the version table first, so a page that went stale (e.g. a write lost
 * by a migration) is caught even if the dirtier gets to it before the
 * next check: returns false with the table and header versions then.
 */
bool mem_dirty(uint32_t page, uint32_t *want, uint32_t *got);

/*
 * Verify a hot page against the version table.  On mismatch returns false
 * with the header version found and the first bad word (WORD_HEADER if
 * the header is wrong, else the spread word index).
 */
bool mem_check_hot(uint32_t page, uint32_t *got, int32_t *word);

/* Verify FILL_SAMPLES words of a fill page; pass @sweep rotates them. */
bool mem_check_fill(uint32_t page, uint32_t sweep, int32_t *word);

/* Word (index in page) that sample @j of @page checks in pass @sweep. */
uint32_t mem_fill_sample(uint32_t page, uint32_t sweep, uint32_t j);

static inline uint32_t *mem_hot_page(uint32_t page)
{
    return (uint32_t *)(mem.hot + page * PAGE_SIZE);
}

static inline uint32_t *mem_fill_page(uint32_t page)
{
    return (uint32_t *)(mem.fill + page * PAGE_SIZE);
}

/* Word index in a hot page holding spread word @k */
static inline uint32_t mem_spread_pos(uint32_t k)
{
    return 16 * k + 8;
}

#endif
