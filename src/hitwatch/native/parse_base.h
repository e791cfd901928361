/* hitwatch native kernel: what every line parser shares: the record, the
 * limits, byte searches (SSE2 where there is SSE2) and digit loops (eight or
 * sixteen at a time). Included by parse.h, before the parsers that use it. */
#ifndef HITWATCH_PARSE_BASE_H
#define HITWATCH_PARSE_BASE_H


#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define HW_ALWAYS_INLINE inline __attribute__((always_inline))
#define HW_NOINLINE __attribute__((noinline))
#else
#define HW_ALWAYS_INLINE inline
#define HW_NOINLINE
#endif

#define HW_MAX_LINE 65536
#define HW_MAX_TS 253402300799LL

enum hw_format { HW_CSV = 0, HW_CLF = 1, HW_DESC = 2 /* describe.h */ };

enum hw_reason {
    HW_OK = 0,
    HW_OVERLONG = 1,
    HW_CSV_QUOTING = 2,
    HW_CSV_FIELDS = 3,
    HW_BAD_DATE = 4,
    HW_BAD_STATUS = 5,
    HW_BAD_BYTES = 6,
    HW_NOT_CLF = 7,
    HW_BAD_TIMESTAMP = 8,
    HW_NOT_LINE = 9, /* describe.h: not a line of the description */
    HW_HEADER = 100, /* not a reason: a header line, skipped */
};

enum hw_kind { HW_SECTION = 0, HW_HOST = 1, HW_METHOD = 2, HW_VHOST = 3 /* describe.h */ };
#define HW_KINDS 4

static const uint8_t HW_OTHER[] = "(other)";
#define HW_OTHER_LEN 7

static const char HW_HEADER_Q[] =
    "\"remotehost\",\"rfc931\",\"authuser\",\"date\",\"request\",\"status\",\"bytes\"";
static const char HW_HEADER_U[] = "remotehost,rfc931,authuser,date,request,status,bytes";

/* One parsed record; the key pointers point into the line or the scratch. */
typedef struct {
    int64_t ts;
    int64_t nbytes;
    int cls; /* 1..5 */
    const uint8_t *status; /* its three digits, in the line */
    const uint8_t *host;
    size_t host_len;
    const uint8_t *method;
    size_t method_len;
    const uint8_t *section;
    size_t section_len;
    const uint8_t *tail; /* CLF: where the _LINE regex's match ends (set unless HW_NOT_CLF) */
    /* describe.h only (a format with these fields): */
    const uint8_t *vhost;
    size_t vhost_len;
    double duration; /* seconds, when has_duration */
    int has_duration;
} hw_rec;

/* ------------------------------------------------------------ parsing */

/* Searching the short spans inside a line (a field, a request): a libc memchr
 * call costs more than the scan. With SSE2 (every x86-64) 16 bytes are
 * compared at once. A load may take bytes of the readable region [lo, hi)
 * outside the span, whose bits are then dropped: near the end, the 16 bytes
 * that end at hi are read instead, so that one load still does when fewer
 * than 16 bytes are left. HW_NO_SIMD forces the byte loops (and the digit
 * loops below), so that they can be tested on x86 too. */
#if defined(__SSE2__) && (defined(__GNUC__) || defined(__clang__)) && !defined(HW_NO_SIMD)
#define HW_SIMD 1
#include <emmintrin.h>

static inline __m128i hw_load16(const uint8_t *x) {
    return _mm_loadu_si128((const __m128i *)(const void *)x);
}

/* Bit i set when byte i of v is c. */
static inline unsigned hw_eq(__m128i v, uint8_t c) {
    return (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8((char)c)));
}

/* The 16 bytes at y, or when fewer are left before hi, the 16 that end at hi
 * with *shift set to how far y is into them (hi - lo >= 16, y <= hi). */
static inline __m128i hw_load16_at(const uint8_t *y, const uint8_t *hi, unsigned *shift) {
    const uint8_t *x = hi - y >= 16 ? y : hi - 16;
    *shift = (unsigned)(y - x);
    return hw_load16(x);
}
#else
#define HW_SIMD 0
#endif

/* The first c in [p, end), or NULL; [lo, end) may be read. */
static inline const uint8_t *hw_find_end(const uint8_t *lo, const uint8_t *p, const uint8_t *end,
                                         uint8_t c) {
#if HW_SIMD
    for (; end - p >= 16; p += 16) {
        unsigned m = hw_eq(hw_load16(p), c);
        if (m) return p + __builtin_ctz(m);
    }
    if (end - lo >= 16) {
        unsigned m = hw_eq(hw_load16(end - 16), c) >> (16 - (end - p));
        return m ? p + __builtin_ctz(m) : NULL;
    }
#else
    (void)lo;
#endif
    for (; p < end; p++)
        if (*p == c) return p;
    return NULL;
}

/* The first byte of [p, end) that is c1 or c2, or NULL; [lo, hi) may be read
 * (lo <= p <= end <= hi). */
static inline const uint8_t *hw_find2(const uint8_t *lo, const uint8_t *p, const uint8_t *end,
                                      const uint8_t *hi, uint8_t c1, uint8_t c2) {
#if HW_SIMD
    if (hi - lo >= 16) {
        while (p < end) {
            unsigned shift;
            __m128i v = hw_load16_at(p, hi, &shift);
            unsigned m = (hw_eq(v, c1) | hw_eq(v, c2)) >> shift;
            size_t left = (size_t)(end - p);
            if (left < 16) m &= (1u << left) - 1;
            if (m) return p + __builtin_ctz(m);
            if (left <= 16) return NULL;
            p += 16;
        }
        return NULL;
    }
#else
    (void)lo;
    (void)hi;
#endif
    for (; p < end; p++)
        if (*p == c1 || *p == c2) return p;
    return NULL;
}

