/*
 * The floor of the benchmark (issue #12): what a busy-polling C program gets from the same veth over the same raw
 * interfaces byway's drivers use, with no stack at all. bench/lib/floor.ts compiles it with cc into a temp dir
 * (no library: raw setsockopt/mmap and bpf(2), like drivers/native/src) and runs it in a namespace:
 *
 *   floor xdp|v2 IFNAME MYMAC MYIP PEERMAC PEERIP PORT ROLE SIZE WARMUP_S SECONDS
 *
 *   xdp   AF_XDP, copy mode (veth refuses zero-copy), queue 0; an XDP program (attached through a BPF link, so it
 *         goes with the process) redirects every frame to the socket: both floor ends build their own frames and
 *         need no ARP from the kernel.
 *   v2    AF_PACKET with TPACKET_V2 receive and transmit rings, PACKET_QDISC_BYPASS, promiscuous (own MAC).
 *
 *   ROLE  reflect  send every UDP datagram to MYIP:PORT back to where it came from (MACs, addresses, ports swapped)
 *         ping     one 64 B (SIZE) datagram at a time to PEERIP:PORT, spin until its echo is back; half round
 *                  trips over SECONDS after WARMUP_S (a reply not back within 100 ms counts as lost, a new one goes)
 *         sink     count UDP datagrams to MYIP:PORT; the count in the window [WARMUP_S, WARMUP_S + SECONDS] from
 *                  the first datagram, and the total until SECONDS + WARMUP_S + 1 after the start
 *         blast    send SIZE-byte datagrams to PEERIP:PORT in batches of 64 as fast as the ring takes them
 *
 * Every role spins on its rings (no poll(), no sleep): that is the busy-polling floor. The result is one JSON line
 * on stdout; errors go to stderr with a non-zero exit. UDP checksums are 0 (allowed in IPv4), IPv4 header
 * checksums are computed. The ping's payload carries nothing the reflector reads: the IPv4 identification field
 * numbers the round trips.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef SOL_XDP
#define SOL_XDP 283
#endif

#define FRAME 2048
#define NFRAMES 4096 /* UMEM chunks (xdp) or ring frames per direction (v2) */
#define RING 2048
#define BATCH 64

static void die(const char *what) {
  fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
  exit(1);
}

static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------------------------------- the two back ends */

static int fd = -1;
static int use_xdp;
static uint32_t tx_pending;

/* AF_XDP */
typedef struct {
  uint32_t *prod, *cons;
  void *desc;
  uint32_t mask, cached;
} xring;
static xring fillr, compr, rxr, txr;
static uint8_t *umem;
static uint64_t freetx[NFRAMES];
static uint32_t nfree;

/* TPACKET_V2 */
static uint8_t *rxring, *txring;
static uint32_t rxi, txi;

static int sys_bpf(int cmd, union bpf_attr *a) { return (int)syscall(__NR_bpf, cmd, a, sizeof *a); }

static void map_ring(xring *r, struct xdp_ring_offset *o, uint32_t n, uint64_t pgoff, size_t esz) {
  size_t len = o->desc + n * esz;
  uint8_t *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, (off_t)pgoff);
  if (m == MAP_FAILED) die("mmap XDP ring");
  r->prod = (uint32_t *)(m + o->producer);
  r->cons = (uint32_t *)(m + o->consumer);
  r->desc = m + o->desc;
  r->mask = n - 1;
}

