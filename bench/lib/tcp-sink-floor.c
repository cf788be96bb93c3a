/*
 * The floor of TCP bulk receive (issue #12): what a busy-polling C program gets from a kernel TCP sender over the
 * same AF_PACKET interface byway's af-packet-tso driver uses (TPACKET_V2 receive ring, PACKET_VNET_HDR so that the
 * kernel hands over its 64 KiB GSO packets whole), with as little TCP as a receiver can have: it answers ARP and
 * one SYN, counts in-order bytes, remembers out-of-order ranges (no bytes: nothing is delivered) and SACKs them, and
 * sends one cumulative ACK per receive batch (an out-of-order segment at once). It keeps no data, so the window it
 * offers is always the whole 4 MiB (byway's receiveBuffer). With COPY_MIB > 0 it copies every payload byte once
 * into an area of that many MiB it walks through, the one copy any consumer of the bytes needs (byway's into its
 * receive slabs, the kernel path's into the reader's buffer): 1 MiB stays in the caches as buffers a reader frees
 * at once do, 64 MiB does not. bench/lib/cprogs.ts compiles it; bench/run.ts's floor-af-packet-v2 path runs it for
 * tcp-bulk-rx-1, bench/rx-bulk-veth.ts with `--driver floor-v2[-copy[-cold]]`:
 *
 *   tcp-sink-floor v2|tap IFNAME MYMAC MYIP PORT COPY_MIB [WORK_NS]
 *
 * tap: instead of the AF_PACKET ring, the TAP device IFNAME as byway's tap-tso driver opens it (IFF_VNET_HDR,
 * TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6, so the kernel hands over its 64 KiB packets), one non-blocking read() per
 * frame and one write() per ACK: the TAP path's floor (bench/rx-bulk-veth.ts --driver floor-tap-copy).
 *
 * WORK_NS > 0: after each TCP frame, spin that many nanoseconds on the clock, as a stand-in for the per-frame work a
 * real stack does between taking a frame and sending its ACK (how the goodput falls with it: docs/performance-targets.md).
 *
 * Prints "ready" once the ring is up; then, for every line read on stdin, one JSON line: bytes received in order,
 * the time (epoch ms), its CPU time (ms), frames, ACKs sent, out-of-order segments, the WORK_NS spun (ms), and
 * whether the connection's FIN has come in order (1: every byte before it is counted). Exits at EOF on stdin. No
 * timestamps option, no retransmission (it sends nothing that needs one), one connection at a time.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FRAME (17 * 4096) /* a 64 KiB packet, its headers, the vnet header and tpacket's (byway's frame size) */
#define NFRAMES 256
#define BATCH 64
#define WSCALE 7
#define WINDOW (4u << 20)
#define MAX_OOO 4

static void die(const char *what) {
  fprintf(stderr, "tcp-sink-floor: %s: %s\n", what, strerror(errno));
  exit(1);
}

static int fd, use_tap;
static uint8_t tap_buf[sizeof(struct virtio_net_hdr) + 65535 + 18];
static uint8_t *ring;
static uint32_t ri;
static uint8_t my_mac[6], peer_mac[6];
static uint32_t my_ip, peer_ip; /* network order */
static uint16_t my_port, peer_port;
static int have_conn, fin_seen; /* fin_seen: the peer's FIN taken in order (all its bytes are in) */
static uint32_t rcv_nxt, snd_nxt;
static struct { uint32_t l, r; } ooo[MAX_OOO];
static int n_ooo;
static uint64_t bytes, frames, acks, ooo_segs;
static uint8_t *copy_area;
static size_t copy_off, copy_area_len;
static uint64_t work_ns, work_done_ns;

static inline int seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static inline int seq_le(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t s) {
  for (size_t i = 0; i + 1 < n; i += 2) s += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (n & 1) s += (uint32_t)(p[n - 1] << 8);
  return s;
}

static uint16_t fold(uint32_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return (uint16_t)~s;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)), put16(p + 2, (uint16_t)v); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* One frame out, after a zeroed virtio_net_hdr (no offload asked): PACKET_VNET_HDR and IFF_VNET_HDR want one before
   every frame. */
static void xmit(const uint8_t *frame, size_t len) {
  uint8_t buf[sizeof(struct virtio_net_hdr) + 128];
  memset(buf, 0, sizeof(struct virtio_net_hdr));
  memcpy(buf + sizeof(struct virtio_net_hdr), frame, len);
  if (write(fd, buf, sizeof(struct virtio_net_hdr) + len) < 0 && errno != EAGAIN && errno != ENOBUFS) die("write");
}

