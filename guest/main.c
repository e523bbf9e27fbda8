/*
 * drover-testguest: a multiboot guest that dirties memory at a controlled
 * rate, prints heartbeats on COM1 and verifies its own memory, so tests
 * and benchmarks can see migration downtime and detect lost pages.
 *
 * Everything runs in one loop on one CPU.  Each pass services the timed
 * events (power button, heartbeat, corruption self-test, check start) and
 * then does at most one tick's worth of work, so no event is ever more
 * than about a tick late.  With nothing to do the CPU halts until the next
 * tick, which keeps an idle guest almost free for the host.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "acpi.h"
#include "check.h"
#include "cpu.h"
#include "lib.h"
#include "mem.h"
#include "multiboot.h"
#include "serial.h"

#define CMDLINE_MAX 1024
#define NOTE_MAX 160

#define MAX_RATE_MIB 100000u
#define MIN_CHECK_MS 10u
#define MAX_INTERVAL_MS 3600000u

/* Credit is kept in milli-pages so that low rates need no fractions. */
#define CREDIT_PER_PAGE 1000u
/* At most this many ticks of missed budget are made up after a stall. */
#define CATCH_UP_TICKS 4u

struct knobs {
    uint32_t wss;  /* MiB */
    uint32_t rate; /* MiB/s, 0 = unlimited */
    uint32_t fill; /* MiB */
    uint32_t hb;   /* ms */
    uint32_t check;
    uint32_t corrupt; /* ms after start, if corrupt_set */
    bool corrupt_set;
    bool random;
    bool acpi;
};

static struct knobs knobs = {
    .hb = 100,
    .check = 1000,
    .acpi = true,
};

static char cmdline[CMDLINE_MAX];
static char note[NOTE_MAX];
static size_t note_len;

static void note_add(const char *what, const char *s, size_t len)
{
    char item[64];
    size_t n, i;

    if (len > 32) {
        len = 32;
    }
    n = fmt(item, sizeof(item), "%s", what);
    for (i = 0; i < len && n + 1 < sizeof(item); i++) {
        item[n++] = s[i];
    }
    item[n] = '\0';
    if (note_len + n + 2 > sizeof(note)) {
        return;
    }
    if (note_len > 0) {
        note[note_len++] = ',';
    }
    memcpy(note + note_len, item, n + 1);
    note_len += n;
}

static void set_u32(uint32_t *dst, const char *key, size_t klen,
                    const char *val, size_t vlen)
{
    if (!parse_u32(val, vlen, dst)) {
        note_add("bad:", key, klen);
    }
}

static void parse_token(const char *tok, size_t len, bool first)
{
    const char *eq = NULL;
    const char *val;
    size_t klen, vlen, i;

    for (i = 0; i < len; i++) {
        if (tok[i] == '=') {
            eq = tok + i;
            break;
        }
    }
    if (!eq) {
        /* loaders (QEMU, GRUB) put the kernel's path first */
        if (!first) {
            note_add("unknown:", tok, len);
        }
        return;
    }
    klen = (size_t)(eq - tok);
    val = eq + 1;
    vlen = len - klen - 1;

    if (str_eq_n(tok, klen, "wss")) {
        set_u32(&knobs.wss, tok, klen, val, vlen);
    } else if (str_eq_n(tok, klen, "rate")) {
        set_u32(&knobs.rate, tok, klen, val, vlen);
    } else if (str_eq_n(tok, klen, "fill")) {
        set_u32(&knobs.fill, tok, klen, val, vlen);
    } else if (str_eq_n(tok, klen, "hb")) {
        set_u32(&knobs.hb, tok, klen, val, vlen);
    } else if (str_eq_n(tok, klen, "check")) {
        set_u32(&knobs.check, tok, klen, val, vlen);
    } else if (str_eq_n(tok, klen, "corrupt")) {
        knobs.corrupt_set = parse_u32(val, vlen, &knobs.corrupt);
        if (!knobs.corrupt_set) {
            note_add("bad:", tok, klen);
        }
    } else if (str_eq_n(tok, klen, "pattern")) {
        if (str_eq_n(val, vlen, "seq")) {
            knobs.random = false;
        } else if (str_eq_n(val, vlen, "random")) {
            knobs.random = true;
        } else {
            note_add("bad:", tok, klen);
        }
    } else if (str_eq_n(tok, klen, "acpi")) {
        if (str_eq_n(val, vlen, "0") || str_eq_n(val, vlen, "1")) {
            knobs.acpi = val[0] == '1';
        } else {
            note_add("bad:", tok, klen);
        }
    } else {
        note_add("unknown:", tok, klen);
    }
}

