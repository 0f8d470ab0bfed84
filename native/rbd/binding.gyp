# scstd's librbd binding (rbd.c) for the vdisk_rbd handler. Built only where librbd's headers
# are installed (Debian: librbd-dev); without it the handler says RBD is unavailable.
{
  "targets": [
    {
      "target_name": "rbd",
      "sources": ["rbd.c"],
      "defines": ["_GNU_SOURCE", "NAPI_VERSION=8"],
      "cflags": ["-Wall", "-Wextra", "-fvisibility=hidden"],
      "libraries": ["-lrbd", "-lrados"],
      "configurations": {
        "Release": {
          "cflags!": ["-O3"],
          "cflags": ["-O2"]
        }
      }
    }
  ]
}
