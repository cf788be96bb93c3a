/*
 * TAP: /dev/net/tun with IFF_TAP | IFF_NO_PI, optional IFF_VNET_HDR and IFF_MULTI_QUEUE (one handle per queue).
 * A TAP fd has no shared ring, so frames land in a malloc'd slab exposed to JS: `maxBatch` rx slots reused by
 * every batch (views die when receive() returns) and `txSlots` tx slots on a free stack. One rxBatch call is a
 * burst of non-blocking read()s; one txSubmit is a burst of write()s.
 *
 * With `tso` (needs IFF_VNET_HDR): TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 are negotiated and slots hold a 64 KiB IP packet.
 * Transmit: a frame whose tx meta word (the TSO segment size) is set and that qualifies goes out as one GSO frame
 * (bw_offload_tso in addon.c). Receive: partial checksums are left as they are and frames the kernel vouches for
 * are flagged BW_RX_L4_CSUM_VALID in their descriptor.
 */
#include "byway.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>

typedef struct {
  uint32_t slot;      /* bytes per slot */
  uint32_t vhl;       /* virtio-net header length (0 without IFF_VNET_HDR) */
  uint32_t rx_slots;  /* == max_batch */
  uint32_t tx_slots;
  uint32_t tx_base;   /* offset of the first tx slot */
  uint32_t *free_tx;  /* stack of tx slot indices */
  uint32_t free_n;
  bool csum_offload; /* tx: TCP/UDP checksums left to the kernel (VIRTIO_NET_HDR_F_NEEDS_CSUM) */
  bool tso;          /* TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 negotiated: 64 KiB frames both ways, partial checksums on rx */
  uint32_t stash_len; /* > 0: rx slot 0 holds a frame of this many bytes, read by rxWait's spin */
} tap_state;

/* Largest IPv4 packet (the total length field) and the slot room for it in tso mode: + Ethernet + VLAN tag. */
#define TAP_TSO_MAX_IP 65535u
#define TAP_TSO_FRAME (TAP_TSO_MAX_IP + 14u + 4u)

