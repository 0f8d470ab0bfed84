/*
 * pio: native file I/O for scstd's fileio/blockio backstore (src/engine/backstore/pio.ts).
 *
 * Why an addon: Node's fs.read/fs.write cost one libuv thread-pool job per call (queue, futex
 * wake, pread, async wake-up, callback), which on a page-cached LUN is far more than the copy
 * itself. Node offers neither preadv2(RWF_NOWAIT) -- which lets the event loop copy cached data
 * directly and never wait for the disk -- nor a way to run many operations in one pool job. No
 * well-kept npm package does either, so this is a small one written for the purpose: plain C
 * against node_api.h only.
 *
 * Exports:
 *   readNowait(fd, buf, off, len, pos) -> bytes read (may be short) or -errno; -EAGAIN when the
 *     data is not in the page cache, -EOPNOTSUPP where the file system cannot do it. Never waits
 *     for the disk.
 *   submit(desc, count, bufs, done): runs `count` operations in order in ONE libuv pool job.
 *     desc is a Float64Array of PIO_STRIDE numbers per operation:
 *       [op, fd, off, len, pos, result]
 *     op = PIO_READ | PIO_WRITE | PIO_FDATASYNC, optionally | PIO_SYNC_AFTER; bufs[i] is the
 *     Buffer of operation i (ignored for fdatasync). When all are done the result slots hold the
 *     bytes transferred (a read stopped by end of file is zero-filled to len and reports what it
 *     read) or -errno, and done() is called once, with no arguments, on the main thread.
 *   createWriter() -> writer: a thread of its own for one stream of plain buffered writes.
 *   submit(desc, count, bufs, done, writer): the same batch run on that thread instead of the pool.
 *   stride, abi: layout constants the JS side checks before trusting this binary.
 *
 * Why writer threads: a buffered write cannot be issued without blocking (pwritev2 RWF_NOWAIT is
 * EOPNOTSUPP for buffered writes on ext4 and tmpfs), so writes must leave the event loop; they
 * serialize on the file's inode lock anyway, so the JS side keeps one batch per file out at a
 * time. Through libuv's pool of 4 that batch woke a different, long-idle thread each time; a
 * writer is one thread that a file's batches always go to (4 KiB writes at QD32 with the daemon
 * on one CPU: ~95k IOPS through the pool, ~110k through a writer, the same as with a pool of
 * one), without shrinking the pool that reads from disk and fdatasync need.
 *
 * Buffers and descriptor are kept alive by references until done() runs; the worker only touches
 * plain memory captured on the main thread, never a JS value.
 */
#ifndef __linux__
#error "pio is Linux only (preadv2 RWF_NOWAIT); scstd falls back to libuv's thread pool elsewhere"
#endif

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <node_api.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>

#ifndef RWF_NOWAIT
#define RWF_NOWAIT 0x00000008
#endif

#define PIO_ABI 2
#define PIO_STRIDE 6
#define PIO_READ 0
#define PIO_WRITE 1
#define PIO_FDATASYNC 2
#define PIO_KIND_MASK 3
#define PIO_SYNC_AFTER 4
/* Bounds the allocation a single submit can ask for; the JS batcher uses far fewer. */
#define PIO_MAX_OPS 4096
/* An interrupted call is retried, but not forever. */
#define PIO_EINTR_RETRIES 64
/* Largest transfer Linux does in one call; also keeps lengths well inside ssize_t. */
#define PIO_MAX_LEN 0x7ffff000u
/* Positions must stay exact in a double. */
#define PIO_MAX_POS 9007199254740992.0

typedef struct {
  int kind;
  int sync_after;
  int fd;
  uint8_t *p;
  size_t len;
  off_t pos;
  napi_ref buf_ref;
  double result;
} pio_op;

typedef struct pio_batch pio_batch;
struct pio_batch {
  napi_async_work work;
  napi_ref desc_ref;
  napi_ref done_ref;
  pio_batch *next; /* in a writer's queue */
  uint32_t count;
  pio_op ops[];
};

