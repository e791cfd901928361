/* hitwatch native kernel: any text format, read from its description.
 *
 * formats/describe.py is the contract: a description is a flat list of
 * items (kind, field, text). Python hands it over as bytes (see
 * hw_desc_load for the layout; hitwatch.native.description builds them),
 * and hw_desc_parse reads a line with it exactly as formats/text.py does:
 * `match_items` item by item, then `TextFormat.convert` (formats/values.py
 * for times, durations, ports and X-Forwarded-For). Same record, or an
 * invalid line for the same reason, for every line.
 *
 * On bytes rather than decoded text, which gives the same answers (see
 * kernel_core.h): every literal is valid UTF-8, and the decoder with
 * errors="replace" decodes the bytes of a valid character starting at a
 * lead byte as that character wherever they stand, so searching a literal's
 * bytes finds it where Python finds its text; only U+FFFD itself, which
 * Python also finds where undecodable bytes were, is refused in a
 * description. The few rules that count characters (a value `width`
 * characters long, a port's Unicode digits, X-Forwarded-For's Unicode
 * spaces) decode the bytes as CPython's decoder does (hw_utf8_step).
 *
 * Nothing here reads outside [p, p + n) of a line, or of a value.
 *
 * Here: the description's types, UTF-8, and values (ports, X-Forwarded-For,
 * ISO and epoch times); the headers it includes next hold the rest:
 * describe_strftime.h (strftime layouts), describe_duration.h (durations),
 * describe_load.h (hw_desc_load) and describe_line.h (hw_desc_parse).
 */
#ifndef HITWATCH_DESCRIBE_H
#define HITWATCH_DESCRIBE_H

#include "parse.h"
#include "unicode.h"

/* kinds and field codes of formats/describe.py */
enum { HW_LITERAL = 0, HW_FIELD = 1, HW_QUOTED = 2 };
enum {
    HW_F_SKIP = 0,
    HW_F_HOST = 1,
    HW_F_TIME = 2,
    HW_F_REQUEST = 3,
    HW_F_METHOD = 4,
    HW_F_TARGET = 5,
    HW_F_STATUS = 6,
    HW_F_BYTES = 7,
    HW_F_VHOST = 8,
    HW_F_DURATION = 9,
    HW_F_XFF = 10,
    HW_F_DATE = 11,
    HW_F_CLOCK = 12,
    HW_F_COUNT = 13,
};

/* How the time of a line is read: the first TIME item's layout. */
enum {
    HW_TIME_CLF = 0, /* "" or %d/%b/%Y:%H:%M:%S %z: clf.parse_time */
    HW_TIME_ISO = 1,
    HW_TIME_SEC = 2,
    HW_TIME_MSEC = 3,
    HW_TIME_USEC = 4,
    HW_TIME_STRF = 5,
    HW_TIME_W3C = 6, /* no TIME: DATE + " " + CLOCK, as RFC 3339 */
};

#define HW_DESC_MAX_BLOB (1 << 20)
#define HW_DESC_MAX_ITEMS 2048
#define HW_STRF_MAX_CHOICES 4 /* %e %f %z in a layout: more go to Python */
#define HW_NONE ((size_t)-1)

typedef struct {
    uint8_t kind, field;
    uint32_t off, len; /* its text in hw_desc.text */
    uint32_t width;    /* a field followed by a field: its value's length in characters */
    uint32_t repeats;  /* a TIME before a literal: occurrences its value holds (`repeats`) */
    double divisor;    /* a DURATION: 1, 1e3, 1e6 or 1e9 */
} hw_ditem;

/* The items as the parser runs them: a field and the literal after it are one
 * step (the value ends where the literal is found, or a quoted value's
 * closing quote must be followed by it). */
enum { HW_OP_LIT, HW_OP_TO_LIT, HW_OP_LAST, HW_OP_WIDTH };
#define HW_DROP HW_F_COUNT /* the slot of a value nothing reads */

typedef struct {
    uint8_t op;     /* HW_OP_* */
    uint8_t quoted; /* a QUOTED field */
    uint8_t slot;   /* its value's: the field code of the first item of a code, else HW_DROP */
    uint8_t dur;    /* a DURATION (every one counts) */
    uint8_t request; /* the REQUEST field's value (its first item) */
    uint32_t lit_off, lit_len; /* HW_OP_LIT: the literal; HW_OP_TO_LIT: the one after the field */
    uint32_t width, repeats;   /* as the field's item */
    double divisor;
    uint8_t splat[16]; /* HW_OP_TO_LIT: the literal's first byte, 16 times (hw_find_splat) */
} hw_op;

/* strftime tokens (values._STRF) and the groups they fill. */
enum { HW_T_LIT, HW_T_D2, HW_T_Y, HW_T_B, HW_T_A, HW_T_E, HW_T_F, HW_T_Z };
enum { HW_G_Y, HW_G_MON, HW_G_B, HW_G_D, HW_G_E, HW_G_H, HW_G_MIN, HW_G_S, HW_G_Z, HW_G_COUNT };

typedef struct {
    uint8_t kind, group, byte;
} hw_ttok;