static void open_xdp(const char *ifname) {
  int ifindex = (int)if_nametoindex(ifname);
  if (!ifindex) die("if_nametoindex");
  fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket(AF_XDP)");
  umem = mmap(NULL, (size_t)FRAME * NFRAMES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (umem == MAP_FAILED) die("mmap UMEM");
  struct xdp_umem_reg ur = {.addr = (uint64_t)(uintptr_t)umem, .len = (uint64_t)FRAME * NFRAMES, .chunk_size = FRAME};
  if (setsockopt(fd, SOL_XDP, XDP_UMEM_REG, &ur, sizeof ur)) die("XDP_UMEM_REG");
  uint32_t n = RING;
  if (setsockopt(fd, SOL_XDP, XDP_UMEM_FILL_RING, &n, sizeof n) || setsockopt(fd, SOL_XDP, XDP_UMEM_COMPLETION_RING, &n, sizeof n) ||
      setsockopt(fd, SOL_XDP, XDP_RX_RING, &n, sizeof n) || setsockopt(fd, SOL_XDP, XDP_TX_RING, &n, sizeof n))
    die("XDP ring setup");
  struct xdp_mmap_offsets off;
  socklen_t ol = sizeof off;
  if (getsockopt(fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &ol)) die("XDP_MMAP_OFFSETS");
  map_ring(&fillr, &off.fr, RING, XDP_UMEM_PGOFF_FILL_RING, 8);
  map_ring(&compr, &off.cr, RING, XDP_UMEM_PGOFF_COMPLETION_RING, 8);
  map_ring(&rxr, &off.rx, RING, XDP_PGOFF_RX_RING, sizeof(struct xdp_desc));
  map_ring(&txr, &off.tx, RING, XDP_PGOFF_TX_RING, sizeof(struct xdp_desc));
  /* First half of the UMEM on the fill ring (receive), second half the transmit pool. */
  uint64_t *fr = fillr.desc;
  for (uint32_t i = 0; i < RING; i++) fr[i] = (uint64_t)i * FRAME;
  __atomic_store_n(fillr.prod, RING, __ATOMIC_RELEASE);
  for (uint32_t i = RING; i < NFRAMES; i++) freetx[nfree++] = (uint64_t)i * FRAME;
  struct sockaddr_xdp sx = {.sxdp_family = AF_XDP, .sxdp_ifindex = (uint32_t)ifindex, .sxdp_queue_id = 0, .sxdp_flags = XDP_COPY};
  int rc;
  for (int waited = 0;; waited += 50) { /* a previous socket on the queue may still be going (about 1 s) */
    rc = bind(fd, (struct sockaddr *)&sx, sizeof sx);
    if (rc == 0 || errno != EBUSY || waited >= 3000) break;
    usleep(50000);
  }
  if (rc) die("bind(AF_XDP)");
  union bpf_attr at;
  memset(&at, 0, sizeof at);
  at.map_type = BPF_MAP_TYPE_XSKMAP;
  at.key_size = 4;
  at.value_size = 4;
  at.max_entries = 1;
  int map = sys_bpf(BPF_MAP_CREATE, &at);
  if (map < 0) die("BPF_MAP_CREATE XSKMAP");
  /* r2 = ctx->rx_queue_index; r1 = map; r3 = XDP_PASS (when the slot is empty); return bpf_redirect_map(...) */
  struct bpf_insn prog[] = {
      {.code = BPF_LDX | BPF_MEM | BPF_W, .dst_reg = 2, .src_reg = 1, .off = 16},
      {.code = BPF_LD | BPF_DW | BPF_IMM, .dst_reg = 1, .src_reg = BPF_PSEUDO_MAP_FD, .imm = map},
      {0},
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 3, .imm = XDP_PASS},
      {.code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_redirect_map},
      {.code = BPF_JMP | BPF_EXIT},
  };
  memset(&at, 0, sizeof at);
  at.prog_type = BPF_PROG_TYPE_XDP;
  at.insn_cnt = sizeof prog / sizeof prog[0];
  at.insns = (uint64_t)(uintptr_t)prog;
  at.license = (uint64_t)(uintptr_t) "GPL";
  at.expected_attach_type = BPF_XDP;
  int pfd = sys_bpf(BPF_PROG_LOAD, &at);
  if (pfd < 0) die("BPF_PROG_LOAD");
  uint32_t key = 0, val = (uint32_t)fd;
  memset(&at, 0, sizeof at);
  at.map_fd = (uint32_t)map;
  at.key = (uint64_t)(uintptr_t)&key;
  at.value = (uint64_t)(uintptr_t)&val;
  if (sys_bpf(BPF_MAP_UPDATE_ELEM, &at)) die("BPF_MAP_UPDATE_ELEM");
  memset(&at, 0, sizeof at);
  at.link_create.prog_fd = (uint32_t)pfd;
  at.link_create.target_ifindex = (uint32_t)ifindex;
  at.link_create.attach_type = BPF_XDP;
  at.link_create.flags = XDP_FLAGS_DRV_MODE;
  if (sys_bpf(BPF_LINK_CREATE, &at) < 0) die("BPF_LINK_CREATE (native XDP)");
}

