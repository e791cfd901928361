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

/* ------------------------------------------------- strftime layouts */

typedef struct {
    size_t at[HW_G_COUNT], len[HW_G_COUNT];
} hw_groups;

/* Whether tokens ti.. match all of s[pos, n), trying the choices in the order
 * Python's regular expression does (greedy first), so that the groups are
 * those of the match `fullmatch` finds. Recursion only at a choice: at most
 * HW_STRF_MAX_CHOICES deep. */
static int hw_strf_at(const hw_desc *D, size_t ti, const uint8_t *s, size_t pos, size_t n,
                      hw_groups *g) {
    for (; ti < D->ntoks; ti++) {
        size_t left = n - pos;
        if (left < D->tmin[ti] || left > D->tmax[ti]) return 0;
        const hw_ttok *t = &D->toks[ti];
        const uint8_t *c = s + pos;
        switch (t->kind) {
        case HW_T_LIT:
            if (c[0] != t->byte) return 0;
            pos += 1;
            break;
        case HW_T_D2:
            if (!hw_digit(c[0]) || !hw_digit(c[1])) return 0;
            g->at[t->group] = pos;
            g->len[t->group] = 2;
            pos += 2;
            break;
        case HW_T_Y:
            if (!hw_all_digits(c, 4)) return 0;
            g->at[t->group] = pos;
            g->len[t->group] = 4;
            pos += 4;
            break;
        case HW_T_B:
        case HW_T_A:
            if (c[0] < 'A' || c[0] > 'Z' || c[1] < 'a' || c[1] > 'z' || c[2] < 'a' || c[2] > 'z')
                return 0;
            if (t->kind == HW_T_B) {
                g->at[t->group] = pos;
                g->len[t->group] = 3;
            }
            pos += 3;
            break;
        case HW_T_E: /*  ?([0-9]{1,2}) */
            for (int space = 1; space >= 0; space--) {
                size_t a = pos + (size_t)space;
                if (space && (left < 1 || c[0] != ' ')) continue;
                for (size_t k = 2; k >= 1; k--) {
                    if (a + k > n || !hw_all_digits(s + a, k)) continue;
                    g->at[t->group] = a;
                    g->len[t->group] = k;
                    if (hw_strf_at(D, ti + 1, s, a + k, n, g)) return 1;
                }
            }
            return 0;
        case HW_T_F: { /* [0-9]{1,9} */
            size_t k = 0;
            while (k < 9 && k < left && hw_digit(c[k])) k++;
            for (; k >= 1; k--)
                if (hw_strf_at(D, ti + 1, s, pos + k, n, g)) return 1;
            return 0;
        }
        case HW_T_Z: /* (Z|[+-][0-9]{2}:?[0-9]{2}) */
            g->at[t->group] = pos;
            if (c[0] == 'Z') {
                g->len[t->group] = 1;
                if (hw_strf_at(D, ti + 1, s, pos + 1, n, g)) return 1;
            }
            for (int colon = 1; colon >= 0; colon--) {
                size_t k = hw_zone_len(c, left, colon);
                g->len[t->group] = k;
                if (k && hw_strf_at(D, ti + 1, s, pos + k, n, g)) return 1;
            }
            return 0;
        default:
            return 0;
        }
    }
    return pos == n;
}

/* values.strftime_parser's parse. */
static int64_t hw_strf(const hw_desc *D, const uint8_t *s, size_t n) {
    hw_groups g;
    memset(&g, 0, sizeof g);
    if (!hw_strf_at(D, 0, s, 0, n, &g)) return -1;
#define HW_G(x) (s + g.at[x])
    int have = D->groups;
    int64_t month = have & (1 << HW_G_B) ? hw_month(HW_G(HW_G_B)) : hw_num(HW_G(HW_G_MON), 2);
    int64_t day = have & (1 << HW_G_D) ? hw_num(HW_G(HW_G_D), 2) : hw_num(HW_G(HW_G_E), g.len[HW_G_E]);
    int64_t offset = have & (1 << HW_G_Z) ? hw_zone(HW_G(HW_G_Z), g.len[HW_G_Z]) : 0;
    if (offset == HW_BAD_ZONE) return -1;
    int64_t second = have & (1 << HW_G_S) ? hw_num(HW_G(HW_G_S), 2) : 0;
    return hw_timestamp(hw_num(HW_G(HW_G_Y), 4), month, day, hw_num(HW_G(HW_G_H), 2),
                        hw_num(HW_G(HW_G_MIN), 2), second, offset);
#undef HW_G
}

