/* hitwatch native kernel: the consumer's side of the reader: guesses
 * checked, intervals carried across chunks, results in file order
 * (hw_reader_next); starting and freeing a reader. Included by reader.h. */
#ifndef HITWATCH_READER_CONSUMER_H
#define HITWATCH_READER_CONSUMER_H

static int hw_same_time(const hw_time *a, const hw_time *b) {
    return a->started && b->started && a->max_ts == b->max_ts && a->final == b->final;
}

/* Carries intervals across chunks in result `res` (consumed in file order):
 * its intervals the carry holds are added to them; its unfinished ones join
 * the carry at a chunk's end; carried intervals complete by its time state
 * go back into it, and all of them with the file's last result (`end`).
 * 0, or -1 when out of memory. */
static int hw_carry(hw_reader *R, hw_result *res, int end) {
    int64_t interval = R->workers[0].K.interval;
    int64_t kdone = res->started ? (res->final + 1) / interval - 1 : -1;
    size_t kept = 0;
    for (size_t i = 0; i < res->ivs_n; i++) {
        hw_interval *iv = res->ivs[i];
        hw_interval *held = NULL;
        for (size_t j = 0; j < R->carry_n && !iv->ranked; j++)
            if (R->carry[j]->k == iv->k) held = R->carry[j];
        if (held != NULL) {
            if (hw_iv_merge(held, iv) < 0) return -1;
            hw_iv_destroy(iv);
        } else if (!iv->ranked && iv->k > kdone && res->last && !end) {
            if (hw_grow((void **)&R->carry, &R->carry_cap, sizeof *R->carry, R->carry_n + 1) < 0)
                return -1;
            R->carry[R->carry_n++] = iv;
        } else {
            res->ivs[kept++] = iv;
        }
    }
    res->ivs_n = kept;
    size_t back = 0;
    for (size_t j = 0; j < R->carry_n; j++) back += end || R->carry[j]->k <= kdone;
    if (back == 0) return 0;
    hw_interval **ivs = realloc(res->ivs, (res->ivs_n + back + 1) * sizeof *ivs);
    if (ivs == NULL) return -1;
    res->ivs = ivs;
    size_t stay = 0;
    for (size_t j = 0; j < R->carry_n; j++) {
        if (end || R->carry[j]->k <= kdone)
            res->ivs[res->ivs_n++] = R->carry[j];
        else
            R->carry[stay++] = R->carry[j];
    }
    R->carry_n = stay;
    return 0;
}

/* The next result in file order, or NULL at the end (or when out of memory:
 * `*nomem` is set). Blocks; call without the GIL. Line numbers of invalid
 * lines are absolute. */
static hw_result *hw_reader_next(hw_reader *R, int *nomem) {
    hw_result *res = NULL;
    *nomem = 0;
    pthread_mutex_lock(&R->mu);
    for (;;) {
        if (R->failed) {
            *nomem = 1;
            break;
        }
        if (R->cur >= R->n_chunks) break;
        hw_chunk *ch = &R->chunks[R->cur];
        if (ch->head && ch->valid) {
            res = ch->head;
            ch->head = res->next;
            if (ch->head == NULL) ch->tail = NULL;
            break;
        }
        if (ch->state != HW_DONE || !ch->valid) {
            if (!hw_unmap_consumed(R) && !hw_drop_read(R)) pthread_cond_wait(&R->cv, &R->mu);
            continue;
        }
        /* chunk cur is done and handed over: check the next one's guess */
        hw_time end = ch->end_state;
        R->cur++;
        R->base = R->next_lineno - 1;
        if (R->cur < R->n_chunks) {
            hw_chunk *nx = &R->chunks[R->cur];
            while (nx->state == HW_RUNNING && !nx->guess_ready) pthread_cond_wait(&R->cv, &R->mu);
            /* Until now only chunks started from the true state are valid. */
            if (nx->state != HW_TODO && !nx->valid) {
                if (hw_same_time(&nx->guess, &end)) {
                    nx->valid = 1;
                } else {
                    R->redone++;
                    hw_chunk_drop(nx);
                    if (nx->state == HW_DONE)
                        nx->state = HW_TODO;
                    else
                        nx->redo = 1; /* its worker stops, then it is picked again */
                }
            }
        }
        pthread_cond_broadcast(&R->cv);
    }
    /* The file's last result: the last chunk's, or one that ends in an error. */
    int end = res != NULL && res->last && (res->error || (R->cur + 1 >= R->n_chunks &&
                                                          R->chunks[R->cur].head == NULL));
    pthread_cond_broadcast(&R->cv);
    pthread_mutex_unlock(&R->mu);
    if (res && hw_carry(R, res, end) < 0) {
        hw_result_free(NULL, res);
        *nomem = 1;
        return NULL;
    }
    if (res) {
        if (R->cur > 0)
            for (size_t i = 0; i < res->bad_n; i++) res->bad[i].lineno += R->base;
        R->next_lineno += res->lines;
        /* A chunk run from a guess was checked on M and F only, which is all
         * its counts depend on; its start and min_ts are the guess's. The
         * first started result in file order is never from a guess (a guess
         * is only right where the timeline has started), so its are true. */
        if (res->started && !R->have_start) {
            R->have_start = 1;
            R->start = res->start;
            R->min_ts = res->min_ts;
            R->pending_invalid = res->pending_invalid;
        } else if (res->started) {
            res->start = R->start;
            res->min_ts = R->min_ts;
            res->pending_invalid = R->pending_invalid;
        }
    }
    return res;
}

