/*
 * byway native addon: rings, memory and syscalls only. Everything above the ring (frames, checksums, policy)
 * lives in TypeScript.
 *
 * One `bw_handle` per open socket or device. Its frame memory (a TPACKET ring, an AF_XDP UMEM, or a malloc'd
 * slab for TAP) is exposed to JS once, as an external ArrayBuffer; a second small external ArrayBuffer, the
 * control block, carries batch descriptors and counters both ways, so a batch of frames costs one call into C
 * and no copy. Both ArrayBuffers are detached on close() before the memory is unmapped, so a stale JS view
 * reads as empty instead of touching unmapped memory.
 *
 * Control block layout (uint32 words): [CTL_*] counters, then rx descriptors (offset, length) pairs, then tx
 * slots (offsets handed to JS by txAlloc), then tx submissions (offset, length) pairs written by JS, then tx meta
 * words parallel to the submissions (one per pending frame: the TCP segment size for a TSO frame, 0 otherwise;
 * only the TAP and AF_PACKET drivers in tso mode read them).
 *
 * An rx descriptor's length word carries per-frame flags in its top 8 bits (BW_RX_* below, shifted by
 * BW_RX_FLAG_SHIFT) and the length in its low 24 bits. Drivers that know nothing about a frame write the plain
 * length (flags 0).
 */
#ifndef BYWAY_H
#define BYWAY_H

#define _GNU_SOURCE
#include <node_api.h>
#include <uv.h>
#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include <linux/virtio_net.h>

enum bw_kind { BW_TAP = 1, BW_PACKET = 2, BW_XDP = 3, BW_NETLINK = 4, BW_PORT = 5, BW_RAWIP = 6 };

/* Counter words at the start of the control block. */
enum {
  CTL_KERNEL_DROPS = 0, /* frames the kernel dropped for lack of ring room (accumulated) */
  CTL_TX_ERRORS = 1,    /* frames the kernel refused (wrong format, send error) */
  CTL_RX_TRUNCATED = 2, /* frames cut by the ring's frame size */
  CTL_LAST_ERRNO = 3,
  CTL_CSUM_REPAIRED = 4, /* partial checksums completed (AF_PACKET: flagged by the kernel; AF_XDP: recognised) */
  CTL_TX_KICKS = 5,      /* transmit doorbells: send()/sendto() on the socket, write() per frame for TAP */
  CTL_RX_WAKEUPS = 6,    /* receive wake-ups (AF_XDP recvfrom when the fill ring asks for one) */
  CTL_RX_SPINS = 7,      /* rxWait calls that had to spin (nothing was waiting when called) */
  CTL_RX_SPIN_HITS = 8,  /* ... of which a frame arrived before the spin time ran out */
  CTL_WORDS = 16
};

#define BW_RX_FLAG_SHIFT 24
#define BW_RX_LEN_MASK 0xffffffu
/* The TCP/UDP checksum needs no check (the kernel verified it, or a local sender left it partial). */
#define BW_RX_L4_CSUM_VALID 1u

typedef struct bw_handle bw_handle;

typedef struct {
  int (*rx_batch)(bw_handle *h, uint32_t max);
  void (*rx_release)(bw_handle *h);
  int (*rx_pending)(bw_handle *h);
  int (*tx_alloc)(bw_handle *h, uint32_t max);
  int (*tx_submit)(bw_handle *h, uint32_t n);
  void (*close)(bw_handle *h);
  /*
   * Optional (NULL: rx_pending is used): one step of rxWait's spin. > 0 when a frame is waiting, 0 when not, a
   * negative errno to stop. `housekeeping` is true every few steps (when the clock is read): time for work too
   * slow to do on every step, such as reaping the completion ring or re-ringing a transmit doorbell.
   */
  int (*rx_spin)(bw_handle *h, bool housekeeping);
} bw_ops;

struct bw_handle {
  int kind;
  const bw_ops *ops;
  napi_env env;
  int fd;
  int netns_fd; /* the namespace the socket lives in (-1: the caller's), kept for link-state queries */
  int ifindex;
  char ifname[16];
  bool closed;

