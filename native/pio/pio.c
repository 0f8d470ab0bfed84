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
 *   stride, abi: layout constants the JS side checks before trusting this binary.
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

#ifndef RWF_NOWAIT
#define RWF_NOWAIT 0x00000008
#endif

#define PIO_ABI 1
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

typedef struct {
  napi_async_work work;
  napi_ref desc_ref;
  napi_ref done_ref;
  uint32_t count;
  pio_op ops[];
} pio_batch;

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

static double write_full(const pio_op *op) {
  size_t done = 0;
  int tries = 0;
  while (done < op->len) {
    ssize_t r = pwrite(op->fd, op->p + done, op->len - done, op->pos + (off_t)done);
    if (r < 0) {
      if (errno == EINTR && tries++ < PIO_EINTR_RETRIES) continue;
      return -errno;
    }
    /* No progress on a non-empty write would spin forever; the device is not taking data. */
    if (r == 0) return -EIO;
    done += (size_t)r;
  }
  return (double)done;
}

static void batch_execute(napi_env env, void *data) {
  (void)env; /* worker thread: no JS here */
  pio_batch *b = data;
  for (uint32_t i = 0; i < b->count; i++) {
    pio_op *op = &b->ops[i];
    double r = op->kind == PIO_READ ? read_full(op) : op->kind == PIO_WRITE ? write_full(op) : sync_fd(op->fd);
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
  size_t argc = 4;
  napi_value argv[4];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  const char *usage = "submit(desc: Float64Array, count: number, bufs: Array<Buffer | null>, done: () => void)";
  bool is_ta = false, is_arr = false;
  napi_valuetype cbtype = napi_undefined;
  double count_d = 0;
  if (argc < 4 || napi_is_typedarray(env, argv[0], &is_ta) != napi_ok || !is_ta ||
      napi_get_value_double(env, argv[1], &count_d) != napi_ok || napi_is_array(env, argv[2], &is_arr) != napi_ok || !is_arr ||
      napi_typeof(env, argv[3], &cbtype) != napi_ok || cbtype != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", usage);
    return NULL;
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
  napi_value name;
  if (napi_create_reference(env, argv[0], 1, &b->desc_ref) != napi_ok || napi_create_reference(env, argv[3], 1, &b->done_ref) != napi_ok ||
      napi_create_string_latin1(env, "scstd:pio", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, batch_execute, batch_complete, b, &b->work) != napi_ok ||
      napi_queue_async_work(env, b->work) != napi_ok)
    return submit_fail(env, b, count, 0, "submit: cannot queue the batch");
  return NULL;
}

/* ---- module -------------------------------------------------------------------------------- */

NAPI_MODULE_INIT() {
  napi_value fn, num;
  CHECK(env, napi_create_function(env, "readNowait", NAPI_AUTO_LENGTH, js_read_nowait, NULL, &fn));
  CHECK(env, napi_set_named_property(env, exports, "readNowait", fn));
  CHECK(env, napi_create_function(env, "submit", NAPI_AUTO_LENGTH, js_submit, NULL, &fn));
  CHECK(env, napi_set_named_property(env, exports, "submit", fn));
  CHECK(env, napi_create_uint32(env, PIO_STRIDE, &num));
  CHECK(env, napi_set_named_property(env, exports, "stride", num));
  CHECK(env, napi_create_uint32(env, PIO_ABI, &num));
  CHECK(env, napi_set_named_property(env, exports, "abi", num));
  return exports;
}
