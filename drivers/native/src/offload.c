/*
 * Checksum and segmentation offload helpers on frames (no Node-API, no syscalls): completing and repairing the
 * partial checksums the kernel hands up with virtio-net headers, and writing the virtio-net header for a frame
 * sent with its checksum or its segmentation left to the kernel. IPv4, and IPv6 with the transport right behind
 * the fixed header (what byway and every TCP sends); a frame may carry one 802.1Q tag.
 * Declared in byway.h; used by tap.c and packet.c.
 */
#include "byway.h"
#include <string.h>

/*
 * Where the TCP/UDP checksum of an Ethernet frame lives: the L3 and L4 offsets, the end of the datagram, the
 * checksum field, the protocol, and the pseudo-header's addresses [*ps, *pe) (RFC 768 / RFC 9293 over IPv4; RFC 8200
 * 8.1 over IPv6, the transport right behind the fixed header: no extension header). False when the frame has none.
 */
static bool l4_checksum_at(const uint8_t *f, uint32_t len, uint32_t *l3, uint32_t *l4, uint32_t *end, uint32_t *field, uint8_t *proto, uint32_t *ps, uint32_t *pe) {
  uint32_t o = 14;
  if (len < 14) return false;
  uint16_t type = (uint16_t)(f[12] << 8 | f[13]);
  if (type == 0x8100 && len >= 18) {
    type = (uint16_t)(f[16] << 8 | f[17]);
    o = 18;
  }
  if (type == 0x86dd) {
    if (len < o + 40 || (f[o] >> 4) != 6) return false;
    *proto = f[o + 6];
    *l3 = o;
    *l4 = o + 40;
    *end = o + 40 + (uint32_t)(f[o + 4] << 8 | f[o + 5]);
    *ps = o + 8;
    *pe = o + 40;
  } else {
    if (type != 0x0800 || len < o + 20 || (f[o] >> 4) != 4) return false;
    uint32_t ihl = (uint32_t)(f[o] & 15) * 4;
    uint32_t total = (uint32_t)(f[o + 2] << 8 | f[o + 3]);
    if ((f[o + 6] & 0x3f) || f[o + 7]) return false; /* a fragment: the checksum covers the whole datagram */
    if (ihl < 20) return false;
    *proto = f[o + 9];
    *l3 = o;
    *l4 = o + ihl;
    *end = o + total;
    *ps = o + 12;
    *pe = o + 20;
  }
  uint32_t off = *proto == 6 ? 16 : *proto == 17 ? 6 : 0;
  if (*end > len || *end <= *l4 || !off || *l4 + off + 2 > *end) return false;
  *field = *l4 + off;
  return true;
}

/*
 * The ones'-complement sum of f[from, to) as big-endian 16-bit words, plus `sum`, folded to 16 bits. The bulk is
 * read as 32-bit native (little-endian) words, unaligned loads through memcpy, into four accumulators: by RFC 1071's
 * byte-order independence the folded sum of little-endian words is the byte-swapped big-endian one, so one swap
 * fixes it up. Each accumulator takes at most 2^30 words of < 2^32 before it could overflow: far above 64 KiB.
 */
static uint32_t sum16(const uint8_t *f, uint32_t from, uint32_t to, uint64_t sum) {
  const uint8_t *p = f + from;
  uint32_t n = to > from ? to - from : 0;
  uint64_t a = 0, b = 0, c = 0, d = 0;
  uint32_t w0, w1, w2, w3;
  for (; n >= 16; n -= 16, p += 16) {
    memcpy(&w0, p, 4);
    memcpy(&w1, p + 4, 4);
    memcpy(&w2, p + 8, 4);
    memcpy(&w3, p + 12, 4);
    a += w0;
    b += w1;
    c += w2;
    d += w3;
  }
  for (; n >= 4; n -= 4, p += 4) {
    memcpy(&w0, p, 4);
    a += w0;
  }
  uint64_t le = a + b + c + d;
  while (le >> 16) le = (le & 0xffff) + (le >> 16);
  sum += ((le & 0xff) << 8) | (le >> 8);
  if (n >= 2) sum += (uint32_t)(p[0] << 8 | p[1]), p += 2, n -= 2;
  if (n) sum += (uint32_t)(p[0] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint32_t)sum;
}

void bw_complete_partial(uint8_t *f, uint32_t len) {
  uint32_t l3, l4, end, field, ps, pe;
  uint8_t proto;
  if (!l4_checksum_at(f, len, &l3, &l4, &end, &field, &proto, &ps, &pe)) return;
  uint16_t c = (uint16_t)~sum16(f, l4, end, 0);
  if (c == 0 && proto == 17) c = 0xffff;
  f[field] = (uint8_t)(c >> 8);
  f[field + 1] = (uint8_t)c;
}

int bw_repair_partial(uint8_t *f, uint32_t len) {
  uint32_t l3, l4, end, field, ps, pe;
  uint8_t proto;
  if (!l4_checksum_at(f, len, &l3, &l4, &end, &field, &proto, &ps, &pe)) return 0;
  /* The pseudo-header: source, destination, protocol, transport length. */
  uint32_t pseudo = sum16(f, ps, pe, (uint64_t)proto + (end - l4));
  uint32_t have = (uint32_t)(f[field] << 8 | f[field + 1]);
  if (have != pseudo) return 0;                  /* the usual case: one compare, no sum */
  uint32_t all = sum16(f, l4, end, pseudo);      /* pseudo-header + segment, the field included */
  if (all == 0xffff) return 2;                   /* a complete checksum that happens to match: verified */
  /* Partial: the segment's sum with the field as it should be is 0xffff, so the field is ~(all - have), in
     ones'-complement arithmetic ~(all + ~have) (RFC 1624's update, with no second pass over the bytes). */
  uint32_t x = all + (~have & 0xffff);
  x = (x & 0xffff) + (x >> 16);
  uint16_t c = (uint16_t)~x;
  if (c == 0 && proto == 17) c = 0xffff;
  f[field] = (uint8_t)(c >> 8);
  f[field + 1] = (uint8_t)c;
  return 1;
}

