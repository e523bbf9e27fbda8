/* Just enough ACPI for a graceful power-off on the power button. */
#ifndef DROVER_GUEST_ACPI_H
#define DROVER_GUEST_ACPI_H

#include <stdbool.h>

/*
 * Find the FADT, switch to ACPI mode and enable the power button event.
 * Prints "acpi ok ...", "acpi unavailable" or, with @enable false,
 * "acpi disabled".  Returns whether the button will be polled.
 */
bool acpi_init(bool enable);

/* Has the power button been pressed since the last call?  Clears it. */
bool acpi_button_pressed(void);

/* Enter S5 (soft off); QEMU then exits.  Does not return. */
void acpi_power_off(void) __attribute__((noreturn));

#endif
