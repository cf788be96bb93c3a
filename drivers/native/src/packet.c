/*
 * AF_PACKET with a TPACKET_V3 ring for receive and a TPACKET_V3 (frame-based) ring for transmit, one mmap.
 * Receive walks retired blocks; a block goes back to the kernel (TP_STATUS_KERNEL) at the rxRelease after its
 * last frame was handed to JS, so every view stays valid until receive() returns. Transmit hands JS the next free
 * frames in ring order; txSubmit marks them TP_STATUS_SEND_REQUEST and rings the doorbell with one send().
 * Options: PACKET_QDISC_BYPASS, PACKET_IGNORE_OUTGOING, a classic BPF filter (built in TypeScript), PACKET_FANOUT.
 *
 * `tso`, or transmit checksum offload alone (`checksumOffload`: always, or when the device offloads tx checksums,
 * ETHTOOL_GTXCSUM) (PACKET_VNET_HDR, set before the rings, which it changes): every frame both ways carries a
 * struct virtio_net_hdr (10 bytes) in front of its Ethernet header, as on a TAP with IFF_VNET_HDR. Without tso
 * no frame has a segment size, so every TCP/UDP frame goes with NEEDS_CSUM (below), and the qdisc bypass stays
 * allowed: __dev_direct_xmit drops only a packet validate_xmit_skb replaced (software GSO), and a software
 * checksum (skb_checksum_help) completes the packet in place.
 * - Transmit (tpacket_snd): the header starts the frame's data; tp_len counts it. A frame whose tx meta word (the
 *   TSO segment size) is set and that qualifies is marked GSO_TCPV4 or GSO_TCPV6 (bw_offload_tso); every other
 *   TCP/UDP frame (IPv4, or IPv6 without extension headers) gets NEEDS_CSUM with the pseudo-header sum
 *   (bw_offload_checksum); the rest a zero header. The kernel
 *   builds the skb with virtio_net_hdr_to_skb (the tun path's rule for the partial sum holds) and, when the device
 *   has no TSO or checksum offload, segments and checksums in software on the way out (validate_xmit_skb), as
 *   for its own TCP. tpacket_snd caps a frame at the MTU only without the header, so one frame takes 64 KiB.
 * - Receive (tpacket_rcv): the header sits right before the Ethernet header (at tp_mac - 10; tp_mac and tp_net
 *   move up by 10). A frame with DATA_VALID (checked by the kernel or a device) or NEEDS_CSUM (a local sender's
 *   partial checksum, left partial) is flagged BW_RX_L4_CSUM_VALID.
 */
#include "byway.h"
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <net/if.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif
#ifndef SO_BUSY_POLL
#define SO_BUSY_POLL 46
#endif
#ifndef PACKET_FANOUT_DATA
#define PACKET_FANOUT_DATA 22
#endif
#define FANOUT_FLAG_IGNORE_OUTGOING 0x4000

/* TPACKET_ALIGN'ed header room tpacket_rcv leaves before an Ethernet frame's network header. */
static uint32_t rx_netoff(int ver, uint32_t vhl) {
  uint32_t hdrlen = ver == TPACKET_V2 ? TPACKET2_HDRLEN : TPACKET3_HDRLEN;
  return TPACKET_ALIGN(hdrlen + 16) + vhl;
}

typedef struct {
  int ver; /* TPACKET_V2 (a status word per frame: no block latency) or TPACKET_V3 (blocks) */
  uint32_t rx_fsize, rx_fnr, fpb, cur_frame, held, released;
  uint32_t blk_size, blk_nr, cur_blk, pkt_left, done_blocks, rel_blk;
  bool in_blk;
  uint8_t *pkt;
  size_t rx_len;
  uint32_t tx_fsize, tx_fnr, tx_alloc_head, tx_submit_head, tx_outstanding, data_off;
  uint32_t vhl; /* virtio_net_hdr bytes in front of every frame both ways: 10 with tso (PACKET_VNET_HDR), else 0 */
} pk_state;

