/* hitwatch native kernel: loading a description from the bytes Python
 * hands over (hw_desc_load) into the steps the parser runs. Included by
 * describe.h. */
#ifndef HITWATCH_DESCRIBE_LOAD_H
#define HITWATCH_DESCRIBE_LOAD_H

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

#endif
