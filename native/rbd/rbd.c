/*
 * rbd: librbd for scstd's vdisk_rbd backstore (src/engine/backstore/rbd.ts).
 *
 * Why an addon: Node cannot call librbd, and no well-kept npm package binds its asynchronous API
 * (the few that exist wrap the synchronous calls or are unmaintained). This is a small binding
 * written for the purpose: plain C against node_api.h, librados.h and librbd.h only.
 *
 * Every data operation is librbd's own asynchronous call (rbd_aio_*): it is issued on the event
 * loop, librbd runs it on its own threads, and its completion callback (on a librbd thread)
 * queues the finished operation on the image and wakes the event loop through one thread-safe
 * function; the JS side then gets all finished operations of that wake-up in one call. No thread
 * per command, no synchronous librbd call on the event loop. Opening, closing, resizing and the
 * allocation map block inside librados/librbd, so they run as libuv pool jobs (napi_async_work).
 *
 * Exports:
 *   open({conf, id, keyring, pool, image, readOnly, connectTimeout, opTimeout}, onDone, cb):
 *     connects and opens the image in a pool job; cb(err | null, handle, size, objectSize).
 *     err carries errno (negative), code and stage ('create', 'config', 'connect', 'pool',
 *     'image', 'stat') so the caller can name the cause. onDone(done: Float64Array) is then called
 *     on the event loop with RBD_STRIDE numbers per finished operation: [id, result, mismatch].
 *   read(h, id, buf, off, len, pos), write(h, id, buf, off, len, pos, fua),
 *   discard(h, id, pos, len), writesame(h, id, pos, len, buf, off, blockLen),
 *   compareAndWrite(h, id, cmp, cmpOff, buf, off, len, pos), flush(h, id):
 *     issue one operation; 0 when it was issued (it then finishes through onDone exactly once)
 *     or -errno when it was refused (it then never does). The caller keeps its Buffers alive
 *     (referenced) until the operation has finished.
 *   size(h, cb), allocation(h, pos, len, maxRuns, cb), close(h, cb): pool jobs.
 *   stride, abi: layout constants the JS side checks before trusting this binary.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <node_api.h>
#include <rados/librados.h>
#include <rbd/librbd.h>

#define RBD_ABI 1
#define RBD_STRIDE 3
/* Positions must stay exact in a double. */
#define RBD_MAX_POS 9007199254740992.0
/* Bounds the allocation one map request can make. */
#define RBD_MAX_RUNS 65536

enum { OP_READ, OP_WRITE, OP_DISCARD, OP_WRITESAME, OP_CAW, OP_FLUSH };

typedef struct rbd_op rbd_op;

typedef struct {
  rados_t cluster;
  rados_ioctx_t io;
  rbd_image_t image;
  int connected;
  napi_threadsafe_function tsfn;
  pthread_mutex_t mu;
  rbd_op *done_head, *done_tail;
  /* A wake-up is pending on the event loop: later completions just join the list. */
  int signalled;
  /* Operations issued and not yet handed back to JS (event loop only). */
  uint32_t outstanding;
  /* close() was called: nothing more is issued. */
  int closing;
  /* The handle's librbd/librados objects are gone (set by the close job). */
  int closed;
} rbd_dev;

struct rbd_op {
  rbd_op *next;
  rbd_dev *dev;
  rbd_completion_t c;
  double id;
  ssize_t result;
  uint64_t mismatch;
};

/* ---- helpers ----------------------------------------------------------------------------- */

static napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

static napi_value number(napi_env env, double v) {
  napi_value n;
  napi_create_double(env, v, &n);
  return n;
}