/* A segment to the peer: flags, our SYN options when `syn`, SACK blocks for the out-of-order ranges otherwise. */
static void send_tcp(uint8_t flags, int syn) {
  uint8_t f[128];
  memset(f, 0, sizeof f);
  memcpy(f, peer_mac, 6), memcpy(f + 6, my_mac, 6), f[12] = 0x08;
  uint8_t *ip = f + 14, *t = ip + 20, *o = t + 20;
  size_t ol = 0;
  if (syn) { /* MSS 1460, SACK permitted, window scale */
    o[0] = 2, o[1] = 4, put16(o + 2, 1460), o[4] = 4, o[5] = 2, o[6] = 1, o[7] = 3, o[8] = 3, o[9] = WSCALE, ol = 12;
    o[10] = o[11] = 1; /* NOPs to a multiple of 4 */
  } else if (n_ooo > 0) {
    o[0] = o[1] = 1, o[2] = 5, o[3] = (uint8_t)(2 + 8 * n_ooo);
    for (int i = 0; i < n_ooo; i++) put32(o + 4 + 8 * i, ooo[i].l), put32(o + 8 + 8 * i, ooo[i].r);
    ol = 4 + 8 * (size_t)n_ooo;
  }
  size_t tl = 20 + ol;
  ip[0] = 0x45, put16(ip + 2, (uint16_t)(20 + tl)), ip[6] = 0x40, ip[8] = 64, ip[9] = 6;
  memcpy(ip + 12, &my_ip, 4), memcpy(ip + 16, &peer_ip, 4);
  put16(ip + 10, fold(sum16(ip, 20, 0)));
  memcpy(t, &my_port, 2), memcpy(t + 2, &peer_port, 2);
  put32(t + 4, syn ? snd_nxt - 1 : snd_nxt), put32(t + 8, rcv_nxt);
  t[12] = (uint8_t)((tl / 4) << 4), t[13] = flags;
  put16(t + 14, syn ? 65535 : (uint16_t)(WINDOW >> WSCALE));
  uint8_t ph[12];
  memcpy(ph, ip + 12, 8), ph[8] = 0, ph[9] = 6, put16(ph + 10, (uint16_t)tl);
  put16(t + 16, fold(sum16(t, tl, sum16(ph, 12, 0))));
  xmit(f, 34 + tl);
  acks++;
}

static void arp_reply(const uint8_t *f, uint32_t len) {
  if (len < 42 || f[20] != 0 || f[21] != 1 || memcmp(f + 38, &my_ip, 4)) return; /* a request for my address */
  uint8_t r[42];
  memcpy(r, f + 6, 6), memcpy(r + 6, my_mac, 6), r[12] = 0x08, r[13] = 0x06;
  memcpy(r + 14, f + 14, 6), r[20] = 0, r[21] = 2;
  memcpy(r + 22, my_mac, 6), memcpy(r + 28, &my_ip, 4), memcpy(r + 32, f + 22, 6), memcpy(r + 38, f + 28, 4);
  xmit(r, 42);
}

/* Out-of-order range [l, r): merged into the list (the newest first, as RFC 2018 asks), the oldest dropped when full. */
static void ooo_add(uint32_t l, uint32_t r) {
  for (int i = 0; i < n_ooo; i++) {
    if (seq_le(l, ooo[i].r) && seq_le(ooo[i].l, r)) {
      if (seq_lt(ooo[i].l, l)) l = ooo[i].l;
      if (seq_lt(r, ooo[i].r)) r = ooo[i].r;
      memmove(&ooo[i], &ooo[i + 1], sizeof ooo[0] * (size_t)(n_ooo - i - 1));
      n_ooo--, i = -1; /* the merged range may now touch another */
    }
  }
  if (n_ooo == MAX_OOO) n_ooo--;
  memmove(&ooo[1], &ooo[0], sizeof ooo[0] * (size_t)n_ooo);
  ooo[0].l = l, ooo[0].r = r, n_ooo++;
}

/* rcv_nxt moved: ranges it reached are taken in (their bytes counted), ranges below it dropped. */
static void ooo_advance(void) {
  for (int i = 0; i < n_ooo; i++) {
    if (seq_le(ooo[i].l, rcv_nxt)) {
      if (seq_lt(rcv_nxt, ooo[i].r)) bytes += ooo[i].r - rcv_nxt, rcv_nxt = ooo[i].r;
      memmove(&ooo[i], &ooo[i + 1], sizeof ooo[0] * (size_t)(n_ooo - i - 1));
      n_ooo--, i = -1;
    }
  }
}

