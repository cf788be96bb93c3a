/*
 * AF_XDP: one socket, one UMEM (anonymous mmap, exposed to JS), the four rings, and a hand-assembled XDP
 * program attached through a BPF link (closing the link fd detaches it, so a crash leaks nothing).
 *
 * UMEM split: the first half of the chunks feeds the fill ring (receive), the second half is the transmit pool
 * (a free stack refilled from the completion ring). A received chunk goes back on the fill ring at rxRelease,
 * after the JS handler has returned.
 *
 * The XDP programs are assembled in xdp-prog.c.
 */
#include "byway.h"
#include "xdp-prog.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>

#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef SOL_XDP
#define SOL_XDP 283
#endif
#ifndef SO_PREFER_BUSY_POLL
#define SO_PREFER_BUSY_POLL 69
#endif
#ifndef SO_BUSY_POLL
#define SO_BUSY_POLL 46
#endif

typedef struct {
  uint32_t *producer, *consumer, *flags;
  void *desc;
  uint32_t size, mask;
  void *map;
  size_t map_len;
} xring;

typedef struct {
  xring fill, comp, rx, tx;
  uint32_t fsize, fcount, rx_frames;
  uint32_t held;          /* rx descriptors handed to JS, not yet consumed */
  uint64_t *free_tx;      /* free transmit chunks (UMEM offsets) */
  uint32_t free_n, free_cap;
  bool need_wakeup, zerocopy, repair_csum;
  int prog_fd, xsk_map_fd, flow_map_fd, addr6_map_fd, link_fd;
  int unbound_map_fd; /* a cluster's shared program: frames dropped per queue for want of a socket (u64 each) */
  uint32_t queue;
  uint32_t spin_hk; /* rxWait housekeeping steps, to space out tx re-kicks */
} xs_state;

/* Entries of the own-address program's IPv6 address map (a stack has a handful: link-local, configured, SLAAC). */
#define XDP_ADDR6_MAX 64

static int sys_bpf(int cmd, union bpf_attr *a) { return (int)syscall(__NR_bpf, cmd, a, sizeof *a); }

/* ---- rings ---- */

static int map_ring(int fd, xring *r, const struct xdp_ring_offset *off, uint32_t size, uint64_t pgoff, size_t desc_sz) {
  r->map_len = off->desc + (size_t)size * desc_sz;
  r->map = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, (off_t)pgoff);
  if (r->map == MAP_FAILED) {
    r->map = NULL;
    return -1;
  }
  r->producer = (uint32_t *)((uint8_t *)r->map + off->producer);
  r->consumer = (uint32_t *)((uint8_t *)r->map + off->consumer);
  r->flags = (uint32_t *)((uint8_t *)r->map + off->flags);
  r->desc = (uint8_t *)r->map + off->desc;
  r->size = size;
  r->mask = size - 1;
  return 0;
}

static void reap_completions(xs_state *s) {
  uint32_t prod = __atomic_load_n(s->comp.producer, __ATOMIC_ACQUIRE);
  uint32_t cons = *s->comp.consumer;
  uint64_t *ring = s->comp.desc;
  uint64_t mask = ~(uint64_t)(s->fsize - 1);
  while (cons != prod) {
    if (s->free_n < s->free_cap) s->free_tx[s->free_n++] = ring[cons & s->comp.mask] & mask;
    cons++;
  }
  __atomic_store_n(s->comp.consumer, cons, __ATOMIC_RELEASE);
}