/* An Error with errno/code/stage, as the JS side expects from open(). */
static napi_value errno_error(napi_env env, int neg, const char *stage) {
  char msg[256];
  const char *name = NULL;
  switch (-neg) {
    case ENOENT: name = "ENOENT"; break;
    case EACCES: name = "EACCES"; break;
    case EPERM: name = "EPERM"; break;
    case ETIMEDOUT: name = "ETIMEDOUT"; break;
    case EINVAL: name = "EINVAL"; break;
    case EIO: name = "EIO"; break;
    case ENOTCONN: name = "ENOTCONN"; break;
    case EROFS: name = "EROFS"; break;
    case EBUSY: name = "EBUSY"; break;
    case ENOMEM: name = "ENOMEM"; break;
    case ENOSYS: name = "ENOSYS"; break;
    case ESHUTDOWN: name = "ESHUTDOWN"; break;
    case ECONNREFUSED: name = "ECONNREFUSED"; break;
    default: name = NULL;
  }
  char code[24];
  if (!name) {
    snprintf(code, sizeof code, "E%d", -neg);
    name = code;
  }
  snprintf(msg, sizeof msg, "%s: %s (%s)", stage, strerror(-neg), name);
  napi_value m, e, c, s;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, NULL, m, &e);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &c);
  napi_create_string_utf8(env, stage, NAPI_AUTO_LENGTH, &s);
  napi_set_named_property(env, e, "code", c);
  napi_set_named_property(env, e, "errno", number(env, neg));
  napi_set_named_property(env, e, "stage", s);
  return e;
}

/* A string property as a malloc'd C string; NULL when absent, empty or not a string. */
static char *string_prop(napi_env env, napi_value obj, const char *key) {
  napi_value v;
  napi_valuetype t;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok || napi_typeof(env, v, &t) != napi_ok || t != napi_string) return NULL;
  size_t len;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok || len == 0 || len > 4096) return NULL;
  char *s = malloc(len + 1);
  if (!s) return NULL;
  napi_get_value_string_utf8(env, v, s, len + 1, &len);
  return s;
}

static double number_prop(napi_env env, napi_value obj, const char *key, double dflt) {
  napi_value v;
  double d;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok || napi_get_value_double(env, v, &d) != napi_ok) return dflt;
  return d;
}

static int bool_prop(napi_env env, napi_value obj, const char *key) {
  napi_value v;
  bool b = false;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok || napi_get_value_bool(env, v, &b) != napi_ok) return 0;
  return b;
}

static rbd_dev *get_dev(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok) return NULL;
  return p;
}

/* ---- completions ------------------------------------------------------------------------- */

/* On a librbd thread: queue the finished operation and wake the event loop once per batch. */
static void on_complete(rbd_completion_t c, void *arg) {
  rbd_op *op = arg;
  rbd_dev *d = op->dev;
  op->result = rbd_aio_get_return_value(c);
  op->next = NULL;
  pthread_mutex_lock(&d->mu);
  if (d->done_tail) d->done_tail->next = op;
  else d->done_head = op;
  d->done_tail = op;
  int wake = !d->signalled;
  d->signalled = 1;
  pthread_mutex_unlock(&d->mu);
  if (wake) napi_call_threadsafe_function(d->tsfn, NULL, napi_tsfn_nonblocking);
}

/* On the event loop: hand every finished operation to JS in one call. */
static void deliver(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)data;
  rbd_dev *d = context;
  pthread_mutex_lock(&d->mu);
  rbd_op *list = d->done_head;
  d->done_head = d->done_tail = NULL;
  d->signalled = 0;
  pthread_mutex_unlock(&d->mu);
  size_t n = 0;
  for (rbd_op *o = list; o; o = o->next) n++;
  if (n == 0) return;
  napi_value ab, arr;
  void *raw;
  if (env == NULL || napi_create_arraybuffer(env, n * RBD_STRIDE * sizeof(double), &raw, &ab) != napi_ok) {
    /* Environment going away: nothing is listening any more. */
    while (list) {
      rbd_op *o = list;
      list = o->next;
      rbd_aio_release(o->c);
      free(o);
    }
    return;
  }
  double *out = raw;
  size_t i = 0;
  while (list) {
    rbd_op *o = list;
    list = o->next;
    out[i * RBD_STRIDE] = o->id;
    out[i * RBD_STRIDE + 1] = (double)o->result;
    out[i * RBD_STRIDE + 2] = (double)o->mismatch;
    i++;
    rbd_aio_release(o->c);
    free(o);
  }
  d->outstanding -= (uint32_t)n;
  if (d->outstanding == 0) napi_unref_threadsafe_function(env, d->tsfn);
  napi_create_typedarray(env, napi_float64_array, n * RBD_STRIDE, ab, 0, &arr);
  napi_value global;
  napi_get_global(env, &global);
  napi_call_function(env, global, js_cb, 1, &arr, NULL);
}

