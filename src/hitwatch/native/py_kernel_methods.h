/* hitwatch.native._kernel: Kernel's methods: set_state and feed, and the
 * reader threads' start, next, stop and chunks. Included by _kernel.c. */
#ifndef HITWATCH_PY_KERNEL_METHODS_H
#define HITWATCH_PY_KERNEL_METHODS_H

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

#endif