typedef struct {
    hw_ditem *items;
    size_t n;
    hw_op *ops;
    size_t nops;
    int got;                   /* the fields with a value (bits): those it has */
    uint8_t *text;
    int xff;        /* the client from X-Forwarded-For (asked, and the format has one) */
    int host_port;  /* a HOST item with argument `port` */
    int vhost_port;
    int has[HW_F_COUNT]; /* a field item (not a literal) with this code */
    int ndur;
    int time_kind;
    hw_ttok *toks; /* HW_TIME_STRF: the layout */
    size_t ntoks;
    size_t *tmin, *tmax; /* bytes the tokens from i on can match, at least and at most */
    int groups;          /* HW_G_* bits the layout fills */
} hw_desc;

/* ------------------------------------------------------------ UTF-8 */

/* The bytes CPython's UTF-8 decoder takes as one character at s (< end):
 * a valid sequence, or the maximal subpart of an invalid one (or one byte),
 * which errors="replace" makes one U+FFFD. `*cp` is the code point, or
 * 0xFFFD. */
static inline size_t hw_utf8_step(const uint8_t *s, const uint8_t *end, uint32_t *cp) {
    uint8_t c = s[0];
    *cp = 0xFFFD;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c < 0xC2 || c > 0xF4) return 1;
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF;
    uint32_t v;
    if (c < 0xE0) {
        need = 1;
        v = c & 0x1F;
    } else if (c < 0xF0) {
        need = 2;
        v = c & 0x0F;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else {
        need = 3;
        v = c & 0x07;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    }
    for (size_t i = 1; i <= need; i++) {
        if (s + i >= end) return i;
        uint8_t b = s[i];
        if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xBF)) return i;
        v = v << 6 | (b & 0x3F);
    }
    *cp = v;
    return need + 1;
}

/* Valid UTF-8 without U+FFFD (what a description's texts must be). */
static int hw_utf8_clean(const uint8_t *s, size_t n) {
    const uint8_t *end = s + n;
    while (s < end) {
        uint32_t cp;
        size_t k = hw_utf8_step(s, end, &cp);
        if (cp == 0xFFFD) return 0;
        s += k;
    }
    return 1;
}

/* The offset `count` characters (as Python counts them in the decoded line)
 * after `pos`, or HW_NONE when fewer are left. */
static size_t hw_skip_chars(const uint8_t *p, size_t pos, size_t n, size_t count) {
    if (n - pos < count) return HW_NONE; /* fewer bytes, so fewer characters */
    size_t i = 0;
    while (i < count && p[pos + i] < 0x80) i++;
    if (i == count) return pos + count;
    pos += i;
    for (; i < count; i++) {
        if (pos >= n) return HW_NONE;
        uint32_t cp;
        pos += hw_utf8_step(p + pos, p + n, &cp);
    }
    return pos;
}

/* ------------------------------------------------------------ values */

static const uint8_t HW_DASH[] = "-";
static const uint8_t HW_EMPTY[] = "";

/* values.strip_port: `1.2.3.4:80` -> `1.2.3.4`; `[::1]:80` -> `::1`. */
static void hw_strip_port(const uint8_t **s, size_t *n) {
    const uint8_t *a = *s;
    size_t len = *n;
    if (len > 0 && a[0] == '[') {
        const uint8_t *close = memchr(a, ']', len);
        if (close != NULL) { /* never at 0 */
            *s = a + 1;
            *n = (size_t)(close - a) - 1;
        }
        return;
    }
    size_t colons = 0, colon = 0;
    for (size_t i = 0; i < len; i++)
        if (a[i] == ':') {
            colons++;
            colon = i;
        }
    if (colons != 1 || colon == 0 || colon + 1 == len) return;
    /* str.isdigit of the rest: every character a Unicode digit */
    const uint8_t *q = a + colon + 1, *end = a + len;
    while (q < end) {
        uint32_t cp;
        q += hw_utf8_step(q, end, &cp);
        if (!hw_uni_isdigit(cp)) return;
    }
    *n = colon;
}

/* The length of the whitespace character (str.isspace) that starts at s, or 0. */
static size_t hw_space_at(const uint8_t *s, const uint8_t *end) {
    if (s[0] < 0x80) return (s[0] >= 0x09 && s[0] <= 0x0D) || (s[0] >= 0x1C && s[0] <= 0x20);
    uint32_t cp;
    size_t k = hw_utf8_step(s, end, &cp);
    return cp != 0xFFFD && hw_uni_isspace(cp) ? k : 0;
}

/* The length of the whitespace character that ends at end (> s), or 0. A
 * valid character's bytes are decoded as it wherever they stand. */
static size_t hw_space_before(const uint8_t *s, const uint8_t *end) {
    for (size_t k = 1; k <= 4 && (size_t)(end - s) >= k; k++) {
        uint8_t c = end[-(ptrdiff_t)k];
        if (c >= 0x80 && c < 0xC0) continue; /* a continuation byte: further back */
        return hw_space_at(end - k, end) == k ? k : 0;
    }
    return 0;
}