/* ---- open -------------------------------------------------------------------------------- */

typedef struct {
  napi_async_work work;
  napi_ref cb;
  rbd_dev *dev;
  char *conf, *id, *keyring, *pool, *image;
  int read_only;
  double connect_timeout, op_timeout;
  int err;
  const char *stage;
  uint64_t size, obj_size;
} open_job;

/* Set `opt` unless the configuration file chose a value other than the default `dflt`. */
static int default_timeout(rados_t cl, const char *opt, double dflt, double ours) {
  char buf[64];
  if (ours <= 0) return 0;
  if (rados_conf_get(cl, opt, buf, sizeof buf) == 0 && strtod(buf, NULL) != dflt) return 0;
  snprintf(buf, sizeof buf, "%g", ours);
  return rados_conf_set(cl, opt, buf);
}

static void open_execute(napi_env env, void *data) {
  (void)env;
  open_job *j = data;
  rbd_dev *d = j->dev;
  char name[256];
  snprintf(name, sizeof name, "client.%s", j->id ? j->id : "admin");
  int r;
  j->stage = "create";
  if ((r = rados_create2(&d->cluster, "ceph", name, 0)) < 0) goto fail;
  j->stage = "config";
  if ((r = rados_conf_read_file(d->cluster, j->conf)) < 0) goto fail_shutdown;
  if (j->keyring && (r = rados_conf_set(d->cluster, "keyring", j->keyring)) < 0) goto fail_shutdown;
  /* Bounded waits: a cluster that does not answer fails connect and I/O instead of hanging. */
  if ((r = default_timeout(d->cluster, "client_mount_timeout", 300, j->connect_timeout)) < 0) goto fail_shutdown;
  if ((r = default_timeout(d->cluster, "rados_mon_op_timeout", 0, j->connect_timeout)) < 0) goto fail_shutdown;
  if ((r = default_timeout(d->cluster, "rados_osd_op_timeout", 0, j->op_timeout)) < 0) goto fail_shutdown;
  /*
   * The LU reports LBPRZ=1: a discarded range must read back as zeroes. librbd by default skips
   * discards of less than its granularity (and of partial objects) entirely; with this it zeroes
   * what it cannot deallocate.
   */
  if ((r = rados_conf_set(d->cluster, "rbd_skip_partial_discard", "false")) < 0) goto fail_shutdown;
  /*
   * No librbd cache, whatever ceph.conf says (librbd's default is on): a write the gateway
   * acknowledges must be in the cluster, not in this process's memory that a kill -9 loses, and
   * a read must see what another gateway serving the same image wrote. Ordering and durability
   * are the initiator's business through WCE, FUA and SYNCHRONIZE CACHE, as on any disk.
   */
  if ((r = rados_conf_set(d->cluster, "rbd_cache", "false")) < 0) goto fail_shutdown;
  j->stage = "connect";
  if ((r = rados_connect(d->cluster)) < 0) goto fail_shutdown;
  j->stage = "pool";
  if ((r = rados_ioctx_create(d->cluster, j->pool, &d->io)) < 0) goto fail_shutdown;
  j->stage = "image";
  r = j->read_only ? rbd_open_read_only(d->io, j->image, &d->image, NULL) : rbd_open(d->io, j->image, &d->image, NULL);
  if (r < 0) goto fail_ioctx;
  j->stage = "stat";
  rbd_image_info_t info;
  if ((r = rbd_stat(d->image, &info, sizeof info)) < 0) {
    rbd_close(d->image);
    goto fail_ioctx;
  }
  j->size = info.size;
  j->obj_size = info.obj_size;
  d->connected = 1;
  j->err = 0;
  return;
fail_ioctx:
  rados_ioctx_destroy(d->io);
fail_shutdown:
  rados_shutdown(d->cluster);
fail:
  j->err = r;
}

static void dev_free(rbd_dev *d) {
  pthread_mutex_destroy(&d->mu);
  free(d);
}

static void tsfn_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  dev_free(data);
}

