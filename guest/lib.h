/* The few libc pieces the guest needs (gcc may also emit mem* calls). */
#ifndef DROVER_GUEST_LIB_H
#define DROVER_GUEST_LIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

/* Does the @len-byte string @s equal the NUL-terminated @word? */
bool str_eq_n(const char *s, size_t len, const char *word);

/* Parse a decimal number; false on junk, empty input or overflow. */
bool parse_u32(const char *s, size_t len, uint32_t *out);

#endif