/*
 * A writer thread. The queue and stop are shared with the thread under mu, abandoned under
 * call_mu; the rest belongs to the main thread, except tsfn, which the thread calls while it may.
 * Neither lock is held across a system call or a call into Node, so neither thread ever waits
 * for the other while it works (on one CPU that wait is a pair of context switches).
 * Freed by whichever of the thread and the JS side lets go last (refs).
 */
typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pio_batch *head, *tail;
  int stop;
  /* Taken by the thread around each call of tsfn, by the main thread only at env teardown. */
  pthread_mutex_t call_mu;
  /* Env teardown gave up waiting for the thread: it must not touch tsfn or the env again. */
  int abandoned;
  int refs;
  pthread_t thread;
  napi_threadsafe_function tsfn;
  /* Batches submitted and not completed: the loop is kept alive while there are any. */
  uint32_t inflight;
  int hooked;
} pio_writer;

/* Marks the externals createWriter returns, so submit can trust what it is given. */
static const napi_type_tag writer_tag = {0x7363737464706f69ull, 0x6f2d777269746572ull};
/* How long env teardown waits for a writer thread to finish its queue. */
#define PIO_WRITER_JOIN_SECONDS 1

static int writer_queue(napi_env env, pio_writer *w, pio_batch *b);

#define CHECK(env, call)                                                   \
  do {                                                                     \
    if ((call) != napi_ok) {                                               \
      napi_throw_error((env), "ERR_PIO", "pio: N-API call failed: " #call); \
      return NULL;                                                         \
    }                                                                      \
  } while (0)

static int is_index(double v, double max) { return v >= 0 && v <= max && v == (double)(int64_t)v; }

/* ---- readNowait ---------------------------------------------------------------------------- */

static ssize_t read_nowait(int fd, void *p, size_t len, off_t pos) {
  struct iovec iov = {.iov_base = p, .iov_len = len};
  for (int tries = 0;; tries++) {
    ssize_t r = preadv2(fd, &iov, 1, pos, RWF_NOWAIT);
    if (r >= 0) return r;
    if (errno != EINTR || tries >= PIO_EINTR_RETRIES) return -errno;
  }
}

static napi_value js_read_nowait(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "readNowait(fd, buf, off, len, pos)");
    return NULL;
  }
  double fd, off, len, pos;
  bool isbuf = false;
  void *data = NULL;
  size_t blen = 0;
  if (napi_get_value_double(env, argv[0], &fd) != napi_ok || napi_get_value_double(env, argv[2], &off) != napi_ok ||
      napi_get_value_double(env, argv[3], &len) != napi_ok || napi_get_value_double(env, argv[4], &pos) != napi_ok ||
      napi_is_buffer(env, argv[1], &isbuf) != napi_ok || !isbuf) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "readNowait(fd: number, buf: Buffer, off, len, pos: number)");
    return NULL;
  }
  CHECK(env, napi_get_buffer_info(env, argv[1], &data, &blen));
  if (!is_index(fd, INT_MAX) || !is_index(off, (double)blen) || !is_index(len, PIO_MAX_LEN) || off + len > (double)blen ||
      !is_index(pos, PIO_MAX_POS - len)) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "readNowait: fd, offset, length or position out of range");
    return NULL;
  }
  ssize_t r = len == 0 ? 0 : read_nowait((int)fd, (uint8_t *)data + (size_t)off, (size_t)len, (off_t)pos);
  napi_value out;
  CHECK(env, napi_create_int64(env, (int64_t)r, &out));
  return out;
}

/* ---- batched submission -------------------------------------------------------------------- */

static double sync_fd(int fd) {
  for (int tries = 0;; tries++) {
    if (fdatasync(fd) == 0) return 0;
    if (errno != EINTR || tries >= PIO_EINTR_RETRIES) return -errno;
  }
}

/* Reads all of len unless end of file comes first; the rest is then zero-filled (a file that
 * shrank underneath the LUN reads as zeroes) and the bytes actually read are reported. */