static void open_complete(napi_env env, napi_status status, void *data) {
  open_job *j = data;
  napi_value cb, argv[4];
  napi_get_reference_value(env, j->cb, &cb);
  if (status != napi_ok) j->err = -ECANCELED;
  if (j->err < 0) {
    argv[0] = errno_error(env, j->err, j->stage);
    /* The thread-safe function's finalizer frees the device. */
    napi_release_threadsafe_function(j->dev->tsfn, napi_tsfn_abort);
    napi_call_function(env, undefined(env), cb, 1, argv, NULL);
  } else {
    napi_get_null(env, &argv[0]);
    napi_create_external(env, j->dev, NULL, NULL, &argv[1]);
    argv[2] = number(env, (double)j->size);
    argv[3] = number(env, (double)j->obj_size);
    napi_call_function(env, undefined(env), cb, 4, argv, NULL);
  }
  napi_delete_reference(env, j->cb);
  napi_delete_async_work(env, j->work);
  free(j->conf);
  free(j->id);
  free(j->keyring);
  free(j->pool);
  free(j->image);
  free(j);
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_valuetype t0, t1, t2;
  if (argc < 3 || napi_typeof(env, argv[0], &t0) != napi_ok || t0 != napi_object || napi_typeof(env, argv[1], &t1) != napi_ok || t1 != napi_function ||
      napi_typeof(env, argv[2], &t2) != napi_ok || t2 != napi_function)
    return throw_type(env, "open(options, onDone, callback)");
  open_job *j = calloc(1, sizeof *j);
  rbd_dev *d = calloc(1, sizeof *d);
  if (!j || !d) {
    free(j);
    free(d);
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  pthread_mutex_init(&d->mu, NULL);
  j->dev = d;
  j->conf = string_prop(env, argv[0], "conf");
  j->id = string_prop(env, argv[0], "id");
  j->keyring = string_prop(env, argv[0], "keyring");
  j->pool = string_prop(env, argv[0], "pool");
  j->image = string_prop(env, argv[0], "image");
  j->read_only = bool_prop(env, argv[0], "readOnly");
  j->connect_timeout = number_prop(env, argv[0], "connectTimeout", 10);
  j->op_timeout = number_prop(env, argv[0], "opTimeout", 30);
  napi_value name;
  napi_create_string_utf8(env, "rbd-completions", NAPI_AUTO_LENGTH, &name);
  if (!j->pool || !j->image ||
      napi_create_threadsafe_function(env, argv[1], NULL, name, 0, 1, d, tsfn_finalize, d, deliver, &d->tsfn) != napi_ok) {
    int no_pool = !j->pool || !j->image;
    free(j->conf);
    free(j->id);
    free(j->keyring);
    free(j->pool);
    free(j->image);
    free(j);
    dev_free(d);
    return no_pool ? throw_type(env, "open: pool and image are required") : (napi_throw_error(env, "EIO", "cannot create the completion function"), NULL);
  }
  napi_unref_threadsafe_function(env, d->tsfn);
  napi_create_reference(env, argv[2], 1, &j->cb);
  napi_create_string_utf8(env, "rbd-open", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, open_execute, open_complete, j, &j->work);
  napi_queue_async_work(env, j->work);
  return undefined(env);
}

/* ---- data operations --------------------------------------------------------------------- */

typedef struct {
  uint8_t *p;
  size_t len;
} span;

/* buf[off, off+len) of a Buffer argument; 0 when it lies inside the buffer. */
static int get_span(napi_env env, napi_value buf, napi_value off, napi_value len, span *s) {
  void *data;
  size_t blen;
  double o, l;
  if (napi_get_buffer_info(env, buf, &data, &blen) != napi_ok || napi_get_value_double(env, off, &o) != napi_ok ||
      napi_get_value_double(env, len, &l) != napi_ok)
    return -1;
  if (!(o >= 0) || !(l >= 0) || o + l > (double)blen || o != (uint64_t)o || l != (uint64_t)l) return -1;
  s->p = (uint8_t *)data + (size_t)o;
  s->len = (size_t)l;
  return 0;
}

static int get_pos(napi_env env, napi_value v, uint64_t *pos) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0) || d >= RBD_MAX_POS || d != (uint64_t)d) return -1;
  *pos = (uint64_t)d;
  return 0;
}

