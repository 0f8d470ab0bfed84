# The native file I/O addon of scstd (see pio.c). Linux only: pio.c refuses to compile elsewhere,
# and the daemon then falls back to libuv's thread pool.
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
    }
  ]
}