/* str.replace(old, new) of two ASCII strings, on bytes: a new buffer. */
static uint8_t *hw_replace(const uint8_t *s, size_t n, const char *old, const char *new_,
                           size_t *out_n) {
    size_t ol = strlen(old), nl = strlen(new_);
    uint8_t *out = malloc(n / ol * nl + n + 1);
    if (out == NULL) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (n - i >= ol && memcmp(s + i, old, ol) == 0) {
            memcpy(out + o, new_, nl);
            o += nl;
            i += ol;
        } else {
            out[o++] = s[i++];
        }
    }
    *out_n = o;
    return out;
}

/* How often `lit` occurs in s, non-overlapping, as str.count. */
static size_t hw_occurrences(const uint8_t *s, size_t n, const uint8_t *lit, size_t len) {
    size_t count = 0;
    for (size_t i = 0; len > 0 && i + len <= n;) {
        if (memcmp(s + i, lit, len) == 0) {
            count++;
            i += len;
        } else {
            i++;
        }
    }
    return count;
}

/* describe.repeats of a TIME item's layout and the literal after it. */
static int hw_repeats(const uint8_t *layout, size_t n, const uint8_t *lit, size_t len,
                      size_t *out) {
    *out = 0;
    if (len == 0 || memchr(layout, '%', n) == NULL) return 0;
    size_t n1, n2, n3;
    uint8_t *a = hw_replace(layout, n, "%T", "%H:%M:%S", &n1);
    uint8_t *b = a ? hw_replace(a, n1, "%F", "%Y-%m-%d", &n2) : NULL;
    uint8_t *c = b ? hw_replace(b, n2, "%D", "%m/%d/%y", &n3) : NULL;
    if (c != NULL) *out = hw_occurrences(c, n3, lit, len);
    free(a);
    free(b);
    free(c);
    return c == NULL ? -1 : 0;
}

/* values._strf_regex on a layout: its tokens into D, or why not. */
static const char *hw_strf_load(hw_desc *D, const uint8_t *layout, size_t len) {
    size_t n1, n;
    uint8_t *a = hw_replace(layout, len, "%T", "%H:%M:%S", &n1);
    uint8_t *s = a ? hw_replace(a, n1, "%F", "%Y-%m-%d", &n) : NULL;
    free(a);
    if (s == NULL) return "out of memory";
    const char *why = NULL;
    D->toks = malloc((n + 1) * sizeof *D->toks);
    D->tmin = malloc((n + 2) * sizeof *D->tmin);
    D->tmax = malloc((n + 2) * sizeof *D->tmax);
    if (D->toks == NULL || D->tmin == NULL || D->tmax == NULL) {
        free(s);
        return "out of memory";
    }
    int order = 0, choices = 0;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        hw_ttok t = {HW_T_LIT, 0, s[i]};
        if (s[i] != '%') {
            D->toks[k++] = t;
            i++;
            continue;
        }
        uint8_t spec = i + 1 < n ? s[i + 1] : 0;
        int group = -1;
        switch (spec) {
        case '%': t.byte = '%'; break;
        case 'd': t.kind = HW_T_D2; group = HW_G_D; break;
        case 'm': t.kind = HW_T_D2; group = HW_G_MON; break;
        case 'H': t.kind = HW_T_D2; group = HW_G_H; break;
        case 'M': t.kind = HW_T_D2; group = HW_G_MIN; break;
        case 'S': t.kind = HW_T_D2; group = HW_G_S; break;
        case 'Y': t.kind = HW_T_Y; group = HW_G_Y; break;
        case 'b': t.kind = HW_T_B; group = HW_G_B; break;
        case 'e': t.kind = HW_T_E; group = HW_G_E; break;
        case 'z': t.kind = HW_T_Z; group = HW_G_Z; break;
        case 'a': t.kind = HW_T_A; break;
        case 'f': t.kind = HW_T_F; break;
        default: why = "an unsupported time conversion"; break;
        }
        if (why) break;
        if (group >= 0) {
            if (order & (1 << group)) {
                why = "a time conversion twice";
                break;
            }
            order |= 1 << group;
            t.group = (uint8_t)group;
        }
        choices += t.kind == HW_T_E || t.kind == HW_T_F || t.kind == HW_T_Z;
        D->toks[k++] = t;
        i += 2;
    }
    free(s);
    if (why) return why;
    int need = (1 << HW_G_Y) | (1 << HW_G_H) | (1 << HW_G_MIN);
    if ((order & need) != need || !(order & ((1 << HW_G_D) | (1 << HW_G_E))) ||
        !(order & ((1 << HW_G_MON) | (1 << HW_G_B))))
        return "a time layout without a year, month, day, hour or minute";
    if (choices > HW_STRF_MAX_CHOICES) return "a time layout of too many %e, %f and %z";
    D->ntoks = k;
    D->groups = order;
    D->tmin[k] = D->tmax[k] = 0;
    for (size_t i = k; i-- > 0;) {
        size_t lo = 1, hi = 1;
        switch (D->toks[i].kind) {
        case HW_T_D2: lo = hi = 2; break;
        case HW_T_Y: lo = hi = 4; break;
        case HW_T_B:
        case HW_T_A: lo = hi = 3; break;
        case HW_T_E: lo = 1, hi = 3; break;
        case HW_T_F: lo = 1, hi = 9; break;
        case HW_T_Z: lo = 1, hi = 6; break;
        default: break;
        }
        D->tmin[i] = D->tmin[i + 1] + lo;
        D->tmax[i] = D->tmax[i + 1] + hi;
    }
    return NULL;
}

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

