/* hitwatch.native._kernel: record logs as Python columns (records_columns,
 * records_full, records_tally). Included by _kernel.c. */
#ifndef HITWATCH_PY_RECORDS_H
#define HITWATCH_PY_RECORDS_H

/* ------------------------------------------------------ record logs */

static PyObject *status_names[500]; /* "100" .. "599", made on first use */

/* Decoded keys, direct-mapped by a hash of their bytes, kept from one log
 * to the next (under the GIL): logs repeat keys (a block's records have a
 * few hundred sections and a few thousand hosts, mostly those of the blocks
 * before), which are then decoded once and shared. Only ASCII keys are kept:
 * a string's data are then the key's bytes, to compare with; the words
 * (hw_key_words) decide for keys of up to 16 bytes. */
#define KEY_SLOTS 8192
static struct {
    uint64_t w0, w1;
    size_t n;
    PyObject *text;
} keys_seen[KEY_SLOTS];

/* A hash of `n` bytes and a `seed` (what else tells two keys apart): by
 * their words (hw_key_words, the whole of a key of up to 16 bytes), else by
 * all of them. */
static uint64_t bytes_hash(const uint8_t *p, size_t n, uint64_t seed) {
    if (n > 16) return hw_hash(p, n, seed ^ 0x94d049bb133111ebULL);
    uint64_t w0, w1;
    hw_key_words(p, n, &w0, &w1);
    return hw_hash16(w0 ^ seed ^ 0x9E3779B97F4A7C15ULL, w1 ^ 0xbf58476d1ce4e5b9ULL ^ n);
}

static PyObject *decode_key(const uint8_t *p, size_t n) {
    uint64_t w0, w1;
    hw_key_words(p, n, &w0, &w1);
    size_t j = bytes_hash(p, n, 0) & (KEY_SLOTS - 1);
    PyObject *seen = keys_seen[j].text;
    if (seen != NULL && keys_seen[j].w0 == w0 && keys_seen[j].w1 == w1 && keys_seen[j].n == n &&
        (n <= 16 || memcmp((const uint8_t *)PyUnicode_DATA(seen) + 16, p + 16, n - 16) == 0)) {
        Py_INCREF(seen);
        return seen;
    }
    PyObject *text = PyUnicode_DecodeUTF8((const char *)p, (Py_ssize_t)n, "replace");
    if (text == NULL || !PyUnicode_IS_ASCII(text)) return text;
    Py_INCREF(text);
    Py_XSETREF(keys_seen[j].text, text);
    keys_seen[j].w0 = w0;
    keys_seen[j].w1 = w1;
    keys_seen[j].n = n;
    return text;
}

/* Timestamps, direct-mapped: a log's records are a few dozen seconds. */
#define TS_SLOTS 256
typedef struct {
    int64_t ts;
    PyObject *value;
} ts_slot;

/* The int of second `ts`, made once per slot (a borrowed reference; NULL
 * with an exception set when it cannot be made). */
static PyObject *ts_object(ts_slot *stamps, int64_t ts) {
    ts_slot *t = &stamps[(uint64_t)ts & (TS_SLOTS - 1)];
    if (t->value == NULL || t->ts != ts) {
        Py_XSETREF(t->value, PyLong_FromLongLong(ts));
        t->ts = ts;
    }
    return t->value;
}

/* A status's three digits, interned on first use (a borrowed reference). */
static PyObject *status_name(unsigned status) {
    PyObject **name = &status_names[status - 100];
    if (*name == NULL) {
        char text[4] = {(char)('0' + status / 100), (char)('0' + status / 10 % 10),
                        (char)('0' + status % 10), 0};
        *name = PyUnicode_InternFromString(text);
    }
    return *name;
}

/* The columns of a record log: (ts, sections, hosts, methods, statuses),
 * and with `full` its (vhosts, durations) too, each None when no record has
 * that column (else "" and None where a record has not). */
/* The records of a log with ts in [first, last] (every record: LLONG_MIN,
 * LLONG_MAX): objects are made only for those, so that a window or a fold of
 * a block that reaches back before what is still needed costs little. */
