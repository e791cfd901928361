/* hitwatch.native._kernel: a result as Python objects (result_to_python:
 * _kernel.pyi's `Fed`), its intervals as counts or ranked. Included by
 * _kernel.c. */
#ifndef HITWATCH_PY_RESULT_H
#define HITWATCH_PY_RESULT_H

/* counts[key.decode("utf-8", "replace")] += n */
static int add_count(PyObject *dict, const uint8_t *s, size_t n, int64_t count) {
    PyObject *key = PyUnicode_DecodeUTF8((const char *)s, (Py_ssize_t)n, "replace");
    if (key == NULL) return -1;
    PyObject *old = PyDict_GetItemWithError(dict, key);
    if (old == NULL && PyErr_Occurred()) {
        Py_DECREF(key);
        return -1;
    }
    long long total = count;
    if (old != NULL) total += PyLong_AsLongLong(old);
    PyObject *value = PyLong_FromLongLong(total);
    if (value == NULL) {
        Py_DECREF(key);
        return -1;
    }
    int rc = PyDict_SetItem(dict, key, value);
    Py_DECREF(key);
    Py_DECREF(value);
    return rc;
}

static PyObject *bytes_total(const hw_interval *iv) {
    if (iv->bytes_hi == 0) return PyLong_FromUnsignedLongLong(iv->bytes_lo);
    PyObject *hi = PyLong_FromUnsignedLongLong(iv->bytes_hi);
    PyObject *sh = PyLong_FromLong(64);
    PyObject *lo = PyLong_FromUnsignedLongLong(iv->bytes_lo);
    PyObject *out = NULL, *shifted = NULL;
    if (hi && sh && lo) shifted = PyNumber_Lshift(hi, sh);
    if (shifted) out = PyNumber_Or(shifted, lo);
    Py_XDECREF(hi);
    Py_XDECREF(sh);
    Py_XDECREF(lo);
    Py_XDECREF(shifted);
    return out;
}

/* A list of the durations of an interval, as floats. */
static PyObject *durations_list(const hw_interval *iv) {
    PyObject *list = PyList_New((Py_ssize_t)iv->durs_n);
    for (size_t i = 0; list && i < iv->durs_n; i++) {
        PyObject *d = PyFloat_FromDouble(iv->durs[i]);
        if (d == NULL) Py_CLEAR(list);
        else PyList_SET_ITEM(list, (Py_ssize_t)i, d);
    }
    return list;
}

/* (k, hits, bytes, late, invalid, (1xx..5xx), sections, hosts, methods), and
 * for a description (`full`) its vhosts and the list of its durations too. */
static PyObject *export_interval(const hw_interval *iv, int full) {
    PyObject *dicts[HW_KINDS] = {PyDict_New(), PyDict_New(), PyDict_New(), PyDict_New()};
    PyObject *item = NULL, *durs = NULL;
    if (!dicts[0] || !dicts[1] || !dicts[2] || !dicts[3]) goto done;
    for (size_t i = 0; i < iv->keys_cap; i++) {
        const hw_key *e = &iv->keys[i];
        if (e->kind == UINT32_MAX) continue;
        if (add_count(dicts[e->kind], iv->arena + e->off, e->len, e->count) < 0) goto done;
    }
    PyObject *bytes = bytes_total(iv);
    if (bytes == NULL) goto done;
    if (full && (durs = durations_list(iv)) == NULL) {
        Py_DECREF(bytes);
        goto done;
    }
    if (full)
        item = Py_BuildValue("(LLNLL(LLLLL)OOOOO)", (long long)iv->k, (long long)iv->hits, bytes,
                             (long long)iv->late, (long long)iv->invalid,
                             (long long)iv->status[0], (long long)iv->status[1],
                             (long long)iv->status[2], (long long)iv->status[3],
                             (long long)iv->status[4], dicts[HW_SECTION], dicts[HW_HOST],
                             dicts[HW_METHOD], dicts[HW_VHOST], durs);
    else
        item = Py_BuildValue("(LLNLL(LLLLL)OOO)", (long long)iv->k, (long long)iv->hits, bytes,
                             (long long)iv->late, (long long)iv->invalid,
                             (long long)iv->status[0], (long long)iv->status[1],
                             (long long)iv->status[2], (long long)iv->status[3],
                             (long long)iv->status[4], dicts[HW_SECTION], dicts[HW_HOST],
                             dicts[HW_METHOD]);
done:
    for (int d = 0; d < HW_KINDS; d++) Py_XDECREF(dicts[d]);
    Py_XDECREF(durs);
    return item;
}