static void open_v2(const char *ifname, const uint8_t *mac) {
  int ifindex = (int)if_nametoindex(ifname);
  if (!ifindex) die("if_nametoindex");
  fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
  if (fd < 0) die("socket(AF_PACKET)");
  int v = TPACKET_V2, one = 1;
  if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof v)) die("PACKET_VERSION");
  struct tpacket_req req = {.tp_block_size = FRAME * 32, .tp_block_nr = NFRAMES / 32, .tp_frame_size = FRAME, .tp_frame_nr = NFRAMES};
  if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req)) die("PACKET_RX_RING");
  if (setsockopt(fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof req)) die("PACKET_TX_RING");
  if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one)) die("PACKET_QDISC_BYPASS");
  size_t half = (size_t)FRAME * NFRAMES;
  uint8_t *m = mmap(NULL, 2 * half, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (m == MAP_FAILED) die("mmap packet rings");
  rxring = m;
  txring = m + half;
  struct sockaddr_ll sl = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = ifindex};
  if (bind(fd, (struct sockaddr *)&sl, sizeof sl)) die("bind(AF_PACKET)");
  struct packet_mreq mr = {.mr_ifindex = ifindex, .mr_type = PACKET_MR_PROMISC};
  if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr)) die("PACKET_MR_PROMISC");
  (void)mac;
}

/* Next received frame, or NULL; rx_done() gives it back. */
static uint8_t *rx_next(uint32_t *len) {
  if (use_xdp) {
    uint32_t c = *rxr.cons;
    if (c == rxr.cached) {
      rxr.cached = __atomic_load_n(rxr.prod, __ATOMIC_ACQUIRE);
      if (c == rxr.cached) return NULL;
    }
    struct xdp_desc *d = &((struct xdp_desc *)rxr.desc)[c & rxr.mask];
    *len = d->len;
    return umem + d->addr;
  }
  struct tpacket2_hdr *h = (struct tpacket2_hdr *)(rxring + (size_t)rxi * FRAME);
  if (!(__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) return NULL;
  *len = h->tp_snaplen;
  return (uint8_t *)h + h->tp_mac;
}

static void rx_done(void) {
  if (use_xdp) {
    uint32_t c = *rxr.cons;
    uint64_t addr = ((struct xdp_desc *)rxr.desc)[c & rxr.mask].addr;
    uint32_t p = *fillr.prod; /* the fill ring has room: it holds every receive chunk */
    ((uint64_t *)fillr.desc)[p & fillr.mask] = addr & ~(uint64_t)(FRAME - 1);
    __atomic_store_n(fillr.prod, p + 1, __ATOMIC_RELEASE);
    __atomic_store_n(rxr.cons, c + 1, __ATOMIC_RELEASE);
    return;
  }
  struct tpacket2_hdr *h = (struct tpacket2_hdr *)(rxring + (size_t)rxi * FRAME);
  __atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
  rxi = (rxi + 1) % NFRAMES;
}

/* A transmit buffer for the next frame, or NULL when the ring is full; tx_commit(len) queues it. */
static uint8_t *tx_slot(void) {
  if (use_xdp) {
    if (nfree == 0) { /* reclaim what the kernel completed */
      uint32_t c = *compr.cons, p = __atomic_load_n(compr.prod, __ATOMIC_ACQUIRE);
      for (; c != p; c++) freetx[nfree++] = ((uint64_t *)compr.desc)[c & compr.mask];
      __atomic_store_n(compr.cons, c, __ATOMIC_RELEASE);
      if (nfree == 0) return NULL;
    }
    if (*txr.prod - __atomic_load_n(txr.cons, __ATOMIC_ACQUIRE) >= RING) return NULL;
    return umem + freetx[nfree - 1];
  }
  struct tpacket2_hdr *h = (struct tpacket2_hdr *)(txring + (size_t)txi * FRAME);
  uint32_t st = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
  if (st != TP_STATUS_AVAILABLE && st != TP_STATUS_WRONG_FORMAT) return NULL;
  return (uint8_t *)h + TPACKET2_HDRLEN - sizeof(struct sockaddr_ll);
}

static void tx_commit(uint32_t len) {
  if (use_xdp) {
    uint32_t p = *txr.prod;
    struct xdp_desc *d = &((struct xdp_desc *)txr.desc)[p & txr.mask];
    d->addr = freetx[--nfree];
    d->len = len;
    d->options = 0;
    __atomic_store_n(txr.prod, p + 1, __ATOMIC_RELEASE);
  } else {
    struct tpacket2_hdr *h = (struct tpacket2_hdr *)(txring + (size_t)txi * FRAME);
    h->tp_len = len;
    __atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
    txi = (txi + 1) % NFRAMES;
  }
  tx_pending++;
}

/* One kick for everything committed (copy-mode AF_XDP and the TX ring both transmit in the sendto). */
static void tx_flush(void) {
  if (!tx_pending) return;
  sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0);
  tx_pending = 0;
}

/* ------------------------------------------------------------------------------------------------ UDP frames */

static uint8_t my_mac[6], peer_mac[6];
static uint32_t my_ip, peer_ip; /* network order */
static uint16_t port;           /* network order */