/*
 * Checksum offload on transmit (RFC 1071 partial sum, the virtio-net convention): for an IPv4 or IPv6 TCP or UDP frame,
 * with or without one 802.1Q tag (l4_checksum_at finds the header), write the pseudo-header sum (folded, not
 * complemented) into the checksum field and tell the kernel where the transport header starts and where its
 * checksum lives; the kernel finishes it only if the packet leaves on a device that needs it (a local destination
 * trusts it as is). Other frames (fragments among them) go as they are.
 */
void bw_offload_checksum(uint8_t *frame, uint32_t len, struct virtio_net_hdr *vh) {
  memset(vh, 0, sizeof *vh);
  uint32_t l3, l4, end, field, ps, pe;
  uint8_t proto;
  if (!l4_checksum_at(frame, len, &l3, &l4, &end, &field, &proto, &ps, &pe)) return;
  /* The pseudo-header (either family's): source, destination, protocol, transport length. */
  uint32_t sum = sum16(frame, ps, pe, (uint64_t)proto + (end - l4));
  frame[field] = (uint8_t)(sum >> 8);
  frame[field + 1] = (uint8_t)sum;
  vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  vh->csum_start = (uint16_t)l4;
  vh->csum_offset = (uint16_t)(field - l4);
}

/*
 * TCP segmentation offload on transmit (tso mode): an IPv4 TCP frame without IP options, DF set, whose payload
 * exceeds `seg`, is marked VIRTIO_NET_HDR_GSO_TCPV4 with gso_size = seg, so the kernel's GSO cuts it into
 * segments (each with its own IP length, ident, sequence number and checksums; see tcp_gso_segment); an IPv6 TCP
 * frame (no extension header) likewise GSO_TCPV6 (tcp6_gso_segment: payload length, sequence number, checksum).
 * Over IPv6 the partial sum follows the same rule (Linux's __tcp_v6_send_check leaves the whole length in it).
 * The checksum is left partial as in bw_offload_checksum, and the pseudo-header sum written into the TCP checksum
 * field INCLUDES the whole packet's TCP length: tcp_gso_segment adjusts the field for each segment by
 * subtracting that length and adding the segment's (its `delta`), exactly as Linux's own tcp_v4_send_check
 * leaves it for a GSO packet. (Hardware NICs want the sum without the length; virtio/tun does not: checked
 * against the kernel by test/native/tap-offload.test.ts and test/native/af-packet-tso.test.ts, whose segments
 * cross a veth without checksum offload: the tun and the AF_PACKET paths both go through virtio_net_hdr_to_skb.)
 * Returns false when the frame does not qualify; the caller then writes its header as for a plain frame.
 */
bool bw_offload_tso(uint8_t *frame, uint32_t len, uint32_t seg, struct virtio_net_hdr *vh) {
  uint32_t o = 14; /* the IP header: after the Ethernet header, and one 802.1Q tag if there is one */
  if (len >= 18 && frame[12] == 0x81 && frame[13] == 0x00) o = 18;
  if (len < o + 40) return false;
  uint32_t iphl, total;
  uint8_t gso;
  if (frame[o - 2] == 0x86 && frame[o - 1] == 0xdd) {
    /* IPv6: TCP right behind the fixed header (no extension header); no DF or ident to check (RFC 8200). */
    if ((frame[o] >> 4) != 6 || frame[o + 6] != 6 || len < o + 60) return false;
    iphl = 40;
    total = 40 + (uint32_t)(frame[o + 4] << 8 | frame[o + 5]);
    gso = VIRTIO_NET_HDR_GSO_TCPV6;
  } else {
    if (frame[o - 2] != 0x08 || frame[o - 1] != 0x00 || frame[o] != 0x45 || frame[o + 9] != 6) return false;
    if ((frame[o + 6] & 0x40) == 0 || (frame[o + 6] & 0x3f) || frame[o + 7]) return false; /* DF, no fragment */
    iphl = 20;
    total = (uint32_t)(frame[o + 2] << 8 | frame[o + 3]);
    gso = VIRTIO_NET_HDR_GSO_TCPV4;
  }
  if (total < iphl + 20 || o + total > len) return false;
  uint32_t thl = (uint32_t)(frame[o + iphl + 12] >> 4) * 4;
  if (thl < 20 || iphl + thl > total) return false;
  uint32_t payload = total - iphl - thl;
  if (seg == 0 || seg > 65535 || payload <= seg) return false;
  bw_offload_checksum(frame, len, vh);
  if (!(vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)) return false;
  vh->gso_type = gso;
  /* CWR set: say so (SKB_GSO_TCP_ECN, as Linux's TCP does), so that only the first segment keeps it even where
     the kernel would otherwise hand the packet to hardware TSO that copies every flag. */
  if (frame[o + iphl + 13] & 0x80) vh->gso_type |= VIRTIO_NET_HDR_GSO_ECN;
  vh->gso_size = (uint16_t)seg;
  vh->hdr_len = (uint16_t)(o + iphl + thl);
  return true;
}