static double read_full(const pio_op *op) {
  size_t done = 0;
  int tries = 0;
  while (done < op->len) {
    ssize_t r = pread(op->fd, op->p + done, op->len - done, op->pos + (off_t)done);
    if (r < 0) {
      if (errno == EINTR && tries++ < PIO_EINTR_RETRIES) continue;
      return -errno;
    }
    if (r == 0) {
      memset(op->p + done, 0, op->len - done);
      break;
    }
    done += (size_t)r;
  }
  return (double)done;
}

/*
 * A writer thread that shares a CPU with the event loop (a daemon confined to one CPU) would hold
 * it for a whole batch: a batch of 1 MiB writes is milliseconds, during which a small command
 * waits. So a writer gives the CPU back after each PIO_YIELD_BYTES it writes: sched_yield() lets
 * a waiting event loop run first and costs a system call when nobody waits. Batches of small
 * writes yield as rarely as one large write does.
 */
#define PIO_YIELD_BYTES (128 * 1024)

/* `budget`: bytes left before the next yield, or NULL where nothing should yield (the pool). */
static double write_full(const pio_op *op, size_t *budget) {
  size_t done = 0;
  int tries = 0;
  while (done < op->len) {
    size_t want = op->len - done;
    if (budget && want > *budget) want = *budget;
    ssize_t r = pwrite(op->fd, op->p + done, want, op->pos + (off_t)done);
    if (r < 0) {
      if (errno == EINTR && tries++ < PIO_EINTR_RETRIES) continue;
      return -errno;
    }
    /* No progress on a non-empty write would spin forever; the device is not taking data. */
    if (r == 0) return -EIO;
    done += (size_t)r;
    if (budget) {
      *budget -= (size_t)r < *budget ? (size_t)r : *budget;
      if (*budget == 0) {
        sched_yield();
        *budget = PIO_YIELD_BYTES;
      }
    }
  }
  return (double)done;
}

static void batch_execute(napi_env env, void *data) {
  /* Worker thread: no JS here; env only tells a pool job from a writer thread's batch. */
  pio_batch *b = data;
  /* Only a writer thread (no env) yields: pool jobs are reads from disk and syncs, which wait on
   * the device rather than hold a CPU. */
  size_t left = PIO_YIELD_BYTES;
  size_t *budget = env ? NULL : &left;
  for (uint32_t i = 0; i < b->count; i++) {
    pio_op *op = &b->ops[i];
    double r = op->kind == PIO_READ ? read_full(op) : op->kind == PIO_WRITE ? write_full(op, budget) : sync_fd(op->fd);
    if (r >= 0 && op->sync_after && op->kind != PIO_FDATASYNC) {
      double s = sync_fd(op->fd);
      if (s < 0) r = s;
    }
    op->result = r;
  }
}

static void batch_free(napi_env env, pio_batch *b, uint32_t nrefs) {
  for (uint32_t i = 0; i < nrefs; i++)
    if (b->ops[i].buf_ref) napi_delete_reference(env, b->ops[i].buf_ref);
  if (b->desc_ref) napi_delete_reference(env, b->desc_ref);
  if (b->done_ref) napi_delete_reference(env, b->done_ref);
  if (b->work) napi_delete_async_work(env, b->work);
  free(b);
}

static void batch_complete(napi_env env, napi_status status, void *data) {
  pio_batch *b = data;
  napi_value desc = NULL, done = NULL, global = NULL;
  napi_get_reference_value(env, b->desc_ref, &desc);
  napi_get_reference_value(env, b->done_ref, &done);
  napi_typedarray_type type;
  size_t length = 0;
  void *raw = NULL;
  if (desc && napi_get_typedarray_info(env, desc, &type, &length, &raw, NULL, NULL) == napi_ok && type == napi_float64_array &&
      length >= (size_t)b->count * PIO_STRIDE) {
    double *d = raw;
    for (uint32_t i = 0; i < b->count; i++) d[i * PIO_STRIDE + 5] = status == napi_ok ? b->ops[i].result : -ECANCELED;
  }
  batch_free(env, b, b->count);
  /* A throwing callback surfaces as an uncaught exception, as from any other I/O callback. */
  if (done && napi_get_global(env, &global) == napi_ok) napi_call_function(env, global, done, 0, NULL, NULL);
}