static PyObject *records_of(PyObject *arg, int full, long long first, long long last) {
    Py_buffer buf;
    if (PyObject_GetBuffer(arg, &buf, PyBUF_SIMPLE) < 0) return NULL;
    const uint8_t *start = buf.buf, *end = start + buf.len, *p = start;
    hw_log_rec r;
    Py_ssize_t n = 0;
    int vhosts = 0, durations = 0;
    while (p < end) { /* all of it checked before anything is made */
        if (hw_log_next(&p, end, &r) < 0) {
            PyBuffer_Release(&buf);
            PyErr_SetString(PyExc_ValueError, "a malformed record log");
            return NULL;
        }
        vhosts |= r.has_vhost;
        durations |= r.dur_column;
        n += r.ts >= first && r.ts <= last;
    }
    int ncols = full ? 7 : 5;
    PyObject *cols[7] = {NULL, NULL, NULL, NULL, NULL, NULL, NULL}, *out = NULL;
    ts_slot *stamps = PyMem_Calloc(TS_SLOTS, sizeof *stamps);
    if (stamps == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (int c = 0; c < 5; c++)
        if ((cols[c] = PyList_New(n)) == NULL) goto done;
    if (full) {
        cols[5] = vhosts ? PyList_New(n) : Py_NewRef(Py_None);
        cols[6] = durations ? PyList_New(n) : Py_NewRef(Py_None);
        if (cols[5] == NULL || cols[6] == NULL) goto done;
    }
    p = start;
    for (Py_ssize_t i = 0; i < n; i++) {
        do (void)hw_log_next(&p, end, &r);
        while (r.ts < first || r.ts > last);
        PyObject *ts = ts_object(stamps, r.ts), *status = status_name(r.status);
        if (ts == NULL || status == NULL) goto done;
        PyObject *section = decode_key(r.section, r.section_len);
        PyObject *host = section ? decode_key(r.host, r.host_len) : NULL;
        PyObject *method = host ? decode_key(r.method, r.method_len) : NULL;
        if (method == NULL) {
            Py_XDECREF(section);
            Py_XDECREF(host);
            goto done;
        }
        PyList_SET_ITEM(cols[0], i, Py_NewRef(ts));
        PyList_SET_ITEM(cols[1], i, section);
        PyList_SET_ITEM(cols[2], i, host);
        PyList_SET_ITEM(cols[3], i, method);
        PyList_SET_ITEM(cols[4], i, Py_NewRef(status));
        if (full && vhosts) {
            PyObject *vhost = r.has_vhost ? decode_key(r.vhost, r.vhost_len)
                                          : PyUnicode_FromStringAndSize("", 0);
            if (vhost == NULL) goto done;
            PyList_SET_ITEM(cols[5], i, vhost);
        }
        if (full && durations) {
            PyObject *d = r.has_duration ? PyFloat_FromDouble(r.duration) : Py_NewRef(Py_None);
            if (d == NULL) goto done;
            PyList_SET_ITEM(cols[6], i, d);
        }
    }
    out = full ? PyTuple_Pack(7, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6])
               : PyTuple_Pack(5, cols[0], cols[1], cols[2], cols[3], cols[4]);
done:
    /* Lists not filled yet hold NULLs, which their deallocation skips. */
    for (int c = 0; c < ncols; c++) Py_XDECREF(cols[c]);
    if (stamps != NULL)
        for (size_t i = 0; i < TS_SLOTS; i++) Py_XDECREF(stamps[i].value);
    PyMem_Free(stamps);
    PyBuffer_Release(&buf);
    return out;
}

static PyObject *hw_records_columns(PyObject *Py_UNUSED(module), PyObject *arg) {
    return records_of(arg, 0, LLONG_MIN, LLONG_MAX);
}

static PyObject *hw_records_full(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *log;
    long long first = LLONG_MIN, last = LLONG_MAX;
    if (!PyArg_ParseTuple(args, "O|LL:records_full", &log, &first, &last)) return NULL;
    return records_of(log, 1, first, last);
}

/* A tally of a log's records with ts in [first, last]: one row for each
 * distinct (ts, section, host, method, status, vhost), with how many records
 * had it, in the order rows first appear. What Recent.fold counts (a busy
 * second's 200,000 records are a few hundred rows), without an object per
 * record. Rows are told apart by their bytes; two that decode alike (bytes
 * that are not UTF-8) are added up by the caller, as it counts by text. */
typedef struct {
    uint64_t h;
    const uint8_t *key; /* method, section, host, vhost: contiguous in the log */
    size_t ml, sl, hl, vl;
    int64_t ts;
    unsigned status;
    Py_ssize_t count;
} tally_row;

/* A record's key bytes (n of them from its method on), with its second,
 * status and the lengths that cut the bytes into fields. */
static uint64_t tally_hash(const hw_log_rec *r, size_t n) {
    uint64_t seed = hw_mix((uint64_t)r->ts ^ ((uint64_t)r->status << 52) ^
                           ((uint64_t)r->method_len << 32) ^ ((uint64_t)r->section_len << 16) ^
                           (uint64_t)r->host_len);
    return bytes_hash(r->method, n, seed);
}