  uint8_t *mem;
  size_t mem_len;
  int mem_kind; /* 0 none, 1 mmap (munmap), 2 malloc (free) */
  uint32_t *ctl;
  size_t ctl_words;
  uint32_t rx_desc_idx, tx_slot_idx, tx_out_idx, tx_meta_idx;
  uint32_t max_batch, tx_batch;
  napi_ref mem_ref, ctl_ref;

  uv_poll_t *poll;
  bool poll_active;
  bool want_writable; /* txWait: the next readiness callback comes when the socket is writable (raw IP) */
  int poll_error;
  napi_ref ready_ref;
  napi_async_context async_ctx;

  bw_handle *next; /* the process-wide list the exit hook walks */
  void *priv;      /* per-kind state */
};

/* Errors: fill a pending error that the N-API entry point throws. */
typedef struct {
  int err;           /* errno */
  const char *step;  /* the syscall or step that failed */
  char detail[256];  /* extra words (an interface name, a verifier log excerpt) */
  char *log;         /* malloc'd verifier log, or NULL */
} bw_error;

void bw_set_error(bw_error *e, int err, const char *step, const char *fmt, ...);

/* Namespaces: enter the named netns on this thread; `saved` receives the fd of the original one. */
int bw_netns_enter(const char *name, int *saved, int *keep_fd, bw_error *e);
void bw_netns_leave(int saved);

int bw_if_setup(const char *ifname, int mtu, int qlen, bool up, bw_error *e);
int bw_if_hwaddr(const char *ifname, uint8_t mac[6]);
/* The interface's MTU (SIOCGIFMTU), or -1. */
int bw_if_mtu(const char *ifname);
/* The interface's receive queues in use (ETHTOOL_GCHANNELS rx + combined), or -1 when unknown. */
int bw_if_rx_queues(const char *ifname);
/* Transmit checksum offload on the interface (ETHTOOL_GTXCSUM): 1 on, 0 off, -1 unknown. */
int bw_if_tx_csum(const char *ifname);

/*
 * CHECKSUM_PARTIAL frames (a local sender over veth with tx checksum offload on): the TCP/UDP checksum field holds
 * only the pseudo-header sum. `bw_complete_partial` completes one in place. `bw_repair_partial` does it only when
 * the field equals the pseudo-header sum and the checksum does not verify, for drivers that cannot tell: it
 * returns 1 when it completed one, 2 when the field held a complete checksum that verified, 0 when the frame is
 * not a candidate (no sum taken: its checksum is still unknown). After 1 or 2 the checksum is known good.
 */
void bw_complete_partial(uint8_t *frame, uint32_t len);
int bw_repair_partial(uint8_t *frame, uint32_t len);

/*
 * virtio_net_hdr for a frame about to be sent (TAP with IFF_VNET_HDR, AF_PACKET with PACKET_VNET_HDR), both in
 * addon.c; a frame may carry one 802.1Q tag. `bw_offload_checksum`: NEEDS_CSUM with the pseudo-header sum in place for an IPv4 TCP or UDP frame, or
 * an IPv6 one without extension headers, a zero header for anything else. `bw_offload_tso`: a GSO_TCPV4 header
 * with gso_size `seg` for an IPv4 TCP frame (no IP options, DF) whose payload exceeds `seg`, GSO_TCPV6 for such an
 * IPv6 TCP frame (no extension header); false (header untouched) when the frame does not qualify.
 */
void bw_offload_checksum(uint8_t *frame, uint32_t len, struct virtio_net_hdr *vh);
bool bw_offload_tso(uint8_t *frame, uint32_t len, uint32_t seg, struct virtio_net_hdr *vh);

/* A zeroed, page-aligned frame slab of `len` bytes for a handle without a kernel ring (TAP, raw IP): h->mem,
   freed at close. 0, or -1 with `e` filled. */
int bw_slab_alloc(bw_handle *h, size_t len, bw_error *e);
/* A malloc'd stack of the slot indices 0..n-1, 0 on top (NULL when out of memory). */
uint32_t *bw_free_stack(uint32_t n);

/* Allocate the control block (malloc) for a handle. */
int bw_ctl_alloc(bw_handle *h, uint32_t max_batch, uint32_t tx_batch);

