/* hitwatch native kernel: the worker threads: a chunk run block by block
 * (from the map or with pread), its results queued; and the map's pages
 * the consumer lets go of while it waits. Included by reader.h. */
#ifndef HITWATCH_READER_WORKER_H
#define HITWATCH_READER_WORKER_H

static void hw_chunk_push(hw_reader *R, hw_chunk *ch, hw_result *res) {
    pthread_mutex_lock(&R->mu);
    if (ch->redo) { /* from a wrong guess: nobody may see it */
        pthread_mutex_unlock(&R->mu);
        hw_result_free(NULL, res);
        return;
    }
    res->next = NULL;
    if (ch->tail)
        ch->tail->next = res;
    else
        ch->head = res;
    ch->tail = res;
    pthread_cond_broadcast(&R->cv);
    pthread_mutex_unlock(&R->mu);
}

static void hw_chunk_drop(hw_chunk *ch) {
    while (ch->head) {
        hw_result *next = ch->head->next;
        hw_result_free(NULL, ch->head);
        ch->head = next;
    }
    ch->tail = NULL;
}

/* Empties a worker's kernel (after a chunk was thrown away). */
static int hw_kernel_reset(hw_kernel *K) {
    hw_result *res = hw_detach(K, 1);
    if (res == NULL) return -1;
    hw_result_free(K, res);
    return 0;
}

/* Compacts a result's complete intervals in the worker (hw_compact_result).
 * A lone worker leaves it to the consumer (result_to_python), which runs
 * beside it: the worker is then the whole run's critical path. */
static int hw_worker_compact(hw_worker *W, hw_result *res) {
    hw_reader *R = W->R;
    if (R->top < 0 || R->n_workers == 1) return 0;
    return hw_compact_result(res, W->K.interval, W->floor, (size_t)R->top, &W->rank_buf,
                             &W->rank_cap);
}

/* One block of chunk `ch` from the map, at *offset: its whole lines (all
 * of it at the chunk's end) through the kernel, the result queued. Returns 1
 * when that ended the chunk, 0 when there is more, 2 when the rest is for
 * pread (a line longer than a block, or a file that grew past the map), -1
 * when out of memory. */
static int hw_map_block(hw_worker *W, hw_chunk *ch, int64_t *offset, int64_t *lineno) {
    hw_reader *R = W->R;
    hw_kernel *K = &W->K;
    int64_t pos = *offset, limit = R->map_n;
    int ends = 1; /* the chunk's last byte is in the map */
    if (!R->unchecked) {
        struct stat st;
        if (fstat(R->fd, &st) == 0) {
            if ((int64_t)st.st_size < limit) limit = (int64_t)st.st_size; /* it shrank */
            if (ch->end < 0 && (int64_t)st.st_size > R->map_n) ends = 0;  /* it grew */
        }
    }
    if (ch->end >= 0 && ch->end < limit) limit = ch->end;
    if (pos > limit) pos = limit; /* the file shrank to before this chunk */
    size_t want = R->block;
    if ((int64_t)want > limit - pos) want = (size_t)(limit - pos);
    const uint8_t *data = R->map + pos;
    int last = ends && pos + (int64_t)want == limit;
    sigjmp_buf env;
    if (sigsetjmp(env, 1)) {
        /* SIGBUS: the file shrank under this block. The kernel holds its
         * lines up to the fault, which count as read; then the error. */
        hw_bus_disarm(&W->bus_slot);
        K->lines = K->rows + K->invalid + K->headers + K->empty;
        hw_result *res = hw_detach(K, 1);
        if (res == NULL) return -1;
        res->error = HW_SHRANK;
        hw_time_get(K, &ch->end_state);
        hw_chunk_push(R, ch, res);
        return 1;
    }
    hw_counts_clear(K);
    W->bus_slot = hw_bus_arm(&env);
    if (W->bus_slot < 0) return 2;
    size_t used = last ? want : hw_whole_lines(data, want);
    if (used == 0 && !last) {
        hw_bus_disarm(&W->bus_slot);
        return 2;
    }
    if (R->lazy) K->records = 0; /* the file's own bytes: read again if needed */
    int rc = hw_feed(K, data, used, *lineno);
    hw_bus_disarm(&W->bus_slot);
    if (rc < 0) return -1;
    /* Pages read leave this process's memory (the map stays; a page read
     * again comes back from the page cache): else each would count in its
     * RSS until its chunk is unmapped, 94 MB on a 10M-line log against 21 MB
     * read with pread. The consumer drops them while it waits for results
     * (hw_drop_read); a worker only when they pile up, and at its chunk's
     * end: dropping costs ~1.5 ms of a 1M-line run, better spent idle. */
    int64_t page = R->page, hi = (pos + (int64_t)used) / page * page, from = -1;
    pthread_mutex_lock(&R->mu);
    if (hi > ch->read_to) ch->read_to = hi;
    if (hi > ch->dropped_to && (last || hi - ch->dropped_to >= HW_DROP_SELF)) {
        from = ch->dropped_to;
        ch->dropped_to = hi;
    }
    pthread_mutex_unlock(&R->mu);
    if (from >= 0) madvise((void *)(R->map + from), (size_t)(hi - from), MADV_DONTNEED);
    hw_result *res = hw_detach(K, last);
    if (res == NULL || hw_worker_compact(W, res) < 0) {
        hw_result_free(NULL, res);
        return -1;
    }
    *lineno += res->lines;
    *offset = pos + (int64_t)used;
    res->used = (int64_t)used;
    if (R->lazy) res->at = pos;
    if (last) hw_time_get(K, &ch->end_state);
    hw_chunk_push(R, ch, res);
    return last;
}

