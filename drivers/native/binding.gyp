{
  "targets": [
    {
      "target_name": "byway_native",
      "sources": ["src/addon.c", "src/support.c", "src/offload.c", "src/tap.c", "src/packet.c", "src/xdp.c", "src/xdp-prog.c", "src/netlink.c", "src/rawip.c", "src/turn.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers", "-Wno-stringop-truncation"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
