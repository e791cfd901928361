/* hitwatch.native._kernel: the Python face of kernel_core.h. Bytes in, counts out.
 *
 * Kernel(format, interval, lateness, top, records, desc): set_state(..., floor) takes the
 * engine's time state while the kernel holds no counts, and the largest k of
 * an interval the engine holds counts of (complete intervals past it are
 * handed over ranked, see export_ready); feed(data, first_lineno, last, all)
 * parses the whole lines of `data` (all of it when `last`) with the GIL
 * released and returns the counts it can hand over (see _kernel.pyi).
 * start(fd, ...) does the same for a regular file with worker threads that
 * read it (reader.h), and next() returns their results in order.
 * Keys are decoded with errors="replace" here, and raw keys that decode to
 * the same text are merged, so Python only ever sees text keys.
 * With records=True each result also carries the log of the records it
 * accepted, as bytes (kernel_core.h, hw_log_record), which Python decodes
 * only when a rule needs them: records_columns(log) gives its columns.
 * Format DESC reads any text format from its description (describe.h; `desc`,
 * as hitwatch.native.description makes it): its results carry the vhosts
 * and durations of the format's records too (see _kernel.pyi).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <limits.h>
#include <time.h>

#include "kernel_core.h"

#ifndef _WIN32
#define HW_THREADS 1
#include "reader.h"
#endif

typedef struct {
    PyObject_HEAD hw_kernel k;
    hw_desc desc; /* format DESC: the description, which k (and the workers) read */
    int ready;
    int busy;
    /* Complete intervals with k > floor are ranked here for Report (see
     * export_ready); top < 0 turns that off. The engine may hold counts of
     * intervals up to floor, which must be handed over as counts to merge. */
    long long top, floor;
    hw_ranked *rank_buf;
    size_t rank_cap;
#ifdef HW_THREADS
    hw_reader rd;
    int reading;       /* rd was started and not freed yet */
    int pending_error; /* an errno to raise at the next next() */
    long long chunks, guessed, redone; /* of the last file read */
#endif
} KernelObject;

#ifdef HW_THREADS
static void reader_stop(KernelObject *self);
#endif

static void Kernel_dealloc(KernelObject *self) {
#ifdef HW_THREADS
    reader_stop(self);
#endif
    if (self->ready) hw_free(&self->k);
    hw_desc_free(&self->desc);
    free(self->rank_buf);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Kernel_init(KernelObject *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"format", "interval", "lateness", "top", "records", "desc", NULL};
    int format, records = 0;
    long long interval, lateness, top = -1;
    Py_buffer desc = {0};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "iLL|Lpy*", kwlist, &format, &interval,
                                     &lateness, &top, &records, &desc))
        return -1;
    int has_desc = desc.obj != NULL;
    hw_desc loaded;
    memset(&loaded, 0, sizeof loaded);
    const char *why = NULL;
    if (format != HW_CSV && format != HW_CLF && format != HW_DESC)
        why = "format must be 0 (csv), 1 (clf) or 2 (desc)";
    else if ((format == HW_DESC) != has_desc)
        why = "a description goes with format 2 (desc), and only with it";
    else if (has_desc)
        why = hw_desc_load(&loaded, desc.buf, (size_t)desc.len);
    if (has_desc) PyBuffer_Release(&desc);
    if (why) {
        PyErr_SetString(PyExc_ValueError, why);
        return -1;
    }
    if (interval <= 0 || lateness < 0 || lateness > (1LL << 60) || interval > (1LL << 60)) {
        PyErr_SetString(PyExc_ValueError, "interval or lateness out of range");
        return -1;
    }
    if (self->busy) {
        hw_desc_free(&loaded);
        PyErr_SetString(PyExc_RuntimeError, "Kernel is busy");
        return -1;
    }
    if (self->ready) hw_free(&self->k);
    self->ready = 0;
    hw_desc_free(&self->desc);
    self->desc = loaded;
    uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)(uintptr_t)self << 16) ^ (uint64_t)clock();
    if (hw_init(&self->k, format, interval, lateness, hw_mix(seed)) < 0) {
        hw_free(&self->k);
        PyErr_NoMemory();
        return -1;
    }
    if (format == HW_DESC) hw_set_desc(&self->k, &self->desc);
    self->k.records = records;
    self->ready = 1;
    self->top = top < 0 ? -1 : top;
    self->floor = LLONG_MAX;
    return 0;
}

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

static int check_ready(KernelObject *self) {
    if (!self->ready) {
        PyErr_SetString(PyExc_RuntimeError, "Kernel not initialised");
        return -1;
    }
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "Kernel is busy in another thread");
        return -1;
    }
    return 0;
}

