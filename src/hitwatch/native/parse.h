/* hitwatch native kernel, part 1: parsing one line of bytes into a record.
 *
 * Every rule of formats/base.py, formats/csv.py and formats/clf.py, replicated
 * on bytes (see kernel_core.h for why cutting at ASCII delimiters is exact).
 * Pure functions of the line (the timestamp cache only saves work): no
 * tables, no time model. Nothing here reads outside [p, p + n) of the line it
 * is given, or outside the unescaped copy of a field in the scratch.
 *
 * The fast paths (SSE2 searches, request bits, the CSV parity split, digits
 * eight or sixteen at a time) each fall back to the plain walk whenever they cannot
 * decide a line, and must agree with it byte for byte; building with
 * HW_NO_SIMD leaves only the plain walks, which is how they are tested.
 */
#ifndef HITWATCH_PARSE_H
#define HITWATCH_PARSE_H


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

static int64_t hw_days_from_civil(int64_t y, int64_t m, int64_t d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static const int HW_DAYS[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

#define HW_D2(p) (((p)[0] - '0') * 10 + ((p)[1] - '0'))
#define HW_NO_BASE INT64_MIN

/* The month of `Jan`..`Dec` (exact case), else 0. */
static inline int hw_month(const uint8_t *s) {
    switch (((uint32_t)s[0] << 16) | ((uint32_t)s[1] << 8) | s[2]) {
    case 0x4a616e: return 1;  /* Jan */
    case 0x466562: return 2;  /* Feb */
    case 0x4d6172: return 3;  /* Mar */
    case 0x417072: return 4;  /* Apr */
    case 0x4d6179: return 5;  /* May */
    case 0x4a756e: return 6;  /* Jun */
    case 0x4a756c: return 7;  /* Jul */
    case 0x417567: return 8;  /* Aug */
    case 0x536570: return 9;  /* Sep */
    case 0x4f6374: return 10; /* Oct */
    case 0x4e6f76: return 11; /* Nov */
    case 0x446563: return 12; /* Dec */
    default: return 0;
    }
}

/* clf.parse_time (`10/Oct/2000:13:55:36 -0700` -> Unix seconds, or -1; any
 * stamp but 26 bytes long is -1) in two steps, so that a cache can keep the
 * first one per minute: hw_stamp_base checks every field of a 26-byte stamp
 * but the seconds (s[18..19]) and returns its Unix time at second 0, before
 * the range check (HW_NO_BASE when invalid); hw_stamp_ts adds the seconds.
 * All of parse_time's conditions must hold, so checking them in two groups
 * gives the same answer. */
static int64_t hw_stamp_base(const uint8_t *s) {
    static const int digits[] = {0, 1, 7, 8, 9, 10, 12, 13, 15, 16, 22, 23, 24, 25};
    for (size_t i = 0; i < sizeof digits / sizeof digits[0]; i++)
        if (!hw_digit(s[digits[i]])) return HW_NO_BASE;
    if (s[2] != '/' || s[6] != '/' || s[11] != ':' || s[14] != ':' || s[17] != ':' || s[20] != ' ')
        return HW_NO_BASE;
    if (s[21] != '+' && s[21] != '-') return HW_NO_BASE;
    int month = hw_month(s + 3);
    int64_t d = HW_D2(s), y = HW_D2(s + 7) * 100 + HW_D2(s + 9);
    int64_t h = HW_D2(s + 12), mi = HW_D2(s + 15);
    int64_t oh = HW_D2(s + 22), om = HW_D2(s + 24);
    if (!month || d < 1 || d > HW_DAYS[month] || h > 23 || mi > 59) return HW_NO_BASE;
    if (month == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return HW_NO_BASE;
    if (oh > 23 || om > 59 || y < 1970) return HW_NO_BASE;
    int64_t offset = (oh * 3600 + om * 60) * (s[21] == '-' ? -1 : 1);
    return hw_days_from_civil(y, month, d) * 86400 + h * 3600 + mi * 60 - offset;
}

static inline int64_t hw_stamp_ts(int64_t base, const uint8_t *s) {
    if (base == HW_NO_BASE || !hw_digit(s[18]) || !hw_digit(s[19])) return -1;
    int64_t sec = HW_D2(s + 18);
    if (sec > 59) return -1;
    int64_t ts = base + sec;
    return ts >= 0 && ts <= HW_MAX_TS ? ts : -1;
}

/* section_of on bytes (the target is never percent-decoded). [lo, hi) is
 * readable around [t, t + n). */
static HW_NOINLINE void hw_section_of(const uint8_t *lo, const uint8_t *t, size_t n,
                                      const uint8_t *hi, hw_rec *r) {
    /* Query and fragment first: the authority ends at `?` or `#` too. */
    const uint8_t *cut = hw_find2(lo, t, t + n, hi, '?', '#');
    if (cut != NULL) n = (size_t)(cut - t);
    if (n > 0 && hw_alpha(t[0])) {
        size_t j = 1;
        while (j < n && (hw_alpha(t[j]) || hw_digit(t[j]) || t[j] == '+' || t[j] == '.' ||
                         t[j] == '-'))
            j++;
        if (j + 3 <= n && t[j] == ':' && t[j + 1] == '/' && t[j + 2] == '/') {
            const uint8_t *slash = hw_find(lo, t + j + 3, t + n, hi, '/');
            if (slash == NULL) {
                n = 0;
            } else {
                n -= (size_t)(slash - t);
                t = slash;
            }
        }
    }
    if (n == 0 || t[0] != '/') {
        r->section = HW_OTHER;
        r->section_len = HW_OTHER_LEN;
        return;
    }
    const uint8_t *end = hw_find(lo, t + 1, t + n, hi, '/');
    r->section = t;
    if (end == NULL)
        r->section_len = n;
    else
        r->section_len = end > t + 1 ? (size_t)(end - t) : 1;
}

/* is_method: 1-20 ASCII letters, `-` or `_`, starting with a letter (SPEC §1). */
static inline int hw_method_ok(const uint8_t *m, size_t n) {
    if (n == 0 || n > 20 || !hw_alpha(m[0])) return 0;
    for (size_t i = 1; i < n; i++)
        if (!hw_alpha(m[i]) && m[i] != '-' && m[i] != '_') return 0;
    return 1;
}

/* request_parts: split on single spaces; 2 or 3 parts, the first a method.
 * [lo, hi) is readable around [q, q + n). */
static void hw_request(const uint8_t *lo, const uint8_t *q, size_t n, const uint8_t *hi,
                       hw_rec *r) {
    const uint8_t *end = q + n;
    const uint8_t *s1 = hw_find(lo, q, end, hi, ' ');
    if (s1 == NULL || !hw_method_ok(q, (size_t)(s1 - q))) goto other;
    const uint8_t *rest = s1 + 1;
    const uint8_t *s2 = hw_find(lo, rest, end, hi, ' ');
    const uint8_t *tend = end;
    if (s2 != NULL) {
        if (hw_find(lo, s2 + 1, end, hi, ' ') != NULL) goto other;
        tend = s2;
    }
    r->method = q;
    r->method_len = (size_t)(s1 - q);
    hw_section_of(lo, rest, (size_t)(tend - rest), hi, r);
    return;
other:
    r->method = r->section = HW_OTHER;
    r->method_len = r->section_len = HW_OTHER_LEN;
}

#if HW_SIMD
/* A request of at most HW_RBITS bytes as bits (bit i: byte i of the request):
 * spaces, `?` or `#`, `/`. With them, request_parts and section_of take no
 * search, only bit operations. */
#define HW_RBITS 63

typedef struct {
    uint64_t sp, qh, sl;
} hw_rbits;

/* Adds the bits of the 16 bytes at q + k (k < 64; hi - lo >= 16, q + k < hi);
 * returns the bits of `"` or `\`. */
static inline unsigned hw_rbits_add(hw_rbits *b, const uint8_t *q, size_t k, const uint8_t *hi) {
    unsigned shift;
    __m128i v = hw_load16_at(q + k, hi, &shift);
    b->sp |= (uint64_t)(hw_eq(v, ' ') >> shift) << k;
    b->qh |= (uint64_t)((hw_eq(v, '?') | hw_eq(v, '#')) >> shift) << k;
    b->sl |= (uint64_t)(hw_eq(v, '/') >> shift) << k;
    return (hw_eq(v, '"') | hw_eq(v, '\\')) >> shift;
}

/* hw_request for [q, q + n), n <= HW_RBITS, from its bits (none at or past n).
 * Inlined: a call would spill the bits (and the record's fields) to memory
 * and read them back; hw_section_of, for the rare scheme://, stays a call. */
static HW_ALWAYS_INLINE void hw_request_bits(const uint8_t *lo, const uint8_t *q, size_t n,
                                             const uint8_t *hi, const hw_rbits *b, hw_rec *r) {
    uint64_t sp = b->sp;
    if (sp == 0 || (sp & 1)) goto other; /* one part, or an empty method */
    size_t s1 = (size_t)__builtin_ctzll(sp), tend = n;
    uint64_t rest = sp & (sp - 1);
    if (rest) {
        if (rest & (rest - 1)) goto other; /* four parts or more */
        tend = (size_t)__builtin_ctzll(rest);
    }
    if (!hw_method_ok(q, s1)) goto other;
    r->method = q;
    r->method_len = s1;
    size_t t = s1 + 1; /* the target is [t, tend) */
    if (t < tend && hw_alpha(q[t])) {
        hw_section_of(lo, q + t, tend - t, hi, r); /* maybe a scheme://authority */
        return;
    }
    uint64_t below_t = (1ULL << t) - 1;
    uint64_t cuts = b->qh & ((1ULL << tend) - 1) & ~below_t;
    size_t cut = cuts ? (size_t)__builtin_ctzll(cuts) : tend;
    if (cut == t || q[t] != '/') {
        r->section = HW_OTHER;
        r->section_len = HW_OTHER_LEN;
        return;
    }
    uint64_t slashes = b->sl & ((1ULL << cut) - 1) & ~((below_t << 1) | 1);
    r->section = q + t;
    r->section_len = (slashes ? (size_t)__builtin_ctzll(slashes) : cut) - t;
    return;
other:
    r->method = r->section = HW_OTHER;
    r->method_len = r->section_len = HW_OTHER_LEN;
}
#endif

/* The request [q, q + n) of a line whose readable bytes are [lo, hi). */
static inline void hw_request_in(const uint8_t *lo, const uint8_t *q, size_t n, const uint8_t *hi,
                                 hw_rec *r) {
#if HW_SIMD
    if (n <= HW_RBITS && hi - lo >= 16) {
        hw_rbits b = {0, 0, 0};
        for (size_t k = 0; k < n; k += 16) hw_rbits_add(&b, q, k, hi);
        uint64_t keep = (1ULL << n) - 1;
        b.sp &= keep;
        b.qh &= keep;
        b.sl &= keep;
        hw_request_bits(lo, q, n, hi, &b, r);
        return;
    }
#endif
    hw_request(lo, q, n, hi, r);
}

/* Copies a quoted CSV field's text, turning "" into ", into out. */
static size_t hw_unescape(const uint8_t *s, size_t n, uint8_t *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        out[o++] = s[i];
        if (s[i] == '"') i++; /* the second quote of a pair */
    }
    return o;
}

#if HW_SIMD
/* Every bit i that follows an odd number of set bits at or before i. */
static inline uint64_t hw_prefix_xor(uint64_t x) {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    return x;
}

/* The fields of a CSV line of 16..128 bytes at once, when its quoting is
 * plain: every field either holds no `"`, or is `"` text `"` with no `"` in
 * the text. Then the commas that split fields are exactly those after an even
 * number of quotes; conversely, given those commas, the line is plain when
 * every quote sits at the first or last byte of a field and the quotes are
 * even in number (the first field with a lone quote would either flip the
 * parity at the comma that ends it, so that the comma would not split, or be
 * the last field and leave the count odd). On a plain line split_fields gives
 * these fields, none of them escaped. Returns 0 when the line is not plain or
 * has other than 7 fields: the sequential walk then decides. */
static int hw_csv_plain(const uint8_t *p, size_t n, const uint8_t *fs[7], size_t fl[7]) {
    uint64_t q0 = 0, q1 = 0, c0 = 0, c1 = 0;
    size_t k = 0;
    for (; k + 16 <= n && k < 64; k += 16) {
        __m128i v = hw_load16(p + k);
        q0 |= (uint64_t)hw_eq(v, '"') << k;
        c0 |= (uint64_t)hw_eq(v, ',') << k;
    }
    for (; k + 16 <= n; k += 16) {
        __m128i v = hw_load16(p + k);
        q1 |= (uint64_t)hw_eq(v, '"') << (k - 64);
        c1 |= (uint64_t)hw_eq(v, ',') << (k - 64);
    }
    if (k < n) { /* the last 16 bytes: bits set twice are the same */
        size_t s = n - 16;
        __m128i v = hw_load16(p + s);
        uint64_t mq = hw_eq(v, '"'), mc = hw_eq(v, ',');
        if (s < 64) {
            q0 |= mq << s;
            c0 |= mc << s;
            if (s > 48) {
                q1 |= mq >> (64 - s);
                c1 |= mc >> (64 - s);
            }
        } else {
            q1 |= mq << (s - 64);
            c1 |= mc << (s - 64);
        }
    }
    uint64_t in0 = hw_prefix_xor(q0);
    uint64_t in1 = hw_prefix_xor(q1) ^ (0 - (in0 >> 63));
    if (in1 >> 63) return 0; /* an odd number of quotes */
    uint64_t s0 = c0 & ~in0, s1 = c1 & ~in1;
    /* Field starts (after each split, and 0) and last bytes (before each
     * split, and n - 1): the only places a quote may be. */
    uint64_t st0 = (s0 << 1) | 1, st1 = (s1 << 1) | (s0 >> 63);
    uint64_t la0 = (s0 >> 1) | (s1 << 63), la1 = s1 >> 1;
    if (n - 1 < 64)
        la0 |= 1ULL << (n - 1);
    else
        la1 |= 1ULL << (n - 65);
    if ((q0 & ~(st0 | la0)) | (q1 & ~(st1 | la1))) return 0;
    size_t sep[7], f = 0;
    for (uint64_t w = s0; w; w &= w - 1) {
        if (f == 6) return 0;
        sep[f++] = (size_t)__builtin_ctzll(w);
    }
    for (uint64_t w = s1; w; w &= w - 1) {
        if (f == 6) return 0;
        sep[f++] = 64 + (size_t)__builtin_ctzll(w);
    }
    if (f != 6) return 0;
    sep[6] = n;
    /* Only the fields that are read; a quote at the start has its pair at the
     * last byte. */
    static const uint8_t used[] = {0, 3, 4, 5, 6};
    for (size_t u = 0; u < sizeof used; u++) {
        f = used[u];
        size_t start = f ? sep[f - 1] + 1 : 0, stop = sep[f];
        size_t quoted = start < n && p[start] == '"';
        fs[f] = p + start + quoted;
        fl[f] = stop - start - 2 * quoted;
    }
    return 1;
}
#endif

/* split_fields, keeping the first 7 fields (start, length, holds "" or not);
 * 0, or the reason the line is invalid (`nfields` set for HW_CSV_FIELDS). */
static inline int hw_csv_split(const uint8_t *p, size_t n, const uint8_t *fs[7], size_t fl[7],
                               int fe[7], int64_t *nfields) {
    const uint8_t *end = p + n;
    int64_t count = 0;
    size_t i = 0;
    for (;;) {
        if (i < n && p[i] == '"') {
            size_t start = ++i;
            int esc = 0;
            size_t stop;
            for (;;) {
                const uint8_t *q = hw_find_end(p, p + i, end, '"');
                if (q == NULL) return HW_CSV_QUOTING;
                size_t at = (size_t)(q - p);
                if (at + 1 < n && p[at + 1] == '"') {
                    esc = 1;
                    i = at + 2;
                    continue;
                }
                stop = at;
                i = at + 1;
                break;
            }
            if (count < 7) {
                fs[count] = p + start;
                fl[count] = stop - start;
                fe[count] = esc;
            }
            count++;
            if (i == n) break;
            if (p[i] != ',') return HW_CSV_QUOTING;
            i++;
        } else {
            const uint8_t *c = hw_find_end(p, p + i, end, ',');
            size_t stop = c == NULL ? n : (size_t)(c - p);
            if (count < 7) {
                fs[count] = p + i;
                fl[count] = stop - i;
                fe[count] = 0;
            }
            count++;
            if (c == NULL) break;
            i = stop + 1;
        }
    }
    if (count != 7) {
        *nfields = count;
        return HW_CSV_FIELDS;
    }
    return 0;
}

/* CsvFormat.parse_line on bytes. `scratch` holds >= 2 * n bytes. */
static int hw_parse_csv(const uint8_t *p, size_t n, hw_rec *r, uint8_t *scratch,
                        int64_t *nfields) {
    const uint8_t *end = p + n;
    const uint8_t *fs[7];
    size_t fl[7];
    int fe[7];
    int plain = 0;
#if HW_SIMD
    plain = n >= 16 && n <= 128 && hw_csv_plain(p, n, fs, fl);
#endif
    if (plain) {
        memset(fe, 0, sizeof fe);
    } else {
        int reason = hw_csv_split(p, n, fs, fl, fe, nfields);
        if (reason) return reason;
    }
    /* A field holding an escaped quote is never digits. */
    int64_t ts = fe[3] ? -1 : hw_parse_epoch(p, fs[3], fl[3]);
    if (ts < 0) return HW_BAD_DATE;
    int cls = fe[5] ? 0 : hw_status_class(fs[5], fl[5]);
    if (!cls) return HW_BAD_STATUS;
    int64_t size = fe[6] ? -1 : hw_parse_size(p, fs[6], fl[6]);
    if (size < 0) return HW_BAD_BYTES;
    r->ts = ts;
    r->cls = cls;
    r->status = fs[5];
    r->nbytes = size;
    if (fe[0]) {
        r->host = scratch;
        r->host_len = hw_unescape(fs[0], fl[0], scratch);
        scratch += fl[0];
    } else {
        r->host = fs[0];
        r->host_len = fl[0];
    }
    if (fe[4]) {
        size_t len = hw_unescape(fs[4], fl[4], scratch);
        hw_request_in(scratch, scratch, len, scratch + len, r);
    } else {
        hw_request_in(p, fs[4], fl[4], end, r);
    }
    return HW_OK;
}

/* The last 26-byte timestamp seen and its time at second 0 (hw_stamp_base).
 * Its bytes never hold a `]`: only a whole [^\]]* match is stored. */
typedef struct {
    uint8_t stamp[26];
    int64_t ts; /* -2: empty (hw_init); else any other value */
    int64_t base;
} hw_stamp_cache;

/* a and b agree but maybe on the seconds (bytes 18 and 19). */
static inline int hw_same_minute(const uint8_t *a, const uint8_t *b) {
    /* Bytes 18..25 with 18 and 19 cleared, whatever the byte order. */
    static const uint8_t keep[8] = {0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    uint64_t mask = hw_load64(keep);
    return hw_load64(a) == hw_load64(b) && hw_load64(a + 8) == hw_load64(b + 8) &&
           hw_load64(a + 10) == hw_load64(b + 10) &&
           ((hw_load64(a + 18) ^ hw_load64(b + 18)) & mask) == 0;
}

/* ClfFormat.parse_line on bytes: the _LINE regex, then the field checks. */
static int hw_parse_clf(const uint8_t *p, size_t n, hw_rec *r, hw_stamp_cache *cache) {
    const uint8_t *end = p + n;
    /* ([^ ]+) [^ ]+ [^ ]+ \[ */
    const uint8_t *sp = NULL;
    size_t host_len = 0;
#if HW_SIMD
    /* Host, ident and user mostly fit in the first 16 bytes: one load. */
    if (n >= 16) {
        unsigned m1 = hw_eq(hw_load16(p), ' '), m2 = m1 & (m1 - 1), m3 = m2 & (m2 - 1);
        if (m3) {
            size_t s1 = (size_t)__builtin_ctz(m1), s2 = (size_t)__builtin_ctz(m2),
                   s3 = (size_t)__builtin_ctz(m3);
            if (s1 == 0 || s2 == s1 + 1 || s3 == s2 + 1) return HW_NOT_CLF;
            host_len = s1;
            sp = p + s3;
        }
    }
#endif
    if (sp == NULL) {
        const uint8_t *a = p;
        sp = hw_find_end(p, a, end, ' ');
        if (sp == NULL || sp == a) return HW_NOT_CLF;
        host_len = (size_t)(sp - a);
        for (int f = 0; f < 2; f++) {
            a = sp + 1;
            sp = hw_find_end(p, a, end, ' ');
            if (sp == NULL || sp == a) return HW_NOT_CLF;
        }
    }
    if (end - sp < 2 || sp[1] != '[') return HW_NOT_CLF;
    const uint8_t *stamp = sp + 2;
    const uint8_t *close;
    int64_t ts;
    /* Most stamps share their minute with the previous one. The cached stamp
     * has no `]`, so one that matches it and has `]` right after is a whole
     * [^\]]* match, with no search. */
    if (end - stamp > 26 && stamp[26] == ']' && cache->ts != -2 && stamp[18] != ']' &&
        stamp[19] != ']' && hw_same_minute(stamp, cache->stamp)) {
        close = stamp + 26;
        ts = hw_stamp_ts(cache->base, stamp);
    } else {
        close = hw_find_end(p, stamp, end, ']');
        if (close == NULL) return HW_NOT_CLF;
        if (close - stamp == 26) {
            memcpy(cache->stamp, stamp, 26);
            cache->base = hw_stamp_base(stamp);
            cache->ts = 0;
            ts = hw_stamp_ts(cache->base, stamp);
        } else {
            ts = -1;
        }
    }
    if (end - close < 3 || close[1] != ' ' || close[2] != '"') return HW_NOT_CLF;
    /* "([^"\\]*(?:\\.[^"\\]*)*)" */
    const uint8_t *req = close + 3, *q = NULL;
#if HW_SIMD
    /* A short request without escapes: its end and its bits in one pass. */
    hw_rbits rb = {0, 0, 0};
    if (n >= 16) {
        for (size_t k = 0; k < 64 && k < (size_t)(end - req); k += 16) {
            unsigned e = hw_rbits_add(&rb, req, k, end);
            if (e) {
                size_t len = k + (size_t)__builtin_ctz(e);
                if (req[len] == '"') q = req + len;
                break;
            }
        }
    }
#endif
    int fast = q != NULL;
    if (!fast) {
        for (q = req;;) {
            q = hw_find2(p, q, end, end, '"', '\\');
            if (q == NULL) return HW_NOT_CLF;
            if (*q == '"') break;
            if (end - q < 2) return HW_NOT_CLF;
            q += 2; /* the escaped byte, whatever it is */
        }
    }
    const uint8_t *req_end = q;
    /* ' ([^ ]+) ([^ ]+)(?= |\Z)' */
    if (end - q < 2 || q[1] != ' ') return HW_NOT_CLF;
    const uint8_t *status = q + 2;
    sp = hw_find_end(p, status, end, ' ');
    if (sp == NULL || sp == status) return HW_NOT_CLF;
    size_t status_len = (size_t)(sp - status);
    const uint8_t *size = sp + 1;
    const uint8_t *size_end = hw_find_end(p, size, end, ' ');
    if (size_end == NULL) size_end = end;
    if (size_end == size) return HW_NOT_CLF;
    r->tail = size_end;

    if (ts < 0) return HW_BAD_TIMESTAMP;
    int cls = hw_status_class(status, status_len);
    if (!cls) return HW_BAD_STATUS;
    int64_t nbytes = hw_parse_size(p, size, (size_t)(size_end - size));
    if (nbytes < 0) return HW_BAD_BYTES;
    r->ts = ts;
    r->cls = cls;
    r->status = status;
    r->nbytes = nbytes;
    r->host = p;
    r->host_len = host_len;
    size_t len = (size_t)(req_end - req);
#if HW_SIMD
    if (fast) {
        uint64_t keep = (1ULL << len) - 1;
        rb.sp &= keep;
        rb.qh &= keep;
        rb.sl &= keep;
        hw_request_bits(p, req, len, end, &rb, r);
        return HW_OK;
    }
#endif
    hw_request_in(p, req, len, end, r);
    return HW_OK;
}


static int hw_is_header(const uint8_t *p, size_t n) {
    return (n == sizeof HW_HEADER_Q - 1 && memcmp(p, HW_HEADER_Q, n) == 0) ||
           (n == sizeof HW_HEADER_U - 1 && memcmp(p, HW_HEADER_U, n) == 0);
}

/* One non-empty line without its line ending: HW_OK with `r` filled, HW_HEADER,
 * or the reason it is invalid (`nfields` set for HW_CSV_FIELDS). `scratch`
 * holds >= 2 * HW_MAX_LINE bytes; keys in `r` may point into it. */
static inline int hw_parse_line(int format, const uint8_t *p, size_t n, hw_rec *r,
                                uint8_t *scratch, hw_stamp_cache *stamps, int64_t *nfields) {
    if (n > HW_MAX_LINE) return HW_OVERLONG;
    if (format == HW_CLF) {
        int reason = hw_parse_clf(p, n, r, stamps);
        if (reason == HW_NOT_CLF && hw_is_header(p, n)) return HW_HEADER;
        return reason;
    }
    if ((p[0] == '"' || p[0] == 'r') && hw_is_header(p, n)) return HW_HEADER;
    return hw_parse_csv(p, n, r, scratch, nfields);
}

/* From the `"` at q, a "([^"\\]*(?:\\.[^"\\]*)*)" field: the byte after its
 * closing quote, or NULL. */
static const uint8_t *hw_quoted_end(const uint8_t *q, const uint8_t *end) {
    if (q >= end || *q != '"') return NULL;
    for (q++; q < end; q++) {
        if (*q == '"') return q + 1;
        if (*q == '\\' && ++q == end) return NULL;
    }
    return NULL;
}

enum { HW_IS_CSV = 1, HW_IS_CLF = 2, HW_IS_COMBINED = 4 };

/* What formats.detect asks of a sample line (without its line ending): whether
 * CsvFormat and ClfFormat parse it into a record, and clf.looks_combined, as
 * HW_IS_* bits. `scratch` as for hw_parse_line. */
static int hw_classify(const uint8_t *p, size_t n, uint8_t *scratch) {
    if (n == 0 || n > HW_MAX_LINE) return 0;
    hw_rec r;
    hw_stamp_cache stamps = {.ts = -2};
    int64_t nfields;
    int kinds = 0;
    if (hw_parse_line(HW_CSV, p, n, &r, scratch, &stamps, &nfields) == HW_OK) kinds |= HW_IS_CSV;
    int reason = hw_parse_clf(p, n, &r, &stamps);
    if (reason == HW_OK) kinds |= HW_IS_CLF;
    if (reason != HW_NOT_CLF) {
        /* clf._COMBINED_TAIL right after the match: ' "referer" "agent"' */
        const uint8_t *end = p + n, *t = r.tail;
        if (end - t > 1 && t[0] == ' ' && (t = hw_quoted_end(t + 1, end)) != NULL &&
            end - t > 1 && t[0] == ' ' && hw_quoted_end(t + 1, end) != NULL)
            kinds |= HW_IS_COMBINED;
    }
    return kinds;
}

#endif