/* ------------------------------------------------------ loading */

static void hw_desc_free(hw_desc *D) {
    if (D == NULL) return;
    free(D->items);
    free(D->ops);
    free(D->text);
    free(D->toks);
    free(D->tmin);
    free(D->tmax);
    memset(D, 0, sizeof *D);
}

static inline int hw_text_is(const hw_desc *D, const hw_ditem *it, const char *s) {
    size_t n = strlen(s);
    return it->len == n && memcmp(D->text + it->off, s, n) == 0;
}

/* The steps of D's items (see hw_op). */
static const char *hw_desc_ops(hw_desc *D) {
    D->ops = calloc(D->n, sizeof *D->ops);
    if (D->ops == NULL) return "out of memory";
    int seen = 0;
    size_t k = 0;
    for (size_t i = 0; i < D->n; i++) {
        const hw_ditem *it = &D->items[i];
        hw_op *o = &D->ops[k++];
        if (it->kind == HW_LITERAL) {
            o->op = HW_OP_LIT;
            o->lit_off = it->off;
            o->lit_len = it->len;
            continue;
        }
        const hw_ditem *nx = i + 1 < D->n ? &D->items[i + 1] : NULL;
        o->quoted = it->kind == HW_QUOTED;
        o->dur = it->field == HW_F_DURATION;
        o->divisor = it->divisor;
        o->width = it->width;
        o->repeats = it->repeats;
        o->slot = HW_DROP;
        if (it->field != HW_F_SKIP && it->field != HW_F_DURATION && !(seen & (1 << it->field))) {
            seen |= 1 << it->field;
            o->slot = it->field;
            o->request = it->field == HW_F_REQUEST;
        }
        if (nx == NULL) {
            o->op = HW_OP_LAST;
        } else if (nx->kind == HW_LITERAL) {
            o->op = HW_OP_TO_LIT;
            o->lit_off = nx->off;
            o->lit_len = nx->len;
            memset(o->splat, nx->len ? D->text[nx->off] : 0, sizeof o->splat);
            i++;
        } else {
            o->op = HW_OP_WIDTH;
        }
    }
    D->nops = k;
    for (int f = 0; f < HW_F_COUNT; f++) D->got |= D->has[f] << f;
    return NULL;
}