/* values.first_address: the X-Forwarded-For's first address (before any
 * comma, whitespace stripped); 0 when it is empty or `-`. */
static int hw_first_address(const uint8_t **s, size_t *n) {
    const uint8_t *a = *s, *end = a + *n;
    const uint8_t *comma = memchr(a, ',', *n);
    if (comma != NULL) end = comma;
    size_t k;
    while (a < end && (k = hw_space_at(a, end)) > 0) a += k;
    while (a < end && (k = hw_space_before(a, end)) > 0) end -= k;
    if (a == end || (end - a == 1 && a[0] == '-')) return 0;
    *s = a;
    *n = (size_t)(end - a);
    return 1;
}

/* values.timestamp: Unix seconds of a civil time `offset` seconds east of
 * UTC, or -1 (second 60, a leap second, reads as 59). */
static int64_t hw_timestamp(int64_t y, int64_t mo, int64_t d, int64_t h, int64_t mi, int64_t s,
                            int64_t offset) {
    if (mo < 1 || mo > 12 || d < 1 || d > HW_DAYS[mo] || y < 1970) return -1;
    if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) return -1;
    if (h > 23 || mi > 59 || s > 60) return -1;
    int64_t ts = hw_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + (s < 59 ? s : 59) -
                 offset;
    return ts >= 0 && ts <= HW_MAX_TS ? ts : -1;
}

static inline int64_t hw_num(const uint8_t *s, size_t n) {
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) v = v * 10 + (s[i] - '0');
    return v;
}

static inline int hw_all_digits(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!hw_digit(s[i])) return 0;
    return 1;
}

#define HW_BAD_ZONE INT64_MIN

/* values._zone of `Z`, `+hh:mm` or `+hhmm` (already matched); n = 0 is UTC. */
static int64_t hw_zone(const uint8_t *z, size_t n) {
    if (n == 0 || (n == 1 && z[0] == 'Z')) return 0;
    int64_t hh = hw_num(z + 1, 2), mm = hw_num(z + n - 2, 2);
    if (hh > 23 || mm > 59) return HW_BAD_ZONE;
    return (hh * 3600 + mm * 60) * (z[0] == '-' ? -1 : 1);
}

/* The length of `[+-][0-9]{2}:?[0-9]{2}` at z (with the colon first), or 0. */
static size_t hw_zone_len(const uint8_t *z, size_t n, int colon) {
    if (n < 5 || (z[0] != '+' && z[0] != '-') || !hw_digit(z[1]) || !hw_digit(z[2])) return 0;
    if (colon) return n >= 6 && z[3] == ':' && hw_digit(z[4]) && hw_digit(z[5]) ? 6 : 0;
    return hw_digit(z[3]) && hw_digit(z[4]) ? 5 : 0;
}

/* values.parse_iso: `yyyy-mm-dd[T ]hh:mm:ss[.,fraction][Z|+hh:mm|+hhmm]`. */
static int64_t hw_iso(const uint8_t *s, size_t n) {
    static const uint8_t digits[] = {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18};
    if (n < 19) return -1;
    for (size_t i = 0; i < sizeof digits; i++)
        if (!hw_digit(s[digits[i]])) return -1;
    if (s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' ||
        s[16] != ':')
        return -1;
    size_t i = 19;
    if (i < n && (s[i] == '.' || s[i] == ',')) {
        size_t k = 0;
        while (i + 1 + k < n && hw_digit(s[i + 1 + k])) k++;
        if (k == 0 || k > 9) return -1; /* backtracking leaves a `.` or a digit: no zone */
        i += 1 + k;
    }
    size_t zn = n - i;
    if (zn != 0 && !(zn == 1 && s[i] == 'Z') && hw_zone_len(s + i, zn, 1) != zn &&
        hw_zone_len(s + i, zn, 0) != zn)
        return -1;
    int64_t offset = hw_zone(s + i, zn);
    if (offset == HW_BAD_ZONE) return -1;
    return hw_timestamp(hw_num(s, 4), hw_num(s + 5, 2), hw_num(s + 8, 2), hw_num(s + 11, 2),
                        hw_num(s + 14, 2), hw_num(s + 17, 2), offset);
}

/* values.epoch_parser: `[0-9]{1,19}(\.[0-9]{1,9})?` seconds (a fraction only
 * for divisor 1), whole units of 1/divisor s otherwise. */
static int64_t hw_epoch(const uint8_t *s, size_t n, uint64_t divisor) {
    size_t k = 0;
    while (k < n && hw_digit(s[k])) k++;
    if (k == 0 || k > 19) return -1;
    if (k < n) {
        size_t f = n - k - 1;
        if (divisor != 1 || s[k] != '.' || f < 1 || f > 9 || !hw_all_digits(s + k + 1, f))
            return -1;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < k; i++) v = v * 10 + (uint64_t)(s[i] - '0'); /* < 10^19 < 2^64 */
    v /= divisor;
    return v <= (uint64_t)HW_MAX_TS ? (int64_t)v : -1;
}

#include "describe_strftime.h"
#include "describe_duration.h"
#include "describe_load.h"
#include "describe_line.h"

#endif