static PyObject *Kernel_set_state(KernelObject *self, PyObject *args) {
    long long start, final, max_ts, min_ts, pending, floor = LLONG_MAX;
    int started;
    if (check_ready(self) < 0) return NULL;
    if (!PyArg_ParseTuple(args, "pLLLLL|L", &started, &start, &final, &max_ts, &min_ts, &pending,
                          &floor))
        return NULL;
    hw_kernel *K = &self->k;
    if (K->ivs_n || K->secs_n) {
        PyErr_SetString(PyExc_RuntimeError, "Kernel.set_state with counts not handed over");
        return NULL;
    }
    K->started = started;
    K->start = start;
    K->final = final;
    K->max_ts = max_ts;
    K->min_ts = min_ts;
    K->pending_invalid = pending;
    self->floor = floor;
    Py_RETURN_NONE;
}

static PyObject *Kernel_feed(KernelObject *self, PyObject *args) {
    Py_buffer buf;
    long long first_lineno;
    int last, all;
    if (check_ready(self) < 0) return NULL;
    if (!PyArg_ParseTuple(args, "y*Lpp", &buf, &first_lineno, &last, &all)) return NULL;
    self->busy = 1;
    hw_kernel *K = &self->k;
    hw_counts_clear(K);
    const uint8_t *data = buf.buf;
    size_t n = (size_t)buf.len;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    if (!last) n = hw_whole_lines(data, n);
    rc = hw_feed(K, data, n, first_lineno);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&buf);
    hw_result *res = rc < 0 ? NULL : hw_detach(K, all);
    PyObject *out = NULL;
    if (res == NULL) {
        PyErr_NoMemory();
    } else {
        res->used = (int64_t)n;
        out = result_to_python(self, res);
    }
    hw_log_reuse(K, res); /* the next feed's log goes there */
    hw_result_free(K, res);
    self->busy = 0;
    return out;
}

#ifdef HW_THREADS
/* ------------------------------------------------------- reader threads */

static void reader_stop(KernelObject *self) {
    if (!self->reading) return;
    self->chunks = (long long)self->rd.n_chunks;
    self->guessed = (long long)self->rd.guessed;
    self->redone = (long long)self->rd.redone;
    Py_BEGIN_ALLOW_THREADS hw_reader_free(&self->rd);
    Py_END_ALLOW_THREADS
    self->reading = 0;
    self->busy = 0;
}

static PyObject *Kernel_start(KernelObject *self, PyObject *args) {
    int fd, skipping, workers, map = 1, check = 1, lazy = 0;
    long long offset, first_lineno, chunk, size = -1;
    Py_ssize_t block;
    Py_buffer head;
    if (check_ready(self) < 0) return NULL;
    if (!PyArg_ParseTuple(args, "iLy*LnpiL|pLpp", &fd, &offset, &head, &first_lineno, &block,
                          &skipping, &workers, &chunk, &map, &size, &check, &lazy))
        return NULL;
    hw_kernel *K = &self->k;
    const char *bad = NULL;
    if (block < 1 || block > (1 << 30) || offset < 0 || head.len > HW_MAX_LINE + 2 || chunk < 1)
        bad = "Kernel.start: bad block, offset, head or chunk";
    else if (K->ivs_n || K->secs_n)
        bad = "Kernel.start with counts not handed over";
    if (bad) {
        PyBuffer_Release(&head);
        PyErr_SetString(bad[7] == ':' ? PyExc_ValueError : PyExc_RuntimeError, bad);
        return NULL;
    }
    hw_time first;
    hw_time_get(K, &first);
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = hw_reader_start(&self->rd, K, &first, fd, offset, head.buf,
                                                (size_t)head.len, first_lineno, (size_t)block,
                                                skipping, workers, chunk, map, size, check,
                                                (int64_t)self->top, (int64_t)self->floor, lazy);
    Py_END_ALLOW_THREADS PyBuffer_Release(&head);
    if (rc < 0) return PyErr_SetFromErrno(PyExc_OSError);
    self->reading = 1;
    self->busy = 1;
    self->pending_error = 0;
    Py_RETURN_NONE;
}

