#!/usr/bin/env bash
# Capture real IPv6 frames from the Linux kernel as codec fixtures (test/fixtures/ipv6-frames.json), the IPv6
# counterpart of scripts/capture-fixtures.sh (same output format: name, description, linktype, hex).
#
# What it does: builds three network namespaces of its own (host "A", router "R" with IPv6 forwarding, host "B"),
# joined by veth pairs, addressed inside fd00:99::/64 and fd00:98::/64 and reachable only inside those namespaces;
# turns checksum/segmentation offloads off on every veth end; captures on A's veth with dumpcap from before A's
# link comes up (so DAD, MLD and router solicitation are in the capture) while it drives traffic (ping -6, python
# sockets); then picks one frame per fixture with a tshark display filter and writes the raw bytes as hex.
# Every ICMPv6/UDP checksum is verified by tshark before the file is written.
#
#   A (fd00:99::1) ---- (fd00:99::fe) R (fd00:98::fe) ---- (fd00:98::1) B
#        MTU 1500                          MTU 1280 (the far link)
#
# Needs root, iproute2, iputils-ping, ethtool, tshark/dumpcap, python3. Re-runnable: names carry this shell's
# pid; everything it made is removed on exit (trap); a watchdog ends the run after $FIXTURE_TIMEOUT s (default 90).
#
# Usage: sudo scripts/capture-ipv6-fixtures.sh [OUT]   (OUT defaults to test/fixtures/ipv6-frames.json)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/test/fixtures/ipv6-frames.json}
LIMIT=${FIXTURE_TIMEOUT:-90}

[ "$(id -u)" = 0 ] || { echo "capture-ipv6-fixtures: must run as root (network namespaces)" >&2; exit 1; }
for tool in ip ping ethtool dumpcap tshark python3 timeout; do
  command -v "$tool" >/dev/null || { echo "capture-ipv6-fixtures: missing $tool" >&2; exit 1; }
done

ID=$$
NSA=bw6fx-$ID-a; NSR=bw6fx-$ID-r; NSB=bw6fx-$ID-b
IFA=bw6a$ID; IFRA=bw6r$ID; IFRB=bw6s$ID; IFB=bw6b$ID
WORK=$(mktemp -d /tmp/bw6fx.XXXXXX)
PIDS=()
WATCHDOG=