/* Loads a description handed over as bytes: a flags byte (1: the client
 * from X-Forwarded-For, `--forwarded-for`), then per item its kind, its
 * field code, its text's length (uint16, little-endian) and its text
 * (UTF-8), in order. NULL, or why it cannot be read natively (then D is
 * empty). What Python's TextFormat would refuse to build is refused. */
static const char *hw_desc_load(hw_desc *D, const uint8_t *blob, size_t n) {
    memset(D, 0, sizeof *D);
    const char *why = NULL;
    if (n < 1 || n > HW_DESC_MAX_BLOB) return "a description of a bad size";
    size_t count = 0;
    for (size_t at = 1; at < n; count++) {
        if (n - at < 4) return "a description cut short";
        size_t len = (size_t)blob[at + 2] | (size_t)blob[at + 3] << 8;
        if (n - at - 4 < len) return "a description cut short";
        at += 4 + len;
    }
    if (count == 0 || count > HW_DESC_MAX_ITEMS) return "a description of no or too many items";
    D->items = calloc(count, sizeof *D->items);
    D->text = malloc(n);
    if (D->items == NULL || D->text == NULL) {
        hw_desc_free(D);
        return "out of memory";
    }
    D->n = count;
    size_t off = 0, at = 1;
    for (size_t i = 0; i < count; i++) {
        hw_ditem *it = &D->items[i];
        it->kind = blob[at];
        it->field = blob[at + 1];
        it->len = (uint32_t)((size_t)blob[at + 2] | (size_t)blob[at + 3] << 8);
        it->off = (uint32_t)off;
        memcpy(D->text + off, blob + at + 4, it->len);
        off += it->len;
        at += 4 + it->len;
        if (it->kind > HW_QUOTED || it->field >= HW_F_COUNT) why = "an unknown kind or field";
        else if (!hw_utf8_clean(D->text + it->off, it->len)) why = "a text that is not UTF-8";
        if (why) break;
        if (it->kind == HW_LITERAL) continue;
        D->has[it->field] = 1;
        if (it->field == HW_F_HOST && hw_text_is(D, it, "port")) D->host_port = 1;
        if (it->field == HW_F_VHOST && hw_text_is(D, it, "port")) D->vhost_port = 1;
        if (it->field == HW_F_DURATION) {
            D->ndur++;
            static const char *units[] = {"s", "ms", "us", "ns"};
            static const double divisors[] = {1.0, 1e3, 1e6, 1e9};
            it->divisor = 0;
            for (int u = 0; u < 4; u++)
                if (hw_text_is(D, it, units[u])) it->divisor = divisors[u];
            if (it->divisor == 0) why = "an unknown duration unit";
        }
        if (it->field == HW_F_STATUS)
            it->width = 3;
        else if (it->field == HW_F_TIME &&
                 (it->len == 0 || hw_text_is(D, it, "%d/%b/%Y:%H:%M:%S %z")))
            it->width = 26;
        if (why) break;
    }
    D->xff = (blob[0] & 1) && D->has[HW_F_XFF];
    const hw_ditem *time = NULL;
    for (size_t i = 0; !why && i < count; i++) {
        hw_ditem *it = &D->items[i];
        if (it->kind == HW_LITERAL) continue;
        if (it->field == HW_F_TIME && time == NULL) time = it;
        const hw_ditem *nx = i + 1 < count ? &D->items[i + 1] : NULL;
        size_t rep = 0;
        if (it->field == HW_F_TIME && nx != NULL && nx->kind == HW_LITERAL &&
            hw_repeats(D->text + it->off, it->len, D->text + nx->off, nx->len, &rep) < 0)
            why = "out of memory";
        if (rep > UINT32_MAX) why = "a time layout too long";
        it->repeats = (uint32_t)rep;
    }
    if (!why && !D->has[HW_F_STATUS]) why = "no status field";
    if (!why && time == NULL && !(D->has[HW_F_DATE] && D->has[HW_F_CLOCK])) why = "no time field";
    if (!why && time == NULL) {
        D->time_kind = HW_TIME_W3C;
    } else if (!why) {
        if (time->width == 26)
            D->time_kind = HW_TIME_CLF;
        else if (hw_text_is(D, time, "iso8601"))
            D->time_kind = HW_TIME_ISO;
        else if (hw_text_is(D, time, "sec"))
            D->time_kind = HW_TIME_SEC;
        else if (hw_text_is(D, time, "msec"))
            D->time_kind = HW_TIME_MSEC;
        else if (hw_text_is(D, time, "usec"))
            D->time_kind = HW_TIME_USEC;
        else {
            D->time_kind = HW_TIME_STRF;
            why = hw_strf_load(D, D->text + time->off, time->len);
        }
    }
    if (!why) why = hw_desc_ops(D);
    if (why) hw_desc_free(D);
    return why;
}