/* A new operation on `d` with id `idv`, and its completion; NULL (and r set) when refused. */
static rbd_op *new_op(napi_env env, rbd_dev *d, napi_value idv, int *r) {
  if (!d || d->closing || !d->connected) {
    *r = -ESHUTDOWN;
    return NULL;
  }
  rbd_op *op = calloc(1, sizeof *op);
  if (!op) {
    *r = -ENOMEM;
    return NULL;
  }
  napi_get_value_double(env, idv, &op->id);
  op->dev = d;
  if ((*r = rbd_aio_create_completion(op, on_complete, &op->c)) < 0) {
    free(op);
    return NULL;
  }
  return op;
}

/* After an rbd_aio_* call: count it, or undo the operation it refused. */
static napi_value issued(napi_env env, rbd_dev *d, rbd_op *op, int r) {
  if (r < 0) {
    rbd_aio_release(op->c);
    free(op);
    return number(env, r);
  }
  if (d->outstanding++ == 0) napi_ref_threadsafe_function(env, d->tsfn);
  return number(env, 0);
}

#define ARGS(n)                                        \
  size_t argc = n;                                     \
  napi_value argv[n];                                  \
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL); \
  if (argc < n) return throw_type(env, "missing arguments");

/* read(h, id, buf, off, len, pos) */
static napi_value js_read(napi_env env, napi_callback_info info) {
  ARGS(6);
  rbd_dev *d = get_dev(env, argv[0]);
  span s;
  uint64_t pos;
  if (get_span(env, argv[2], argv[3], argv[4], &s) < 0 || get_pos(env, argv[5], &pos) < 0) return throw_type(env, "read: bad buffer range or position");
  int r;
  rbd_op *op = new_op(env, d, argv[1], &r);
  if (!op) return number(env, r);
  return issued(env, d, op, rbd_aio_read(d->image, pos, s.len, (char *)s.p, op->c));
}

/* write(h, id, buf, off, len, pos, fua) */
static napi_value js_write(napi_env env, napi_callback_info info) {
  ARGS(7);
  rbd_dev *d = get_dev(env, argv[0]);
  span s;
  uint64_t pos;
  bool fua = false;
  if (get_span(env, argv[2], argv[3], argv[4], &s) < 0 || get_pos(env, argv[5], &pos) < 0) return throw_type(env, "write: bad buffer range or position");
  napi_get_value_bool(env, argv[6], &fua);
  int r;
  rbd_op *op = new_op(env, d, argv[1], &r);
  if (!op) return number(env, r);
  return issued(env, d, op, rbd_aio_write2(d->image, pos, s.len, (const char *)s.p, op->c, fua ? LIBRADOS_OP_FLAG_FADVISE_FUA : 0));
}

/* discard(h, id, pos, len) */
static napi_value js_discard(napi_env env, napi_callback_info info) {
  ARGS(4);
  rbd_dev *d = get_dev(env, argv[0]);
  uint64_t pos, len;
  if (get_pos(env, argv[2], &pos) < 0 || get_pos(env, argv[3], &len) < 0) return throw_type(env, "discard: bad range");
  int r;
  rbd_op *op = new_op(env, d, argv[1], &r);
  if (!op) return number(env, r);
  return issued(env, d, op, rbd_aio_discard(d->image, pos, len, op->c));
}

/* writesame(h, id, pos, len, buf, off, blockLen) */
static napi_value js_writesame(napi_env env, napi_callback_info info) {
  ARGS(7);
  rbd_dev *d = get_dev(env, argv[0]);
  uint64_t pos, len;
  span s;
  if (get_pos(env, argv[2], &pos) < 0 || get_pos(env, argv[3], &len) < 0 || get_span(env, argv[4], argv[5], argv[6], &s) < 0 || s.len == 0 ||
      len % s.len != 0)
    return throw_type(env, "writesame: bad range or pattern");
  int r;
  rbd_op *op = new_op(env, d, argv[1], &r);
  if (!op) return number(env, r);
  return issued(env, d, op, rbd_aio_writesame(d->image, pos, len, (const char *)s.p, s.len, op->c, 0));
}

