/*
 * Raw IP transmit: an AF_INET SOCK_RAW IPPROTO_RAW socket (IP_HDRINCL implied) that sends byway's complete IPv4
 * packets, a batch per sendmmsg() call. Transmit only: the raw-IP driver receives through the raw-socket package
 * (drivers/raw-ip), so rxBatch always answers 0 and the handle never reports readable.
 *
 * Frames live in a malloc'd slab of `txSlots` slots on a free stack (as TAP's). One txSubmit sends the submitted
 * frames in order, each to the destination address in its own IPv4 header, with as few sendmmsg() calls as the
 * kernel allows, and returns how many it consumed (sent, or refused and counted in CTL_TX_ERRORS): a frame the
 * kernel refuses for good (EPERM from a firewall, EMSGSIZE, EINVAL) is dropped, but EAGAIN/ENOBUFS (the socket's
 * send buffer is full) stops the batch, and the frames from there on stay submitted and owned by the caller, who
 * submits them again first (drivers/raw-ip/native-tx.ts) after txWait's writable wake-up. Their slots stay lent.
 * SO_SNDBUF is raised (SO_SNDBUFFORCE when privileged) to `sndbuf` bytes so that a whole batch rarely meets EAGAIN.
 */
#include "byway.h"
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
  uint32_t slot;
  uint32_t tx_slots;
  uint32_t *free_tx;
  uint32_t free_n;
  struct mmsghdr *msgs; /* tx_batch each */
  struct iovec *iov;
  struct sockaddr_in *addr;
} rawip_state;

static int rawip_rx_batch(bw_handle *h, uint32_t max) { return 0; }
static void rawip_rx_release(bw_handle *h) { (void)h; }
static int rawip_rx_pending(bw_handle *h) { return 0; }

static int rawip_tx_alloc(bw_handle *h, uint32_t max) {
  rawip_state *t = h->priv;
  uint32_t *slots = h->ctl + h->tx_slot_idx;
  uint32_t n = 0;
  while (n < max && t->free_n > 0) slots[n++] = t->free_tx[--t->free_n] * t->slot;
  return (int)n;
}

/* The slot index of a submitted (offset, length) pair, or -1 when it is not one of ours. */
static int64_t rawip_slot_of(rawip_state *t, uint32_t off, uint32_t len) {
  if (off % t->slot != 0 || off / t->slot >= t->tx_slots || len > t->slot) return -1;
  return off / t->slot;
}

static void rawip_free(rawip_state *t, int64_t idx) {
  if (idx >= 0 && t->free_n < t->tx_slots) t->free_tx[t->free_n++] = (uint32_t)idx;
}

static int rawip_tx_submit(bw_handle *h, uint32_t n) {
  rawip_state *t = h->priv;
  uint32_t *out = h->ctl + h->tx_out_idx;
  uint32_t k = 0;
  while (k < n) {
    /* The run of well-formed frames from k: one sendmmsg. A malformed one ends the run (dropped when first). */
    uint32_t cnt = 0;
    while (k + cnt < n) {
      uint32_t off = out[2 * (k + cnt)], len = out[2 * (k + cnt) + 1];
      int64_t idx = rawip_slot_of(t, off, len);
      const uint8_t *p = h->mem + off;
      if (idx < 0 || len < 20 || (p[0] >> 4) != 4) break;
      struct sockaddr_in *a = &t->addr[cnt];
      memset(a, 0, sizeof *a);
      a->sin_family = AF_INET;
      memcpy(&a->sin_addr.s_addr, p + 16, 4); /* the destination, already in network order */
      t->iov[cnt].iov_base = h->mem + off;
      t->iov[cnt].iov_len = len;
      struct msghdr *m = &t->msgs[cnt].msg_hdr;
      memset(m, 0, sizeof *m);
      m->msg_name = a;
      m->msg_namelen = sizeof *a;
      m->msg_iov = &t->iov[cnt];
      m->msg_iovlen = 1;
      cnt++;
    }
    if (cnt == 0) {
      h->ctl[CTL_TX_ERRORS]++;
      rawip_free(t, rawip_slot_of(t, out[2 * k], out[2 * k + 1]));
      k++;
      continue;
    }
    h->ctl[CTL_TX_KICKS]++;
    int r = sendmmsg(h->fd, t->msgs, cnt, MSG_DONTWAIT);
    if (r > 0) {
      for (int i = 0; i < r; i++) rawip_free(t, rawip_slot_of(t, out[2 * (k + i)], out[2 * (k + i) + 1]));
      k += (uint32_t)r;
      continue;
    }
    int err = r < 0 ? errno : EAGAIN;
    if (err == EINTR) continue;
    h->ctl[CTL_LAST_ERRNO] = (uint32_t)err;
    if (err == EAGAIN || err == ENOBUFS) break; /* the rest stays submitted: the caller waits for writable */
    /* Refused for good (a firewall's EPERM, EMSGSIZE, EINVAL, a down route): this frame is dropped. */
    h->ctl[CTL_TX_ERRORS]++;
    rawip_free(t, rawip_slot_of(t, out[2 * k], out[2 * k + 1]));
    k++;
  }
  return (int)k;
}