/*
 * The descriptor length word for a received frame: its length, and BW_RX_L4_CSUM_VALID when the kernel vouches
 * for the TCP/UDP checksum. In tso mode the virtio_net_hdr the kernel wrote before the Ethernet header
 * (tpacket_rcv: at macoff - its size) says so (DATA_VALID, or NEEDS_CSUM); without it the tpacket status word does
 * (TP_STATUS_CSUM_VALID: checked by the device or GRO; TP_STATUS_CSUMNOTREADY: CHECKSUM_PARTIAL from a local
 * sender, such as a veth peer's TCP with its default offloads, whose bytes never crossed a wire). Either way a
 * partial checksum is left partial, as the kernel's own TCP leaves it: completing one over a 64 KiB GSO packet
 * costs more than the rest of its receive path.
 */
static inline uint32_t rx_word(pk_state *s, uint8_t *mac, uint32_t snaplen, uint32_t status) {
  if (s->vhl) {
    const struct virtio_net_hdr *vh = (const struct virtio_net_hdr *)(mac - s->vhl);
    if (vh->flags & (VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID)) return snaplen | BW_RX_L4_CSUM_VALID << BW_RX_FLAG_SHIFT;
    return snaplen;
  }
  if (status & (TP_STATUS_CSUMNOTREADY | TP_STATUS_CSUM_VALID)) return snaplen | BW_RX_L4_CSUM_VALID << BW_RX_FLAG_SHIFT;
  return snaplen;
}

static inline struct tpacket_block_desc *blk(bw_handle *h, pk_state *s, uint32_t i) {
  return (struct tpacket_block_desc *)(h->mem + (size_t)i * s->blk_size);
}

static inline uint8_t *txf(bw_handle *h, pk_state *s, uint32_t i) {
  return h->mem + s->rx_len + (size_t)i * s->tx_fsize;
}

/* tp_status sits at a different offset in the V2 and V3 headers. */
static inline uint32_t *status_of(pk_state *s, uint8_t *f) {
  return s->ver == TPACKET_V2 ? &((struct tpacket2_hdr *)f)->tp_status : &((struct tpacket3_hdr *)f)->tp_status;
}

static inline struct tpacket2_hdr *rxf2(bw_handle *h, pk_state *s, uint32_t i) {
  return (struct tpacket2_hdr *)(h->mem + (size_t)(i / s->fpb) * s->blk_size + (size_t)(i % s->fpb) * s->rx_fsize);
}

static void add_drops(bw_handle *h) {
  struct tpacket_stats st; /* the V3 struct starts with the same two fields */
  socklen_t sl = sizeof st;
  if (getsockopt(h->fd, SOL_PACKET, PACKET_STATISTICS, &st, &sl) == 0) h->ctl[CTL_KERNEL_DROPS] += st.tp_drops;
}

