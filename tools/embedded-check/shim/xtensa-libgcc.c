/* Integer helpers missing from Debian's gcc-xtensa-lx106 libgcc.a (its
 * lib1funcs objects for these are absent, although the libgcc2 64-bit
 * division routines it does ship call them). GCC calls them for / and % on
 * the lx106, which has no divide instruction; a real Xtensa toolchain's
 * libgcc provides them. Linked only for the Xtensa target. Plain
 * shift-and-subtract: only the link and the code size matter here.
 * Compiled with -fno-builtin so nothing here becomes a call to itself. */
#include <stdint.h>

uint32_t __udivsi3(uint32_t n, uint32_t d);
uint32_t __umodsi3(uint32_t n, uint32_t d);
int32_t __divsi3(int32_t n, int32_t d);
uint64_t __umulsidi3(uint32_t a, uint32_t b);
uint64_t __udivdi3(uint64_t n, uint64_t d);
uint64_t __umoddi3(uint64_t n, uint64_t d);
int64_t __divdi3(int64_t n, int64_t d);

static uint32_t udivmod32(uint32_t n, uint32_t d, uint32_t* rem) {
  uint32_t q = 0, r = 0;
  for (int i = 31; i >= 0; --i) {
    r = (r << 1) | ((n >> i) & 1u);
    if (r >= d) {
      r -= d;
      q |= 1u << i;
    }
  }
  *rem = r;
  return q;
}

static uint64_t udivmod64(uint64_t n, uint64_t d, uint64_t* rem) {
  uint64_t q = 0, r = 0;
  for (int i = 63; i >= 0; --i) {
    r = (r << 1) | ((n >> i) & 1u);
    if (r >= d) {
      r -= d;
      q |= (uint64_t)1 << i;
    }
  }
  *rem = r;
  return q;
}

uint32_t __udivsi3(uint32_t n, uint32_t d) {
  uint32_t r;
  return udivmod32(n, d, &r);
}

uint32_t __umodsi3(uint32_t n, uint32_t d) {
  uint32_t r;
  udivmod32(n, d, &r);
  return r;
}

int32_t __divsi3(int32_t n, int32_t d) {
  uint32_t un = n < 0 ? 0u - (uint32_t)n : (uint32_t)n;
  uint32_t ud = d < 0 ? 0u - (uint32_t)d : (uint32_t)d;
  uint32_t r;
  uint32_t q = udivmod32(un, ud, &r);
  return (int32_t)((n < 0) != (d < 0) ? 0u - q : q);
}

uint64_t __umulsidi3(uint32_t a, uint32_t b) {
  uint32_t al = a & 0xFFFFu, ah = a >> 16, bl = b & 0xFFFFu, bh = b >> 16;
  uint64_t mid = (uint64_t)(al * bh) + (uint64_t)(ah * bl);
  return (uint64_t)(al * bl) + (mid << 16) + ((uint64_t)(ah * bh) << 32);
}

uint64_t __udivdi3(uint64_t n, uint64_t d) {
  uint64_t r;
  return udivmod64(n, d, &r);
}

uint64_t __umoddi3(uint64_t n, uint64_t d) {
  uint64_t r;
  udivmod64(n, d, &r);
  return r;
}

int64_t __divdi3(int64_t n, int64_t d) {
  uint64_t un = n < 0 ? 0u - (uint64_t)n : (uint64_t)n;
  uint64_t ud = d < 0 ? 0u - (uint64_t)d : (uint64_t)d;
  uint64_t r;
  uint64_t q = udivmod64(un, ud, &r);
  return (int64_t)((n < 0) != (d < 0) ? 0u - q : q);
}

/* 64-bit multiply (the geometry checks compute record counts in 64 bits). */
uint64_t __muldi3(uint64_t a, uint64_t b);
uint64_t __muldi3(uint64_t a, uint64_t b) {
  uint64_t r = 0;
  while (b) {
    if (b & 1u) r += a;
    a <<= 1;
    b >>= 1;
  }
  return r;
}