static int parse_mac(const char *s, uint8_t *m) {
  return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) == 6 ? 0 : -1;
}

static uint16_t ip_csum(const uint8_t *h) {
  uint32_t s = 0;
  for (int i = 0; i < 20; i += 2) s += (uint32_t)(h[i] << 8 | h[i + 1]);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return (uint16_t)~s;
}

/* Ethernet + IPv4 + UDP to the peer, SIZE bytes of payload; returns the frame length. */
static uint32_t build(uint8_t *f, uint32_t size, uint16_t id) {
  memcpy(f, peer_mac, 6);
  memcpy(f + 6, my_mac, 6);
  f[12] = 0x08, f[13] = 0x00;
  uint8_t *ip = f + 14;
  uint16_t tot = (uint16_t)(28 + size);
  ip[0] = 0x45, ip[1] = 0, ip[2] = (uint8_t)(tot >> 8), ip[3] = (uint8_t)tot;
  ip[4] = (uint8_t)(id >> 8), ip[5] = (uint8_t)id, ip[6] = 0x40, ip[7] = 0, ip[8] = 64, ip[9] = 17, ip[10] = ip[11] = 0;
  memcpy(ip + 12, &my_ip, 4);
  memcpy(ip + 16, &peer_ip, 4);
  uint16_t c = ip_csum(ip);
  ip[10] = (uint8_t)(c >> 8), ip[11] = (uint8_t)c;
  uint8_t *u = ip + 20;
  memcpy(u, &port, 2);
  memcpy(u + 2, &port, 2);
  uint16_t ul = (uint16_t)(8 + size);
  u[4] = (uint8_t)(ul >> 8), u[5] = (uint8_t)ul, u[6] = u[7] = 0;
  memset(u + 8, 0x63, size);
  return 42 + size;
}

/* A UDP datagram to MYIP:PORT (not a fragment, 20-byte IPv4 header)? */
static int is_mine(const uint8_t *f, uint32_t len) {
  return len >= 42 && f[12] == 0x08 && f[13] == 0x00 && f[14] == 0x45 && f[23] == 17 && !memcmp(f + 30, &my_ip, 4) &&
         !memcmp(f + 36, &port, 2);
}

/* ------------------------------------------------------------------------------------------------------ roles */

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static double pct(const uint64_t *v, size_t n, double p) { /* nearest rank, as bench/lib/stats.ts */
  if (!n) return 0;
  size_t r = (size_t)(p / 100 * (double)n - 1e-9);
  if ((double)r < p / 100 * (double)n - 1e-9) r++;
  if (r < 1) r = 1;
  if (r > n) r = n;
  return (double)v[r - 1] / 2000.0; /* ns round trip -> us half round trip */
}

static void role_ping(uint32_t size, double warm, double secs) {
  size_t cap = 1 << 20, n = 0;
  uint64_t *rtt = malloc(cap * sizeof *rtt);
  uint64_t t0 = now_ns(), mstart = t0 + (uint64_t)(warm * 1e9), end = mstart + (uint64_t)(secs * 1e9);
  uint64_t lost = 0, sum = 0;
  uint16_t id = 0;
  uint8_t *s;
  for (;;) {
    uint64_t t = now_ns();
    if (t >= end) break;
    id++;
    while (!(s = tx_slot())) tx_flush();
    tx_commit(build(s, size, id));
    uint64_t sent = now_ns();
    tx_flush();
    for (;;) {
      uint32_t len;
      uint8_t *f = rx_next(&len);
      if (f) {
        int ok = is_mine(f, len) && (uint16_t)(f[18] << 8 | f[19]) == id;
        rx_done();
        if (!ok) continue;
        uint64_t d = now_ns() - sent;
        if (sent >= mstart) {
          if (n == cap) rtt = realloc(rtt, (cap *= 2) * sizeof *rtt);
          rtt[n++] = d;
          sum += d;
        }
        break;
      }
      if (now_ns() - sent > 100000000ull) {
        if (sent >= mstart) lost++;
        break;
      }
    }
  }
  qsort(rtt, n, sizeof *rtt, cmp_u64);
  printf("{\"samples\":%zu,\"minUs\":%.2f,\"meanUs\":%.2f,\"p50Us\":%.2f,\"p99Us\":%.2f,\"p999Us\":%.2f,\"maxUs\":%.2f,"
         "\"roundTripsPerSec\":%.0f,\"lost\":%llu}\n",
         n, n ? rtt[0] / 2000.0 : 0, n ? (double)sum / (double)n / 2000.0 : 0, pct(rtt, n, 50), pct(rtt, n, 99), pct(rtt, n, 99.9),
         n ? rtt[n - 1] / 2000.0 : 0, (double)n / secs, (unsigned long long)lost);
}

