/* hitwatch native kernel: times in a description's strftime layout
 * (values._STRF): matching a value with its tokens, and loading a
 * layout. Included by describe.h. */
#ifndef HITWATCH_DESCRIBE_STRFTIME_H
#define HITWATCH_DESCRIBE_STRFTIME_H

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

#endif