/* Runs chunk `c` on worker W. Returns 0, or -1 when out of memory. */
static int hw_run_chunk(hw_worker *W, size_t c) {
    hw_reader *R = W->R;
    hw_kernel *K = &W->K;
    hw_chunk *ch = &R->chunks[c];
    size_t have = 0;
    int skipping = 0;
    int64_t lineno = 1; /* relative to the chunk; the consumer makes it absolute */
    if (c == 0) {
        memcpy(W->buf, R->head, R->head_n);
        have = R->head_n;
        skipping = R->skipping;
        lineno = R->first_lineno;
    }
    hw_time_set(K, &ch->guess);
    /* Intervals up to the chunk's M may have been handed over as counts by
     * the chunks before it, at their ends (a guess is checked on M too). */
    W->floor = R->floor;
    if (c > 0 && ch->guess.max_ts >= 0 && ch->guess.max_ts / K->interval > W->floor)
        W->floor = ch->guess.max_ts / K->interval;
    int64_t offset = ch->begin;
    for (;;) {
        pthread_mutex_lock(&R->mu);
        int redo = ch->redo, stop = R->stop;
        if (K->records && K->log == NULL && R->logs_n > 0) {
            R->logs_n--;
            K->log = R->logs[R->logs_n].p;
            K->log_cap = R->logs[R->logs_n].cap;
        }
        pthread_mutex_unlock(&R->mu);
        if (stop || redo) return hw_kernel_reset(K);
        if (R->map && have == 0 && !skipping && offset < R->map_n) {
            int rc = hw_map_block(W, ch, &offset, &lineno);
            if (rc < 0) return -1;
            if (rc == 1) return 0;
            if (rc == 0) continue;
        }
        size_t want = R->block;
        if (ch->end >= 0 && (int64_t)want > ch->end - offset) want = (size_t)(ch->end - offset);
        ssize_t n = want ? hw_pread(R->fd, W->buf + have, want, offset) : 0;
        hw_result *res;
        if (n < 0) {
            int err = errno ? errno : EIO;
            /* what was read so far, then the error */
            hw_counts_clear(K);
            res = hw_detach(K, 1);
            if (res == NULL) return -1;
            res->error = err;
            hw_time_get(K, &ch->end_state);
            hw_chunk_push(R, ch, res);
            return 0;
        }
        offset += n;
        if (skipping && n > 0) {
            uint8_t *from = W->buf + have, *nl = memchr(from, '\n', (size_t)n);
            if (nl == NULL) continue;
            n = (ssize_t)(from + n - nl);
            memmove(from, nl, (size_t)n);
            skipping = 0;
        }
        have += (size_t)n;
        int last = n == 0;
        size_t used = last ? have : hw_whole_lines(W->buf, have);
        hw_counts_clear(K);
        if (R->lazy) K->records = 1; /* a head or a cut line: not the file's bytes */
        if (hw_feed(K, W->buf, used, lineno) < 0) return -1;
        res = hw_detach(K, last);
        if (res == NULL || hw_worker_compact(W, res) < 0) {
            hw_result_free(NULL, res);
            return -1;
        }
        lineno += res->lines;
        res->used = (int64_t)used;
        size_t rest = have - used;
        if (rest > HW_MAX_LINE + 2) {
            rest = HW_MAX_LINE + 2;
            skipping = 1;
        }
        if (used > 0 && !skipping && rest <= (size_t)n && R->map && offset <= R->map_n) {
            /* The unfinished line is all in what was just read, inside the
             * map: back to the map, from its start (a line was read, so this
             * always moves on). */
            offset -= (int64_t)rest;
            rest = 0;
        }
        memmove(W->buf, W->buf + used, rest);
        have = rest;
        if (last) hw_time_get(K, &ch->end_state);
        hw_chunk_push(R, ch, res);
        if (last) return 0;
    }
}

