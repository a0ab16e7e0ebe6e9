/* Minimal <string.h> for the embedded cross-check (tools/embedded-check).
 * The Debian riscv64-unknown-elf and xtensa-lx106-elf compilers ship no C
 * library headers, so the device core's few libc needs are declared here
 * and defined in runtime.c. Anything the core uses beyond this list fails
 * the check on purpose: a new libc dependency is a porting decision. */
#ifndef OTA_EMBEDDED_SHIM_STRING_H
#define OTA_EMBEDDED_SHIM_STRING_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

void* memcpy(void* dst, const void* src, size_t n);
void* memmove(void* dst, const void* src, size_t n);
void* memset(void* dst, int c, size_t n);
int memcmp(const void* a, const void* b, size_t n);
size_t strlen(const char* s);

#ifdef __cplusplus
}
#endif

#endif /* OTA_EMBEDDED_SHIM_STRING_H */
