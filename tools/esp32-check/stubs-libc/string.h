/* <string.h> for the freestanding cross-compile of the ESP32 glue in
 * tools/esp32-check (the Debian riscv64-unknown-elf and xtensa-lx106-elf
 * compilers ship no C library headers). Declares, with newlib's (ESP-IDF's
 * C library) signatures, only the functions the glue and the examples call;
 * a new libc call fails the cross-compile until it is added here on purpose. */
#ifndef OTA_ESP32_CHECK_STRING_H
#define OTA_ESP32_CHECK_STRING_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);

#ifdef __cplusplus
}
#endif

#endif
