/* hitwatch native kernel, part 3: reading a regular file with worker threads.
 *
 * The file is cut into chunks of whole lines (CHUNK bytes, moved to the next
 * line start). Each worker runs the kernel (kernel_core.h) over one chunk at
 * a time, block by block, and queues what each block hands over; the
 * consumer (hw_reader_next) takes the results strictly in file order. No
 * Python here: the workers never need the GIL.
 *
 * With two workers, chunk c + 1 is read while chunk c is: its time state at
 * the start is not known yet, so the worker guesses it (M = the largest
 * timestamp of the lines just before the chunk, which in any real log is
 * the true M) and the consumer checks the guess when chunk c is done: the
 * state at the end of chunk c must be exactly the guessed one (started,
 * same M, hence same F). Processing a chunk depends on nothing else, so its
 * results are then exactly those of a sequential run. A wrong guess is
 * thrown away and the chunk read again from the true state: slower, never
 * different. Memory: at most AHEAD chunks past the one being consumed.
 */
#ifndef HITWATCH_READER_H
#define HITWATCH_READER_H

#include <errno.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernel_core.h"

#define HW_AHEAD 2          /* chunks a worker may run past the consumer's */
#define HW_GUESS_WINDOW (1 << 20) /* bytes read before a chunk to guess its M */
#define HW_MAX_WORKERS 4

enum { HW_TODO = 0, HW_RUNNING = 1, HW_DONE = 2 };

typedef struct {
    int started;
    int64_t start, final, max_ts, min_ts, pending_invalid;
} hw_time;

static void hw_time_get(const hw_kernel *K, hw_time *t) {
    t->started = K->started;
    t->start = K->start;
    t->final = K->final;
    t->max_ts = K->max_ts;
    t->min_ts = K->min_ts;
    t->pending_invalid = K->pending_invalid;
}

static void hw_time_set(hw_kernel *K, const hw_time *t) {
    K->started = t->started;
    K->start = t->start;
    K->final = t->final;
    K->max_ts = t->max_ts;
    K->min_ts = t->min_ts;
    K->pending_invalid = t->pending_invalid;
}

typedef struct {
    int64_t begin, end; /* bytes [begin, end); end < 0: to the end of the file */
    int state;          /* HW_TODO, HW_RUNNING, HW_DONE */
    int valid;          /* its start state is known to be the true one (set when it
                           is picked with the true state, or when its guess is checked) */
    int redo;           /* the guess was wrong: the worker throws its work away */
    int guess_ready;    /* `guess` is set (a worker guesses without the lock) */
    hw_time guess;      /* the start state it was run from */
    hw_time end_state;  /* the state after its last line (when HW_DONE) */
    hw_result *head, *tail;
} hw_chunk;

struct hw_reader;

typedef struct {
    struct hw_reader *R;
    pthread_t thread;
    int running;
    hw_kernel K;
    uint8_t *buf;
} hw_worker;

typedef struct hw_reader {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int fd;
    size_t block;
    hw_chunk *chunks;
    size_t n_chunks, cur; /* cur: the chunk the consumer takes results from */
    int stop, failed;     /* failed: out of memory in a worker */
    hw_time first;        /* the true state at the start of chunk 0 */
    uint8_t *head;        /* bytes before chunk 0's (an unfinished line) */
    size_t head_n;
    int skipping;         /* chunk 0 starts inside an overlong line */
    int64_t first_lineno, next_lineno; /* absolute numbers of lines */
    int64_t base;         /* added to the line numbers of chunk cur's invalid lines */
    hw_worker workers[HW_MAX_WORKERS];
    int n_workers;
    int64_t guessed, redone; /* chunks run from a guess; guesses found wrong */
    /* The timeline's start, smallest ts before it and invalid lines before it,
     * once a result handed over has started: they never change again. */
    int have_start;
    int64_t start, min_ts, pending_invalid;
} hw_reader;

static ssize_t hw_pread(int fd, uint8_t *buf, size_t n, int64_t offset) {
    ssize_t got;
    do {
        got = pread(fd, buf, n, (off_t)offset);
    } while (got < 0 && errno == EINTR);
    return got;
}

/* The offset of the first line start at or after `at` (after a newline), or
 * -1 when there is none before the end of the file; -2 on a read error. */
