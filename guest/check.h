/* Periodic integrity check of the hot set and a slice of the fill region. */
#ifndef DROVER_GUEST_CHECK_H
#define DROVER_GUEST_CHECK_H

#include <stdbool.h>
#include <stdint.h>

/* The fill region is covered once every this many checks. */
#define FILL_SLICES 4u

void check_start(void);
bool check_active(void);

/*
 * Verify pages until the guest tick moves past @now or the check is done;
 * prints the CORRUPT and integrity lines.
 */
void check_step(uint32_t now);

/*
 * Report a bad page found outside the check (by the dirtier); it counts
 * towards the next "integrity" line.
 */
void check_report(uint32_t index, const void *addr, uint32_t want, uint32_t got,
                  int32_t word);

/*
 * Report that the guest's own loop state disagrees between its stack and
 * .bss copies (see run() in main.c); also counts as one bad page.
 */
void check_report_state(uint32_t stack_copy, uint32_t bss_copy);

/* The fill page the next fill verification starts at, and its pass. */
void check_fill_cursor(uint32_t *page, uint32_t *sweep);

#endif
