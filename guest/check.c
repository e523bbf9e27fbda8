/*
 * Integrity check.
 *
 * A full check of a large hot set takes longer than a tick under TCG, so
 * the check is a small state machine advanced a tick's worth at a time
 * from the main loop; heartbeats stay on time and the dirtier keeps
 * running.  Each page is verified atomically with respect to the dirtier
 * (single CPU, no page writes in interrupt context), so interleaving them
 * is safe.
 */
#include <stdbool.h>
#include <stdint.h>

#include "check.h"
#include "cpu.h"
#include "mem.h"
#include "serial.h"

#define MAX_REPORTED 8u

enum check_phase {
    PHASE_IDLE,
    PHASE_HOT,
    PHASE_FILL,
};

static struct {
    enum check_phase phase;
    uint32_t done;       /* checks completed */
    uint32_t hot_next;   /* next hot page to verify in this check */
    uint32_t fill_next;  /* next fill page; carries over between checks */
    uint32_t fill_sweep; /* completed passes over the fill region */
    uint32_t fill_left;  /* fill pages left in this check's slice */
    uint32_t bad;        /* bad pages found since the last check ended */
} chk;

void check_report(uint32_t index, const void *addr, uint32_t want, uint32_t got,
                  int32_t word)
{
    if (chk.bad < MAX_REPORTED) {
        out_printf("CORRUPT page=%u addr=0x%x want=%u got=%u word=%d\n", index,
                   (uint32_t)addr, want, got, (int)word);
    }
    chk.bad++;
}

void check_report_state(uint32_t stack_copy, uint32_t bss_copy)
{
    if (chk.bad < MAX_REPORTED) {
        out_printf("CORRUPT state stack=%u bss=%u\n", stack_copy, bss_copy);
    }
    chk.bad++;
}

void check_start(void)
{
    uint32_t slice = (mem.fill_pages + FILL_SLICES - 1) / FILL_SLICES;

    chk.phase = PHASE_HOT;
    chk.hot_next = 0;
    chk.fill_left = slice;
}

bool check_active(void)
{
    return chk.phase != PHASE_IDLE;
}

void check_fill_cursor(uint32_t *page, uint32_t *sweep)
{
    *page = chk.fill_next;
    *sweep = chk.fill_sweep;
}

static void finish(void)
{
    chk.phase = PHASE_IDLE;
    chk.done++;
    if (chk.bad == 0) {
        out_printf("integrity ok %u dirtied=%llu\n", chk.done,
                   (unsigned long long)mem_dirtied);
    } else {
        out_printf("integrity bad %u pages=%u\n", chk.done, chk.bad);
    }
    chk.bad = 0;
}

/* Verify one page; false once the check has nothing left to do. */
static bool verify_next(void)
{
    uint32_t got;
    int32_t word;

    if (chk.phase == PHASE_HOT) {
        uint32_t p = chk.hot_next;

        if (p < mem.hot_pages) {
            if (!mem_check_hot(p, &got, &word)) {
                check_report(p, mem_hot_page(p), mem.versions[p], got, word);
            }
            chk.hot_next++;
            return true;
        }
        chk.phase = PHASE_FILL;
    }
    if (chk.fill_left > 0 && mem.fill_pages > 0) {
        uint32_t p = chk.fill_next;

        /*
         * Fill pages are reported after the hot pages in one index space;
         * they were never dirtied, so their version is 0.
         */
        if (!mem_check_fill(p, chk.fill_sweep, &word)) {
            check_report(mem.hot_pages + p, mem_fill_page(p), 0, 0, word);
        }
        chk.fill_left--;
        if (++chk.fill_next == mem.fill_pages) {
            chk.fill_next = 0;
            chk.fill_sweep++;
        }
        return true;
    }
    return false;
}

void check_step(uint32_t now)
{
    while (chk.phase != PHASE_IDLE && ticks_now() == now) {
        if (!verify_next()) {
            finish();
        }
    }
}