/* One frame; returns 1 when an ACK is owed at once (out of order, SYN, FIN), 2 when one is owed by the batch's end. */
static int tcp_in(const uint8_t *f, uint32_t len) {
  if (len < 54 || (f[14] >> 4) != 4 || f[23] != 6 || memcmp(f + 30, &my_ip, 4)) return 0;
  uint32_t ihl = (uint32_t)(f[14] & 15) * 4, tot = (uint32_t)f[16] << 8 | f[17];
  if (tot == 0 || tot > len - 14) tot = len - 14; /* a GSO packet's length field may be 0 */
  const uint8_t *t = f + 14 + ihl;
  uint32_t doff = (uint32_t)(t[12] >> 4) * 4;
  if (memcmp(t + 2, &my_port, 2) || ihl + doff > tot) return 0;
  uint8_t flags = t[13];
  uint32_t seq = get32(t + 4), plen = tot - ihl - doff;
  if (flags & 0x02) { /* SYN: a new connection replaces the last */
    memcpy(peer_mac, f + 6, 6), memcpy(&peer_ip, f + 26, 4), memcpy(&peer_port, t, 2);
    rcv_nxt = seq + 1, snd_nxt = 1000001, n_ooo = 0, have_conn = 1, fin_seen = 0;
    send_tcp(0x12, 1);
    return 0;
  }
  if (!have_conn || memcmp(&peer_port, t, 2) || memcmp(&peer_ip, f + 26, 4)) return 0;
  int owed = 0, fresh = 1; /* fresh: the segment brings bytes not seen before (copied, as a stack would) */
  if (plen > 0) {
    if (seq == rcv_nxt) {
      rcv_nxt += plen, bytes += plen, owed = 2;
      if (n_ooo) ooo_advance(), owed = 1;
    } else if (seq_lt(rcv_nxt, seq)) {
      ooo_add(seq, seq + plen), ooo_segs++, owed = 1;
    } else {
      uint32_t end = seq + plen;
      if (seq_lt(rcv_nxt, end)) bytes += end - rcv_nxt, rcv_nxt = end; /* partly new */
      else fresh = 0;
      owed = 1;
    }
    if (copy_area && fresh) {
      if (copy_off + plen > copy_area_len) copy_off = 0;
      memcpy(copy_area + copy_off, t + doff, plen);
      copy_off += (plen + 63) & ~(size_t)63;
    }
  }
  if ((flags & 0x01) && seq + plen == rcv_nxt) rcv_nxt++, owed = 1, fin_seen = 1; /* FIN */
  return owed;
}