static uint16_t csum_fold_partial(const uint8_t *p, size_t n) {
  uint64_t sum = 0;
  size_t i = 0;
  for (; i + 1 < n; i += 2) sum += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (i < n) sum += (uint32_t)(p[i] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

/* Describe the r-byte frame read into rx slot n (r > vhl): checksum handling, then its descriptor. */
static void tap_rx_frame(bw_handle *h, tap_state *t, uint32_t n, ssize_t r) {
  uint32_t *desc = h->ctl + h->rx_desc_idx;
  uint8_t *slot = h->mem + (size_t)n * t->slot;
  uint32_t flags = 0;
  if ((uint32_t)r == t->slot) h->ctl[CTL_RX_TRUNCATED]++; /* filled the slot: probably cut */
  if (t->tso) {
    /* Partial checksums stay partial: the frame comes from a local sender (NEEDS_CSUM) or the kernel checked
       it (DATA_VALID); either way the stack may trust it, and completing a 64 KiB sum here would cost a pass
       over every byte. A GSO frame (gso_type set) is handed up whole, as one large IP packet. */
    struct virtio_net_hdr *vh = (struct virtio_net_hdr *)slot;
    if (vh->flags & (VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID)) flags |= BW_RX_L4_CSUM_VALID;
  } else if (t->vhl) {
    struct virtio_net_hdr *vh = (struct virtio_net_hdr *)slot;
    /* A partially checksummed frame (the kernel trusted our TUN_F_CSUM): complete it here, so the stack
       above always sees a frame with a full checksum. */
    if (vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
      uint32_t start = vh->csum_start, off = vh->csum_offset, flen = (uint32_t)r - t->vhl;
      uint8_t *f = slot + t->vhl;
      if (start + off + 2 <= flen && start < flen) {
        /* The field holds the pseudo-header sum (not complemented): summing the range with it in place and
           complementing gives the final checksum (RFC 1071). */
        uint16_t c = csum_fold_partial(f + start, flen - start);
        f[start + off] = (uint8_t)(c >> 8);
        f[start + off + 1] = (uint8_t)c;
      }
    }
  }
  desc[2 * n] = n * t->slot + t->vhl;
  desc[2 * n + 1] = ((uint32_t)r - t->vhl) | flags << BW_RX_FLAG_SHIFT;
}

static int tap_rx_batch(bw_handle *h, uint32_t max) {
  tap_state *t = h->priv;
  uint32_t n = 0;
  if (t->stash_len > 0 && max > 0) {
    /* The spin already read a frame into slot 0. */
    tap_rx_frame(h, t, 0, t->stash_len);
    t->stash_len = 0;
    n = 1;
  }
  while (n < max) {
    uint8_t *slot = h->mem + (size_t)n * t->slot;
    ssize_t r = read(h->fd, slot, t->slot);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      h->ctl[CTL_LAST_ERRNO] = errno;
      if (n == 0) return -errno;
      break;
    }
    if ((uint32_t)r <= t->vhl) continue;
    tap_rx_frame(h, t, n, r);
    n++;
  }
  return (int)n;
}

static void tap_rx_release(bw_handle *h) { (void)h; }

static int tap_rx_pending(bw_handle *h) {
  tap_state *t = h->priv;
  if (t->stash_len > 0) return 1;
  struct pollfd p = {.fd = h->fd, .events = POLLIN};
  return poll(&p, 1, 0) > 0 && (p.revents & POLLIN) ? 1 : 0;
}

/*
 * rxWait's step on a TAP (no ring to look at): a non-blocking read() into rx slot 0, kept for the next rxBatch.
 * Measured on an idle TAP here: 1.6 us per read() answering EAGAIN against 1.8 us per poll() with a zero timeout,
 * and the frame is already read when one comes (one system call fewer per received frame).
 */
static int tap_rx_spin(bw_handle *h, bool housekeeping) {
  tap_state *t = h->priv;
  (void)housekeeping;
  if (t->stash_len > 0) return 1;
  ssize_t r = read(h->fd, h->mem, t->slot);
  if (r < 0) {
    if (errno == EAGAIN || errno == EINTR) return 0;
    h->ctl[CTL_LAST_ERRNO] = errno;
    return -errno;
  }
  if ((uint32_t)r <= t->vhl) return 0; /* an empty frame: dropped, as rxBatch does */
  t->stash_len = (uint32_t)r;
  return 1;
}

static int tap_tx_alloc(bw_handle *h, uint32_t max) {
  tap_state *t = h->priv;
  uint32_t *slots = h->ctl + h->tx_slot_idx;
  uint32_t n = 0;
  while (n < max && t->free_n > 0) {
    uint32_t i = t->free_tx[--t->free_n];
    slots[n++] = t->tx_base + i * t->slot + t->vhl;
  }
  return (int)n;
}

static int tap_tx_submit(bw_handle *h, uint32_t n) {
  tap_state *t = h->priv;
  uint32_t *out = h->ctl + h->tx_out_idx;
  uint32_t *meta = h->ctl + h->tx_meta_idx;
  int sent = 0, fatal = 0;
  for (uint32_t k = 0; k < n; k++) {
    uint32_t off = out[2 * k], len = out[2 * k + 1];
    if (off < t->tx_base + t->vhl || off >= h->mem_len) continue;
    uint32_t idx = (off - t->tx_base) / t->slot;
    uint32_t base = t->tx_base + idx * t->slot;
    if (base + t->vhl != off || len > t->slot - t->vhl || idx >= t->tx_slots) continue;
    if (!fatal) {
      uint8_t *frame = h->mem + base + t->vhl;
      struct virtio_net_hdr *vh = (struct virtio_net_hdr *)(h->mem + base);
      if (t->tso && meta[k] > 0 && bw_offload_tso(frame, len, meta[k], vh)) {
        /* marked for GSO */
      } else if (t->csum_offload) bw_offload_checksum(frame, len, vh);
      else if (t->vhl) memset(h->mem + base, 0, t->vhl);
      ssize_t r;
      /* A TAP has no doorbell: every frame is its own write(), so each counts as a kick. */
      do h->ctl[CTL_TX_KICKS]++, r = write(h->fd, h->mem + base, len + t->vhl);
      while (r < 0 && errno == EINTR);
      if (r < 0) {
        h->ctl[CTL_LAST_ERRNO] = errno;
        h->ctl[CTL_TX_ERRORS]++;
        if (errno == EBADFD || errno == ENODEV || errno == ENXIO) fatal = errno;
      } else {
        sent++;
      }
    }
    if (t->free_n < t->tx_slots) t->free_tx[t->free_n++] = idx;
  }
  return fatal ? -fatal : sent;
}

static void tap_close(bw_handle *h) {
  tap_state *t = h->priv;
  if (t) {
    free(t->free_tx);
    t->free_tx = NULL;
  }
}

static const bw_ops tap_ops = {tap_rx_batch, tap_rx_release, tap_rx_pending, tap_tx_alloc, tap_tx_submit, tap_close, tap_rx_spin};

int bw_tap_open(napi_env env, napi_value opts, bw_handle *h, napi_value info, bw_error *e) {
  h->ops = &tap_ops;
  tap_state *t = calloc(1, sizeof *t);
  h->priv = t;
  /* drivers/native/index.ts NativeTapConfig: defaults applied in drivers/tap/index.ts. */
  char name[IFNAMSIZ];
  bw_cfg c = {env, opts, NULL};
  cfg_str(&c, "name", name, sizeof name);
  int mtu = (int)cfg_int(&c, "mtu"); /* 0: leave the device's */
  bool vnet = cfg_bool(&c, "vnetHdr");
  bool mq = cfg_bool(&c, "multiQueue");
  bool up = cfg_bool(&c, "up");
  t->csum_offload = cfg_bool(&c, "checksumOffload");
  t->tso = cfg_bool(&c, "tso");
  uint32_t max_batch = (uint32_t)cfg_int(&c, "maxBatch");
  uint32_t tx_slots = (uint32_t)cfg_int(&c, "txSlots");
  int qlen = (int)cfg_int(&c, "queueLength"); /* 0: leave the device's */
  if (bw_cfg_check(&c, "tap options", e) != 0) return -1;
  if ((t->csum_offload || t->tso) && !vnet) {
    bw_set_error(e, EINVAL, "tap options", "checksumOffload and tso need vnetHdr");
    return -1;
  }
  if (t->tso) t->csum_offload = true; /* GSO needs partial checksums; the kernel accepts TSO4 only with CSUM */
  if (max_batch < 1 || max_batch > 4096 || tx_slots < 1 || tx_slots > 65536) {
    bw_set_error(e, EINVAL, "tap options", "maxBatch 1..4096, txSlots 1..65536");
    return -1;
  }
  bool existed = strchr(name, '%') == NULL && if_nametoindex(name) != 0;

  h->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (h->fd < 0) {
    bw_set_error(e, errno, "open /dev/net/tun", NULL);
    return -1;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0) | (mq ? IFF_MULTI_QUEUE : 0);
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(h->fd, TUNSETIFF, &ifr) != 0) {
    bw_set_error(e, errno, "TUNSETIFF", "%s", name);
    return -1;
  }
  memcpy(h->ifname, ifr.ifr_name, IFNAMSIZ);
  h->ifname[IFNAMSIZ - 1] = 0;
  if (vnet) {
    int sz = sizeof(struct virtio_net_hdr);
    if (ioctl(h->fd, TUNSETVNETHDRSZ, &sz) != 0) {
      bw_set_error(e, errno, "TUNSETVNETHDRSZ", "%s", h->ifname);
      return -1;
    }
    t->vhl = (uint32_t)sz;
    /* Without tso, no TUN_F_CSUM: the kernel hands us frames with complete checksums and no GSO. With tso,
       TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6: the kernel may hand us partial checksums and TCP packets (over IPv4
       and IPv6) up to 64 KiB, and accepts both from us (TSO4 and TSO6 are refused without CSUM). */
    unsigned long off = t->tso ? (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) : 0;
    if (ioctl(h->fd, TUNSETOFFLOAD, off) != 0) {
      bw_set_error(e, errno, "TUNSETOFFLOAD", "%s", h->ifname);
      return -1;
    }
  }
  if (bw_if_setup(h->ifname, mtu, qlen, up, e) != 0) return -1;
  h->ifindex = (int)if_nametoindex(h->ifname);
  uint8_t mac[6] = {0};
  bw_if_hwaddr(h->ifname, mac);

  int cur_mtu = mtu;
  if (cur_mtu <= 0) {
    struct ifreq q;
    memset(&q, 0, sizeof q);
    strncpy(q.ifr_name, h->ifname, IFNAMSIZ - 1);
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cur_mtu = (s >= 0 && ioctl(s, SIOCGIFMTU, &q) == 0) ? q.ifr_mtu : 1500;
    if (s >= 0) close(s);
  }
  uint32_t frame_max = t->tso && (uint32_t)cur_mtu + 18 < TAP_TSO_FRAME ? TAP_TSO_FRAME : (uint32_t)cur_mtu + 18;
  uint32_t slot = (frame_max + t->vhl + 63) & ~63u;
  if (slot < 2048) slot = 2048;
  t->slot = slot;
  t->rx_slots = max_batch;
  t->tx_slots = tx_slots;
  t->tx_base = max_batch * slot;
  if (bw_slab_alloc(h, (size_t)(max_batch + tx_slots) * slot, e) != 0) return -1;
  t->free_tx = bw_free_stack(tx_slots);
  t->free_n = tx_slots;
  if (!t->free_tx || bw_ctl_alloc(h, max_batch, tx_slots < 256 ? tx_slots : 256) != 0) {
    bw_set_error(e, ENOMEM, "allocate control block", NULL);
    return -1;
  }
  set_bytes(env, info, "kernelHwAddress", mac, 6);
  set_bool(env, info, "created", !existed);
  set_bool(env, info, "vnetHdr", vnet);
  set_bool(env, info, "multiQueue", mq);
  set_bool(env, info, "tso", t->tso);
  set_int(env, info, "frameCap", slot - t->vhl);
  return 0;
}