/* ------------------------------------------------------ a line */

/* a[0, n) == b[0, n): literals are short, and a call of memcmp costs more. */
static HW_ALWAYS_INLINE int hw_same(const uint8_t *a, const uint8_t *b, size_t n) {
    if (n == 1) return a[0] == b[0];
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

/* The first occurrence of lit[0, len) in p[from, n), or HW_NONE. */
static inline size_t hw_find_lit(const uint8_t *p, size_t n, size_t from, const uint8_t *lit,
                                 size_t len) {
    if (len == 0) return from;
    if (n - from < len) return HW_NONE;
    const uint8_t *end = p + n - len + 1, *q = p + from;
    for (;;) {
        const uint8_t *c = hw_find_end(p, q, end, lit[0]);
        if (c == NULL) return HW_NONE;
        if (hw_same(c + 1, lit + 1, len - 1)) return (size_t)(c - p);
        q = c + 1;
    }
}

/* The first byte splat[0] in p[pos, n), or HW_NONE: hw_find_end with the
 * byte already in all 16 lanes (a broadcast each time cost 5% of a line). */
static inline size_t hw_find_splat(const uint8_t *p, size_t pos, size_t n, const uint8_t *splat) {
#if HW_SIMD
    __m128i c = _mm_loadu_si128((const __m128i *)(const void *)splat);
    for (; n - pos >= 16; pos += 16) {
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(hw_load16(p + pos), c));
        if (m) return pos + (size_t)__builtin_ctz(m);
    }
    if (n >= 16 && pos < n) {
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(hw_load16(p + n - 16), c)) >>
                     (16 - (n - pos));
        return m ? pos + (size_t)__builtin_ctz(m) : HW_NONE;
    }
#endif
    for (; pos < n; pos++)
        if (p[pos] == splat[0]) return pos;
    return HW_NONE;
}

/* The first `"` or `\\` in p[q, n) (q < n), or HW_NONE: the end of a quoted
 * value, or an escape in it. */
static inline size_t hw_quote_stop(const uint8_t *p, size_t q, size_t n) {
#if HW_SIMD
    for (; n - q >= 32; q += 32) { /* user agents: 32 bytes a step, one branch */
        __m128i x = hw_load16(p + q), y = hw_load16(p + q + 16);
        unsigned m = hw_eq(x, '"') | hw_eq(x, '\\') | (hw_eq(y, '"') | hw_eq(y, '\\')) << 16;
        if (m) return q + (size_t)__builtin_ctz(m);
    }
    if (n >= 16) { /* the rest, in the 16 or 32 bytes that end the line */
        size_t from = n - q > 16 ? q : n - 16;
        __m128i x = hw_load16(p + from);
        unsigned m = (hw_eq(x, '"') | hw_eq(x, '\\')) >> (q - from);
        if (m) return q + (size_t)__builtin_ctz(m);
        if (from == q && n - q > 16) {
            x = hw_load16(p + n - 16);
            m = (hw_eq(x, '"') | hw_eq(x, '\\')) >> (16 - (n - q - 16));
            if (m) return q + 16 + (size_t)__builtin_ctz(m);
        }
        return HW_NONE;
    }
#endif
    for (; q < n; q++)
        if (p[q] == '"' || p[q] == '\\') return q;
    return HW_NONE;
}

/* A time value of the layout HW_TIME_CLF: clf.parse_time, with the stamp cache. */
static inline int64_t hw_desc_clf_time(const uint8_t *s, size_t n, hw_stamp_cache *cache) {
    if (n != 26) return -1;
    if (cache->ts == -2 || !hw_same_minute(s, cache->stamp)) {
        memcpy(cache->stamp, s, 26);
        cache->base = hw_stamp_base(s);
        cache->ts = 0;
    }
    return hw_stamp_ts(cache->base, s);
}