static void role_reflect(double secs) {
  uint64_t end = now_ns() + (uint64_t)(secs * 1e9), n = 0;
  while (now_ns() < end) {
    uint32_t len;
    uint8_t *f = rx_next(&len), *s;
    if (!f) continue;
    if (is_mine(f, len) && len <= FRAME && (s = tx_slot())) {
      /* Swapping the addresses leaves the IPv4 header checksum as it was (a sum of the same words). */
      memcpy(s, f + 6, 6), memcpy(s + 6, f, 6), memcpy(s + 12, f + 12, len - 12);
      memcpy(s + 26, f + 30, 4), memcpy(s + 30, f + 26, 4);
      memcpy(s + 34, f + 36, 2), memcpy(s + 36, f + 34, 2);
      rx_done();
      tx_commit(len);
      tx_flush();
      n++;
    } else {
      rx_done();
    }
  }
  printf("{\"reflected\":%llu}\n", (unsigned long long)n);
}

static void role_sink(double warm, double secs) {
  uint64_t t0 = now_ns(), end = t0 + (uint64_t)((warm + secs + 1) * 1e9), first = 0, total = 0, win = 0;
  uint64_t ws = 0, we = 0;
  while (now_ns() < end) {
    uint32_t len;
    uint8_t *f = rx_next(&len);
    if (!f) continue;
    if (is_mine(f, len)) {
      uint64_t t = now_ns();
      if (!first) first = t, ws = t + (uint64_t)(warm * 1e9), we = ws + (uint64_t)(secs * 1e9);
      total++;
      if (t >= ws && t < we) win++;
    }
    rx_done();
  }
  printf("{\"received\":%llu,\"window\":%llu,\"receivedPerSec\":%.0f}\n", (unsigned long long)total, (unsigned long long)win,
         secs > 0 ? (double)win / secs : 0);
}

static void role_blast(uint32_t size, double warm, double secs) {
  uint64_t t0 = now_ns(), ws = t0 + (uint64_t)(warm * 1e9), end = ws + (uint64_t)(secs * 1e9), sent = 0, win = 0;
  uint16_t id = 0;
  for (uint64_t t = t0; t < end; t = now_ns()) {
    uint32_t k = 0;
    uint8_t *s;
    while (k < BATCH && (s = tx_slot())) tx_commit(build(s, size, ++id)), k++;
    tx_flush();
    sent += k;
    if (t >= ws) win += k;
  }
  printf("{\"sent\":%llu,\"sentPerSec\":%.0f}\n", (unsigned long long)sent, secs > 0 ? (double)win / secs : 0);
}

int main(int argc, char **argv) {
  if (argc != 12) {
    fprintf(stderr, "usage: floor xdp|v2 IFNAME MYMAC MYIP PEERMAC PEERIP PORT reflect|ping|sink|blast SIZE WARMUP_S SECONDS\n");
    return 2;
  }
  use_xdp = !strcmp(argv[1], "xdp");
  if (!use_xdp && strcmp(argv[1], "v2")) return fprintf(stderr, "floor: back end must be xdp or v2\n"), 2;
  if (parse_mac(argv[3], my_mac) || parse_mac(argv[5], peer_mac) || inet_pton(AF_INET, argv[4], &my_ip) != 1 ||
      inet_pton(AF_INET, argv[6], &peer_ip) != 1)
    return fprintf(stderr, "floor: bad MAC or IPv4 address\n"), 2;
  port = htons((uint16_t)atoi(argv[7]));
  uint32_t size = (uint32_t)atoi(argv[9]);
  if (size > 1472) return fprintf(stderr, "floor: SIZE at most 1472\n"), 2;
  double warm = atof(argv[10]), secs = atof(argv[11]);
  if (use_xdp) open_xdp(argv[2]);
  else open_v2(argv[2], my_mac);
  fprintf(stderr, "floor: ready\n"); /* the harness starts the other end after this line */
  const char *role = argv[8];
  if (!strcmp(role, "ping")) role_ping(size, warm, secs);
  else if (!strcmp(role, "reflect")) role_reflect(warm + secs);
  else if (!strcmp(role, "sink")) role_sink(warm, secs);
  else if (!strcmp(role, "blast")) role_blast(size, warm, secs);
  else return fprintf(stderr, "floor: unknown role %s\n", role), 2;
  fflush(stdout);
  return 0;
}
