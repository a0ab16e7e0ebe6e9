/* Minimal freestanding runtime for the embedded cross-check link: the libc
 * functions the shim <string.h> declares and an entry symbol. Deliberately
 * naive; only the link (and code size) matters. Compile with -fno-builtin
 * and -fno-tree-loop-distribute-patterns so GCC does not turn these loops
 * back into calls to themselves. */
#include <stddef.h>

void* memcpy(void* dst, const void* src, size_t n) {
  unsigned char* d = (unsigned char*)dst;
  const unsigned char* s = (const unsigned char*)src;
  while (n--) *d++ = *s++;
  return dst;
}

void* memmove(void* dst, const void* src, size_t n) {
  unsigned char* d = (unsigned char*)dst;
  const unsigned char* s = (const unsigned char*)src;
  if (d < s) {
    while (n--) *d++ = *s++;
  } else {
    while (n--) d[n] = s[n];
  }
  return dst;
}

void* memset(void* dst, int c, size_t n) {
  unsigned char* d = (unsigned char*)dst;
  while (n--) *d++ = (unsigned char)c;
  return dst;
}

int memcmp(const void* a, const void* b, size_t n) {
  const unsigned char* x = (const unsigned char*)a;
  const unsigned char* y = (const unsigned char*)b;
  for (; n; --n, ++x, ++y) {
    if (*x != *y) return *x < *y ? -1 : 1;
  }
  return 0;
}

size_t strlen(const char* s) {
  const char* p = s;
  while (*p) ++p;
  return (size_t)(p - s);
}

/* The harness (harness.cpp) defines this. */
int ota_embedded_harness(void);

volatile int ota_embedded_result;

/* Entry point: the default linker scripts of all three toolchains use
 * _start. Never returns. */
void _start(void) {
  ota_embedded_result = ota_embedded_harness();
  for (;;) {
  }
}