/* Frees a result the consumer is done with; its record log's buffer goes
 * back to the pool, if there is room. */
static void hw_reader_recycle(hw_reader *R, hw_result *res) {
    if (res == NULL) return;
    if (res->recs != NULL) {
        pthread_mutex_lock(&R->mu);
        if (R->logs_n < HW_LOG_POOL) {
            R->logs[R->logs_n].p = res->recs;
            R->logs[R->logs_n].cap = res->recs_cap;
            R->logs_n++;
            res->recs = NULL;
        }
        pthread_mutex_unlock(&R->mu);
    }
    hw_result_free(NULL, res);
}

/* Stops and joins the workers; frees everything. */
static void hw_reader_free(hw_reader *R) {
    pthread_mutex_lock(&R->mu);
    R->stop = 1;
    pthread_cond_broadcast(&R->cv);
    pthread_mutex_unlock(&R->mu);
    for (int i = 0; i < R->n_workers; i++) {
        hw_worker *W = &R->workers[i];
        if (W->running) pthread_join(W->thread, NULL);
        hw_free(&W->K);
        free(W->buf);
        free(W->rank_buf);
    }
    if (R->chunks)
        for (size_t c = 0; c < R->n_chunks; c++) hw_chunk_drop(&R->chunks[c]);
    for (size_t j = 0; j < R->carry_n; j++) hw_iv_destroy(R->carry[j]);
    for (size_t j = 0; j < R->logs_n; j++) free(R->logs[j].p);
    free(R->carry);
    free(R->chunks);
    free(R->head);
    if (R->map && R->map_n > R->unmapped)
        munmap((void *)(R->map + R->unmapped), (size_t)(R->map_n - R->unmapped));
    pthread_cond_destroy(&R->cv);
    pthread_mutex_destroy(&R->mu);
    memset(R, 0, sizeof *R);
}

/* Starts reading `fd` from `offset` (after `head`, the unfinished line
 * before it) with `n_workers` threads, from time state `first`. The file is
 * cut in chunks of about `chunk` bytes of its current size. `map`: parse it
 * in a map of the file (else pread only). Tests: `size` >= 0 is taken as
 * the file's size at the start (it shrank or grew since), and `check` = 0
 * skips the size check before each mapped block (a shrink meets SIGBUS).
 * 0, or -1 with errno set. */