static PyObject *class_names[5]; /* "1xx" .. "5xx" */

/* ((name, count), ...) of n ranked keys (ASCII) of a compacted interval. */
static PyObject *ranked_pairs(const hw_interval *iv, const hw_key *keys, size_t n) {
    PyObject *t = PyTuple_New((Py_ssize_t)n);
    if (t == NULL) return NULL;
    for (size_t i = 0; i < n; i++) {
        PyObject *pair = PyTuple_New(2);
        PyObject *name = PyUnicode_DecodeASCII((const char *)iv->arena + keys[i].off,
                                               (Py_ssize_t)keys[i].len, NULL);
        PyObject *count = PyLong_FromLongLong(keys[i].count);
        if (pair == NULL || name == NULL || count == NULL) {
            Py_XDECREF(pair);
            Py_XDECREF(name);
            Py_XDECREF(count);
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(pair, 0, name);
        PyTuple_SET_ITEM(pair, 1, count);
        PyTuple_SET_ITEM(t, (Py_ssize_t)i, pair);
    }
    return t;
}

/* A compacted interval (hw_compact) as the fields of its Report after the
 * two times: (hits, bytes, status, methods, sections, hosts, errors_5xx,
 * late, invalid), ranked as Engine._emit_report ranks them; for a
 * description (`full`) then its vhosts, ranked, and its latency, (p50, p95,
 * p99, max, records) or None. */
static PyObject *export_ready(const hw_interval *iv, int full) {
    size_t n[HW_KINDS] = {0, 0, 0, 0};
    for (size_t i = 0; i < iv->keys_n; i++) n[iv->keys[i].kind]++;
    const hw_key *keys = iv->keys; /* methods, then sections, then hosts, then vhosts */
    PyObject *methods = ranked_pairs(iv, keys, n[HW_METHOD]);
    PyObject *sections = methods ? ranked_pairs(iv, keys + n[HW_METHOD], n[HW_SECTION]) : NULL;
    PyObject *hosts =
        sections ? ranked_pairs(iv, keys + n[HW_METHOD] + n[HW_SECTION], n[HW_HOST]) : NULL;
    PyObject *vhosts = hosts ? ranked_pairs(iv, keys + n[HW_METHOD] + n[HW_SECTION] + n[HW_HOST],
                                            n[HW_VHOST])
                             : NULL;
    PyObject *latency = NULL;
    if (vhosts && iv->lat_n > 0)
        latency = Py_BuildValue("(ddddL)", iv->lat[0], iv->lat[1], iv->lat[2], iv->lat[3],
                                (long long)iv->lat_n);
    else if (vhosts)
        latency = Py_NewRef(Py_None);
    Py_ssize_t classes = 0;
    for (int c = 0; c < 5; c++) classes += iv->status[c] != 0;
    PyObject *status = latency ? PyTuple_New(classes) : NULL;
    PyObject *bytes = status ? bytes_total(iv) : NULL;
    for (int c = 0, i = 0; bytes && c < 5; c++) {
        if (!iv->status[c]) continue;
        PyObject *count = PyLong_FromLongLong(iv->status[c]);
        PyObject *pair = count ? PyTuple_Pack(2, class_names[c], count) : NULL;
        Py_XDECREF(count);
        if (pair == NULL) {
            Py_CLEAR(bytes);
            break;
        }
        PyTuple_SET_ITEM(status, i++, pair);
    }
    PyObject *out = NULL;
    if (bytes && full)
        out = Py_BuildValue("(LOOOOOLLLOO)", (long long)iv->hits, bytes, status, methods,
                            sections, hosts, (long long)iv->status[4], (long long)iv->late,
                            (long long)iv->invalid, vhosts, latency);
    else if (bytes)
        out = Py_BuildValue("(LOOOOOLLL)", (long long)iv->hits, bytes, status, methods, sections,
                            hosts, (long long)iv->status[4], (long long)iv->late,
                            (long long)iv->invalid);
    Py_XDECREF(methods);
    Py_XDECREF(sections);
    Py_XDECREF(hosts);
    Py_XDECREF(vhosts);
    Py_XDECREF(latency);
    Py_XDECREF(status);
    Py_XDECREF(bytes);
    return out;
}

/* A result as the tuple of _kernel.pyi's `Fed`. */
static PyObject *result_to_python(KernelObject *self, const hw_result *res) {
    PyObject *seconds = PyDict_New(), *intervals = PyList_New(0), *ready = PyDict_New();
    PyObject *bad = PyList_New((Py_ssize_t)res->bad_n), *result = NULL;
    if (!seconds || !intervals || !ready || !bad) goto fail;
    for (size_t i = 0; i < res->secs_n; i++) {
        PyObject *t = PyLong_FromLongLong(res->secs[i].ts);
        PyObject *h = PyLong_FromLongLong(res->secs[i].hits);
        int rc = t && h ? PyDict_SetItem(seconds, t, h) : -1;
        Py_XDECREF(t);
        Py_XDECREF(h);
        if (rc < 0) goto fail;
    }
    /* Intervals up to kdone are complete: no line can count in them any more. */
    int64_t kdone = res->started ? (res->final + 1) / self->k.interval - 1 : -1;
    for (size_t i = 0; i < res->ivs_n; i++) {
        hw_interval *iv = res->ivs[i];
        /* Complete intervals past the floor go over ranked, when Python's
         * ranking is the same as the kernel's (see hw_compact); workers have
         * compacted theirs already. */
        if (!iv->ranked && self->top >= 0 && iv->k > self->floor && iv->k <= kdone &&
            hw_compact(iv, (size_t)self->top, &self->rank_buf, &self->rank_cap) < 0) {
            PyErr_NoMemory();
            goto fail;
        }
        if (iv->ranked) {
            PyObject *payload = export_ready(iv, self->k.format == HW_DESC);
            PyObject *k = payload ? PyLong_FromLongLong(iv->k) : NULL;
            int rc = k ? PyDict_SetItem(ready, k, payload) : -1;
            Py_XDECREF(k);
            Py_XDECREF(payload);
            if (rc < 0) goto fail;
            continue;
        }
        /* From here on the engine may hold counts of this interval. */
        if (iv->k > self->floor) self->floor = iv->k;
        PyObject *item = export_interval(iv, self->k.format == HW_DESC);
        int rc = item ? PyList_Append(intervals, item) : -1;
        Py_XDECREF(item);
        if (rc < 0) goto fail;
    }
    for (size_t i = 0; i < res->bad_n; i++) {
        PyObject *t = Py_BuildValue("(LiL)", (long long)res->bad[i].lineno, res->bad[i].reason,
                                    (long long)res->bad[i].nfields);
        if (t == NULL) goto fail;
        PyList_SET_ITEM(bad, (Py_ssize_t)i, t);
    }
    PyObject *records = PyBytes_FromStringAndSize((const char *)res->recs,
                                                  (Py_ssize_t)res->recs_n);
    if (records == NULL) goto fail;
    result = Py_BuildValue("(LiLLLLLLLLLLLLOOOONL)", (long long)res->used, res->started,
                           (long long)res->start, (long long)res->final, (long long)res->max_ts,
                           (long long)res->min_ts, (long long)res->pending_invalid,
                           (long long)res->rows, (long long)res->late, (long long)res->invalid,
                           (long long)res->headers, (long long)res->empty,
                           (long long)res->lines, (long long)res->max_late, seconds, intervals,
                           bad, ready, records, (long long)res->at);
fail:
    Py_XDECREF(seconds);
    Py_XDECREF(intervals);
    Py_XDECREF(ready);
    Py_XDECREF(bad);
    return result;
}

#endif
