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
 *
 * Workers parse the file where it lies, in a read-only map of it, rather
 * than copying it into a buffer with pread (a quarter of a worker's time on
 * a warm file, in perf's samples). A mapped page past the end of a file that shrank while it
 * was read (copytruncate) raises SIGBUS: each block checks the file's size
 * first, and a SIGBUS during a block's reads (the file shrank in between)
 * jumps back out of it; the chunk then ends with an error. pread remains for
 * what the map does not cover: the unfinished line before the first chunk,
 * a line longer than a block, a file that grew, or no map at all.
 *
 * With records on (Kernel(..., records=True)), each result carries the log
 * of the records it accepted (kernel_core.h, hw_log_record): a chunk thrown
 * away after a wrong guess takes its logs with it, like its counts. Logs
 * are up to half of what was read (CSV's short lines), so chunks are smaller
 * then (HW_RECORDS_CHUNK, 4 MiB: with 8 MiB the queued logs took the 10M-line
 * CSV bench file to 67 MB of peak RSS, now 59 MB; the guess window went from
 * 1 MiB to 256 KiB so that the smaller chunks read no more lines twice than
 * before), and their buffers go round: the consumer gives
 * them back to a pool the workers take from. Made by the workers and freed
 * by the consumer, they left the malloc heap holding 35 MB more than they
 * ever needed at once on a 10M-line log.
 */
#ifndef HITWATCH_READER_H
#define HITWATCH_READER_H

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernel_core.h"

#define HW_AHEAD 2          /* chunks a worker may run past the consumer's */
#define HW_GUESS_WINDOW (256 << 10) /* bytes read before a chunk to guess its M */
#define HW_MAX_WORKERS 4
#define HW_DROP_IDLE (1 << 20) /* bytes read but not dropped that the consumer drops when idle */
#define HW_DROP_SELF (4 << 20) /* ... that a worker drops itself (bounds the RSS) */
#define HW_RECORDS_CHUNK (4 << 20) /* the largest chunk with records on */
#define HW_LOG_POOL 32             /* record log buffers kept for the workers */

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
    int64_t read_to, dropped_to; /* pages of the map: read up to, dropped from the start up to */
    hw_result *head, *tail;
} hw_chunk;

struct hw_reader;

typedef struct {
    struct hw_reader *R;
    pthread_t thread;
    int running;
    hw_kernel K;
    uint8_t *buf;
    int bus_slot; /* its entry in hw_bus while it reads the map, else -1 */
    hw_ranked *rank_buf; /* hw_compact's scratch */
    size_t rank_cap;
    int64_t floor; /* intervals up to it go over as counts (see hw_compact_result) */
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
    const uint8_t *map; /* the file's first map_n bytes, or NULL: pread only */
    int64_t unmapped;   /* bytes [0, unmapped) of the map are unmapped (a page multiple) */
    int64_t map_n;
    int64_t page; /* the page size */
    int unchecked; /* tests: the file's size is not checked before each block */
    /* Complete intervals past the floor are compacted by the workers for
     * Report (hw_compact) when top >= 0; the engine holds counts of
     * intervals up to floor when the read starts. */
    int64_t top, floor;
    /* Intervals a chunk handed over unfinished at its end (the consumer's):
     * the next chunk's counts of them are added here, and they go on with the
     * result in which they are complete (or the last one), compacted then by
     * the consumer, so that Python never merges and ranks their keys. */
    hw_interval **carry;
    size_t carry_n, carry_cap;
    /* Record log buffers handed back by the consumer, for the workers. */
    struct {
        uint8_t *p;
        size_t cap;
    } logs[HW_LOG_POOL];
    size_t logs_n;
    /* Lazy logs: a block read from the map, whose bytes are the file's own,
     * carries its offset instead of its log, which Python makes again by
     * reading those bytes from the same state if an alert needs them. */
    int lazy;
} hw_reader;

#define HW_SHRANK (-2) /* hw_result.error: the file shrank under a mapped read */

/* ------------------------------------------------- SIGBUS on mapped reads
 * A worker about to read the map registers the sigjmp_buf to go back to; the
 * handler jumps there when the signal hits a registered thread, and else does
 * what the previous disposition would have (Python's faulthandler, or the
 * default: end the process). Slots, not thread-local storage: a handler may
 * not allocate, and a module's TLS may be allocated on first use. */
#define HW_BUS_SLOTS 64
static struct {
    int used;
    pthread_t thread;
    sigjmp_buf *env;
} hw_bus[HW_BUS_SLOTS];
static struct sigaction hw_bus_previous;
static pthread_mutex_t hw_bus_mu = PTHREAD_MUTEX_INITIALIZER;
static int hw_bus_installed;

static void hw_bus_handler(int sig, siginfo_t *info, void *ctx) {
    pthread_t self = pthread_self();
    for (int i = 0; i < HW_BUS_SLOTS; i++) {
        if (__atomic_load_n(&hw_bus[i].used, __ATOMIC_ACQUIRE) == 1 &&
            pthread_equal(hw_bus[i].thread, self) && hw_bus[i].env != NULL)
            siglongjmp(*hw_bus[i].env, 1);
    }
    if (hw_bus_previous.sa_flags & SA_SIGINFO) {
        hw_bus_previous.sa_sigaction(sig, info, ctx);
        return;
    }
    void (*previous)(int) = hw_bus_previous.sa_handler;
    if (previous == SIG_IGN && info->si_code <= 0) return; /* sent, and ignored */
    if (previous == SIG_DFL || previous == SIG_IGN) {
        /* A fault no one handles: the default action, once this returns. */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    previous(sig);
}

/* Installs the handler once per process. 0, or -1 (then no map is used). */
static int hw_bus_install(void) {
    pthread_mutex_lock(&hw_bus_mu);
    if (!hw_bus_installed) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = hw_bus_handler;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGBUS, &sa, &hw_bus_previous) == 0) hw_bus_installed = 1;
    }
    int ok = hw_bus_installed;
    pthread_mutex_unlock(&hw_bus_mu);
    return ok ? 0 : -1;
}