static PyObject *Kernel_next(KernelObject *self, PyObject *Py_UNUSED(ignored)) {
    if (self->pending_error) {
        int err = self->pending_error;
        self->pending_error = 0;
        reader_stop(self);
        if (err == HW_SHRANK) {
            PyObject *args = Py_BuildValue("(is)", EIO, "the file shrank while it was read");
            if (args) PyErr_SetObject(PyExc_OSError, args);
            Py_XDECREF(args);
            return NULL;
        }
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (!self->reading) Py_RETURN_NONE;
    hw_result *res;
    int nomem;
    Py_BEGIN_ALLOW_THREADS res = hw_reader_next(&self->rd, &nomem);
    Py_END_ALLOW_THREADS
    if (res == NULL) {
        reader_stop(self);
        if (nomem) return PyErr_NoMemory();
        Py_RETURN_NONE;
    }
    /* A read error comes with what was read before it: that first, then the error. */
    if (res->error) self->pending_error = res->error;
    /* The workers own their kernels' pools: these intervals are freed, not
     * recycled; the record log's buffer goes back to the workers. */
    PyObject *out = result_to_python(self, res);
    hw_reader_recycle(&self->rd, res);
    return out;
}

static PyObject *Kernel_chunks(KernelObject *self, PyObject *Py_UNUSED(ignored)) {
    return Py_BuildValue("(LLL)", self->chunks, self->guessed, self->redone);
}

static PyObject *Kernel_stop(KernelObject *self, PyObject *Py_UNUSED(ignored)) {
    reader_stop(self);
    self->pending_error = 0;
    Py_RETURN_NONE;
}
#endif

static PyMethodDef Kernel_methods[] = {
    {"set_state", (PyCFunction)Kernel_set_state, METH_VARARGS,
     "set_state(started, start, final, max_ts, min_ts, pending_invalid, floor=no ranking)"},
    {"feed", (PyCFunction)Kernel_feed, METH_VARARGS, "feed(data, first_lineno, last, all)"},
#ifdef HW_THREADS
    {"start", (PyCFunction)Kernel_start, METH_VARARGS,
     "start(fd, offset, head, first_lineno, block, skipping, workers, chunk, map=True, size=-1, "
     "check=True, lazy=False): read a regular file with worker threads, in a map of it unless "
     "map is false (tests: size >= 0 is taken as its size at the start, check=False skips "
     "checking it before each mapped block); lazy: a mapped block's result carries its file "
     "offset instead of its record log"},
    {"next", (PyCFunction)Kernel_next, METH_NOARGS,
     "next(): the next result of the file started by start(), in order, or None at the end"},
    {"stop", (PyCFunction)Kernel_stop, METH_NOARGS, "stop(): stop the threads, if any"},
    {"chunks", (PyCFunction)Kernel_chunks, METH_NOARGS,
     "chunks(): (chunks, started from a guess, guesses found wrong) of the last file read"},
#endif
    {NULL, NULL, 0, NULL},
};

static PyTypeObject KernelType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "hitwatch.native._kernel.Kernel",
    .tp_basicsize = sizeof(KernelObject),
    .tp_dealloc = (destructor)Kernel_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Parses blocks of log lines and runs the time model over them.",
    .tp_methods = Kernel_methods,
    .tp_init = (initproc)Kernel_init,
    .tp_new = PyType_GenericNew,
};

static PyObject *hw_classify_line(PyObject *Py_UNUSED(module), PyObject *line) {
    char *p;
    Py_ssize_t n;
    if (PyBytes_AsStringAndSize(line, &p, &n) < 0) return NULL;
    uint8_t *scratch = PyMem_Malloc(2 * HW_MAX_LINE + 64);
    if (scratch == NULL) return PyErr_NoMemory();
    int kinds = hw_classify((const uint8_t *)p, (size_t)n, scratch);
    PyMem_Free(scratch);
    return PyLong_FromLong(kinds);
}

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

/* ------------------------------------------------------ descriptions */

static PyObject *hw_describe_problem(PyObject *Py_UNUSED(module), PyObject *arg) {
    Py_buffer buf;
    if (PyObject_GetBuffer(arg, &buf, PyBUF_SIMPLE) < 0) return NULL;
    hw_desc D;
    const char *why = hw_desc_load(&D, buf.buf, (size_t)buf.len);
    PyBuffer_Release(&buf);
    if (why) return PyUnicode_FromString(why);
    hw_desc_free(&D);
    Py_RETURN_NONE;
}

/* parse_line(desc, line): one line read with a description, as the kernel
 * reads it (for tests): (ts, bytes, section, host, status, method, vhost,
 * duration or None), keys decoded with errors="replace", or the reason
 * code of an invalid line (100: a header). */