/* One line (no line ending, not a header, at most HW_MAX_LINE bytes) read
 * with description D: HW_OK with `r` filled (its keys point into the line,
 * or at constants), or the reason it is invalid. `scratch` holds at least
 * 2 * HW_MAX_LINE + 2 bytes. */
static int hw_desc_parse(const hw_desc *D, const uint8_t *p, size_t n, hw_rec *r,
                         uint8_t *scratch, hw_stamp_cache *stamps) {
    const uint8_t *vp[HW_F_COUNT + 1];
    size_t vn[HW_F_COUNT + 1];
    double duration = 0.0;
    int with_duration = D->ndur > 0;
    size_t pos = 0;
    const hw_op *ops = D->ops;
#if HW_SIMD
    hw_rbits rb = {0, 0, 0};
    int fast_request = 0;
#endif
    for (size_t i = 0; i < D->nops; i++) {
        const hw_op *o = &ops[i];
        const uint8_t *lit = D->text + o->lit_off;
        size_t ll = o->lit_len;
        if (o->op == HW_OP_LIT) {
            if (n - pos < ll || !hw_same(p + pos, lit, ll)) return HW_NOT_LINE;
            pos += ll;
            continue;
        }
        size_t a = pos + 1, b = HW_NONE;
        if (o->quoted && pos < n && p[pos] == '"') {
#if HW_SIMD
            if (o->request && n >= 16) {
                /* A request of at most 63 bytes: its end and its bits
                 * (hw_request_bits) in one pass, as hw_parse_clf does. */
                const uint8_t *req = p + a, *end = p + n;
                for (size_t k = 0; k < 64 && k < (size_t)(end - req); k += 16) {
                    unsigned e = hw_rbits_add(&rb, req, k, end);
                    if (e) {
                        size_t at = k + (size_t)__builtin_ctz(e);
                        if (req[at] == '"' && at <= HW_RBITS) b = a + at;
                        break;
                    }
                }
                fast_request = b != HW_NONE;
            }
#endif
            if (b == HW_NONE) {
                size_t q = a;
                for (;;) {
                    q = q < n ? hw_quote_stop(p, q, n) : HW_NONE;
                    if (q == HW_NONE) return HW_NOT_LINE;
                    if (p[q] == '"') break;
                    q += 2; /* the escaped byte, whatever it is */
                    if (q >= n) return HW_NOT_LINE;
                }
                b = q;
            }
            pos = b + 1;
            if (o->op == HW_OP_TO_LIT) {
                if (n - pos < ll || !hw_same(p + pos, lit, ll)) return HW_NOT_LINE;
                pos += ll;
            }
        } else if (o->op == HW_OP_TO_LIT && ll == 1 && o->repeats == 0) {
            a = pos; /* the usual step: a field up to a byte */
            b = hw_find_splat(p, pos, n, o->splat);
            if (b == HW_NONE) return HW_NOT_LINE;
            pos = b + 1;
        } else if (o->op == HW_OP_TO_LIT) {
            a = pos;
            size_t e = pos;
            for (uint32_t r = 0; r < o->repeats; r++) {
                e = hw_find_lit(p, n, e, lit, ll);
                if (e == HW_NONE) return HW_NOT_LINE;
                e += ll;
            }
            b = hw_find_lit(p, n, e, lit, ll);
            if (b == HW_NONE) return HW_NOT_LINE;
            pos = b + ll;
        } else if (o->op == HW_OP_LAST) {
            a = pos;
            const uint8_t *sp = hw_find_end(p, p + pos, p + n, ' ');
            b = sp ? (size_t)(sp - p) : n;
            pos = b;
        } else {
            a = pos;
            b = hw_skip_chars(p, pos, n, o->width);
            if (b == HW_NONE) return HW_NOT_LINE;
            pos = b;
        }
        vp[o->slot] = p + a;
        vn[o->slot] = b - a;
        if (o->dur) {
            double part;
            if (with_duration && hw_duration(p, p + a, b - a, o->divisor, &part))
                duration += part;
            else
                with_duration = 0;
        }
    }
    int got = D->got; /* the fields with a value: every one the description has */
    /* TextFormat.convert */
    int64_t ts;
    switch (D->time_kind) {
    case HW_TIME_CLF: ts = hw_desc_clf_time(vp[HW_F_TIME], vn[HW_F_TIME], stamps); break;
    case HW_TIME_ISO: ts = hw_iso(vp[HW_F_TIME], vn[HW_F_TIME]); break;
    case HW_TIME_SEC: ts = hw_epoch(vp[HW_F_TIME], vn[HW_F_TIME], 1); break;
    case HW_TIME_MSEC: ts = hw_epoch(vp[HW_F_TIME], vn[HW_F_TIME], 1000); break;
    case HW_TIME_USEC: ts = hw_epoch(vp[HW_F_TIME], vn[HW_F_TIME], 1000000); break;
    case HW_TIME_STRF: ts = hw_strf(D, vp[HW_F_TIME], vn[HW_F_TIME]); break;
    default: { /* date + " " + clock */
        size_t dn = vn[HW_F_DATE], cn = vn[HW_F_CLOCK];
        memcpy(scratch, vp[HW_F_DATE], dn);
        scratch[dn] = ' ';
        memcpy(scratch + dn + 1, vp[HW_F_CLOCK], cn);
        ts = hw_iso(scratch, dn + 1 + cn);
        break;
    }
    }
    if (ts < 0) return HW_BAD_TIMESTAMP;
    int cls = hw_status_class(vp[HW_F_STATUS], vn[HW_F_STATUS]);
    if (!cls) return HW_BAD_STATUS;
    int64_t nbytes = 0;
    if (got & (1 << HW_F_BYTES)) {
        nbytes = hw_parse_size(p, vp[HW_F_BYTES], vn[HW_F_BYTES]);
        if (nbytes < 0) return HW_BAD_BYTES;
    }
    r->ts = ts;
    r->cls = cls;
    r->status = vp[HW_F_STATUS];
    r->nbytes = nbytes;
    if (got & (1 << HW_F_REQUEST)) {
#if HW_SIMD
        if (fast_request) {
            size_t len = vn[HW_F_REQUEST];
            uint64_t keep = (1ULL << len) - 1;
            rb.sp &= keep;
            rb.qh &= keep;
            rb.sl &= keep;
            hw_request_bits(p, vp[HW_F_REQUEST], len, p + n, &rb, r);
        } else
#endif
        hw_request_in(p, vp[HW_F_REQUEST], vn[HW_F_REQUEST], p + n, r);
    } else {
        if ((got & (1 << HW_F_METHOD)) && hw_method_ok(vp[HW_F_METHOD], vn[HW_F_METHOD])) {
            r->method = vp[HW_F_METHOD];
            r->method_len = vn[HW_F_METHOD];
        } else {
            r->method = HW_OTHER;
            r->method_len = HW_OTHER_LEN;
        }
        if (got & (1 << HW_F_TARGET)) {
            hw_section_of(p, vp[HW_F_TARGET], vn[HW_F_TARGET], p + n, r);
        } else {
            r->section = HW_OTHER;
            r->section_len = HW_OTHER_LEN;
        }
    }
    if (got & (1 << HW_F_HOST)) {
        r->host = vp[HW_F_HOST];
        r->host_len = vn[HW_F_HOST];
        if (D->host_port) hw_strip_port(&r->host, &r->host_len);
    } else {
        r->host = HW_DASH;
        r->host_len = 1;
    }
    if (D->xff) {
        const uint8_t *x = vp[HW_F_XFF];
        size_t xn = vn[HW_F_XFF];
        if (hw_first_address(&x, &xn)) {
            r->host = x;
            r->host_len = xn;
        }
    }
    if (got & (1 << HW_F_VHOST)) {
        r->vhost = vp[HW_F_VHOST];
        r->vhost_len = vn[HW_F_VHOST];
        if (D->vhost_port) hw_strip_port(&r->vhost, &r->vhost_len);
    } else {
        r->vhost = HW_EMPTY;
        r->vhost_len = 0;
    }
    r->has_duration = with_duration;
    r->duration = duration;
    return HW_OK;
}

#endif
