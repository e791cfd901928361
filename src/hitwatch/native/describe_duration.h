/* hitwatch native kernel: a description's DURATION values as seconds,
 * rounded as Python's float division rounds. Included by describe.h. */
#ifndef HITWATCH_DESCRIBE_DURATION_H
#define HITWATCH_DESCRIBE_DURATION_H

/* ------------------------------------------------------ durations */

/* A 128-bit unsigned number as two words (portable: no __int128). */
typedef struct {
    uint64_t hi, lo;
} hw_w128;

static inline hw_w128 hw_w128_shl(hw_w128 x, unsigned k) {
    if (k == 0) return x;
    if (k >= 64) return (hw_w128){x.lo << (k - 64), 0};
    return (hw_w128){x.hi << k | x.lo >> (64 - k), x.lo << k};
}

static inline int hw_w128_ge(hw_w128 a, hw_w128 b) {
    return a.hi != b.hi ? a.hi > b.hi : a.lo >= b.lo;
}

static inline hw_w128 hw_w128_sub(hw_w128 a, hw_w128 b) {
    return (hw_w128){a.hi - b.hi - (a.lo < b.lo), a.lo - b.lo};
}

static inline hw_w128 hw_w128_add(hw_w128 a, hw_w128 b) {
    uint64_t lo = a.lo + b.lo;
    return (hw_w128){a.hi + b.hi + (lo < a.lo), lo};
}

static inline unsigned hw_w128_bits(hw_w128 x) {
    unsigned n = 0;
    if (x.hi) {
        n = 64;
        x.lo = x.hi;
    }
    while (x.lo) {
        n++;
        x.lo >>= 1;
    }
    return n;
}

/* The double nearest to m / 10^k (ties to even), for m < 2^120, k <= 18:
 * a 65-bit quotient by long division, then rounded to 53 bits. */
static double hw_ratio(hw_w128 m, unsigned k) {
    hw_w128 d = {0, 1};
    for (unsigned i = 0; i < k; i++) d = hw_w128_add(hw_w128_shl(d, 3), hw_w128_shl(d, 1));
    int bm = (int)hw_w128_bits(m), bd = (int)hw_w128_bits(d);
    int s = 64 + bd - bm; /* m * 2^s / d is in (2^63, 2^65) */
    hw_w128 num = m, den = d;
    if (s >= 0)
        num = hw_w128_shl(m, (unsigned)s);
    else
        den = hw_w128_shl(d, (unsigned)-s);
    hw_w128 q = {0, 0}, r = {0, 0};
    for (int i = 127; i >= 0; i--) {
        uint64_t bit = i >= 64 ? num.hi >> (i - 64) & 1 : num.lo >> i & 1;
        r = hw_w128_shl(r, 1);
        r.lo |= bit;
        q = hw_w128_shl(q, 1);
        if (hw_w128_ge(r, den)) {
            r = hw_w128_sub(r, den);
            q.lo |= 1;
        }
    }
    int sticky = r.hi != 0 || r.lo != 0;
    unsigned drop = hw_w128_bits(q) - 53; /* 11 or 12 */
    uint64_t mant = (q.hi << (64 - drop)) | (q.lo >> drop);
    uint64_t rest = q.lo & ((1ULL << drop) - 1), half = 1ULL << (drop - 1);
    if (rest > half || (rest == half && (sticky || (mant & 1)))) mant++;
    /* mant * 2^(drop - s), normal (between 1e-18 and 1e36): its bits */
    int64_t e = (int64_t)drop - s + 52;
    if (mant >> 53) {
        mant >>= 1;
        e++;
    }
    uint64_t bits = (uint64_t)(e + 1023) << 52 | (mant & ((1ULL << 52) - 1));
    double x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

static const double HW_POW10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8, 1e9,
                                  1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18};

/* values.parse_duration: float(text) / divisor for `[0-9]{1,18}(\.[0-9]{1,18})?`,
 * bit for bit (float() rounds correctly, and so does this); 0 when the text
 * is no duration. [lo, s) is readable. */
static int hw_duration(const uint8_t *lo, const uint8_t *s, size_t n, double divisor,
                       double *out) {
    size_t k = 0;
    while (k < n && hw_digit(s[k])) k++;
    if (k == 0 || k > 18) return 0;
    size_t f = 0;
    if (k < n) {
        f = n - k - 1;
        if (s[k] != '.' || f < 1 || f > 18 || !hw_all_digits(s + k + 1, f)) return 0;
    }
    while (f > 0 && s[k + f] == '0') f--; /* trailing zeros of the fraction change nothing */
    double x;
    if (k + f <= 19) { /* the digits fit in 64 bits */
        uint64_t m = 0;
        if (k <= 16)
            m = (uint64_t)hw_digits(lo, s, k); /* digits already */
        else
            for (size_t i = 0; i < k; i++) m = m * 10 + (uint64_t)(s[i] - '0');
        for (size_t i = k + 1; i <= k + f; i++) m = m * 10 + (uint64_t)(s[i] - '0');
        if (m <= (1ULL << 53)) { /* m and 10^f exact: one correctly rounded division */
            x = f ? (double)m / HW_POW10[f] : (double)m;
            *out = x / divisor;
            return 1;
        }
    }
    hw_w128 m = {0, 0};
    for (size_t i = 0; i < k + 1 + f; i++) {
        if (i == k) continue;
        m = hw_w128_add(hw_w128_add(hw_w128_shl(m, 3), hw_w128_shl(m, 1)),
                        (hw_w128){0, (uint64_t)(s[i] - '0')});
    }
    x = m.hi == 0 && m.lo <= (1ULL << 53) ? (double)m.lo / HW_POW10[f] : hw_ratio(m, (unsigned)f);
    *out = x / divisor;
    return 1;
}

#endif