static int pk2_rx_batch(bw_handle *h, uint32_t max) {
  pk_state *s = h->priv;
  uint32_t *desc = h->ctl + h->rx_desc_idx;
  uint32_t n = 0;
  while (n < max && s->held < s->rx_fnr) {
    struct tpacket2_hdr *p = rxf2(h, s, (s->cur_frame + s->held) % s->rx_fnr);
    if (!(__atomic_load_n(&p->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) break;
    desc[2 * n] = (uint32_t)((uint8_t *)p + p->tp_mac - h->mem);
    desc[2 * n + 1] = rx_word(s, (uint8_t *)p + p->tp_mac, p->tp_snaplen, p->tp_status);
    if (p->tp_snaplen < p->tp_len) h->ctl[CTL_RX_TRUNCATED]++;
    n++;
    s->held++;
  }
  return (int)n;
}

static void pk2_rx_release(bw_handle *h) {
  pk_state *s = h->priv;
  if (s->held == 0) return;
  for (uint32_t k = 0; k < s->held; k++) {
    __atomic_store_n(&rxf2(h, s, s->cur_frame)->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    s->cur_frame = (s->cur_frame + 1) % s->rx_fnr;
  }
  s->released += s->held;
  s->held = 0;
  if (s->released >= 256) {
    s->released = 0;
    add_drops(h);
  }
}

static int pk2_rx_pending(bw_handle *h) {
  pk_state *s = h->priv;
  return (__atomic_load_n(&rxf2(h, s, (s->cur_frame + s->held) % s->rx_fnr)->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) ? 1 : 0;
}

static int pk_rx_batch(bw_handle *h, uint32_t max) {
  pk_state *s = h->priv;
  uint32_t *desc = h->ctl + h->rx_desc_idx;
  uint32_t n = 0;
  while (n < max) {
    if (!s->in_blk) {
      if (s->done_blocks >= s->blk_nr) break; /* every block is waiting for release */
      struct tpacket_block_desc *bd = blk(h, s, s->cur_blk);
      uint32_t st = __atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE);
      if (!(st & TP_STATUS_USER)) break;
      s->pkt_left = bd->hdr.bh1.num_pkts;
      s->pkt = (uint8_t *)bd + bd->hdr.bh1.offset_to_first_pkt;
      s->in_blk = true;
    }
    if (s->pkt_left > 0) {
      struct tpacket3_hdr *p = (struct tpacket3_hdr *)s->pkt;
      desc[2 * n] = (uint32_t)(s->pkt + p->tp_mac - h->mem);
      desc[2 * n + 1] = rx_word(s, s->pkt + p->tp_mac, p->tp_snaplen, p->tp_status);
      if (p->tp_snaplen < p->tp_len) h->ctl[CTL_RX_TRUNCATED]++;
      n++;
      s->pkt_left--;
      s->pkt += p->tp_next_offset;
    }
    if (s->pkt_left == 0) {
      s->in_blk = false;
      s->done_blocks++;
      s->cur_blk = (s->cur_blk + 1) % s->blk_nr;
    }
  }
  return (int)n;
}

static void pk_rx_release(bw_handle *h) {
  pk_state *s = h->priv;
  if (s->done_blocks == 0) return;
  while (s->done_blocks > 0) {
    struct tpacket_block_desc *bd = blk(h, s, s->rel_blk);
    __atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    s->rel_blk = (s->rel_blk + 1) % s->blk_nr;
    s->done_blocks--;
  }
  add_drops(h);
}

static int pk_rx_pending(bw_handle *h) {
  pk_state *s = h->priv;
  if (s->in_blk && s->pkt_left > 0) return 1;
  struct tpacket_block_desc *bd = blk(h, s, s->cur_blk);
  return (__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) ? 1 : 0;
}

static int pk_tx_alloc(bw_handle *h, uint32_t max) {
  pk_state *s = h->priv;
  uint32_t *slots = h->ctl + h->tx_slot_idx;
  uint32_t n = 0;
  bool kicked = false;
  while (n < max && s->tx_outstanding < s->tx_fnr) {
    uint8_t *f = txf(h, s, s->tx_alloc_head);
    uint32_t st = __atomic_load_n(status_of(s, f), __ATOMIC_ACQUIRE);
    if (st & (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING)) {
      /* The ring is full of frames an earlier doorbell could not send (ENOBUFS/EAGAIN: the device queue was
         full). Ring again once, or they would wait for a doorbell that only comes with new frames. */
      if (n > 0 || kicked) break;
      kicked = true;
      h->ctl[CTL_TX_KICKS]++;
      send(h->fd, NULL, 0, MSG_DONTWAIT);
      continue;
    }
    if (st & TP_STATUS_WRONG_FORMAT) {
      h->ctl[CTL_TX_ERRORS]++;
      __atomic_store_n(status_of(s, f), TP_STATUS_AVAILABLE, __ATOMIC_RELAXED);
    }
    slots[n++] = (uint32_t)(f - h->mem) + s->data_off + s->vhl;
    s->tx_alloc_head = (s->tx_alloc_head + 1) % s->tx_fnr;
    s->tx_outstanding++;
  }
  return (int)n;
}

static int pk_tx_submit(bw_handle *h, uint32_t n) {
  pk_state *s = h->priv;
  uint32_t *out = h->ctl + h->tx_out_idx;
  uint32_t *meta = h->ctl + h->tx_meta_idx;
  uint32_t queued = 0;
  for (uint32_t k = 0; k < n && s->tx_outstanding > 0; k++) {
    uint8_t *f = txf(h, s, s->tx_submit_head);
    uint32_t want = (uint32_t)(f - h->mem) + s->data_off + s->vhl;
    if (out[2 * k] != want) return -EINVAL; /* JS must submit in the order it was given frames */
    uint32_t len = out[2 * k + 1];
    if (len > s->tx_fsize - s->data_off - s->vhl) len = s->tx_fsize - s->data_off - s->vhl;
    if (s->vhl) {
      /* tpacket_snd reads the header from the start of the frame's data and counts it in tp_len. */
      uint8_t *frame = h->mem + want;
      struct virtio_net_hdr *vh = (struct virtio_net_hdr *)(frame - s->vhl);
      if (!(meta[k] > 0 && bw_offload_tso(frame, len, meta[k], vh))) bw_offload_checksum(frame, len, vh);
      len += s->vhl;
    }
    if (s->ver == TPACKET_V2) {
      ((struct tpacket2_hdr *)f)->tp_len = len;
      ((struct tpacket2_hdr *)f)->tp_snaplen = len;
    } else {
      ((struct tpacket3_hdr *)f)->tp_len = len;
      ((struct tpacket3_hdr *)f)->tp_snaplen = len;
      ((struct tpacket3_hdr *)f)->tp_next_offset = 0;
    }
    __atomic_store_n(status_of(s, f), TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
    s->tx_submit_head = (s->tx_submit_head + 1) % s->tx_fnr;
    s->tx_outstanding--;
    queued++;
  }
  if (queued == 0) return 0;
  /* One doorbell for the whole batch (tpacket_snd sends every SEND_REQUEST frame it finds). */
  for (;;) {
    h->ctl[CTL_TX_KICKS]++;
    ssize_t r = send(h->fd, NULL, 0, MSG_DONTWAIT);
    if (r >= 0) break;
    if (errno == EINTR) continue;
    h->ctl[CTL_LAST_ERRNO] = errno;
    if (errno == ENXIO || errno == ENODEV) return -errno;
    /* EAGAIN/ENOBUFS: frames stay queued in the ring and go with the next doorbell. ENETDOWN: the same, but the
       link is down; the TS side asks linkState and counts. */
    if (errno == ENETDOWN) return -ENETDOWN;
    break;
  }
  return (int)queued;
}

static void pk_close(bw_handle *h) { (void)h; }

/* The fanout group's classic BPF program (PACKET_FANOUT_CBPF): it picks the member for each packet. Any member
   may replace it; it applies to the whole group. 0 or -1 with errno. */
int bw_packet_fanout_data(bw_handle *h, const uint8_t *prog, size_t len) {
  if (len == 0 || len % sizeof(struct sock_filter) || len / sizeof(struct sock_filter) > 4096) {
    errno = EINVAL;
    return -1;
  }
  struct sock_fprog fp = {.len = (unsigned short)(len / sizeof(struct sock_filter)), .filter = (struct sock_filter *)prog};
  return setsockopt(h->fd, SOL_PACKET, PACKET_FANOUT_DATA, &fp, sizeof fp);
}

/* Receive frames to multicast MAC `mac` on the device (PACKET_ADD_MEMBERSHIP, PACKET_MR_MULTICAST: the device's
   multicast filter takes the address, counted per socket, dropped with the socket) or stop (add 0). 0 or -1 with
   errno. */
int bw_packet_mc_membership(bw_handle *h, const uint8_t *mac, int add) {
  struct packet_mreq mr;
  memset(&mr, 0, sizeof mr);
  mr.mr_ifindex = h->ifindex;
  mr.mr_type = PACKET_MR_MULTICAST;
  mr.mr_alen = 6;
  memcpy(mr.mr_address, mac, 6);
  return setsockopt(h->fd, SOL_PACKET, add ? PACKET_ADD_MEMBERSHIP : PACKET_DROP_MEMBERSHIP, &mr, sizeof mr);
}

static const bw_ops pk_ops = {pk_rx_batch, pk_rx_release, pk_rx_pending, pk_tx_alloc, pk_tx_submit, pk_close};
static const bw_ops pk2_ops = {pk2_rx_batch, pk2_rx_release, pk2_rx_pending, pk_tx_alloc, pk_tx_submit, pk_close};

int bw_packet_open(napi_env env, napi_value opts, bw_handle *h, napi_value info, bw_error *e) {
  h->ops = &pk_ops;
  pk_state *s = calloc(1, sizeof *s);
  h->priv = s;
  /* drivers/native/index.ts NativePacketConfig: defaults applied in drivers/af-packet/index.ts. */
  bw_cfg c = {env, opts, NULL};
  cfg_str(&c, "ifname", h->ifname, sizeof h->ifname);
  s->ver = cfg_int(&c, "tpacketVersion") == 2 ? TPACKET_V2 : TPACKET_V3;
  s->blk_size = (uint32_t)cfg_int(&c, "rxBlockSize");
  s->blk_nr = (uint32_t)cfg_int(&c, "rxBlockCount");
  uint32_t rx_fsize = (uint32_t)cfg_int(&c, "rxFrameSize");
  bool tso = cfg_bool(&c, "tso");
  int64_t csum_mode = cfg_int(&c, "checksumOffload"); /* 0 never, 1 always, 2 when the device offloads tx checksums */
  uint32_t tov = (uint32_t)cfg_int(&c, "blockTimeoutMs");
  s->tx_fsize = (uint32_t)cfg_int(&c, "txFrameSize");
  s->tx_fnr = (uint32_t)cfg_int(&c, "txFrameCount");
  uint32_t max_batch = (uint32_t)cfg_int(&c, "maxBatch");
  bool bypass = cfg_bool(&c, "qdiscBypass");
  bool promisc = cfg_bool(&c, "promiscuous");
  int64_t fanout = cfg_int(&c, "fanout"); /* -1: none */
  int busy = (int)cfg_int(&c, "busyPollUs");
  uint8_t *fp, *pp;
  size_t fn, pn;
  bool has_filter = cfg_bytes(&c, "filter", &fp, &fn);
  bool has_program = cfg_bytes(&c, "fanoutProgram", &pp, &pn);
  if (bw_cfg_check(&c, "af-packet options", e) != 0) return -1;
  if (s->ver == TPACKET_V2) h->ops = &pk2_ops;
  long page = sysconf(_SC_PAGESIZE);
  if (s->blk_size % page || s->blk_nr == 0 || rx_fsize < 128 || s->blk_size % rx_fsize || s->tx_fnr == 0 ||
      s->tx_fsize < 128 || (s->tx_fsize & 15) || max_batch == 0 || max_batch > 65536) {
    bw_set_error(e, EINVAL, "af-packet options",
                 "rxBlockSize a multiple of the page size and of rxFrameSize; txFrameSize a multiple of 16");
    return -1;
  }
  h->ifindex = (int)if_nametoindex(h->ifname);
  if (h->ifindex == 0) {
    bw_set_error(e, ENODEV, "if_nametoindex", "%s", h->ifname);
    return -1;
  }
  h->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (h->fd < 0) {
    bw_set_error(e, errno, "socket(AF_PACKET)", NULL);
    return -1;
  }
  int v = s->ver;
  if (setsockopt(h->fd, SOL_PACKET, PACKET_VERSION, &v, sizeof v) != 0) {
    bw_set_error(e, errno, "PACKET_VERSION", "TPACKET_V%d", s->ver + 1);
    return -1;
  }
  v = 1;
  /* Transmit checksum offload through the virtio-net header (tso always has it): the pseudo-header sum is written
     and the kernel finishes the TCP/UDP checksum, in the device when it offloads checksums (what auto asks), in
     software on the way out otherwise (validate_xmit_skb, on the qdisc path or the bypass's alike). */
  bool csum = tso || csum_mode == 1 || (csum_mode == 2 && bw_if_tx_csum(h->ifname) == 1);
  /* Before PACKET_RX_RING / PACKET_TX_RING: the kernel refuses it (EBUSY) once a ring exists, and sizes the
     rings' minimum frame with it. */
  if (csum && setsockopt(h->fd, SOL_PACKET, PACKET_VNET_HDR, &v, sizeof v) != 0) {
    bw_set_error(e, errno, "PACKET_VNET_HDR", NULL);
    return -1;
  }
  s->vhl = csum ? (uint32_t)sizeof(struct virtio_net_hdr) : 0;
  if (bypass && setsockopt(h->fd, SOL_PACKET, PACKET_QDISC_BYPASS, &v, sizeof v) != 0) {
    bw_set_error(e, errno, "PACKET_QDISC_BYPASS", NULL);
    return -1;
  }
  setsockopt(h->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &v, sizeof v); /* best effort (Linux >= 4.20) */
  if (has_filter) {
    if (fn == 0 || fn % sizeof(struct sock_filter)) {
      bw_set_error(e, EINVAL, "SO_ATTACH_FILTER", "filter length %zu is not a multiple of 8", fn);
      return -1;
    }
    struct sock_fprog prog = {.len = (unsigned short)(fn / sizeof(struct sock_filter)), .filter = (struct sock_filter *)fp};
    if (setsockopt(h->fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) != 0) {
      bw_set_error(e, errno, "SO_ATTACH_FILTER", NULL);
      return -1;
    }
  }
  struct tpacket_req3 rq;
  memset(&rq, 0, sizeof rq);
  rq.tp_block_size = s->blk_size;
  rq.tp_block_nr = s->blk_nr;
  rq.tp_frame_size = rx_fsize;
  rq.tp_frame_nr = (s->blk_size / rx_fsize) * s->blk_nr;
  if (s->ver == TPACKET_V3) rq.tp_retire_blk_tov = tov;
  s->rx_fsize = rx_fsize;
  s->fpb = s->blk_size / rx_fsize;
  s->rx_fnr = rq.tp_frame_nr;
  if (setsockopt(h->fd, SOL_PACKET, PACKET_RX_RING, &rq, sizeof rq) != 0) {
    bw_set_error(e, errno, "PACKET_RX_RING", "%u blocks of %u bytes", s->blk_nr, s->blk_size);
    return -1;
  }
  s->rx_len = (size_t)s->blk_size * s->blk_nr;
  uint32_t tx_blk = (uint32_t)page;
  while (tx_blk < s->tx_fsize || tx_blk % s->tx_fsize) tx_blk += (uint32_t)page;
  uint32_t per_blk = tx_blk / s->tx_fsize;
  uint32_t tx_blk_nr = (s->tx_fnr + per_blk - 1) / per_blk;
  s->tx_fnr = tx_blk_nr * per_blk;
  memset(&rq, 0, sizeof rq);
  rq.tp_block_size = tx_blk;
  rq.tp_block_nr = tx_blk_nr;
  rq.tp_frame_size = s->tx_fsize;
  rq.tp_frame_nr = s->tx_fnr;
  if (setsockopt(h->fd, SOL_PACKET, PACKET_TX_RING, &rq, sizeof rq) != 0) {
    bw_set_error(e, errno, "PACKET_TX_RING", "%u frames of %u bytes", s->tx_fnr, s->tx_fsize);
    return -1;
  }
  /* The frame layout the kernel expects on transmit: data right after the aligned tpacket3_hdr. */
  s->data_off = (s->ver == TPACKET_V2 ? TPACKET2_HDRLEN : TPACKET3_HDRLEN) - sizeof(struct sockaddr_ll);
  size_t total = s->rx_len + (size_t)tx_blk * tx_blk_nr;
  void *m = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, h->fd, 0);
  if (m == MAP_FAILED) {
    bw_set_error(e, errno, "mmap packet ring", "%zu bytes", total);
    return -1;
  }
  h->mem = m;
  h->mem_len = total;
  h->mem_kind = 1;
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = h->ifindex;
  if (bind(h->fd, (struct sockaddr *)&sll, sizeof sll) != 0) {
    bw_set_error(e, errno, "bind(AF_PACKET)", "%s", h->ifname);
    return -1;
  }
  if (fanout >= 0) {
    int fv = (int)fanout;
    int r = setsockopt(h->fd, SOL_PACKET, PACKET_FANOUT, &fv, sizeof fv);
    /* PACKET_FANOUT_FLAG_IGNORE_OUTGOING (Linux >= 6.8) is best effort, like PACKET_IGNORE_OUTGOING above. */
    if (r != 0 && errno == EINVAL && (fv & (FANOUT_FLAG_IGNORE_OUTGOING << 16))) {
      fv &= ~(FANOUT_FLAG_IGNORE_OUTGOING << 16);
      r = setsockopt(h->fd, SOL_PACKET, PACKET_FANOUT, &fv, sizeof fv);
    }
    if (r != 0) {
      bw_set_error(e, errno, "PACKET_FANOUT", "group %d mode %d", fv & 0xffff, (fv >> 16) & 0xff);
      return -1;
    }
    if (has_program && bw_packet_fanout_data(h, pp, pn) != 0) {
      bw_set_error(e, errno, "PACKET_FANOUT_DATA", "a classic BPF program of %zu bytes", pn);
      return -1;
    }
  }
  if (promisc) {
    struct packet_mreq mr;
    memset(&mr, 0, sizeof mr);
    mr.mr_ifindex = h->ifindex;
    mr.mr_type = PACKET_MR_PROMISC;
    if (setsockopt(h->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) != 0) {
      bw_set_error(e, errno, "PACKET_ADD_MEMBERSHIP", "promiscuous mode on %s", h->ifname);
      return -1;
    }
  }
  if (busy > 0) setsockopt(h->fd, SOL_SOCKET, SO_BUSY_POLL, &busy, sizeof busy);
  if (bw_ctl_alloc(h, max_batch, s->tx_fnr < 256 ? s->tx_fnr : 256) != 0) {
    bw_set_error(e, ENOMEM, "allocate control block", NULL);
    return -1;
  }
  uint8_t mac[6] = {0};
  bw_if_hwaddr(h->ifname, mac);
  set_bytes(env, info, "ifHwAddress", mac, 6);
  set_int(env, info, "frameCap", s->tx_fsize - s->data_off - s->vhl);
  set_bool(env, info, "tso", tso);
  set_bool(env, info, "checksumOffload", csum);
  set_int(env, info, "rxRingBytes", (int64_t)s->rx_len);
  /* The largest Ethernet frame a receive slot holds whole (tpacket_rcv clamps the rest: rxTruncated): V2 a slot
     less the header room; V3 a block less its descriptor (BLK_PLUS_PRIV with no private area) and that room. */
  uint32_t macoff = rx_netoff(s->ver, s->vhl) - ETH_HLEN;
  uint32_t room = s->ver == TPACKET_V2 ? s->rx_fsize : s->blk_size - (uint32_t)TPACKET_ALIGN(sizeof(struct tpacket_block_desc));
  set_int(env, info, "rxMaxFrame", room > macoff ? room - macoff : 0);
  set_int(env, info, "txFrames", s->tx_fnr);
  set_bool(env, info, "qdiscBypass", bypass);
  set_int(env, info, "tpacketVersion", s->ver == TPACKET_V2 ? 2 : 3);
  return 0;
}