static void rawip_close(bw_handle *h) {
  rawip_state *t = h->priv;
  if (!t) return;
  free(t->free_tx);
  free(t->msgs);
  free(t->iov);
  free(t->addr);
  t->free_tx = NULL;
  t->msgs = NULL;
  t->iov = NULL;
  t->addr = NULL;
}

static const bw_ops rawip_ops = {rawip_rx_batch, rawip_rx_release, rawip_rx_pending, rawip_tx_alloc, rawip_tx_submit, rawip_close, NULL};

int bw_rawip_open(napi_env env, napi_value opts, bw_handle *h, napi_value info, bw_error *e) {
  h->ops = &rawip_ops;
  rawip_state *t = calloc(1, sizeof *t);
  h->priv = t;
  /* drivers/native/index.ts NativeRawIpConfig: defaults applied in drivers/raw-ip/native-tx.ts. */
  bw_cfg c = {env, opts, NULL};
  uint32_t mtu = (uint32_t)cfg_int(&c, "mtu");
  uint32_t tx_slots = (uint32_t)cfg_int(&c, "txSlots");
  int sndbuf = (int)cfg_int(&c, "sndbuf"); /* 0: leave the kernel's default */
  if (bw_cfg_check(&c, "raw-ip options", e) != 0) return -1;
  if (mtu < 68 || mtu > 65535 || tx_slots < 1 || tx_slots > 65536 || sndbuf < 0) {
    bw_set_error(e, EINVAL, "raw-ip options", "mtu 68..65535, txSlots 1..65536, sndbuf >= 0");
    return -1;
  }
  h->fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_RAW);
  if (h->fd < 0) {
    bw_set_error(e, errno, "socket(AF_INET, SOCK_RAW, IPPROTO_RAW)", NULL);
    return -1;
  }
  int one = 1;
  if (setsockopt(h->fd, IPPROTO_IP, IP_HDRINCL, &one, sizeof one) != 0) {
    bw_set_error(e, errno, "setsockopt(IP_HDRINCL)", NULL);
    return -1;
  }
  if (sndbuf > 0 && setsockopt(h->fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) != 0) {
    setsockopt(h->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf); /* capped by wmem_max: best effort */
  }
  t->slot = (mtu + 63) & ~63u;
  t->tx_slots = tx_slots;
  if (bw_slab_alloc(h, (size_t)tx_slots * t->slot, e) != 0) return -1;
  uint32_t batch = tx_slots < 256 ? tx_slots : 256;
  t->free_tx = bw_free_stack(tx_slots);
  t->msgs = calloc(batch, sizeof *t->msgs);
  t->iov = calloc(batch, sizeof *t->iov);
  t->addr = calloc(batch, sizeof *t->addr);
  if (!t->free_tx || !t->msgs || !t->iov || !t->addr || bw_ctl_alloc(h, 1, batch) != 0) {
    bw_set_error(e, ENOMEM, "allocate raw-ip state", NULL);
    return -1;
  }
  t->free_n = tx_slots;
  int got = 0;
  socklen_t gl = sizeof got;
  getsockopt(h->fd, SOL_SOCKET, SO_SNDBUF, &got, &gl);
  set_int(env, info, "sndbuf", got);
  set_int(env, info, "frameCap", t->slot);
  return 0;
}