/* compareAndWrite(h, id, cmp, cmpOff, buf, off, len, pos) */
static napi_value js_caw(napi_env env, napi_callback_info info) {
  ARGS(8);
  rbd_dev *d = get_dev(env, argv[0]);
  span c, w;
  uint64_t pos;
  if (get_span(env, argv[2], argv[3], argv[6], &c) < 0 || get_span(env, argv[4], argv[5], argv[6], &w) < 0 || get_pos(env, argv[7], &pos) < 0)
    return throw_type(env, "compareAndWrite: bad buffer range or position");
  int r;
  rbd_op *op = new_op(env, d, argv[1], &r);
  if (!op) return number(env, r);
  ssize_t rr = rbd_aio_compare_and_write(d->image, pos, w.len, (const char *)c.p, (const char *)w.p, op->c, &op->mismatch, 0);
  return issued(env, d, op, (int)rr);
}

/* flush(h, id) */
static napi_value js_flush(napi_env env, napi_callback_info info) {
  ARGS(2);
  rbd_dev *d = get_dev(env, argv[0]);
  int r;
  rbd_op *op = new_op(env, d, argv[1], &r);
  if (!op) return number(env, r);
  return issued(env, d, op, rbd_aio_flush(d->image, op->c));
}

/* ---- pool jobs: size, allocation map, close ---------------------------------------------- */

enum { JOB_SIZE, JOB_MAP, JOB_CLOSE };

typedef struct {
  napi_async_work work;
  napi_ref cb;
  rbd_dev *dev;
  int kind;
  int err;
  uint64_t size;
  uint64_t pos, len;
  /* The allocation map: runs of [offset, length] that exist, in order. */
  double *runs;
  size_t nruns, max_runs;
} dev_job;

static int map_cb(uint64_t off, size_t len, int exists, void *arg) {
  dev_job *j = arg;
  if (!exists) return 0;
  if (j->nruns > 0 && j->runs[2 * (j->nruns - 1)] + j->runs[2 * (j->nruns - 1) + 1] == (double)off) {
    j->runs[2 * (j->nruns - 1) + 1] += (double)len;
    return 0;
  }
  if (j->nruns == j->max_runs) return -E2BIG; /* enough: the answer covers less (see js_allocation) */
  j->runs[2 * j->nruns] = (double)off;
  j->runs[2 * j->nruns + 1] = (double)len;
  j->nruns++;
  return 0;
}

static void job_execute(napi_env env, void *data) {
  (void)env;
  dev_job *j = data;
  rbd_dev *d = j->dev;
  switch (j->kind) {
    case JOB_SIZE:
      /* A resize by another client reaches this handle through the header watch. */
      j->err = rbd_get_size(d->image, &j->size);
      break;
    case JOB_MAP:
      j->err = rbd_diff_iterate2(d->image, NULL, j->pos, j->len, 1, 0, map_cb, j);
      if (j->err == -E2BIG) j->err = 1; /* truncated */
      break;
    case JOB_CLOSE:
      /* rbd_close waits for what librbd still runs; the JS side bounds its own wait. */
      if (d->connected) {
        rbd_close(d->image);
        rados_ioctx_destroy(d->io);
        rados_shutdown(d->cluster);
        d->connected = 0;
      }
      j->err = 0;
      break;
  }
}

static void job_complete(napi_env env, napi_status status, void *data) {
  dev_job *j = data;
  napi_value cb, argv[3];
  napi_get_reference_value(env, j->cb, &cb);
  if (status != napi_ok && j->err >= 0) j->err = -ECANCELED;
  int argc = 1;
  if (j->err < 0) {
    argv[0] = errno_error(env, j->err, j->kind == JOB_SIZE ? "size" : j->kind == JOB_MAP ? "allocation" : "close");
  } else {
    napi_get_null(env, &argv[0]);
    if (j->kind == JOB_SIZE) {
      argv[1] = number(env, (double)j->size);
      argc = 2;
    } else if (j->kind == JOB_MAP) {
      void *raw;
      napi_value ab;
      napi_create_arraybuffer(env, j->nruns * 2 * sizeof(double), &raw, &ab);
      if (j->nruns) memcpy(raw, j->runs, j->nruns * 2 * sizeof(double));
      napi_create_typedarray(env, napi_float64_array, j->nruns * 2, ab, 0, &argv[1]);
      napi_get_boolean(env, j->err == 1, &argv[2]);
      argc = 3;
    }
  }
  if (j->kind == JOB_CLOSE) {
    j->dev->closed = 1;
    /* Completions can no longer arrive: the thread-safe function (and with it the device) goes. */
    napi_release_threadsafe_function(j->dev->tsfn, napi_tsfn_release);
  }
  napi_call_function(env, undefined(env), cb, argc, argv, NULL);
  napi_delete_reference(env, j->cb);
  napi_delete_async_work(env, j->work);
  free(j->runs);
  free(j);
}

