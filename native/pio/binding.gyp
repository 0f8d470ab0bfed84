# scstd's native addons: the file I/O path (pio.c; Linux only: it refuses to compile elsewhere,
# and the daemon then falls back to libuv's thread pool) and the bound on its exit (exit_guard.c;
# without it the daemon still exits, but a thread stuck in the kernel can hold process.exit()).
{
  "targets": [
    {
      "target_name": "pio",
      "sources": ["pio.c"],
      "defines": ["_GNU_SOURCE", "NAPI_VERSION=8"],
      "cflags": ["-Wall", "-Wextra", "-fvisibility=hidden"],
      "configurations": {
        "Release": {
          "cflags!": ["-O3"],
          "cflags": ["-O2"]
        }
      }
    },
    {
      "target_name": "exit_guard",
      "sources": ["exit_guard.c"],
      "defines": ["_GNU_SOURCE", "NAPI_VERSION=8"],
      "cflags": ["-Wall", "-Wextra", "-fvisibility=hidden"]
    }
  ]
}