static PyObject *hw_records_tally(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *log;
    long long first = LLONG_MIN, last = LLONG_MAX;
    if (!PyArg_ParseTuple(args, "O|LL:records_tally", &log, &first, &last)) return NULL;
    Py_buffer buf;
    if (PyObject_GetBuffer(log, &buf, PyBUF_SIMPLE) < 0) return NULL;
    const uint8_t *start = buf.buf, *end = start + buf.len, *p = start;
    hw_log_rec r;
    size_t n = 0;
    int bad = 0;
    /* The passes over the log touch no Python object: other threads run
     * meanwhile (a service's HTTP answers; a busy second takes ~30 ms). */
    Py_BEGIN_ALLOW_THREADS
    while (p < end) { /* all of it checked before anything is made */
        if (hw_log_next(&p, end, &r) < 0) {
            bad = 1;
            break;
        }
        n += r.ts >= first && r.ts <= last;
    }
    Py_END_ALLOW_THREADS
    if (bad) {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_ValueError, "a malformed record log");
        return NULL;
    }
    size_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    tally_row *rows = PyMem_Malloc((n + 1) * sizeof *rows);
    Py_ssize_t *slots = PyMem_Malloc(cap * sizeof *slots); /* row index + 1, 0: empty */
    PyObject *cols[7] = {NULL, NULL, NULL, NULL, NULL, NULL, NULL}, *out = NULL;
    ts_slot *stamps = PyMem_Calloc(TS_SLOTS, sizeof *stamps);
    Py_ssize_t d = 0;
    if (rows == NULL || slots == NULL || stamps == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    memset(slots, 0, cap * sizeof *slots);
    Py_BEGIN_ALLOW_THREADS
    for (p = start; p < end;) {
        (void)hw_log_next(&p, end, &r);
        if (r.ts < first || r.ts > last) continue;
        size_t vl = r.has_vhost ? r.vhost_len : 0;
        size_t len = r.method_len + r.section_len + r.host_len + vl;
        uint64_t h = tally_hash(&r, len);
        size_t j = h & (cap - 1);
        for (;; j = (j + 1) & (cap - 1)) {
            Py_ssize_t at = slots[j];
            if (at == 0) {
                rows[d] = (tally_row){h, r.method, r.method_len, r.section_len, r.host_len,
                                      vl, r.ts, r.status, 1};
                slots[j] = ++d;
                break;
            }
            tally_row *t = &rows[at - 1];
            if (t->h == h && t->ts == r.ts && t->status == r.status && t->ml == r.method_len &&
                t->sl == r.section_len && t->hl == r.host_len && t->vl == vl &&
                memcmp(t->key, r.method, len) == 0) {
                t->count++;
                break;
            }
        }
    }
    Py_END_ALLOW_THREADS
    for (int c = 0; c < 7; c++)
        if ((cols[c] = PyList_New(d)) == NULL) goto done;
    for (Py_ssize_t i = 0; i < d; i++) {
        tally_row *t = &rows[i];
        PyObject *ts = ts_object(stamps, t->ts), *status = status_name(t->status);
        if (ts == NULL || status == NULL) goto done;
        PyList_SET_ITEM(cols[0], i, Py_NewRef(ts));
        PyList_SET_ITEM(cols[4], i, Py_NewRef(status));
        PyObject *count = PyLong_FromSsize_t(t->count);
        if (count == NULL) goto done;
        PyList_SET_ITEM(cols[6], i, count);
        const uint8_t *k = t->key;
        PyObject *method = decode_key(k, t->ml);
        if (method == NULL) goto done;
        PyList_SET_ITEM(cols[3], i, method);
        PyObject *section = decode_key(k + t->ml, t->sl);
        if (section == NULL) goto done;
        PyList_SET_ITEM(cols[1], i, section);
        PyObject *host = decode_key(k + t->ml + t->sl, t->hl);
        if (host == NULL) goto done;
        PyList_SET_ITEM(cols[2], i, host);
        PyObject *vhost = t->vl ? decode_key(k + t->ml + t->sl + t->hl, t->vl)
                                : PyUnicode_FromStringAndSize("", 0);
        if (vhost == NULL) goto done;
        PyList_SET_ITEM(cols[5], i, vhost);
    }
    out = PyTuple_Pack(7, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6]);
done:
    for (int c = 0; c < 7; c++) Py_XDECREF(cols[c]);
    if (stamps != NULL)
        for (size_t i = 0; i < TS_SLOTS; i++) Py_XDECREF(stamps[i].value);
    PyMem_Free(stamps);
    PyMem_Free(slots);
    PyMem_Free(rows);
    PyBuffer_Release(&buf);
    return out;
}

#endif