/* Unmaps the pages of the chunks consumed so far, if any are still mapped:
 * they would otherwise all go at the end (2 ms for a 157 MiB map), while
 * the consumer waits for the last results. Called under the lock by the
 * consumer while it waits for a result; returns 1 when it unmapped (the
 * lock was let go meanwhile), else 0. No one reads a consumed chunk again (guesses
 * use pread). The map is unmapped from its start on, in one piece, so that
 * hw_reader_free unmaps exactly the rest: a hole unmapped twice might by
 * then hold someone else's memory. */
static int hw_unmap_consumed(hw_reader *R) {
    if (R->map == NULL || R->cur == 0) return 0;
    int64_t to = R->chunks[R->cur - 1].end, page = R->page;
    if (to < 0) to = R->map_n;
    to = to / page * page; /* the page with the next chunk's start stays */
    if (to <= R->unmapped) return 0;
    int64_t from = R->unmapped;
    R->unmapped = to;
    pthread_mutex_unlock(&R->mu);
    munmap((void *)(R->map + from), (size_t)(to - from));
    pthread_mutex_lock(&R->mu);
    return 1;
}

/* Drops the pages read of one chunk not consumed yet (see hw_map_block),
 * when enough piled up. Called under the lock by the consumer while it
 * waits for a result; returns 1 when it dropped (the lock was let go
 * meanwhile), else 0. Only the consumer unmaps (hw_unmap_consumed), so no
 * range is dropped after it was unmapped: its address could by then hold
 * someone else's memory. A worker drops only pages of its running chunk,
 * which the consumer does not unmap before the chunk is done. */
static int hw_drop_read(hw_reader *R) {
    if (R->map == NULL) return 0;
    for (size_t c = R->cur; c < R->n_chunks && c <= R->cur + HW_AHEAD; c++) {
        hw_chunk *ch = &R->chunks[c];
        if (ch->state == HW_TODO || ch->read_to - ch->dropped_to < HW_DROP_IDLE) continue;
        int64_t from = ch->dropped_to, to = ch->read_to;
        ch->dropped_to = to;
        pthread_mutex_unlock(&R->mu);
        madvise((void *)(R->map + from), (size_t)(to - from), MADV_DONTNEED);
        pthread_mutex_lock(&R->mu);
        return 1;
    }
    return 0;
}

/* The next chunk for a worker (under the lock): the first one not started,
 * at most AHEAD past the consumer's; -1 when none. */
static long hw_pick(hw_reader *R) {
    for (size_t c = R->cur; c < R->n_chunks && c <= R->cur + HW_AHEAD; c++)
        if (R->chunks[c].state == HW_TODO) return (long)c;
    return -1;
}

static void *hw_worker_main(void *arg) {
    hw_worker *W = arg;
    hw_reader *R = W->R;
    pthread_mutex_lock(&R->mu);
    for (;;) {
        long c;
        /* Idle workers stay until stopped: a wrong guess may send a chunk back. */
        while (!R->stop && !R->failed && (c = hw_pick(R)) < 0) pthread_cond_wait(&R->cv, &R->mu);
        if (R->stop || R->failed) break;
        hw_chunk *ch = &R->chunks[c];
        ch->state = HW_RUNNING;
        ch->redo = 0;
        if (R->map) ch->read_to = ch->dropped_to = ch->begin / R->page * R->page;
        ch->guess_ready = 0;
        int guessing = 0;
        if (c == 0) {
            ch->guess = R->first;
            ch->valid = 1;
        } else if (R->chunks[c - 1].state == HW_DONE && R->chunks[c - 1].valid) {
            ch->guess = R->chunks[c - 1].end_state;
            ch->valid = 1;
        } else {
            ch->valid = 0;
            guessing = 1;
        }
        if (guessing) {
            R->guessed++;
            int64_t known = R->first.max_ts;
            for (long d = c - 1; d >= 0; d--) {
                if (R->chunks[d].state == HW_DONE && R->chunks[d].valid) {
                    if (R->chunks[d].end_state.max_ts > known)
                        known = R->chunks[d].end_state.max_ts;
                    break;
                }
            }
            pthread_mutex_unlock(&R->mu);
            hw_time guess;
            hw_guess(W, ch->begin, known, &guess);
            pthread_mutex_lock(&R->mu);
            ch->guess = guess;
        }
        ch->guess_ready = 1;
        pthread_cond_broadcast(&R->cv);
        pthread_mutex_unlock(&R->mu);
        int rc = hw_run_chunk(W, (size_t)c);
        pthread_mutex_lock(&R->mu);
        if (rc < 0) {
            R->failed = 1;
        } else if (ch->redo) {
            hw_chunk_drop(ch);
            ch->state = HW_TODO; /* picked again, from the true state */
            ch->redo = 0;
        } else {
            ch->state = HW_DONE;
        }
        pthread_cond_broadcast(&R->cv);
    }
    pthread_cond_broadcast(&R->cv);
    pthread_mutex_unlock(&R->mu);
    return NULL;
}

#endif
