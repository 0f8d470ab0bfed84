/*
 * exit_guard: the last bound on scstd's exit (src/exit-guard.ts).
 *
 * Why an addon: process.exit() is not bounded. Before the process ends, libuv joins its thread
 * pool (uv_library_shutdown), and a pool thread blocked in the kernel -- an open() or write() on
 * a hung NFS server or a dead block device, a stat() answered by a FUSE server that will never
 * answer -- makes that join, and so the exit, wait for ever. No JavaScript runs any more at that
 * point (worker threads are stopped first), so nothing written in JavaScript can bound it; a
 * thread of our own that was started before can.
 *
 * Exports:
 *   arm(ms, code, message): starts a detached thread that sleeps `ms` milliseconds, writes
 *     `message` and a newline to stderr and ends the process with _exit(code) -- no atexit
 *     handlers, no joins. A process that ends in time never notices it. Arming again adds
 *     another thread; the first to wake ends the process.
 *   now(code): ends the process with _exit(code) at once. Used once the daemon has shut down and
 *     flushed its log: Node's own teardown after that (freeing the isolate and its buffers, running
 *     cleanup hooks) races with native threads Node does not know of -- libfuse's threads in
 *     fuse-native, which are never joined and whose state lives in JS buffers freed there, crashed
 *     the process after a clean shutdown (SIGSEGV, exit status lost) -- and has nothing left to do
 *     for the daemon: every file is closed and every acknowledged write already on its medium.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <node_api.h>

typedef struct {
  long long ms;
  int code;
  size_t len;
  char message[];
} guard_t;

static void *guard_main(void *arg) {
  guard_t *g = arg;
  struct timespec t = {(time_t)(g->ms / 1000), (long)(g->ms % 1000) * 1000000L};
  while (nanosleep(&t, &t) != 0 && errno == EINTR) {
  }
  if (g->len > 0) {
    ssize_t r = write(2, g->message, g->len);
    (void)r;
  }
  _exit(g->code);
  return NULL;
}

static napi_value js_arm(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) {
    napi_throw_type_error(env, NULL, "arm(ms, code, message)");
    return NULL;
  }
  int64_t ms = 0;
  int32_t code = 1;
  if (napi_get_value_int64(env, argv[0], &ms) != napi_ok || napi_get_value_int32(env, argv[1], &code) != napi_ok || ms < 0) {
    napi_throw_type_error(env, NULL, "arm: ms and code must be numbers, ms >= 0");
    return NULL;
  }
  size_t len = 0;
  if (argc >= 3 && napi_get_value_string_utf8(env, argv[2], NULL, 0, &len) != napi_ok) len = 0;
  if (len > 4096) len = 4096;
  guard_t *g = calloc(1, sizeof(guard_t) + len + 2);
  if (!g) {
    napi_throw_error(env, "ENOMEM", "arm: out of memory");
    return NULL;
  }
  g->ms = ms;
  g->code = code;
  if (len > 0) {
    size_t got = 0;
    napi_get_value_string_utf8(env, argv[2], g->message, len + 1, &got);
    g->message[got] = '\n';
    g->len = got + 1;
  }
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  pthread_t th;
  int err = pthread_create(&th, &attr, guard_main, g);
  pthread_attr_destroy(&attr);
  if (err != 0) {
    free(g);
    napi_throw_error(env, "ERR_EXIT_GUARD", "arm: cannot start a thread");
    return NULL;
  }
  pthread_setname_np(th, "scstd-exitguard");
  return NULL;
}

static napi_value js_now(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t code = 1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_get_value_int32(env, argv[0], &code) != napi_ok) {
    napi_throw_type_error(env, NULL, "now(code)");
    return NULL;
  }
  _exit(code);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "now", NAPI_AUTO_LENGTH, js_now, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "now", fn) != napi_ok)
    return NULL;
  if (napi_create_function(env, "arm", NAPI_AUTO_LENGTH, js_arm, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "arm", fn) != napi_ok)
    return NULL;
  return exports;
}
