/*
 * ACPI power button support.
 *
 * QMP system_powerdown only sets PWRBTN_STS in PM1_STS (and raises the
 * SCI) when PWRBTN_EN is set, so the guest must enable the event and then
 * notice it.  There is no AML interpreter here: the FADT gives the fixed
 * register blocks, and QEMU's \_S5 sleep type is 0, so writing
 * SLP_TYP=0 | SLP_EN to PM1a_CNT powers the machine off.  The SCI stays
 * masked at the PIC; the main loop polls PM1_STS every tick instead.
 */
#include <stdbool.h>
#include <stdint.h>

#include "acpi.h"
#include "cpu.h"
#include "io.h"
#include "lib.h"
#include "serial.h"

#define PM1_PWRBTN 0x0100 /* PWRBTN_STS in PM1_STS, PWRBTN_EN in PM1_EN */
#define PM1_SCI_EN 0x0001
#define PM1_SLP_TYP_SHIFT 10
#define PM1_SLP_TYP_MASK (7u << PM1_SLP_TYP_SHIFT)
#define PM1_SLP_EN 0x2000
#define S5_SLP_TYP 0 /* what QEMU's DSDT puts in \_S5 */

#define FADT_SMI_CMD 48
#define FADT_ACPI_ENABLE 52
#define FADT_PM1A_EVT_BLK 56
#define FADT_PM1A_CNT_BLK 64
#define FADT_PM1_EVT_LEN 88
#define FADT_MIN_LEN 92

#define SDT_HEADER_LEN 36
#define ENABLE_SPIN_LIMIT 1000000u

static bool acpi_active;
static uint16_t pm1a_sts;
static uint16_t pm1a_en;
static uint16_t pm1a_cnt;

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static bool checksum_ok(const uint8_t *p, uint32_t len)
{
    uint8_t sum = 0;
    uint32_t i;

    for (i = 0; i < len; i++) {
        sum += p[i];
    }
    return sum == 0;
}

static const uint8_t *scan_rsdp(uint32_t start, uint32_t len)
{
    uint32_t off;

    for (off = 0; off + 20 <= len; off += 16) {
        const uint8_t *p = (const uint8_t *)start + off;

        if (memcmp(p, "RSD PTR ", 8) == 0 && checksum_ok(p, 20)) {
            return p;
        }
    }
    return NULL;
}

/*
 * A physical address as a pointer.  gcc 12 assumes nothing valid lives in
 * the first page and warns on constant addresses there, so hide the value.
 */
static const volatile void *phys(uint32_t addr)
{
    __asm__("" : "+r"(addr));
    return (const volatile void *)addr;
}

static const uint8_t *find_rsdp(void)
{
    uint32_t ebda = (uint32_t) * (const volatile uint16_t *)phys(0x40E) << 4;
    const uint8_t *rsdp = NULL;

    if (ebda >= 0x80000 && ebda < 0xA0000) {
        rsdp = scan_rsdp(ebda, 1024);
    }
    if (!rsdp) {
        rsdp = scan_rsdp(0xE0000, 0x20000);
    }
    return rsdp;
}

static const uint8_t *valid_sdt(uint32_t addr, const char *sig)
{
    const uint8_t *p = (const uint8_t *)addr;
    uint32_t len;

    if (addr == 0 || memcmp(p, sig, 4) != 0) {
        return NULL;
    }
    len = rd32(p + 4);
    if (len < SDT_HEADER_LEN || !checksum_ok(p, len)) {
        return NULL;
    }
    return p;
}

/*
 * Walk the RSDT (or, for an ACPI 2 RSDP without one, the XSDT, whose
 * 64-bit entries we can only follow below 4 GiB).
 */
static const uint8_t *find_fadt(const uint8_t *rsdp)
{
    const uint8_t *sdt = valid_sdt(rd32(rsdp + 16), "RSDT");
    uint32_t entry_len = 4;
    uint32_t i, count;

    if (!sdt && rsdp[15] >= 2 && rd32(rsdp + 28) == 0) {
        sdt = valid_sdt(rd32(rsdp + 24), "XSDT");
        entry_len = 8;
    }
    if (!sdt) {
        return NULL;
    }
    count = (rd32(sdt + 4) - SDT_HEADER_LEN) / entry_len;
    for (i = 0; i < count; i++) {
        const uint8_t *e = sdt + SDT_HEADER_LEN + i * entry_len;
        const uint8_t *t;

        if (entry_len == 8 && rd32(e + 4) != 0) {
            continue;
        }
        t = valid_sdt(rd32(e), "FACP");
        if (t && rd32(t + 4) >= FADT_MIN_LEN) {
            return t;
        }
    }
    return NULL;
}

static bool enable_acpi_mode(const uint8_t *fadt)
{
    uint32_t smi_cmd = rd32(fadt + FADT_SMI_CMD);
    uint8_t acpi_enable = fadt[FADT_ACPI_ENABLE];
    uint32_t spins;

    if (inw(pm1a_cnt) & PM1_SCI_EN) {
        return true;
    }
    if (smi_cmd == 0 || smi_cmd > 0xFFFF || acpi_enable == 0) {
        return false;
    }
    outb((uint16_t)smi_cmd, acpi_enable);
    for (spins = 0; spins < ENABLE_SPIN_LIMIT; spins++) {
        if (inw(pm1a_cnt) & PM1_SCI_EN) {
            return true;
        }
    }
    return false;
}

bool acpi_init(bool enable)
{
    const uint8_t *rsdp;
    const uint8_t *fadt;
    uint32_t evt, cnt, evt_len;

    if (!enable) {
        out_printf("acpi disabled\n");
        return false;
    }
    rsdp = find_rsdp();
    fadt = rsdp ? find_fadt(rsdp) : NULL;
    if (!fadt) {
        out_printf("acpi unavailable\n");
        return false;
    }
    evt = rd32(fadt + FADT_PM1A_EVT_BLK);
    cnt = rd32(fadt + FADT_PM1A_CNT_BLK);
    evt_len = fadt[FADT_PM1_EVT_LEN];
    if (evt == 0 || cnt == 0 || evt > 0xFFFF || cnt > 0xFFFF || evt_len < 4) {
        out_printf("acpi unavailable\n");
        return false;
    }
    pm1a_sts = (uint16_t)evt;
    pm1a_en = (uint16_t)(evt + evt_len / 2);
    pm1a_cnt = (uint16_t)cnt;
    if (!enable_acpi_mode(fadt)) {
        out_printf("acpi unavailable\n");
        return false;
    }

    /* Status bits are write-1-to-clear: drop a stale press first. */
    outw(pm1a_sts, PM1_PWRBTN);
    outw(pm1a_en, inw(pm1a_en) | PM1_PWRBTN);
    acpi_active = true;
    out_printf("acpi ok pm1a_evt=0x%x pm1a_cnt=0x%x\n", evt, cnt);
    return true;
}

bool acpi_button_pressed(void)
{
    if (!acpi_active || !(inw(pm1a_sts) & PM1_PWRBTN)) {
        return false;
    }
    outw(pm1a_sts, PM1_PWRBTN);
    return true;
}

void acpi_power_off(void)
{
    uint16_t v = inw(pm1a_cnt);

    v &= (uint16_t)~PM1_SLP_TYP_MASK;
    v |= (uint16_t)(S5_SLP_TYP << PM1_SLP_TYP_SHIFT) | PM1_SLP_EN;
    outw(pm1a_cnt, v);
    cpu_halt_forever();
}