static void parse_cmdline(const char *s)
{
    bool first = true;

    while (*s) {
        const char *start;

        while (*s == ' ' || *s == '\t') {
            s++;
        }
        start = s;
        while (*s && *s != ' ' && *s != '\t') {
            s++;
        }
        if (s > start) {
            parse_token(start, (size_t)(s - start), first);
            first = false;
        }
    }
}

static void clamp(uint32_t *v, uint32_t lo, uint32_t hi, const char *name)
{
    if (*v < lo || *v > hi) {
        *v = *v < lo ? lo : hi;
        note_add("clamped:", name, strlen(name));
    }
}

/*
 * End of the usable RAM region that contains 4 MiB.  The memory map is
 * preferred over mem_upper because firmware keeps the ACPI tables at the
 * top of low RAM, inside what mem_upper claims.
 */
static uint32_t usable_ram_end(const struct mb_info *mbi)
{
    const uint64_t base = 4u * MIB;

    if (mbi->flags & MB_INFO_MMAP) {
        uint32_t off = 0;

        while (off + sizeof(uint32_t) <= mbi->mmap_length) {
            const struct mb_mmap_entry *e =
                (const struct mb_mmap_entry *)(mbi->mmap_addr + off);
            uint64_t end = e->addr + e->len;

            if (e->type == MB_MMAP_AVAILABLE && e->addr <= base && end > base) {
                return end > 0xFFFFF000u ? 0xFFFFF000u : (uint32_t)end;
            }
            off += e->size + sizeof(uint32_t);
        }
    }
    if (mbi->flags & MB_INFO_MEMORY) {
        /*
         * mem_upper counts from 1 MiB; leave the top 1 MiB to firmware
         * tables, as a guess.
         */
        return mbi->mem_upper * 1024u;
    }
    return 0;
}

static void load_boot_info(uint32_t magic, const struct mb_info *mbi,
                           uint32_t *mem_mib, uint32_t *ram_end)
{
    *mem_mib = 0;
    *ram_end = 0;
    if (magic != MULTIBOOT_BOOTLOADER_MAGIC) {
        note_add("no-multiboot", "", 0);
        return;
    }
    if (mbi->flags & MB_INFO_CMDLINE) {
        const char *src = (const char *)mbi->cmdline;
        size_t i;

        for (i = 0; i + 1 < sizeof(cmdline) && src[i]; i++) {
            cmdline[i] = src[i];
        }
        cmdline[i] = '\0';
    }
    if (mbi->flags & MB_INFO_MEMORY) {
        *mem_mib = (mbi->mem_upper + 1024 + 512) / 1024;
    }
    *ram_end = usable_ram_end(mbi);
}

/* Page order of the dirtier */
static uint32_t seq_cursor;
static uint32_t rng_state = 0x2545F491u;

static uint32_t next_hot_page(void)
{
    uint32_t p;

    do {
        if (knobs.random) {
            rng_state ^= rng_state << 13;
            rng_state ^= rng_state >> 17;
            rng_state ^= rng_state << 5;
            p = rng_state % mem.hot_pages;
        } else {
            p = seq_cursor;
            seq_cursor = p + 1 == mem.hot_pages ? 0 : p + 1;
        }
    } while (p == mem_frozen_page);
    return p;
}

static bool can_dirty(void)
{
    return mem.hot_pages > 1 ||
           (mem.hot_pages == 1 && mem_frozen_page == NO_PAGE);
}

/*
 * The self-test damages memory without touching the version table.  The
 * damaged hot page is excluded from dirtying, since rewriting it would
 * silently repair it before a check could look.  For the fill region the
 * damaged word is one the next verification pass will sample.
 */
static void corrupt_memory(void)
{
    uint32_t *w;
    uint32_t page, sweep, word;

    if (mem.hot_pages > 0) {
        page = mem.hot_pages / 2;
        word = mem_spread_pos(7);
        w = mem_hot_page(page);
        mem_frozen_page = page;
    } else if (mem.fill_pages > 0) {
        check_fill_cursor(&page, &sweep);
        word = mem_fill_sample(page, sweep, 3);
        w = mem_fill_page(page);
        page += mem.hot_pages;
    } else {
        out_printf("selftest corrupt skipped\n");
        return;
    }
    w[word] = ~w[word];
    out_printf("selftest corrupt page=%u addr=0x%x word=%u\n", page,
               (uint32_t)w, word);
}

static bool due(uint32_t now, uint32_t when)
{
    return (int32_t)(now - when) >= 0;
}

static uint32_t dirty_credit;
static uint32_t credit_tick;