static napi_value submit_fail(napi_env env, pio_batch *b, uint32_t nrefs, int range, const char *msg) {
  batch_free(env, b, nrefs);
  if (range)
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
  else
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return NULL;
}

static napi_value js_submit(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  const char *usage = "submit(desc: Float64Array, count: number, bufs: Array<Buffer | null>, done: () => void, writer?)";
  bool is_ta = false, is_arr = false;
  napi_valuetype cbtype = napi_undefined;
  double count_d = 0;
  if (argc < 4 || napi_is_typedarray(env, argv[0], &is_ta) != napi_ok || !is_ta ||
      napi_get_value_double(env, argv[1], &count_d) != napi_ok || napi_is_array(env, argv[2], &is_arr) != napi_ok || !is_arr ||
      napi_typeof(env, argv[3], &cbtype) != napi_ok || cbtype != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", usage);
    return NULL;
  }
  pio_writer *w = NULL;
  if (argc >= 5) {
    napi_valuetype wtype = napi_undefined;
    CHECK(env, napi_typeof(env, argv[4], &wtype));
    if (wtype == napi_external) {
      bool ours = false;
      void *p = NULL;
      CHECK(env, napi_check_object_type_tag(env, argv[4], &writer_tag, &ours));
      if (!ours) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "submit: writer is not a pio writer");
        return NULL;
      }
      CHECK(env, napi_get_value_external(env, argv[4], &p));
      w = p;
    } else if (wtype != napi_undefined) {
      napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", usage);
      return NULL;
    }
  }
  napi_typedarray_type type;
  size_t dlen = 0;
  void *raw = NULL;
  uint32_t nbufs = 0;
  CHECK(env, napi_get_typedarray_info(env, argv[0], &type, &dlen, &raw, NULL, NULL));
  CHECK(env, napi_get_array_length(env, argv[2], &nbufs));
  if (type != napi_float64_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", usage);
    return NULL;
  }
  if (!is_index(count_d, PIO_MAX_OPS) || count_d < 1 || count_d * PIO_STRIDE > (double)dlen) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "submit: count must be 1..4096 and fit in desc");
    return NULL;
  }
  uint32_t count = (uint32_t)count_d;
  const double *d = raw;
  pio_batch *b = calloc(1, sizeof(pio_batch) + (size_t)count * sizeof(pio_op));
  if (!b) {
    napi_throw_error(env, "ENOMEM", "submit: out of memory");
    return NULL;
  }
  b->count = count;
  for (uint32_t i = 0; i < count; i++) {
    const double *e = d + (size_t)i * PIO_STRIDE;
    pio_op *op = &b->ops[i];
    if (!is_index(e[0], PIO_KIND_MASK | PIO_SYNC_AFTER) || ((int)e[0] & PIO_KIND_MASK) > PIO_FDATASYNC || !is_index(e[1], INT_MAX))
      return submit_fail(env, b, i, 1, "submit: bad op or fd");
    op->kind = (int)e[0] & PIO_KIND_MASK;
    op->sync_after = ((int)e[0] & PIO_SYNC_AFTER) != 0;
    op->fd = (int)e[1];
    if (op->kind == PIO_FDATASYNC) continue;
    napi_value buf;
    bool isbuf = false;
    void *bdata = NULL;
    size_t blen = 0;
    if (i >= nbufs || napi_get_element(env, argv[2], i, &buf) != napi_ok || napi_is_buffer(env, buf, &isbuf) != napi_ok || !isbuf ||
        napi_get_buffer_info(env, buf, &bdata, &blen) != napi_ok)
      return submit_fail(env, b, i, 0, "submit: bufs[i] must be a Buffer for a read or write");
    if (!is_index(e[2], (double)blen) || !is_index(e[3], PIO_MAX_LEN) || e[2] + e[3] > (double)blen || !is_index(e[4], PIO_MAX_POS - e[3]))
      return submit_fail(env, b, i, 1, "submit: offset, length or position out of range");
    op->p = (uint8_t *)bdata + (size_t)e[2];
    op->len = (size_t)e[3];
    op->pos = (off_t)e[4];
    if (napi_create_reference(env, buf, 1, &op->buf_ref) != napi_ok) return submit_fail(env, b, i, 0, "submit: cannot reference a buffer");
  }
  if (napi_create_reference(env, argv[0], 1, &b->desc_ref) != napi_ok || napi_create_reference(env, argv[3], 1, &b->done_ref) != napi_ok)
    return submit_fail(env, b, count, 0, "submit: cannot reference the batch");
  if (w) {
    if (writer_queue(env, w, b) != 0) return submit_fail(env, b, count, 0, "submit: the writer has stopped");
    return NULL;
  }
  napi_value name;
  if (napi_create_string_latin1(env, "scstd:pio", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, batch_execute, batch_complete, b, &b->work) != napi_ok ||
      napi_queue_async_work(env, b->work) != napi_ok)
    return submit_fail(env, b, count, 0, "submit: cannot queue the batch");
  return NULL;
}