/* Per-kind open functions: fill `h` (fd, mem, ops, priv) from the JS options object. Return 0 or -1 with `e`. */
int bw_tap_open(napi_env env, napi_value opts, bw_handle *h, napi_value info, bw_error *e);
int bw_packet_open(napi_env env, napi_value opts, bw_handle *h, napi_value info, bw_error *e);
int bw_packet_fanout_data(bw_handle *h, const uint8_t *prog, size_t len);
int bw_packet_mc_membership(bw_handle *h, const uint8_t *mac, int add);
int bw_xdp_open(napi_env env, napi_value opts, bw_handle *h, napi_value info, bw_error *e);
int bw_rawip_open(napi_env env, napi_value opts, bw_handle *h, napi_value info, bw_error *e);
int bw_xdp_flow(bw_handle *h, uint32_t ip_be, uint16_t port_be, uint8_t proto, bool add);
int bw_xdp_stats(bw_handle *h, double out[6]);
int bw_xdp_flow_entry(bw_handle *h, uint32_t ip_host, uint16_t port, uint8_t proto, const uint8_t *in, bool noexist, uint8_t out[16]);
int bw_xdp_flow_list(bw_handle *h, uint8_t *out, size_t cap);
int bw_xdp_unbound(bw_handle *h, double *out, uint32_t n);
int bw_xdp_addr6(bw_handle *h, const uint8_t addr[16], bool add);

/* Handles without frame memory (netlink.c): wrap as a tracked external; read one back; throw a bw_error. */
napi_value bw_wrap_handle(napi_env env, bw_handle *h);
bw_handle *bw_get_handle(napi_env env, napi_value v);
void bw_throw(napi_env env, bw_error *e);

/* netlink.c: NETLINK_ROUTE sockets and kernel port reservations. */
napi_value bw_js_nl_open(napi_env env, napi_callback_info info);
napi_value bw_js_nl_send(napi_env env, napi_callback_info info);
napi_value bw_js_nl_recv(napi_env env, napi_callback_info info);
napi_value bw_js_port_reserve(napi_env env, napi_callback_info info);
napi_value bw_js_port_release(napi_env env, napi_callback_info info);
napi_value bw_js_fd_adopt(napi_env env, napi_callback_info info);
void bw_call_js(napi_env env, napi_ref ref, napi_async_context ctx);
napi_value bw_js_turn_open(napi_env env, napi_callback_info info);
napi_value bw_js_turn_arm(napi_env env, napi_callback_info info);
napi_value bw_js_turn_disarm(napi_env env, napi_callback_info info);
napi_value bw_js_turn_close(napi_env env, napi_callback_info info);

/* support.c: mallocTrimThreshold(bytes) -> 1 applied, 0 refused, -1 no glibc (drivers/native/malloc-tuning.ts). */
napi_value bw_js_malloc_trim(napi_env env, napi_callback_info info);

/*
 * The open options, as TypeScript hands them over (drivers/native/index.ts Native*Config): every field present,
 * defaults already applied there, plain values. The readers have no defaults: the first field missing or of the
 * wrong type is noted in `missing` (the readers then return 0, false, "" or no bytes), and bw_cfg_check turns it
 * into EINVAL "<kind> options" (a bug on the TypeScript side, never the user's).
 */
typedef struct {
  napi_env env;
  napi_value o;
  const char *missing;
} bw_cfg;
int64_t cfg_int(bw_cfg *c, const char *k);
bool cfg_bool(bw_cfg *c, const char *k);
void cfg_str(bw_cfg *c, const char *k, char *buf, size_t n);
/* A Uint8Array, or null (false: none). */
bool cfg_bytes(bw_cfg *c, const char *k, uint8_t **p, size_t *n);
int bw_cfg_check(bw_cfg *c, const char *what, bw_error *e);

/* Arguments, read the same way by every entry point: a Uint8Array's bytes (false: not one); a namespace name or
   undefined/null for this process's ("": false when neither); a number returned to JS. */
bool bw_arg_bytes(napi_env env, napi_value v, uint8_t **p, size_t *n);
bool bw_arg_netns(napi_env env, napi_value v, char *ns, size_t n);
napi_value bw_ret_int(napi_env env, int64_t v);
void set_int(napi_env env, napi_value o, const char *k, int64_t v);
void set_str(napi_env env, napi_value o, const char *k, const char *v);
void set_bool(napi_env env, napi_value o, const char *k, bool v);
void set_bytes(napi_env env, napi_value o, const char *k, const uint8_t *p, size_t n);

#endif