static void refill_credit(uint32_t now)
{
    uint32_t per_tick = knobs.rate * PAGES_PER_MIB;
    uint32_t elapsed = now - credit_tick;
    uint32_t cap = CATCH_UP_TICKS * per_tick;

    if (cap < 2 * CREDIT_PER_PAGE) {
        cap = 2 * CREDIT_PER_PAGE;
    }
    if (elapsed > CATCH_UP_TICKS) {
        elapsed = CATCH_UP_TICKS;
    }
    credit_tick = now;
    dirty_credit += elapsed * per_tick;
    if (dirty_credit > cap) {
        dirty_credit = cap;
    }
}

static void dirty_one(void)
{
    uint32_t page = next_hot_page();
    uint32_t want, got;

    if (!mem_dirty(page, &want, &got)) {
        check_report(page, mem_hot_page(page), want, got, WORD_HEADER);
    }
}

static void dirty_budget(uint32_t now)
{
    while (dirty_credit >= CREDIT_PER_PAGE && ticks_now() == now) {
        dirty_one();
        dirty_credit -= CREDIT_PER_PAGE;
    }
}

static void dirty_until_tick(uint32_t now)
{
    while (ticks_now() == now) {
        dirty_one();
    }
}

/*
 * The loop's own state lives in registers, on the stack page and in .bss.
 * A migration that loses writes to one of those pages leaves the guest
 * running on stale state (a heartbeat number going back, say) without
 * touching the hot set.  So a pass counter is kept both on the stack and
 * in .bss and compared on every pass.
 */
static volatile uint32_t pass_bss;

static void run(void)
{
    volatile uint32_t pass_stack = 0;
    uint32_t next_hb = knobs.hb;
    uint32_t next_check = knobs.check;
    uint32_t hb_seq = 0;
    bool corrupt_pending = knobs.corrupt_set;
    bool turn = false;
    bool unlimited = knobs.rate == 0;

    for (;;) {
        uint32_t now = ticks_now();
        bool dirty = can_dirty();
        bool busy = false;

        if (pass_stack != pass_bss) {
            check_report_state(pass_stack, pass_bss);
            pass_stack = pass_bss;
        }
        pass_stack = pass_stack + 1;
        pass_bss = pass_bss + 1;

        if (acpi_button_pressed()) {
            out_printf("powerdown\n");
            acpi_power_off();
        }
        if (due(now, next_hb)) {
            out_printf("hb %u t=%u\n", ++hb_seq, now);
            next_hb += knobs.hb;
            if (due(now, next_hb)) {
                next_hb = now + knobs.hb;
            }
        }
        if (corrupt_pending && due(now, knobs.corrupt)) {
            corrupt_pending = false;
            corrupt_memory();
        }
        if (!check_active() && due(now, next_check)) {
            check_start();
            next_check += knobs.check;
            if (due(now, next_check)) {
                next_check = now + knobs.check;
            }
        }

        if (dirty && unlimited) {
            /* alternate whole ticks between verifying and dirtying */
            turn = !turn;
            if (check_active() && turn) {
                check_step(now);
            } else {
                dirty_until_tick(now);
            }
            busy = true;
        } else {
            if (dirty) {
                refill_credit(now);
                dirty_budget(now);
            }
            if (check_active()) {
                check_step(now);
                busy = true;
            }
        }
        if (!busy) {
            cpu_wait_tick(now);
        }
    }
}

void guest_main(uint32_t magic, const struct mb_info *mbi);

void guest_main(uint32_t magic, const struct mb_info *mbi)
{
    uint32_t mem_mib, ram_end;
    unsigned clamped;

    serial_init();
    cpu_init();
    load_boot_info(magic, mbi, &mem_mib, &ram_end);
    parse_cmdline(cmdline);

    clamp(&knobs.rate, 0, MAX_RATE_MIB, "rate");
    clamp(&knobs.hb, 1, MAX_INTERVAL_MS, "hb");
    clamp(&knobs.check, MIN_CHECK_MS, MAX_INTERVAL_MS, "check");
    clamped = mem_plan(ram_end, &knobs.wss, &knobs.fill);
    if (clamped & MEM_CLAMPED_WSS) {
        note_add("clamped:", "wss", 3);
    }
    if (clamped & MEM_CLAMPED_FILL) {
        note_add("clamped:", "fill", 4);
    }

    out_printf("drover-testguest start mem=%u wss=%u rate=%u fill=%u "
               "pattern=%s hb=%u%s%s\n",
               mem_mib, knobs.wss, knobs.rate, knobs.fill,
               knobs.random ? "random" : "seq", knobs.hb,
               note_len ? " note=" : "", note);
    acpi_init(knobs.acpi);

    /* before the timer starts, so a big fill does not eat guest time */
    mem_init_contents();
    cpu_start_timer();
    run();
}