static napi_value queue_job(napi_env env, rbd_dev *d, int kind, napi_value cb, dev_job *j) {
  napi_valuetype t;
  if (napi_typeof(env, cb, &t) != napi_ok || t != napi_function) {
    free(j->runs);
    free(j);
    return throw_type(env, "callback required");
  }
  j->dev = d;
  j->kind = kind;
  napi_create_reference(env, cb, 1, &j->cb);
  napi_value name;
  napi_create_string_utf8(env, "rbd-job", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, job_execute, job_complete, j, &j->work);
  napi_queue_async_work(env, j->work);
  return undefined(env);
}

/* size(h, cb): cb(err, bytes) */
static napi_value js_size(napi_env env, napi_callback_info info) {
  ARGS(2);
  rbd_dev *d = get_dev(env, argv[0]);
  if (!d || d->closing || !d->connected) return throw_type(env, "size: image not open");
  dev_job *j = calloc(1, sizeof *j);
  if (!j) return throw_type(env, "out of memory");
  return queue_job(env, d, JOB_SIZE, argv[1], j);
}

/* allocation(h, pos, len, maxRuns, cb): cb(err, Float64Array [off, len]..., truncated) */
static napi_value js_allocation(napi_env env, napi_callback_info info) {
  ARGS(5);
  rbd_dev *d = get_dev(env, argv[0]);
  uint64_t pos, len, max;
  if (!d || d->closing || !d->connected) return throw_type(env, "allocation: image not open");
  if (get_pos(env, argv[1], &pos) < 0 || get_pos(env, argv[2], &len) < 0 || get_pos(env, argv[3], &max) < 0) return throw_type(env, "allocation: bad range");
  if (max == 0 || max > RBD_MAX_RUNS) max = RBD_MAX_RUNS;
  dev_job *j = calloc(1, sizeof *j);
  if (!j) return throw_type(env, "out of memory");
  j->runs = malloc(max * 2 * sizeof(double));
  if (!j->runs) {
    free(j);
    return throw_type(env, "out of memory");
  }
  j->pos = pos;
  j->len = len;
  j->max_runs = max;
  return queue_job(env, d, JOB_MAP, argv[4], j);
}

/* close(h, cb): cb(null) once librbd has let go of the image. Later calls are refused. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  ARGS(2);
  rbd_dev *d = get_dev(env, argv[0]);
  if (!d || d->closing) return throw_type(env, "close: not open");
  d->closing = 1;
  dev_job *j = calloc(1, sizeof *j);
  if (!j) return throw_type(env, "out of memory");
  return queue_job(env, d, JOB_CLOSE, argv[1], j);
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"read", NULL, js_read, NULL, NULL, NULL, napi_enumerable, NULL},
      {"write", NULL, js_write, NULL, NULL, NULL, napi_enumerable, NULL},
      {"discard", NULL, js_discard, NULL, NULL, NULL, napi_enumerable, NULL},
      {"writesame", NULL, js_writesame, NULL, NULL, NULL, napi_enumerable, NULL},
      {"compareAndWrite", NULL, js_caw, NULL, NULL, NULL, napi_enumerable, NULL},
      {"flush", NULL, js_flush, NULL, NULL, NULL, napi_enumerable, NULL},
      {"size", NULL, js_size, NULL, NULL, NULL, napi_enumerable, NULL},
      {"allocation", NULL, js_allocation, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stride", NULL, NULL, NULL, NULL, number(env, RBD_STRIDE), napi_enumerable, NULL},
      {"abi", NULL, NULL, NULL, NULL, number(env, RBD_ABI), napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