/* Registers `env` for this thread: its slot, or -1 when all are taken. */
static int hw_bus_arm(sigjmp_buf *env) {
    for (int i = 0; i < HW_BUS_SLOTS; i++) {
        int expected = 0;
        if (__atomic_compare_exchange_n(&hw_bus[i].used, &expected, 2, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED)) {
            /* 2 while it is filled in: the handler only looks at 1 */
            hw_bus[i].thread = pthread_self();
            hw_bus[i].env = env;
            __atomic_store_n(&hw_bus[i].used, 1, __ATOMIC_RELEASE);
            return i;
        }
    }
    return -1;
}

/* Frees the slot *slot holds, if any, and sets it to -1. */
static void hw_bus_disarm(int *slot) {
    if (*slot < 0) return;
    hw_bus[*slot].env = NULL;
    __atomic_store_n(&hw_bus[*slot].used, 0, __ATOMIC_RELEASE);
    *slot = -1;
}

static ssize_t hw_pread(int fd, uint8_t *buf, size_t n, int64_t offset) {
    ssize_t got;
    do {
        got = pread(fd, buf, n, (off_t)offset);
    } while (got < 0 && errno == EINTR);
    return got;
}

/* The offset of the first line start at or after `at` (after a newline), or
 * -1 when there is none before the end of the file; -2 on a read error.
 * Reads a little first (the newline is usually a line away), then more. */
static int64_t hw_line_start(int fd, int64_t at, uint8_t *scratch, size_t n) {
    if (at <= 0) return 0;
    int64_t pos = at - 1;
    size_t want = n < 4096 ? n : 4096;
    for (;;) {
        ssize_t got = hw_pread(fd, scratch, want, pos);
        if (got < 0) return -2;
        if (got == 0) return -1;
        const uint8_t *nl = memchr(scratch, '\n', (size_t)got);
        if (nl) return pos + (nl - scratch) + 1;
        pos += got;
        if (want < n / 2) want *= 2;
    }
}

/* M at `begin` as a sequential run would most likely have it: the largest
 * timestamp among the whole lines of the window before it, or `known`, the
 * true M at an earlier chunk's end, when that is larger (a log whose second
 * half starts in the past: its lines stay below the first half's M). Both
 * are at most the true M, which is the largest timestamp read so far. */
static void hw_guess(hw_worker *W, int64_t begin, int64_t known, hw_time *t) {
    /* pread, not the map: the consumer may unmap the chunk before this one
     * (hw_reader_next) while this reads its end. */
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
                if (hw_parse_k(K, p, len, &r, &nfields) == HW_OK && r.ts > best)
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