static int hw_reader_start(hw_reader *R, const hw_kernel *model, const hw_time *first, int fd,
                           int64_t offset, const uint8_t *head, size_t head_n,
                           int64_t first_lineno, size_t block, int skipping, int n_workers,
                           int64_t chunk, int map, int64_t size, int check, int64_t top,
                           int64_t floor, int lazy) {
    memset(R, 0, sizeof *R);
    R->lazy = lazy && model->records;
    R->top = top;
    R->floor = floor;
    pthread_mutex_init(&R->mu, NULL);
    pthread_cond_init(&R->cv, NULL);
    R->fd = fd;
    R->block = block;
    R->first = *first;
    R->skipping = skipping;
    R->first_lineno = R->next_lineno = first_lineno;
    R->n_workers = n_workers < 1 ? 1 : n_workers > HW_MAX_WORKERS ? HW_MAX_WORKERS : n_workers;
    R->head = malloc(head_n + 1);
    if (R->head == NULL) goto nomem;
    memcpy(R->head, head, head_n);
    R->head_n = head_n;
    struct stat st;
    R->unchecked = !check;
    if (size < 0) size = fstat(fd, &st) == 0 ? (int64_t)st.st_size : 0;
    int64_t span = size > offset ? size - offset : 0;
    if (map && span > 0 && (uint64_t)size <= (uint64_t)SIZE_MAX && hw_bus_install() == 0) {
        void *m = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
        R->page = (int64_t)sysconf(_SC_PAGESIZE);
        if (R->page <= 0) R->page = 4096;
        if (m != MAP_FAILED) { /* else (a special file, no address space): pread */
            R->map = m;
            R->map_n = size;
        }
    }
    if (model->records && !R->lazy && chunk > HW_RECORDS_CHUNK) chunk = HW_RECORDS_CHUNK;
    if (chunk < (int64_t)block) chunk = (int64_t)block;
    R->n_chunks = 1;
    if (R->n_workers > 1) {
        /* A multiple of the workers, of at most `chunk` bytes each: with 5
         * chunks on 2 workers one of them works alone for the last one
         * (70 ms against 61 ms for 6 chunks on the 1M-line Combined log). */
        int64_t n = (span + chunk - 1) / chunk, w = R->n_workers;
        n = n < w ? w : (n + w - 1) / w * w;
        chunk = (span + n - 1) / n;
        if (chunk < (int64_t)block) chunk = (int64_t)block;
        R->n_chunks = (size_t)n;
    }
    R->chunks = calloc(R->n_chunks, sizeof *R->chunks);
    if (R->chunks == NULL) goto nomem;
    for (int i = 0; i < R->n_workers; i++) {
        hw_worker *W = &R->workers[i];
        W->R = R;
        W->bus_slot = -1;
        W->buf = malloc(block + HW_GUESS_WINDOW + HW_MAX_LINE + 2);
        if (W->buf == NULL ||
            hw_init(&W->K, model->format, model->interval, model->lag - 1, model->seed ^ (i + 1)) <
                0)
            goto nomem;
        W->K.records = model->records; /* each result logs the records it read */
        if (model->format == HW_DESC) hw_set_desc(&W->K, model->desc); /* shared, read only */
    }
    /* chunk boundaries at line starts */
    R->chunks[0].begin = offset;
    for (size_t c = 1; c < R->n_chunks; c++) {
        int64_t at = hw_line_start(fd, offset + (int64_t)c * chunk, R->workers[0].buf,
                                   block + HW_GUESS_WINDOW);
        if (at == -2) {
            R->n_chunks = c; /* the read error shows up when chunk c - 1 reads there */
            break;
        }
        if (at < 0 || at < R->chunks[c - 1].begin) at = -1;
        if (at < 0) {
            R->n_chunks = c;
            break;
        }
        R->chunks[c].begin = at;
    }
    for (size_t c = 0; c < R->n_chunks; c++)
        R->chunks[c].end = c + 1 < R->n_chunks ? R->chunks[c + 1].begin : -1;
    for (int i = 0; i < R->n_workers; i++) {
        hw_worker *W = &R->workers[i];
        if (pthread_create(&W->thread, NULL, hw_worker_main, W) != 0) {
            errno = EAGAIN;
            hw_reader_free(R);
            return -1;
        }
        W->running = 1;
    }
    return 0;
nomem:
    hw_reader_free(R);
    errno = ENOMEM;
    return -1;
}

#endif