/* ---- writer threads ------------------------------------------------------------------------ */

static void writer_free(pio_writer *w) {
  pthread_mutex_destroy(&w->mu);
  pthread_mutex_destroy(&w->call_mu);
  pthread_cond_destroy(&w->cv);
  free(w);
}

static void writer_put(pio_writer *w) {
  if (__atomic_sub_fetch(&w->refs, 1, __ATOMIC_ACQ_REL) == 0) writer_free(w);
}

static void *writer_main(void *arg) {
  pio_writer *w = arg;
  for (;;) {
    pthread_mutex_lock(&w->mu);
    while (!w->head && !w->stop) pthread_cond_wait(&w->cv, &w->mu);
    pio_batch *b = w->head;
    if (b) {
      w->head = b->next;
      if (!w->head) w->tail = NULL;
    }
    pthread_mutex_unlock(&w->mu);
    if (!b) break; /* stopped, and nothing left to run */
    batch_execute(NULL, b);
    pthread_mutex_lock(&w->call_mu);
    /* Fails only while the env is torn down; the batch's references die with the env then. */
    if (!w->abandoned) napi_call_threadsafe_function(w->tsfn, b, napi_tsfn_nonblocking);
    pthread_mutex_unlock(&w->call_mu);
  }
  pthread_mutex_lock(&w->call_mu);
  int abandoned = w->abandoned;
  pthread_mutex_unlock(&w->call_mu);
  if (!abandoned) napi_release_threadsafe_function(w->tsfn, napi_tsfn_release);
  writer_put(w);
  return NULL;
}

/* On the main thread, for each batch the writer has run. */
static void writer_call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)js_cb;
  pio_writer *w = context;
  pio_batch *b = data;
  if (!env) {
    /* The function is being torn down with the env: nothing to call, no references to delete. */
    free(b);
  } else {
    if (--w->inflight == 0) napi_unref_threadsafe_function(env, w->tsfn);
    batch_complete(env, napi_ok, b);
  }
  writer_put(w); /* the batch's hold on the writer */
}

/* Main thread: hands b to w's thread; -1 when the writer no longer runs. */
static int writer_queue(napi_env env, pio_writer *w, pio_batch *b) {
  pthread_mutex_lock(&w->mu);
  if (w->stop) {
    pthread_mutex_unlock(&w->mu);
    return -1;
  }
  __atomic_add_fetch(&w->refs, 1, __ATOMIC_ACQ_REL);
  b->next = NULL;
  if (w->tail)
    w->tail->next = b;
  else
    w->head = b;
  w->tail = b;
  pthread_mutex_unlock(&w->mu);
  /* After unlocking: woken while the lock is still held, the thread would only block on it. */
  pthread_cond_signal(&w->cv);
  if (w->inflight++ == 0) napi_ref_threadsafe_function(env, w->tsfn);
  return 0;
}

static void writer_stop(pio_writer *w) {
  pthread_mutex_lock(&w->mu);
  w->stop = 1;
  pthread_mutex_unlock(&w->mu);
  pthread_cond_signal(&w->cv);
}