static int64_t hw_line_start(int fd, int64_t at, uint8_t *scratch, size_t n) {
    if (at <= 0) return 0;
    int64_t pos = at - 1;
    for (;;) {
        ssize_t got = hw_pread(fd, scratch, n, pos);
        if (got < 0) return -2;
        if (got == 0) return -1;
        const uint8_t *nl = memchr(scratch, '\n', (size_t)got);
        if (nl) return pos + (nl - scratch) + 1;
        pos += got;
    }
}

/* M at `begin` as a sequential run would most likely have it: the largest
 * timestamp among the whole lines of the window before it, or `known`, the
 * true M at an earlier chunk's end, when that is larger (a log whose second
 * half starts in the past: its lines stay below the first half's M). Both
 * are at most the true M, which is the largest timestamp read so far. */
static void hw_guess(hw_worker *W, int64_t begin, int64_t known, hw_time *t) {
    hw_kernel *K = &W->K;
    int64_t from = begin > HW_GUESS_WINDOW ? begin - HW_GUESS_WINDOW : 0;
    size_t n = (size_t)(begin - from);
    int64_t best = known;
    ssize_t got = n ? hw_pread(W->R->fd, W->buf, n, from) : 0;
    if (got > 0) {
        const uint8_t *p = W->buf, *end = W->buf + got;
        if (from > 0) { /* skip the partial first line */
            const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
            p = nl ? nl + 1 : end;
        }
        while (p < end) {
            const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
            const uint8_t *stop = nl ? nl : end;
            size_t len = (size_t)(stop - p);
            if (len && p[len - 1] == '\r') len--;
            if (len) {
                hw_rec r;
                int64_t nfields = 0;
                if (hw_parse_line(K->format, p, len, &r, K->scratch, &K->stamps, &nfields) ==
                        HW_OK &&
                    r.ts > best)
                    best = r.ts;
            }
            p = nl ? nl + 1 : end;
        }
    }
    memset(t, 0, sizeof *t);
    t->started = best >= 0;
    t->max_ts = best;
    t->final = best - K->lag;
    t->min_ts = best;
}

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
    int64_t offset = ch->begin;
    for (;;) {
        pthread_mutex_lock(&R->mu);
        int redo = ch->redo, stop = R->stop;
        pthread_mutex_unlock(&R->mu);
        if (stop || redo) return hw_kernel_reset(K);
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
        if (hw_feed(K, W->buf, used, lineno) < 0) return -1;
        res = hw_detach(K, last);
        if (res == NULL) return -1;
        lineno += res->lines;
        res->used = (int64_t)used;
        size_t rest = have - used;
        if (rest > HW_MAX_LINE + 2) {
            rest = HW_MAX_LINE + 2;
            skipping = 1;
        }
        memmove(W->buf, W->buf + used, rest);
        have = rest;
        if (last) hw_time_get(K, &ch->end_state);
        hw_chunk_push(R, ch, res);
        if (last) return 0;
    }
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

static int hw_same_time(const hw_time *a, const hw_time *b) {
    return a->started && b->started && a->max_ts == b->max_ts && a->final == b->final;
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
            pthread_cond_wait(&R->cv, &R->mu);
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
    pthread_cond_broadcast(&R->cv);
    pthread_mutex_unlock(&R->mu);
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
    }
    if (R->chunks)
        for (size_t c = 0; c < R->n_chunks; c++) hw_chunk_drop(&R->chunks[c]);
    free(R->chunks);
    free(R->head);
    pthread_cond_destroy(&R->cv);
    pthread_mutex_destroy(&R->mu);
    memset(R, 0, sizeof *R);
}

/* Starts reading `fd` from `offset` (after `head`, the unfinished line
 * before it) with `n_workers` threads, from time state `first`. The file is
 * cut in chunks of about `chunk` bytes of its current size. 0, or -1 with
 * errno set. */
static int hw_reader_start(hw_reader *R, const hw_kernel *model, const hw_time *first, int fd,
                           int64_t offset, const uint8_t *head, size_t head_n,
                           int64_t first_lineno, size_t block, int skipping, int n_workers,
                           int64_t chunk) {
    memset(R, 0, sizeof *R);
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
    int64_t size = fstat(fd, &st) == 0 ? (int64_t)st.st_size : 0;
    int64_t span = size > offset ? size - offset : 0;
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
        W->buf = malloc(block + HW_GUESS_WINDOW + HW_MAX_LINE + 2);
        if (W->buf == NULL ||
            hw_init(&W->K, model->format, model->interval, model->lag - 1, model->seed ^ (i + 1)) <
                0)
            goto nomem;
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