static inline uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void report(void) {
  struct rusage ru;
  struct timespec ts;
  getrusage(RUSAGE_SELF, &ru);
  clock_gettime(CLOCK_REALTIME, &ts);
  double cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
  printf("{\"bytes\":%llu,\"t\":%.3f,\"cpuMs\":%.3f,\"frames\":%llu,\"acks\":%llu,\"oooSegs\":%llu,\"minorFaults\":%ld,\"workMs\":%.3f,\"fin\":%d}\n",
         (unsigned long long)bytes, (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6, cpu, (unsigned long long)frames,
         (unsigned long long)acks, (unsigned long long)ooo_segs, ru.ru_minflt, (double)work_done_ns / 1e6, fin_seen);
  fflush(stdout);
}

static void open_v2(const char *ifname);
static void open_tap(const char *ifname);
static const uint8_t *rx_next(uint32_t *len);
static void rx_done(void);

int main(int argc, char **argv) {
  if ((argc != 7 && argc != 8) || (strcmp(argv[1], "v2") && strcmp(argv[1], "tap"))) {
    fprintf(stderr, "usage: tcp-sink-floor v2|tap IFNAME MYMAC MYIP PORT COPY_MIB [WORK_NS]\n");
    return 2;
  }
  use_tap = !strcmp(argv[1], "tap");
  argv++, argc--;
  if (sscanf(argv[2], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &my_mac[0], &my_mac[1], &my_mac[2], &my_mac[3], &my_mac[4], &my_mac[5]) != 6 ||
      inet_pton(AF_INET, argv[3], &my_ip) != 1) {
    fprintf(stderr, "tcp-sink-floor: bad MAC or address\n");
    return 2;
  }
  my_port = htons((uint16_t)atoi(argv[4]));
  if (argc == 7) work_ns = strtoull(argv[6], NULL, 10);
  copy_area_len = (size_t)atoi(argv[5]) << 20;
  if (copy_area_len) {
    copy_area = mmap(NULL, copy_area_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (copy_area == MAP_FAILED) die("mmap copy area");
  }
  if (use_tap) open_tap(argv[1]);
  else open_v2(argv[1]);
  if (fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK)) die("stdin O_NONBLOCK");
  printf("ready\n");
  fflush(stdout);
  for (uint32_t idle = 0;; idle++) {
    int owed = 0, n = 0;
    const uint8_t *f;
    uint32_t len;
    for (; n < BATCH && (f = rx_next(&len)) != NULL; n++) {
      if (len >= 14 && f[12] == 0x08 && f[13] == 0x06) arp_reply(f, len);
      else if (len >= 14 && f[12] == 0x08 && f[13] == 0x00) {
        int o = tcp_in(f, len);
        frames++;
        if (work_ns) {
          uint64_t from = mono_ns(), t;
          while ((t = mono_ns()) < from + work_ns) __builtin_ia32_pause();
          work_done_ns += t - from;
        }
        if (o == 1) send_tcp(0x10, 0), owed = 0; /* at once; it also covers what came before in the batch */
        else if (o == 2) owed = 1;
      }
      rx_done();
    }
    if (owed) send_tcp(0x10, 0);
    if ((idle & 1023) == 0) {
      char buf[64];
      ssize_t r = read(0, buf, sizeof buf);
      if (r == 0) return 0;
      if (r > 0) report();
    }
    if (n == 0) __builtin_ia32_pause();
  }
}

static void open_v2(const char *ifname) {
  int ifindex = (int)if_nametoindex(ifname);
  if (!ifindex) die("if_nametoindex");
  fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
  if (fd < 0) die("socket(AF_PACKET)");
  int v = TPACKET_V2, one = 1;
  if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof v)) die("PACKET_VERSION");
  if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one)) die("PACKET_VNET_HDR");
  struct tpacket_req req = {.tp_block_size = FRAME, .tp_block_nr = NFRAMES, .tp_frame_size = FRAME, .tp_frame_nr = NFRAMES};
  if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req)) die("PACKET_RX_RING");
  ring = mmap(NULL, (size_t)FRAME * NFRAMES, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (ring == MAP_FAILED) die("mmap ring");
  struct sockaddr_ll sl = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = ifindex};
  if (bind(fd, (struct sockaddr *)&sl, sizeof sl)) die("bind(AF_PACKET)");
  struct packet_mreq mr = {.mr_ifindex = ifindex, .mr_type = PACKET_MR_PROMISC};
  if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr)) die("PACKET_MR_PROMISC");
}

static void open_tap(const char *ifname) {
  fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) die("open /dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr)) die("TUNSETIFF");
  int sz = sizeof(struct virtio_net_hdr);
  if (ioctl(fd, TUNSETVNETHDRSZ, &sz)) die("TUNSETVNETHDRSZ");
  if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6))) die("TUNSETOFFLOAD");
}

/* The next received frame (its Ethernet header on), or NULL when none is waiting; rx_done() gives it back. */
static const uint8_t *rx_next(uint32_t *len) {
  if (use_tap) {
    ssize_t r = read(fd, tap_buf, sizeof tap_buf);
    if (r < 0 && errno != EAGAIN && errno != EINTR) die("read");
    if (r <= (ssize_t)sizeof(struct virtio_net_hdr)) return r < 0 ? NULL : (*len = 0, tap_buf); /* an empty frame: skipped */
    *len = (uint32_t)r - sizeof(struct virtio_net_hdr);
    return tap_buf + sizeof(struct virtio_net_hdr);
  }
  struct tpacket2_hdr *h = (struct tpacket2_hdr *)(ring + (size_t)ri * FRAME);
  if (!(__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) return NULL;
  *len = h->tp_snaplen;
  return (const uint8_t *)h + h->tp_mac;
}

static void rx_done(void) {
  if (use_tap) return;
  struct tpacket2_hdr *h = (struct tpacket2_hdr *)(ring + (size_t)ri * FRAME);
  __atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
  ri = (ri + 1) % NFRAMES;
}