static void kick_rx(bw_handle *h, xs_state *s) {
  if (!s->need_wakeup || (__atomic_load_n(s->fill.flags, __ATOMIC_ACQUIRE) & XDP_RING_NEED_WAKEUP)) {
    h->ctl[CTL_RX_WAKEUPS]++;
    recvfrom(h->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
  }
}

/* One tx doorbell (sendto), counted. */
static inline int tx_doorbell(bw_handle *h) {
  h->ctl[CTL_TX_KICKS]++;
  return (int)sendto(h->fd, NULL, 0, MSG_DONTWAIT, NULL, 0);
}

static int xs_rx_batch(bw_handle *h, uint32_t max) {
  xs_state *s = h->priv;
  uint32_t *desc = h->ctl + h->rx_desc_idx;
  uint32_t cons = *s->rx.consumer + s->held;
  uint32_t prod = __atomic_load_n(s->rx.producer, __ATOMIC_ACQUIRE);
  uint32_t n = 0;
  struct xdp_desc *ring = s->rx.desc;
  while (n < max && cons != prod) {
    struct xdp_desc *d = &ring[cons & s->rx.mask];
    desc[2 * n] = (uint32_t)d->addr;
    uint32_t word = d->len;
    /* A partial checksum completed here (or a complete one that matched the pattern and was summed anyway) is
       known good: the stack need not sum the segment again. */
    if (s->repair_csum) {
      int r = bw_repair_partial(h->mem + d->addr, d->len);
      if (r == 1) h->ctl[CTL_CSUM_REPAIRED]++;
      if (r != 0) word |= BW_RX_L4_CSUM_VALID << BW_RX_FLAG_SHIFT;
    }
    desc[2 * n + 1] = word;
    n++;
    cons++;
  }
  s->held += n;
  if (n == 0 && s->need_wakeup) kick_rx(h, s);
  return (int)n;
}

static void xs_rx_release(bw_handle *h) {
  xs_state *s = h->priv;
  if (s->held == 0) return;
  uint32_t cons = *s->rx.consumer;
  uint32_t fprod = *s->fill.producer;
  struct xdp_desc *ring = s->rx.desc;
  uint64_t *fring = s->fill.desc;
  uint64_t mask = ~(uint64_t)(s->fsize - 1);
  /* The fill ring has room for every rx chunk, so each consumed chunk goes straight back. */
  for (uint32_t i = 0; i < s->held; i++) fring[(fprod + i) & s->fill.mask] = ring[(cons + i) & s->rx.mask].addr & mask;
  __atomic_store_n(s->fill.producer, fprod + s->held, __ATOMIC_RELEASE);
  __atomic_store_n(s->rx.consumer, cons + s->held, __ATOMIC_RELEASE);
  s->held = 0;
  if (s->need_wakeup) kick_rx(h, s);
}

static int xs_rx_pending(bw_handle *h) {
  xs_state *s = h->priv;
  return __atomic_load_n(s->rx.producer, __ATOMIC_ACQUIRE) != *s->rx.consumer + s->held;
}

static int xs_tx_alloc(bw_handle *h, uint32_t max) {
  xs_state *s = h->priv;
  reap_completions(s);
  if (s->free_n == 0 && *s->tx.producer != __atomic_load_n(s->tx.consumer, __ATOMIC_ACQUIRE)) {
    /* Every chunk is queued and the kernel has stopped taking them (busy): ring the doorbell again. */
    tx_doorbell(h);
    reap_completions(s);
  }
  uint32_t *slots = h->ctl + h->tx_slot_idx;
  uint32_t n = 0;
  while (n < max && s->free_n > 0) slots[n++] = (uint32_t)s->free_tx[--s->free_n];
  return (int)n;
}

/* Ring the tx doorbell until the kernel has taken every queued descriptor (copy mode sends a bounded number per
   call and answers EAGAIN while more remain), or it stops making progress. Returns 0 or a fatal errno. */
static int tx_kick(bw_handle *h, xs_state *s) {
  for (int i = 0; i < 256; i++) {
    reap_completions(s);
    if (__atomic_load_n(s->tx.consumer, __ATOMIC_ACQUIRE) == *s->tx.producer) return 0;
    if (s->need_wakeup && !(__atomic_load_n(s->tx.flags, __ATOMIC_ACQUIRE) & XDP_RING_NEED_WAKEUP)) return 0;
    uint32_t before = __atomic_load_n(s->tx.consumer, __ATOMIC_ACQUIRE);
    if (tx_doorbell(h) < 0) {
      int err = errno;
      h->ctl[CTL_LAST_ERRNO] = err;
      if (err == ENXIO || err == ENODEV || err == ENETDOWN) return err;
      if (err != EAGAIN && err != EBUSY && err != ENOBUFS) return 0;
    }
    if (__atomic_load_n(s->tx.consumer, __ATOMIC_ACQUIRE) == before) {
      reap_completions(s);
      if (__atomic_load_n(s->tx.consumer, __ATOMIC_ACQUIRE) == before) return 0; /* no progress: try later */
    }
  }
  return 0;
}

static int xs_tx_submit(bw_handle *h, uint32_t n) {
  xs_state *s = h->priv;
  uint32_t *out = h->ctl + h->tx_out_idx;
  struct xdp_desc *ring = s->tx.desc;
  uint64_t tx_lo = (uint64_t)s->rx_frames * s->fsize;
  uint32_t queued = 0;
  int fatal = 0;
  for (uint32_t k = 0; k < n; k++) {
    uint64_t addr = out[2 * k];
    uint32_t len = out[2 * k + 1];
    if (addr < tx_lo || addr >= h->mem_len || (addr & (s->fsize - 1)) || len > s->fsize) {
      h->ctl[CTL_TX_ERRORS]++;
      continue;
    }
    uint32_t prod = *s->tx.producer;
    if (prod - __atomic_load_n(s->tx.consumer, __ATOMIC_ACQUIRE) >= s->tx.size && !fatal) fatal = tx_kick(h, s);
    if (!fatal && prod - __atomic_load_n(s->tx.consumer, __ATOMIC_ACQUIRE) < s->tx.size) {
      ring[prod & s->tx.mask] = (struct xdp_desc){.addr = addr, .len = len, .options = 0};
      __atomic_store_n(s->tx.producer, prod + 1, __ATOMIC_RELEASE);
      queued++;
    } else {
      h->ctl[CTL_TX_ERRORS]++; /* ring still full: the chunk goes back to the pool, the frame is lost */
      if (s->free_n < s->free_cap) s->free_tx[s->free_n++] = addr;
    }
  }
  if (!fatal) fatal = tx_kick(h, s);
  return fatal ? -fatal : (int)queued;
}

/*
 * rxWait's step: is a frame on the rx ring? On housekeeping steps the kernel is woken for receive as an empty
 * rxBatch would (recvfrom, only when the fill ring asks for it or need_wakeup is off), the completion ring is
 * reaped, and, when an earlier doorbell left descriptors on the tx ring (the kernel stopped taking them), the
 * doorbell is rung again: that is where the completion ring matters while waiting for a reply.
 */
static int xs_rx_spin(bw_handle *h, bool housekeeping) {
  xs_state *s = h->priv;
  if (xs_rx_pending(h)) return 1;
  if (!housekeeping) return 0;
  kick_rx(h, s);
  reap_completions(s);
  /* Every 8th housekeeping step (about 64 spin steps): a kernel that keeps refusing must not get a syscall storm. */
  if (++s->spin_hk % 8 == 0 && __atomic_load_n(s->tx.consumer, __ATOMIC_ACQUIRE) != *s->tx.producer) {
    int err = tx_kick(h, s);
    if (err) return -err;
  }
  return xs_rx_pending(h);
}

static void unmap_ring(xring *r) {
  if (r->map) munmap(r->map, r->map_len);
  r->map = NULL;
}

static void xs_close(bw_handle *h) {
  xs_state *s = h->priv;
  if (!s) return;
  /* Detach first so nothing is redirected to a socket that is going away. */
  if (s->link_fd >= 0) close(s->link_fd);
  if (s->prog_fd >= 0) close(s->prog_fd);
  if (s->xsk_map_fd >= 0) close(s->xsk_map_fd);
  if (s->flow_map_fd >= 0) close(s->flow_map_fd);
  if (s->addr6_map_fd >= 0) close(s->addr6_map_fd);
  if (s->unbound_map_fd >= 0) close(s->unbound_map_fd);
  s->link_fd = s->prog_fd = s->xsk_map_fd = s->flow_map_fd = s->addr6_map_fd = s->unbound_map_fd = -1;
  unmap_ring(&s->fill);
  unmap_ring(&s->comp);
  unmap_ring(&s->rx);
  unmap_ring(&s->tx);
  free(s->free_tx);
  s->free_tx = NULL;
}

static const bw_ops xs_ops = {xs_rx_batch, xs_rx_release, xs_rx_pending, xs_tx_alloc, xs_tx_submit, xs_close, xs_rx_spin};

struct flow_key {
  uint32_t addr; /* network order */
  uint16_t port; /* network order */
  uint8_t proto;
  uint8_t pad;
};

/* A flow's value. The program only asks whether the key is there; the rest is for drivers sharing one map (a
   cluster's workers, drivers/af-xdp/flow-table.ts): a bit per holder and the kernel port reservations (descriptors
   of the process, -1 for none). A lone driver writes holder bit 0 and no descriptors. */
struct flow_val {
  uint32_t holders[2];
  int32_t fd4, fd6;
};

int bw_xdp_flow(bw_handle *h, uint32_t ip_host, uint16_t port, uint8_t proto, bool add) {
  xs_state *s = h->priv;
  if (s->flow_map_fd < 0) return -EINVAL;
  struct flow_key k = {.addr = htonl(ip_host), .port = htons(port), .proto = proto, .pad = 0};
  struct flow_val val = {{1, 0}, -1, -1};
  union bpf_attr at;
  memset(&at, 0, sizeof at);
  at.map_fd = (uint32_t)s->flow_map_fd;
  at.key = (uint64_t)(uintptr_t)&k;
  if (add) {
    at.value = (uint64_t)(uintptr_t)&val;
    at.flags = BPF_ANY;
    return sys_bpf(BPF_MAP_UPDATE_ELEM, &at) == 0 ? 0 : -errno;
  }
  return sys_bpf(BPF_MAP_DELETE_ELEM, &at) == 0 || errno == ENOENT ? 0 : -errno;
}

/* One flow's value (16 bytes, struct flow_val): read into out (0, or -ENOENT when absent), or with in, written
   (noexist: only when absent, else -EEXIST: the lock between processes, drivers/af-xdp/flow-table.ts). */
int bw_xdp_flow_entry(bw_handle *h, uint32_t ip_host, uint16_t port, uint8_t proto, const uint8_t *in, bool noexist, uint8_t out[16]) {
  xs_state *s = h->priv;
  if (s->flow_map_fd < 0) return -EINVAL;
  struct flow_key k = {.addr = htonl(ip_host), .port = htons(port), .proto = proto, .pad = 0};
  struct flow_val v;
  union bpf_attr at;
  memset(&at, 0, sizeof at);
  at.map_fd = (uint32_t)s->flow_map_fd;
  at.key = (uint64_t)(uintptr_t)&k;
  at.value = (uint64_t)(uintptr_t)&v;
  if (in) {
    memcpy(&v, in, sizeof v);
    at.flags = noexist ? BPF_NOEXIST : BPF_ANY;
    return sys_bpf(BPF_MAP_UPDATE_ELEM, &at) == 0 ? 0 : -errno;
  }
  if (sys_bpf(BPF_MAP_LOOKUP_ELEM, &at) != 0) return -errno;
  memcpy(out, &v, sizeof v);
  return 0;
}

/* A cluster's shared program: the frames of byway's flows dropped on each queue for want of a socket in its XSKMAP
   slot (its worker gone), into out[0..n); the queue count read, or -errno (-EINVAL: not such a program). */
int bw_xdp_unbound(bw_handle *h, double *out, uint32_t n) {
  xs_state *s = h->priv;
  if (s->unbound_map_fd < 0) return -EINVAL;
  uint32_t q = 0;
  for (; q < n; q++) {
    uint64_t v = 0;
    union bpf_attr at;
    memset(&at, 0, sizeof at);
    at.map_fd = (uint32_t)s->unbound_map_fd;
    at.key = (uint64_t)(uintptr_t)&q;
    at.value = (uint64_t)(uintptr_t)&v;
    if (sys_bpf(BPF_MAP_LOOKUP_ELEM, &at) != 0) break; /* past the map's queues */
    out[q] = (double)v;
  }
  return (int)q;
}

/* Every flow: 24-byte records (address u32 host order, port u16, protocol u8, pad, then the 16-byte value) into
   out, at most cap bytes; the record count, or -errno. */
int bw_xdp_flow_list(bw_handle *h, uint8_t *out, size_t cap) {
  xs_state *s = h->priv;
  if (s->flow_map_fd < 0) return -EINVAL;
  struct flow_key k, next;
  struct flow_val v;
  union bpf_attr at;
  int n = 0;
  bool first = true;
  while ((size_t)(n + 1) * 24 <= cap) {
    memset(&at, 0, sizeof at);
    at.map_fd = (uint32_t)s->flow_map_fd;
    at.key = first ? 0 : (uint64_t)(uintptr_t)&k;
    at.next_key = (uint64_t)(uintptr_t)&next;
    if (sys_bpf(BPF_MAP_GET_NEXT_KEY, &at) != 0) return errno == ENOENT ? n : -errno;
    first = false;
    k = next;
    memset(&at, 0, sizeof at);
    at.map_fd = (uint32_t)s->flow_map_fd;
    at.key = (uint64_t)(uintptr_t)&k;
    at.value = (uint64_t)(uintptr_t)&v;
    if (sys_bpf(BPF_MAP_LOOKUP_ELEM, &at) != 0) continue; /* removed meanwhile */
    uint8_t *r = out + (size_t)n * 24;
    uint32_t ip = ntohl(k.addr);
    uint16_t port = ntohs(k.port);
    memcpy(r, &ip, 4);
    memcpy(r + 4, &port, 2);
    r[6] = k.proto;
    r[7] = 0;
    memcpy(r + 8, &v, 16);
    n++;
  }
  return n;
}

/* Own mode with IPv6: add or remove one of byway's IPv6 addresses (16 wire bytes) in the program's map. */
int bw_xdp_addr6(bw_handle *h, const uint8_t addr[16], bool add) {
  xs_state *s = h->priv;
  if (s->addr6_map_fd < 0) return -EINVAL;
  uint8_t k[16];
  memcpy(k, addr, 16);
  uint32_t val = 1;
  union bpf_attr at;
  memset(&at, 0, sizeof at);
  at.map_fd = (uint32_t)s->addr6_map_fd;
  at.key = (uint64_t)(uintptr_t)k;
  if (add) {
    at.value = (uint64_t)(uintptr_t)&val;
    at.flags = BPF_ANY;
    return sys_bpf(BPF_MAP_UPDATE_ELEM, &at) == 0 ? 0 : -errno;
  }
  return sys_bpf(BPF_MAP_DELETE_ELEM, &at) == 0 || errno == ENOENT ? 0 : -errno;
}

int bw_xdp_stats(bw_handle *h, double out[6]) {
  struct xdp_statistics st;
  memset(&st, 0, sizeof st);
  socklen_t sl = sizeof st;
  if (getsockopt(h->fd, SOL_XDP, XDP_STATISTICS, &st, &sl) != 0) return -1;
  out[0] = (double)st.rx_dropped;
  out[1] = (double)st.rx_invalid_descs;
  out[2] = (double)st.tx_invalid_descs;
  out[3] = (double)st.rx_ring_full;
  out[4] = (double)st.rx_fill_ring_empty_descs;
  out[5] = (double)st.tx_ring_empty_descs;
  return 0;
}

static int create_map(uint32_t type, uint32_t ksz, uint32_t vsz, uint32_t n, const char *name) {
  union bpf_attr at;
  memset(&at, 0, sizeof at);
  at.map_type = type;
  at.key_size = ksz;
  at.value_size = vsz;
  at.max_entries = n;
  strncpy(at.map_name, name, sizeof at.map_name - 1);
  return sys_bpf(BPF_MAP_CREATE, &at);
}

static void sleep_ms(int ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* The socket, its UMEM and rings, bound to s->queue (zero-copy first when allowed, then copy). */
static int xs_socket_open(bw_handle *h, xs_state *s, uint32_t ring, const char *bind_mode, int retry_ms, int busy, bw_error *e) {
  h->fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (h->fd < 0) {
    bw_set_error(e, errno, "socket(AF_XDP)", NULL);
    return -1;
  }
  h->mem_len = (size_t)s->fsize * s->fcount;
  void *m = mmap(NULL, h->mem_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (m == MAP_FAILED) {
    bw_set_error(e, errno, "mmap UMEM", "%zu bytes", h->mem_len);
    return -1;
  }
  h->mem = m;
  h->mem_kind = 1;
  struct xdp_umem_reg ur;
  memset(&ur, 0, sizeof ur);
  ur.addr = (uint64_t)(uintptr_t)h->mem;
  ur.len = h->mem_len;
  ur.chunk_size = s->fsize;
  if (setsockopt(h->fd, SOL_XDP, XDP_UMEM_REG, &ur, sizeof ur) != 0) {
    bw_set_error(e, errno, "XDP_UMEM_REG", "%u chunks of %u bytes", s->fcount, s->fsize);
    return -1;
  }
  uint32_t fill_sz = ring * 2 >= s->fcount / 2 ? ring * 2 : s->fcount / 2; /* room for every rx chunk */
  while (fill_sz & (fill_sz - 1)) fill_sz++;
  if (setsockopt(h->fd, SOL_XDP, XDP_UMEM_FILL_RING, &fill_sz, sizeof fill_sz) != 0 ||
      setsockopt(h->fd, SOL_XDP, XDP_UMEM_COMPLETION_RING, &ring, sizeof ring) != 0 ||
      setsockopt(h->fd, SOL_XDP, XDP_RX_RING, &ring, sizeof ring) != 0 ||
      setsockopt(h->fd, SOL_XDP, XDP_TX_RING, &ring, sizeof ring) != 0) {
    bw_set_error(e, errno, "XDP ring setup", "ring size %u", ring);
    return -1;
  }
  struct xdp_mmap_offsets off;
  socklen_t ol = sizeof off;
  if (getsockopt(h->fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &ol) != 0) {
    bw_set_error(e, errno, "XDP_MMAP_OFFSETS", NULL);
    return -1;
  }
  if (map_ring(h->fd, &s->fill, &off.fr, fill_sz, XDP_UMEM_PGOFF_FILL_RING, 8) ||
      map_ring(h->fd, &s->comp, &off.cr, ring, XDP_UMEM_PGOFF_COMPLETION_RING, 8) ||
      map_ring(h->fd, &s->rx, &off.rx, ring, XDP_PGOFF_RX_RING, sizeof(struct xdp_desc)) ||
      map_ring(h->fd, &s->tx, &off.tx, ring, XDP_PGOFF_TX_RING, sizeof(struct xdp_desc))) {
    bw_set_error(e, errno, "mmap XDP ring", NULL);
    return -1;
  }
  /* First half of the UMEM: receive chunks, all on the fill ring. Second half: the transmit pool. */
  s->rx_frames = s->fcount / 2;
  if (s->rx_frames > fill_sz) s->rx_frames = fill_sz;
  uint64_t *fr = s->fill.desc;
  for (uint32_t i = 0; i < s->rx_frames; i++) fr[i] = (uint64_t)i * s->fsize;
  __atomic_store_n(s->fill.producer, s->rx_frames, __ATOMIC_RELEASE);
  s->free_cap = s->fcount - s->rx_frames;
  s->free_tx = malloc(sizeof(uint64_t) * s->free_cap);
  for (uint32_t i = 0; i < s->free_cap; i++) s->free_tx[i] = (uint64_t)(s->fcount - 1 - i) * s->fsize;
  s->free_n = s->free_cap;

  /* Bind: zero-copy first when allowed, then copy; the mode obtained is reported, never silently lowered. */
  struct sockaddr_xdp sx;
  memset(&sx, 0, sizeof sx);
  sx.sxdp_family = AF_XDP;
  sx.sxdp_ifindex = (uint32_t)h->ifindex;
  sx.sxdp_queue_id = s->queue;
  const char *tries[2];
  int nt = 0;
  if (!strcmp(bind_mode, "zerocopy") || !strcmp(bind_mode, "auto")) tries[nt++] = "zerocopy";
  if (!strcmp(bind_mode, "copy") || !strcmp(bind_mode, "auto")) tries[nt++] = "copy";
  if (nt == 0) {
    bw_set_error(e, EINVAL, "af-xdp options", "bindMode must be 'copy', 'zerocopy' or 'auto'");
    return -1;
  }
  int rc = -1, zc_err = 0;
  for (int i = 0; i < nt && rc != 0; i++) {
    bool zc = !strcmp(tries[i], "zerocopy");
    sx.sxdp_flags = (zc ? XDP_ZEROCOPY : XDP_COPY) | (s->need_wakeup ? XDP_USE_NEED_WAKEUP : 0);
    for (int waited = 0;; waited += 50) {
      rc = bind(h->fd, (struct sockaddr *)&sx, sizeof sx);
      if (rc == 0 || errno != EBUSY || waited >= retry_ms) break;
      sleep_ms(50); /* the previous socket on this queue is still being torn down (Linux defers it) */
    }
    if (rc != 0 && zc) zc_err = errno;
  }
  if (rc != 0) {
    bw_set_error(e, errno, "bind(AF_XDP)", "%s queue %u, mode %s%s%s", h->ifname, s->queue, bind_mode,
                 zc_err && nt > 1 ? ", zero-copy refused: " : "", zc_err && nt > 1 ? strerror(zc_err) : "");
    return -1;
  }
  struct xdp_options xo;
  socklen_t xl = sizeof xo;
  s->zerocopy = getsockopt(h->fd, SOL_XDP, XDP_OPTIONS, &xo, &xl) == 0 && (xo.flags & XDP_OPTIONS_ZEROCOPY);
  if (busy > 0) {
    int one = 1;
    setsockopt(h->fd, SOL_SOCKET, SO_PREFER_BUSY_POLL, &one, sizeof one);
    setsockopt(h->fd, SOL_SOCKET, SO_BUSY_POLL, &busy, sizeof busy);
  }

  return 0;
}

int bw_xdp_open(napi_env env, napi_value opts, bw_handle *h, napi_value info, bw_error *e) {
  h->ops = &xs_ops;
  xs_state *s = calloc(1, sizeof *s);
  h->priv = s;
  s->link_fd = s->prog_fd = s->xsk_map_fd = s->flow_map_fd = s->addr6_map_fd = s->unbound_map_fd = -1;
  /* drivers/native/index.ts NativeXdpConfig: defaults applied in drivers/af-xdp/index.ts. */
  bw_cfg c = {env, opts, NULL};
  cfg_str(&c, "ifname", h->ifname, sizeof h->ifname);
  char bind_mode[16], attach_mode[16], program[16];
  cfg_str(&c, "bindMode", bind_mode, sizeof bind_mode);
  cfg_str(&c, "attachMode", attach_mode, sizeof attach_mode);
  cfg_str(&c, "program", program, sizeof program);
  s->queue = (uint32_t)cfg_int(&c, "queue");
  s->fsize = (uint32_t)cfg_int(&c, "frameSize");
  s->fcount = (uint32_t)cfg_int(&c, "frameCount");
  uint32_t ring = (uint32_t)cfg_int(&c, "ringSize");
  uint32_t max_batch = (uint32_t)cfg_int(&c, "maxBatch");
  uint32_t ip = (uint32_t)cfg_int(&c, "ipv4");
  bool has6 = cfg_bool(&c, "ipv6");
  bool ra = cfg_bool(&c, "routerAdvertisements");
  uint32_t flow_max = (uint32_t)cfg_int(&c, "flowMapSize");
  int busy = (int)cfg_int(&c, "busyPollUs");
  int retry_ms = (int)cfg_int(&c, "bindRetryMs");
  s->need_wakeup = cfg_bool(&c, "needWakeup");
  int64_t shared_map = cfg_int(&c, "xskMapFd"); /* -1: attach a program of its own */
  uint32_t queues = (uint32_t)cfg_int(&c, "queues");
  s->repair_csum = cfg_bool(&c, "repairPartialChecksums");
  bool program_only = cfg_bool(&c, "programOnly"); /* maps, program and link, no socket: a cluster's primary */
  int64_t flow_map = cfg_int(&c, "flowMapFd"); /* shared mode joining by xskMapFd: the program's flow map */
  if (bw_cfg_check(&c, "af-xdp options", e) != 0) return -1;
  bool shared = !strcmp(program, "shared");
  if ((s->fsize != 2048 && s->fsize != 4096) || s->fcount < 16 || (s->fcount & (s->fcount - 1)) || ring < 8 ||
      (ring & (ring - 1)) || max_batch == 0 || max_batch > ring || s->queue > 255 || queues > 256 || s->queue >= queues ||
      (shared_map >= 0 && (program_only || shared != (flow_map >= 0))) || (shared_map < 0 && flow_map >= 0) ||
      (!shared && strcmp(program, "own")) || (!shared && ip == 0 && !has6)) {
    bw_set_error(e, EINVAL, "af-xdp options",
                 "frameSize 2048|4096, frameCount and ringSize powers of two, program 'own' (with ipv4 or ipv6) or 'shared'");
    return -1;
  }
  h->ifindex = (int)if_nametoindex(h->ifname);
  if (h->ifindex == 0) {
    bw_set_error(e, ENODEV, "if_nametoindex", "%s", h->ifname);
    return -1;
  }
  if (!program_only && xs_socket_open(h, s, ring, bind_mode, retry_ms, busy, e) != 0) return -1;

  /* Maps and program, or (xskMapFd) a slot in the XSKMAP of a program another socket of this process attached:
     one program per interface, one socket per receive queue, the program redirecting by rx_queue_index. */
  const char *attached = NULL;
  if (shared_map >= 0) {
    uint32_t key = s->queue, val = (uint32_t)h->fd;
    union bpf_attr mu;
    memset(&mu, 0, sizeof mu);
    mu.map_fd = (uint32_t)shared_map;
    mu.key = (uint64_t)(uintptr_t)&key;
    mu.value = (uint64_t)(uintptr_t)&val;
    if (sys_bpf(BPF_MAP_UPDATE_ELEM, &mu) != 0) {
      bw_set_error(e, errno, "BPF_MAP_UPDATE_ELEM", "XSKMAP[%u] of the interface's program (xskMapFd %d)", s->queue, (int)shared_map);
      return -1;
    }
    /* Shared mode: this socket's own descriptor of the program's flow map (closed with it; the map lives on). */
    if (flow_map >= 0 && (s->flow_map_fd = fcntl((int)flow_map, F_DUPFD_CLOEXEC, 0)) < 0) {
      bw_set_error(e, errno, "fcntl(F_DUPFD_CLOEXEC)", "the flow map (flowMapFd %d)", (int)flow_map);
      return -1;
    }
    attached = "";
  } else {
    /* Maps and program. */
    s->xsk_map_fd = create_map(BPF_MAP_TYPE_XSKMAP, 4, 4, queues, "byway_xsks");
    if (s->xsk_map_fd < 0) {
      bw_set_error(e, errno, "BPF_MAP_CREATE", "XSKMAP");
      return -1;
    }
    if (has6 && !shared) {
      s->addr6_map_fd = create_map(BPF_MAP_TYPE_HASH, 16, 4, XDP_ADDR6_MAX, "byway_addr6");
      if (s->addr6_map_fd < 0) {
        bw_set_error(e, errno, "BPF_MAP_CREATE", "IPv6 address map of %u entries", XDP_ADDR6_MAX);
        return -1;
      }
    }
    if (shared) {
      s->flow_map_fd = create_map(BPF_MAP_TYPE_HASH, sizeof(struct flow_key), sizeof(struct flow_val), flow_max, "byway_flows");
      if (s->flow_map_fd < 0) {
        bw_set_error(e, errno, "BPF_MAP_CREATE", "flow hash map of %u entries", flow_max);
        return -1;
      }
    }
    xdp_asm *a = calloc(1, sizeof *a);
    /* A cluster's shared program (no socket of its own): a byway flow on a queue whose worker is gone is dropped,
       not passed to the kernel, which owns the address and would reset it (another worker's own connection among
       them: its return traffic lands on any queue); TCP retransmits until a new worker binds the queue. */
    if (shared && program_only) {
      s->unbound_map_fd = create_map(BPF_MAP_TYPE_ARRAY, 4, 8, queues, "byway_unbound");
      if (s->unbound_map_fd < 0) {
        free(a);
        bw_set_error(e, errno, "BPF_MAP_CREATE", "per-queue drop counters (%u queues)", queues);
        return -1;
      }
    }
    xdp_build_program(a, shared, ip, s->addr6_map_fd, ra, has6, s->xsk_map_fd, s->flow_map_fd, shared && program_only, s->unbound_map_fd);
    if (a->overflow) {
      free(a);
      bw_set_error(e, E2BIG, "BPF_PROG_LOAD", "XDP program longer than the assembler's %d instructions", XDP_ASM_MAX);
      return -1;
    }
    union bpf_attr at;
    char *log = malloc(65536);
    for (int attempt = 0; attempt < 2; attempt++) {
      memset(&at, 0, sizeof at);
      at.prog_type = BPF_PROG_TYPE_XDP;
      at.insn_cnt = (uint32_t)a->n;
      at.insns = (uint64_t)(uintptr_t)a->ins;
      at.license = (uint64_t)(uintptr_t) "Dual MIT/GPL";
      at.expected_attach_type = BPF_XDP;
      strncpy(at.prog_name, shared ? "byway_shared" : "byway_own", sizeof at.prog_name - 1);
      if (attempt == 1) {
        log[0] = 0;
        at.log_level = 1;
        at.log_buf = (uint64_t)(uintptr_t)log;
        at.log_size = 65536;
      }
      s->prog_fd = sys_bpf(BPF_PROG_LOAD, &at);
      if (s->prog_fd >= 0) break;
    }
    int load_err = errno;
    free(a);
    if (s->prog_fd < 0) {
      bw_set_error(e, load_err, "BPF_PROG_LOAD", "XDP program rejected");
      e->log = log;
      return -1;
    }
    free(log);
    uint32_t key = s->queue, val = (uint32_t)h->fd;
    memset(&at, 0, sizeof at);
    at.map_fd = (uint32_t)s->xsk_map_fd;
    at.key = (uint64_t)(uintptr_t)&key;
    at.value = (uint64_t)(uintptr_t)&val;
    if (!program_only && sys_bpf(BPF_MAP_UPDATE_ELEM, &at) != 0) {
      bw_set_error(e, errno, "BPF_MAP_UPDATE_ELEM", "XSKMAP[%u]", s->queue);
      return -1;
    }
    int attach_err = 0;
    struct {
      const char *name;
      uint32_t flag;
    } modes[2] = {{"native", XDP_FLAGS_DRV_MODE}, {"generic", XDP_FLAGS_SKB_MODE}};
    for (int i = 0; i < 2 && !attached; i++) {
      if (strcmp(attach_mode, "auto") && strcmp(attach_mode, modes[i].name)) continue;
      memset(&at, 0, sizeof at);
      at.link_create.prog_fd = (uint32_t)s->prog_fd;
      at.link_create.target_ifindex = (uint32_t)h->ifindex;
      at.link_create.attach_type = BPF_XDP;
      at.link_create.flags = modes[i].flag;
      s->link_fd = sys_bpf(BPF_LINK_CREATE, &at);
      if (s->link_fd >= 0) attached = modes[i].name;
      else if (!attach_err || i == 0) attach_err = errno;
    }
    if (!attached) {
      bw_set_error(e, attach_err ? attach_err : EINVAL, "BPF_LINK_CREATE", "attach XDP (%s) to %s", attach_mode, h->ifname);
      return -1;
    }
  }
  if (program_only && bw_slab_alloc(h, 4096, e) != 0) return -1; /* no frames: a token memory for the info */
  if (bw_ctl_alloc(h, max_batch, program_only ? 1 : s->free_cap < 256 ? s->free_cap : 256) != 0) {
    bw_set_error(e, ENOMEM, "allocate control block", NULL);
    return -1;
  }
  uint8_t mac[6] = {0};
  bw_if_hwaddr(h->ifname, mac);
  set_bytes(env, info, "ifHwAddress", mac, 6);
  set_str(env, info, "bindMode", s->zerocopy ? "zerocopy" : "copy");
  set_str(env, info, "attachMode", attached);
  set_str(env, info, "program", shared ? "shared" : "own");
  set_bool(env, info, "needWakeup", s->need_wakeup);
  set_int(env, info, "queue", s->queue);
  set_int(env, info, "frameCap", s->fsize);
  set_int(env, info, "progFd", s->prog_fd);
  set_int(env, info, "xskMapFd", s->xsk_map_fd);
  set_int(env, info, "addr6MapFd", s->addr6_map_fd);
  set_int(env, info, "flowMapFd", s->flow_map_fd);
  set_int(env, info, "rxQueues", bw_if_rx_queues(h->ifname));
  return 0;
}