cleanup() {
  set +e
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  [ -n "$WATCHDOG" ] && kill "$WATCHDOG" 2>/dev/null
  for ns in "$NSA" "$NSR" "$NSB"; do ip netns del "$ns" 2>/dev/null; done
  [ -n "${KEEP_WORK:-}" ] && cat "$WORK/dumpcap.err" >&2; rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "capture-ipv6-fixtures: interrupted" >&2; exit 130' INT TERM
(
  trap 'kill "$sp" 2>/dev/null; exit 0' TERM
  sleep "$LIMIT" & sp=$!; wait "$sp"
  echo "capture-ipv6-fixtures: timed out after ${LIMIT}s" >&2; kill -TERM $ID 2>/dev/null
) &
WATCHDOG=$!

inA() { ip netns exec "$NSA" "$@"; }
inR() { ip netns exec "$NSR" "$@"; }
inB() { ip netns exec "$NSB" "$@"; }

for ns in "$NSA" "$NSR" "$NSB"; do
  ip netns add "$ns"
  ip netns exec "$ns" ip link set lo up
done
ip link add "$IFA" netns "$NSA" address 02:00:00:99:00:01 type veth peer name "$IFRA" netns "$NSR" address 02:00:00:99:00:fe
ip link add "$IFRB" netns "$NSR" address 02:00:00:99:01:fe type veth peer name "$IFB" netns "$NSB" address 02:00:00:99:01:01
offloads_off() { ip netns exec "$1" ethtool -K "$2" tx off rx off gso off tso off gro off >/dev/null; }
offloads_off "$NSA" "$IFA"; offloads_off "$NSR" "$IFRA"; offloads_off "$NSR" "$IFRB"; offloads_off "$NSB" "$IFB"

# A takes no router advertisement (the one the script sends must not start SLAAC traffic) and answers at once.
inA sysctl -qw net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0
inR sysctl -qw net.ipv6.conf.all.forwarding=1 net.ipv6.icmp.ratelimit=0
inR ip addr add fd00:99::fe/64 dev "$IFRA" nodad
inR ip addr add fd00:98::fe/64 dev "$IFRB" nodad
inB ip addr add fd00:98::1/64 dev "$IFB" nodad
inR ip link set "$IFRB" mtu 1280
inB ip link set "$IFB" mtu 1280
inR ip link set "$IFRA" up; inR ip link set "$IFRB" up; inB ip link set "$IFB" up
inB ip -6 route add default via fd00:98::fe

# A's link is up but without IPv6 while the capture starts (dumpcap wants the device up); enabling IPv6 below
# is what a link coming up looks like to the IPv6 layer.
inA sysctl -qw "net.ipv6.conf.$IFA.disable_ipv6=1"
inA ip link set "$IFA" up

PCAP=$WORK/capture.pcap
inA timeout "$LIMIT" dumpcap -q -P -i "$IFA" -w "$PCAP" -a duration:"$LIMIT" 2>"$WORK/dumpcap.err" &
DUMPCAP=$!
PIDS+=("$DUMPCAP")
for _ in $(seq 100); do grep -q 'Capturing on' "$WORK/dumpcap.err" 2>/dev/null && break; sleep 0.1; done
grep -q 'Capturing on' "$WORK/dumpcap.err" || { cat "$WORK/dumpcap.err" >&2; exit 1; }
sleep 0.3

# IPv6 comes up on A: link-local DAD, MLDv2 reports (hop-by-hop Router Alert), a router solicitation; then its global
# address with DAD (a neighbor solicitation from ::).
inA sysctl -qw "net.ipv6.conf.$IFA.disable_ipv6=0"
inA ip addr add fd00:99::1/64 dev "$IFA"
for _ in $(seq 60); do
  [ -z "$(inA ip -6 addr show dev "$IFA" tentative)" ] && [ -z "$(inR ip -6 addr show tentative)" ] && break
  sleep 0.1
done
inA ip -6 route add default via fd00:99::fe

PING="timeout 5 ping -6 -n -c1 -W2"
inA $PING -s 56 fd00:99::fe >/dev/null                     # NS/NA, echo request/reply
inA $PING -s 3000 fd00:99::fe >/dev/null                   # fragmented echo request and reply
inA $PING -t 1 fd00:98::1 >/dev/null || true               # time exceeded from R
inA $PING -M do -s 1400 fd00:98::1 >/dev/null || true      # packet too big (MTU 1280) from R
inA timeout 5 python3 -c '
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.sendto(b"byway: is anyone on port 9999?", ("fd00:99::fe", 9999))   # port unreachable
s.sendto(b"byway udp over ipv6", ("fd00:99::fe", 7000))              # nobody there either; the datagram is the fixture
# A destination options header with an unknown option whose action bits are 10: R discards the packet and
# answers parameter problem code 2 pointing at the option (RFC 8200 4.2).
d = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
d.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_DSTOPTS, bytes([0, 0, 0x9e, 4, 0, 0, 0, 0]))
d.sendto(b"byway: unknown option", ("fd00:99::fe", 9998))
'
# A router advertisement from R: its ICMPv6 body built here, IPv6 header and checksum by R's kernel (raw ICMPv6
# sockets always get their checksum from the kernel), to all nodes with hop limit 255.
inR timeout 5 python3 -c '
import socket, struct, sys
ifname = sys.argv[1]
idx = socket.if_nametoindex(ifname)
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
ra = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0x00, 1800, 0, 0)
ra += struct.pack("!BB6s", 1, 1, bytes.fromhex("0200009900fe"))                    # source link-layer address
ra += struct.pack("!BBHI", 5, 1, 0, 1500)                                          # MTU
ra += struct.pack("!BBBBIII16s", 3, 4, 64, 0xc0, 2592000, 604800, 0, socket.inet_pton(socket.AF_INET6, "fd00:99::"))
s.sendto(ra, ("ff02::1", 0, 0, idx))
' "$IFRA"

sleep 0.5
kill -TERM "$DUMPCAP" 2>/dev/null || true
wait "$DUMPCAP" || true