/*
 * Env teardown (registered after the writer's threadsafe function, so it runs before that is
 * closed): the thread finishes what it was given and exits. The wait is bounded; a thread stuck
 * in a write (a hung NFS server) is left behind, told never to touch the env again.
 */
static void writer_teardown(void *arg) {
  pio_writer *w = arg;
  w->hooked = 0;
  writer_stop(w);
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += PIO_WRITER_JOIN_SECONDS;
  if (pthread_timedjoin_np(w->thread, NULL, &until) == 0) return;
  pthread_mutex_lock(&w->call_mu);
  w->abandoned = 1;
  pthread_mutex_unlock(&w->call_mu);
  pthread_detach(w->thread);
}

/* The JS handle is gone (collected, or the env is going): the thread exits once its queue is empty. */
static void writer_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  pio_writer *w = data;
  if (w->hooked) {
    w->hooked = 0;
    napi_remove_env_cleanup_hook(env, writer_teardown, w);
    writer_stop(w);
    pthread_detach(w->thread);
  }
  writer_put(w);
}

static napi_value js_create_writer(napi_env env, napi_callback_info info) {
  (void)info;
  pio_writer *w = calloc(1, sizeof(pio_writer));
  if (!w) {
    napi_throw_error(env, "ENOMEM", "createWriter: out of memory");
    return NULL;
  }
  w->refs = 2; /* the thread and the JS handle */
  pthread_mutex_init(&w->mu, NULL);
  pthread_mutex_init(&w->call_mu, NULL);
  pthread_cond_init(&w->cv, NULL);
  napi_value name, out;
  if (napi_create_string_latin1(env, "scstd:pio-writer", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, NULL, NULL, w, writer_call_js, &w->tsfn) != napi_ok) {
    writer_free(w);
    napi_throw_error(env, "ERR_PIO", "createWriter: cannot create the completion channel");
    return NULL;
  }
  /* Idle writers must not keep the process alive; writer_queue refs it while batches are out. */
  napi_unref_threadsafe_function(env, w->tsfn);
  int err = pthread_create(&w->thread, NULL, writer_main, w);
  if (err != 0) {
    napi_release_threadsafe_function(w->tsfn, napi_tsfn_abort);
    writer_free(w);
    napi_throw_error(env, "ERR_PIO", "createWriter: cannot start a thread");
    return NULL;
  }
  pthread_setname_np(w->thread, "scstd-writer");
  if (napi_create_external(env, w, writer_finalize, NULL, &out) != napi_ok) {
    writer_stop(w);
    pthread_detach(w->thread);
    writer_put(w);
    napi_throw_error(env, "ERR_PIO", "createWriter: cannot wrap the writer");
    return NULL;
  }
  /* From here the external's finalizer owns the JS side's hold. */
  napi_add_env_cleanup_hook(env, writer_teardown, w);
  w->hooked = 1;
  CHECK(env, napi_type_tag_object(env, out, &writer_tag));
  return out;
}

/* ---- module -------------------------------------------------------------------------------- */

NAPI_MODULE_INIT() {
  napi_value fn, num;
  CHECK(env, napi_create_function(env, "readNowait", NAPI_AUTO_LENGTH, js_read_nowait, NULL, &fn));
  CHECK(env, napi_set_named_property(env, exports, "readNowait", fn));
  CHECK(env, napi_create_function(env, "submit", NAPI_AUTO_LENGTH, js_submit, NULL, &fn));
  CHECK(env, napi_set_named_property(env, exports, "submit", fn));
  CHECK(env, napi_create_function(env, "createWriter", NAPI_AUTO_LENGTH, js_create_writer, NULL, &fn));
  CHECK(env, napi_set_named_property(env, exports, "createWriter", fn));
  CHECK(env, napi_create_uint32(env, PIO_STRIDE, &num));
  CHECK(env, napi_set_named_property(env, exports, "stride", num));
  CHECK(env, napi_create_uint32(env, PIO_ABI, &num));
  CHECK(env, napi_set_named_property(env, exports, "abi", num));
  return exports;
}