static inline const uint8_t *hw_find(const uint8_t *lo, const uint8_t *p, const uint8_t *end,
                                     const uint8_t *hi, uint8_t c) {
    return hw_find2(lo, p, end, hi, c, c);
}

static inline int hw_digit(uint8_t c) { return c >= '0' && c <= '9'; }
static inline int hw_alpha(uint8_t c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

static inline uint64_t hw_load64(const uint8_t *s) {
    uint64_t v;
    memcpy(&v, s, 8);
    return v;
}

/* Digits eight at a time: the loop below is a chain of a multiply and an add
 * per digit. Little-endian only (the first digit must be the low byte). */
#if !defined(HW_NO_SIMD) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HW_SWAR 1
#define HW_ONES(b) (0x0101010101010101ULL * (b))

/* s[0..n) as a number when its 1 <= n <= 8 bytes are all digits, else -1.
 * Reads the 8 bytes that end at s + n, so s + n - 8 must be readable. */
static inline int64_t hw_digits8(const uint8_t *s, size_t n) {
    uint64_t x = hw_load64(s + n - 8);
    uint64_t keep = ~0ULL << (8 * (8 - n)); /* the field; the bytes before it become '0' */
    x = (x & keep) | (HW_ONES('0') & ~keep);
    if ((x & HW_ONES(0xf0)) != HW_ONES(0x30) || ((x + HW_ONES(6)) & HW_ONES(0xf0)) != HW_ONES(0x30))
        return -1;
    x -= HW_ONES('0');
    x = x * 10 + (x >> 8); /* pairs of digits in bytes 0, 2, 4, 6 */
    x = (((x & 0x000000ff000000ffULL) * (100 + (1000000ULL << 32))) +
         (((x >> 16) & 0x000000ff000000ffULL) * (1 + (10000ULL << 32)))) >> 32;
    return (int64_t)x;
}
#else
#define HW_SWAR 0
#endif

#if HW_SIMD
/* 16 bytes of 0, then 16 of 0xff: the 16 at HW_FIELD16 + n keep the last n. */
static const uint8_t HW_FIELD16[32] = {0,    0,    0,    0,    0,    0,    0,    0,
                                       0,    0,    0,    0,    0,    0,    0,    0,
                                       0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                       0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* s[0..n) as a number when its 1 <= n <= 16 bytes are all digits, else -1,
 * in one SSE2 register (a CSV epoch has 10 digits: two hw_digits8 took twice
 * the work). Reads the 16 bytes that end at s + n. The bytes before the field
 * become digit 0; digits pair up (d0 * 10 + d1), pairs into fours, fours
 * into eights, each step one multiply-add of 16-bit lanes: no intermediate
 * exceeds 99999999 < 2^31. */
static inline int64_t hw_digits16(const uint8_t *s, size_t n) {
    __m128i keep = _mm_loadu_si128((const __m128i *)(const void *)(HW_FIELD16 + n));
    __m128i d = _mm_and_si128(_mm_sub_epi8(hw_load16(s + n - 16), _mm_set1_epi8('0')), keep);
    __m128i nine = _mm_set1_epi8(9);
    if (_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(d, nine), nine)) != 0xffff) return -1;
    __m128i pairs = _mm_add_epi16(_mm_mullo_epi16(_mm_and_si128(d, _mm_set1_epi16(0xff)),
                                                  _mm_set1_epi16(10)),
                                  _mm_srli_epi16(d, 8));
    __m128i fours = _mm_madd_epi16(pairs, _mm_set1_epi32(100 | 1 << 16));
    __m128i eights = _mm_madd_epi16(_mm_packs_epi32(fours, fours), _mm_set1_epi32(10000 | 1 << 16));
    int64_t high = _mm_cvtsi128_si32(eights), low = _mm_cvtsi128_si32(_mm_srli_si128(eights, 4));
    return high * 100000000 + low;
}
#endif

/* s[0..n) as a number when its 1 <= n <= 16 bytes are all digits, else -1;
 * lo <= s is the start of the readable bytes. */
static inline int64_t hw_digits(const uint8_t *lo, const uint8_t *s, size_t n) {
#if HW_SWAR
    size_t before = (size_t)(s - lo) + n;
    if (n <= 8 && before >= 8) return hw_digits8(s, n);
#if HW_SIMD
    if (n > 8 && before >= 16) return hw_digits16(s, n);
#else
    if (n > 8 && before >= 16) {
        int64_t h = hw_digits8(s, n - 8), l = hw_digits8(s + n - 8, 8);
        return h < 0 || l < 0 ? -1 : h * 100000000 + l;
    }
#endif
#else
    (void)lo;
#endif
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!hw_digit(s[i])) return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* parse_bytes: "-" is 0; 1-15 ASCII digits; else -1. */
static inline int64_t hw_parse_size(const uint8_t *lo, const uint8_t *s, size_t n) {
    if (n == 1 && s[0] == '-') return 0;
    if (n == 0 || n > 15) return -1;
    return hw_digits(lo, s, n);
}

/* STATUS_CLASS: exactly [1-5][0-9][0-9]; returns the class or 0. */
static inline int hw_status_class(const uint8_t *s, size_t n) {
    if (n != 3 || s[0] < '1' || s[0] > '5' || !hw_digit(s[1]) || !hw_digit(s[2])) return 0;
    return s[0] - '0';
}

/* csv.parse_ts: 1-12 ASCII digits, <= MAX_TS; else -1. */
static inline int64_t hw_parse_epoch(const uint8_t *lo, const uint8_t *s, size_t n) {
    if (n == 0 || n > 12) return -1;
    int64_t v = hw_digits(lo, s, n);
    return v <= HW_MAX_TS ? v : -1;
}

#endif