KERNEL=$(uname -r)
export PCAP WORK KERNEL
(timeout 60 python3 - <<'PY'
import json, os, struct, subprocess, sys

pcap, work, kernel = os.environ["PCAP"], os.environ["WORK"], os.environ["KERNEL"]
data = open(pcap, "rb").read()
if struct.unpack("<I", data[:4])[0] != 0xA1B2C3D4 or struct.unpack("<I", data[20:24])[0] != 1:
    sys.exit("capture-ipv6-fixtures: expected a little-endian classic pcap of Ethernet frames")
frames, off = [], 24
while off < len(data):
    _, _, incl, orig = struct.unpack("<IIII", data[off:off + 16])
    if incl != orig:
        sys.exit("capture-ipv6-fixtures: frame %d truncated" % (len(frames) + 1))
    frames.append(data[off + 16:off + 16 + incl]); off += 16 + incl

CHECKS = ["-o", "udp.check_checksum:TRUE"]
def numbers(path, flt):
    r = subprocess.run(["tshark", "-n", "-r", path, *CHECKS, "-Y", flt, "-T", "fields", "-e", "frame.number"], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        sys.exit("capture-ipv6-fixtures: tshark failed on %r: %s" % (flt, r.stderr))
    return [int(x) for x in r.stdout.split()]

HOW = (" Captured with dumpcap on host A's veth (fd00:99::1, 02:00:00:99:00:01) in a network namespace, Linux %s, "
       "checksum/GSO/TSO/GRO offloads off; router R is fd00:99::fe (02:00:00:99:00:fe, forwarding on), host B "
       "fd00:98::1 behind R on an MTU-1280 link." % kernel)
A2R = "ipv6.src==fd00:99::1 && ipv6.dst==fd00:99::fe"
R2A = "ipv6.src==fd00:99::fe && ipv6.dst==fd00:99::1"
SPEC = [
    ("ipv6-dad-ns", "icmpv6.type==135 && ipv6.src==:: && icmpv6.nd.ns.target_address==fd00:99::1", 0, None,
     "Neighbor solicitation from :: to the solicited-node group ff02::1:ff00:1 for the tentative fd00:99::1: A's kernel doing duplicate address detection (RFC 4862) after `ip addr add fd00:99::1/64`."),
    ("ipv6-mld-report", "icmpv6.type==143 && ipv6.hopopts", 0, None,
     "MLDv2 report from A to ff02::16, behind a hop-by-hop options header carrying Router Alert (value 0) and PadN: the kernel joining its multicast groups as the link came up."),
    ("ipv6-router-solicitation", "icmpv6.type==133", 0, None,
     "Router solicitation from A's link-local address to ff02::2 with a source link-layer address option, sent as A's link came up."),
    ("ipv6-ns", "icmpv6.type==135 && ipv6.src==fd00:99::1 && icmpv6.nd.ns.target_address==fd00:99::fe && ipv6.dst==ff02::1:ff00:fe", 0, 1,
     "Neighbor solicitation from fd00:99::1 to ff02::1:ff00:fe for fd00:99::fe, with A's link-layer address, before `ping -6 -c1 -s 56 fd00:99::fe`."),
    ("ipv6-na", "icmpv6.type==136 && ipv6.src==fd00:99::fe && icmpv6.nd.na.flag.s==1 && ipv6.dst==fd00:99::1", 0, None,
     "Neighbor advertisement from R answering ipv6-ns: Router (forwarding on), Solicited and Override set, target link-layer address option."),
    ("ipv6-echo-request", "icmpv6.type==128 && ipv6.plen==64 && " + A2R, 0, 1,
     "ICMPv6 echo request, 56 data bytes, from `ping -6 -c1 -s 56 fd00:99::fe` on A."),
    ("ipv6-echo-reply", "icmpv6.type==129 && ipv6.plen==64 && " + R2A, 0, 1,
     "ICMPv6 echo reply from R to ipv6-echo-request."),
    ("ipv6-fragment-1-of-3", "ipv6.fraghdr && " + A2R, 0, 3,
     "First fragment (offset 0, M set, 1448 bytes after the fragment header, the ICMPv6 header included) of the 3008-byte echo request of `ping -6 -c1 -s 3000 fd00:99::fe` over MTU 1500."),
    ("ipv6-fragment-2-of-3", "ipv6.fraghdr && " + A2R, 1, 3,
     "Second fragment (offset 1448, M set) of the same echo request; same identification."),
    ("ipv6-fragment-3-of-3", "ipv6.fraghdr && " + A2R, 2, 3,
     "Last fragment (offset 2896, M clear, 112 bytes) of the same echo request."),
    ("ipv6-time-exceeded", "icmpv6.type==3 && icmpv6.code==0 && " + R2A, 0, 1,
     "ICMPv6 time exceeded, code 0 (hop limit exceeded in transit), from R after `ping -6 -c1 -t 1 fd00:98::1` on A."),
    ("ipv6-packet-too-big", "icmpv6.type==2 && icmpv6.mtu==1280 && " + R2A, 0, 1,
     "ICMPv6 packet too big, MTU 1280, from R after `ping -6 -c1 -M do -s 1400 fd00:98::1` (1448-byte packet) towards its MTU-1280 link."),
    ("ipv6-dest-unreachable-port", "icmpv6.type==1 && icmpv6.code==4 && " + R2A, 0, 2,
     "ICMPv6 destination unreachable, code 4 (port unreachable), from R after A sent a UDP datagram to fd00:99::fe port 9999 where nothing listens; quotes the offending packet."),
    ("ipv6-udp", "udp.dstport==7000 && !icmpv6 && " + A2R, 0, 1,
     "UDP datagram fd00:99::1 -> fd00:99::fe port 7000, payload 'byway udp over ipv6', checksum over the IPv6 pseudo-header (python socket.sendto)."),
    ("ipv6-udp-dstopts", "udp.dstport==9998 && ipv6.dstopts && !icmpv6 && " + A2R, 0, 1,
     "UDP datagram behind a destination options header with an unknown option of type 0x9e (action bits 10) and 4 bytes of data, set with setsockopt(IPV6_DSTOPTS) on A."),
    ("ipv6-param-problem-option", "icmpv6.type==4 && icmpv6.code==2 && " + R2A, 0, 1,
     "ICMPv6 parameter problem, code 2 (unrecognized IPv6 option), from R answering ipv6-udp-dstopts; the pointer (42) is the option's offset in the quoted packet."),
    ("ipv6-router-advertisement", "icmpv6.type==134", 0, 1,
     "Router advertisement from R's link-local address to ff02::1, hop limit 255 (cur hop limit 64, router lifetime 1800 s, source link-layer address, MTU 1500, prefix fd00:99::/64 with L and A set). The ICMPv6 body was built by a python raw socket on R; the IPv6 header and the checksum are R's kernel's."),
]

chosen = []
for name, flt, idx, expect, desc in SPEC:
    nums = numbers(pcap, flt)
    if not nums or (expect is not None and len(nums) != expect):
        sys.exit("capture-ipv6-fixtures: %s: expected %s matching frame(s) for %r, got %d" % (name, expect or "some", flt, len(nums)))
    chosen.append((name, desc + HOW, frames[nums[idx] - 1]))

fx = os.path.join(work, "fixtures.pcap")
with open(fx, "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
    for i, (_, _, fr) in enumerate(chosen):
        f.write(struct.pack("<IIII", i, 0, len(fr), len(fr))); f.write(fr)
bad = numbers(fx, "icmpv6.checksum.status==0 || udp.checksum.status==0 || _ws.malformed")
if bad:
    sys.exit("capture-ipv6-fixtures: bad checksum or malformed in: %s" % ", ".join(chosen[n - 1][0] for n in bad))
# Fragments alone carry no checksum tshark can verify: the reassembled echo request's is checked in the capture.
if len(numbers(pcap, "ipv6.fragments && icmpv6.type==128 && icmpv6.checksum.status==1")) != 1:
    sys.exit("capture-ipv6-fixtures: the reassembled fragmented echo request does not verify")
good = set(numbers(fx, "icmpv6.checksum.status==1 || udp.checksum.status==1 || ipv6.fraghdr"))
for i, (name, _, _) in enumerate(chosen, 1):
    if i not in good:
        sys.exit("capture-ipv6-fixtures: %s: checksum not verified good" % name)
with open(os.path.join(work, "ipv6-frames.json"), "w") as f:
    json.dump([{"name": n, "description": d, "linktype": 1, "hex": fr.hex()} for n, d, fr in chosen], f, indent=2)
    f.write("\n")
print(len(chosen))
PY
) > "$WORK/count"
mkdir -p "$(dirname "$OUT")"
cp "$WORK/ipv6-frames.json" "$OUT"
echo "capture-ipv6-fixtures: wrote $(cat "$WORK/count") frames to $OUT"