static PyObject *hw_parse_desc_line(PyObject *Py_UNUSED(module), PyObject *args) {
    Py_buffer desc, line;
    if (!PyArg_ParseTuple(args, "y*y*", &desc, &line)) return NULL;
    hw_desc D;
    const char *why = hw_desc_load(&D, desc.buf, (size_t)desc.len);
    PyBuffer_Release(&desc);
    if (why) {
        PyBuffer_Release(&line);
        PyErr_SetString(PyExc_ValueError, why);
        return NULL;
    }
    hw_kernel K;
    PyObject *out = NULL;
    if (hw_init(&K, HW_DESC, 1, 0, 0) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    hw_set_desc(&K, &D);
    const uint8_t *p = line.buf;
    size_t n = (size_t)line.len;
    if (n && p[n - 1] == '\r') n--;
    hw_rec r;
    int64_t nfields = 0;
    int reason = hw_parse_k(&K, p, n, &r, &nfields);
    if (reason != HW_OK) {
        out = PyLong_FromLong(reason);
        goto done;
    }
    PyObject *duration = r.has_duration ? PyFloat_FromDouble(r.duration) : Py_NewRef(Py_None);
#define HW_TEXT(s, n) PyUnicode_DecodeUTF8((const char *)(s), (Py_ssize_t)(n), "replace")
    PyObject *keys[5] = {HW_TEXT(r.section, r.section_len), HW_TEXT(r.host, r.host_len),
                         HW_TEXT(r.status, 3), HW_TEXT(r.method, r.method_len),
                         HW_TEXT(r.vhost, r.vhost_len)};
#undef HW_TEXT
    if (duration && keys[0] && keys[1] && keys[2] && keys[3] && keys[4])
        out = Py_BuildValue("(LLOOOOOO)", (long long)r.ts, (long long)r.nbytes, keys[0], keys[1],
                            keys[2], keys[3], keys[4], duration);
    Py_XDECREF(duration);
    for (int i = 0; i < 5; i++) Py_XDECREF(keys[i]);
done:
    hw_free(&K);
    hw_desc_free(&D);
    PyBuffer_Release(&line);
    return out;
}

static PyMethodDef module_methods[] = {
    {"classify", (PyCFunction)hw_classify_line, METH_O,
     "classify(line): what format detection asks of a line without its line ending, as "
     "bits: 1 a CSV record, 2 a CLF record, 4 CLF with referer and user agent (see parse.h)"},
    {"records_columns", (PyCFunction)hw_records_columns, METH_O,
     "records_columns(log): (ts, sections, hosts, methods, statuses) of a record log "
     "(Kernel(..., records=True)), as lists; keys decoded with errors=\"replace\", statuses "
     "as their three digits; ValueError when it is malformed"},
    {"records_full", (PyCFunction)hw_records_full, METH_VARARGS,
     "records_full(log, first=-inf, last=inf): records_columns(log) and (vhosts, durations), "
     "each None when no record of the log has it; only the records with ts in [first, last]"},
    {"records_tally", (PyCFunction)hw_records_tally, METH_VARARGS,
     "records_tally(log, first=-inf, last=inf): (ts, sections, hosts, methods, statuses, "
     "vhosts, counts): one row per distinct record with ts in [first, last] and how many "
     "there were, in order of first appearance; vhosts \"\" when a record has none"},
    {"describe_problem", (PyCFunction)hw_describe_problem, METH_O,
     "describe_problem(desc): why the kernel cannot read this description, or None"},
    {"parse_line", (PyCFunction)hw_parse_desc_line, METH_VARARGS,
     "parse_line(desc, line): the record the kernel reads from one line with a description "
     "(ts, bytes, section, host, status, method, vhost, duration), or its reason code"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef kernel_module = {
    PyModuleDef_HEAD_INIT, "_kernel", "hitwatch's compiled block kernel.", -1, module_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__kernel(void) {
    if (PyType_Ready(&KernelType) < 0) return NULL;
    for (int c = 0; c < 5; c++) {
        char name[4] = {(char)('1' + c), 'x', 'x', 0};
        if (class_names[c] == NULL && (class_names[c] = PyUnicode_InternFromString(name)) == NULL)
            return NULL;
    }
    PyObject *m = PyModule_Create(&kernel_module);
    if (m == NULL) return NULL;
    Py_INCREF(&KernelType);
    if (PyModule_AddObject(m, "Kernel", (PyObject *)&KernelType) < 0) {
        Py_DECREF(&KernelType);
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "CSV", HW_CSV) < 0 ||
        PyModule_AddIntConstant(m, "CLF", HW_CLF) < 0 ||
        PyModule_AddIntConstant(m, "DESC", HW_DESC) < 0 ||
        PyModule_AddStringConstant(m, "UNIDATA_VERSION", HW_UNIDATA_VERSION) < 0 ||
        PyModule_AddIntConstant(m, "MAX_LINE", HW_MAX_LINE) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
