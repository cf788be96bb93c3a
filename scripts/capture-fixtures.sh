#!/usr/bin/env bash
# Capture real frames from the Linux kernel as codec fixtures (test/fixtures/frames.json).
#
# What it does: builds three network namespaces of its own (a host "A", a router "R" with ip_forward=1,
# a host "B"), joined by veth pairs, all addressed inside 10.99.0.0/16 and reachable only inside those
# namespaces; turns checksum/segmentation/VLAN offloads off on every veth end so each captured checksum is
# filled in by software; captures on A's veth with dumpcap while it drives traffic (ping, python sockets);
# then picks one frame per fixture with a tshark display filter and writes the raw bytes as hex.
# Every frame is checked with tshark (IP/ICMP/TCP/UDP checksum validation on) before the file is written.
#
#   A (10.99.0.1) ---- (10.99.0.254) R (10.99.1.254) ---- (10.99.1.1) B
#        MTU 1500                           MTU 1280 (the far link)
#   A.10 (10.99.10.1) - 802.1Q VLAN 10 on the A-R veth - R.10 (10.99.10.254)
#
# Needs root, iproute2, iputils-ping, ethtool, tshark/dumpcap, python3 (`apt-get install iputils-ping ethtool
# tshark` on Debian). Re-runnable: namespace and interface names carry this shell's pid; everything it made is
# removed on exit (trap), and a watchdog ends the run after $FIXTURE_TIMEOUT seconds (default 120).
#
# Usage: sudo scripts/capture-fixtures.sh [OUT]      (OUT defaults to test/fixtures/frames.json)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/test/fixtures/frames.json}
LIMIT=${FIXTURE_TIMEOUT:-120}

[ "$(id -u)" = 0 ] || { echo "capture-fixtures: must run as root (network namespaces)" >&2; exit 1; }
for tool in ip ping ethtool dumpcap tshark python3 timeout; do
  command -v "$tool" >/dev/null || { echo "capture-fixtures: missing $tool" >&2; exit 1; }
done

ID=$$
NSA=bwfx-$ID-a; NSR=bwfx-$ID-r; NSB=bwfx-$ID-b
IFA=bwa$ID       # A's end of A-R
IFRA=bwr$ID      # R's end of A-R
IFRB=bws$ID      # R's end of R-B
IFB=bwb$ID       # B's end of R-B
VID=10
WORK=$(mktemp -d /tmp/bwfx.XXXXXX)
PIDS=()   # background jobs, each started as `ip netns exec NS timeout ...` (exec chain, so the pid is timeout's)
WATCHDOG=

cleanup() {
  set +e
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  [ -n "$WATCHDOG" ] && kill "$WATCHDOG" 2>/dev/null
  for ns in "$NSA" "$NSR" "$NSB"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "capture-fixtures: interrupted" >&2; exit 130' INT TERM
(
  trap 'kill "$sp" 2>/dev/null; exit 0' TERM
  sleep "$LIMIT" & sp=$!; wait "$sp"
  echo "capture-fixtures: timed out after ${LIMIT}s" >&2; kill -TERM $ID 2>/dev/null
) &
WATCHDOG=$!

inA() { ip netns exec "$NSA" "$@"; }
inR() { ip netns exec "$NSR" "$@"; }
inB() { ip netns exec "$NSB" "$@"; }

# ---- topology ----
for ns in "$NSA" "$NSR" "$NSB"; do
  ip netns add "$ns"
  # No IPv6: keeps router solicitations, MLD and ND out of the capture.
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip netns exec "$ns" ip link set lo up
done
ip link add "$IFA" netns "$NSA" address 02:00:00:99:00:01 type veth peer name "$IFRA" netns "$NSR" address 02:00:00:99:00:fe
ip link add "$IFRB" netns "$NSR" address 02:00:00:99:01:fe type veth peer name "$IFB" netns "$NSB" address 02:00:00:99:01:01

# Offloads off on both ends of both links: software checksums (no CHECKSUM_PARTIAL in the capture), no
# GSO/TSO/GRO super-frames, and VLAN tags kept inside the frame bytes rather than in skb metadata.
offloads_off() { ip netns exec "$1" ethtool -K "$2" tx off rx off gso off tso off gro off rxvlan off txvlan off >/dev/null 2>&1 \
  || ip netns exec "$1" ethtool -K "$2" tx off rx off gso off tso off gro off >/dev/null; }
offloads_off "$NSA" "$IFA"; offloads_off "$NSR" "$IFRA"; offloads_off "$NSR" "$IFRB"; offloads_off "$NSB" "$IFB"

inA ip addr add 10.99.0.1/24 dev "$IFA"
inR ip addr add 10.99.0.254/24 dev "$IFRA"
inR ip addr add 10.99.1.254/24 dev "$IFRB"
inB ip addr add 10.99.1.1/24 dev "$IFB"
inR ip link set "$IFRB" mtu 1280
inB ip link set "$IFB" mtu 1280
for x in "$NSA $IFA" "$NSR $IFRA" "$NSR $IFRB" "$NSB $IFB"; do set -- $x; ip netns exec "$1" ip link set "$2" up; done
inA ip route add default via 10.99.0.254
inB ip route add default via 10.99.1.254
inR sysctl -qw net.ipv4.ip_forward=1
# ICMP errors are rate-limited per destination by default; lift that so every error is sent.
inR sysctl -qw net.ipv4.icmp_ratelimit=0

# Wait for the links to report carrier (veth comes up at once, but be safe).
for _ in $(seq 50); do
  inA ip -o link show "$IFA" | grep -q 'state UP' && inB ip -o link show "$IFB" | grep -q 'state UP' && break
  sleep 0.1
done

# ---- capture ----
PCAP=$WORK/capture.pcap
# -P: classic pcap; autostop after LIMIT seconds in any case.
ip netns exec "$NSA" timeout "$LIMIT" dumpcap -q -P -i "$IFA" -w "$PCAP" -a duration:"$LIMIT" 2>"$WORK/dumpcap.err" &
DUMPCAP=$!
PIDS+=("$DUMPCAP")
for _ in $(seq 100); do grep -q 'Capturing on' "$WORK/dumpcap.err" 2>/dev/null && break; sleep 0.1; done
grep -q 'Capturing on' "$WORK/dumpcap.err" || { cat "$WORK/dumpcap.err" >&2; exit 1; }
sleep 0.5

PING="timeout 5 ping -n -c1 -W2"
# ARP request/reply and echo request/reply (56 data bytes), then an odd-sized echo (57 data bytes).
inA $PING -s 56 10.99.0.254 >/dev/null
inA $PING -s 57 10.99.0.254 >/dev/null
# UDP to a closed port on R: port unreachable.
inA timeout 5 python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"byway: is anyone on port 9999?", ("10.99.0.254", 9999))
'
# TTL 1 through the router: time exceeded.
inA $PING -t 1 10.99.1.1 >/dev/null || true
# DF packet of 1428 bytes towards the MTU-1280 link: fragmentation needed.
inA $PING -M do -s 1400 10.99.1.1 >/dev/null || true
# Record route through the router.
inA $PING -R 10.99.1.1 >/dev/null
# 3000 data bytes across MTU 1500: three fragments each way.
inA $PING -s 3000 10.99.0.254 >/dev/null

# UDP with a checksum (port 7000) and with a zero checksum via SO_NO_CHECK (port 7001); R listens on both.
ip netns exec "$NSR" timeout 10 python3 -c '
import socket, sys
socks = []
for port in (7000, 7001):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("10.99.0.254", port)); s.settimeout(5); socks.append(s)
open(sys.argv[1], "w").close()
for s in socks: s.recvfrom(2048)
' "$WORK/udp.ready" &
PIDS+=("$!")
for _ in $(seq 50); do [ -e "$WORK/udp.ready" ] && break; sleep 0.1; done
inA timeout 5 python3 -c '
import socket
SO_NO_CHECK = 11
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"byway udp with checksum", ("10.99.0.254", 7000))
z = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
z.setsockopt(socket.SOL_SOCKET, SO_NO_CHECK, 1)
z.sendto(b"byway udp, zero checksum", ("10.99.0.254", 7001))
'

# TCP: R listens on 5000, reads to EOF and closes; A connects, sends one segment, closes. Then a connect to
# the closed port 5001 draws a RST.
ip netns exec "$NSR" timeout 10 python3 -c '
import socket, sys
l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("10.99.0.254", 5000)); l.listen(1); l.settimeout(5)
open(sys.argv[1], "w").close()
c, _ = l.accept(); c.settimeout(5)
while c.recv(4096): pass
c.close(); l.close()
' "$WORK/tcp.ready" &
TCPSRV=$!
PIDS+=("$TCPSRV")
for _ in $(seq 50); do [ -e "$WORK/tcp.ready" ] && break; sleep 0.1; done
inA timeout 5 python3 -c '
import socket, time
c = socket.create_connection(("10.99.0.254", 5000), timeout=3)
time.sleep(0.05)
c.sendall(b"hello byway\n")
time.sleep(0.2)     # let the ACK of the data come back before closing, so FIN travels alone
c.shutdown(socket.SHUT_WR)
while c.recv(4096): pass
c.close()
try:
    socket.create_connection(("10.99.0.254", 5001), timeout=3)
except ConnectionRefusedError:
    pass
'
wait "$TCPSRV" || true

# 802.1Q: this kernel may lack CONFIG_VLAN_8021Q (no vlan devices, no bridge VLAN filtering, no act_vlan),
# so when `ip link add ... type vlan` is refused the tagged frames are crafted in python (checksums computed
# here, verified by tshark below) and sent through an AF_PACKET socket on A's veth, so they are still captured
# off the wire. With 802.1Q available the kernel's own vlan subinterface produces them.
VLAN_SRC=kernel
if inA ip link add link "$IFA" name "$IFA.$VID" type vlan id $VID 2>/dev/null \
   && inR ip link add link "$IFRA" name "$IFRA.$VID" type vlan id $VID 2>/dev/null; then
  inA ip addr add 10.99.10.1/24 dev "$IFA.$VID"; inA ip link set "$IFA.$VID" up
  inR ip addr add 10.99.10.254/24 dev "$IFRA.$VID"; inR ip link set "$IFRA.$VID" up
  inA $PING 10.99.10.254 >/dev/null
else
  VLAN_SRC=crafted
  inA timeout 5 python3 -c '
import socket, struct, sys
ifname, vid = sys.argv[1], int(sys.argv[2])
A_MAC, R_MAC = bytes.fromhex("020000990001"), bytes.fromhex("0200009900fe")
A_IP, R_IP = socket.inet_aton("10.99.10.1"), socket.inet_aton("10.99.10.254")
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF
def tag(ethertype):   # TPID 0x8100, TCI: PCP 0, DEI 0, VID
    return struct.pack("!HHH", 0x8100, vid & 0x0FFF, ethertype)
# ARP request who-has 10.99.10.254 tell 10.99.10.1, broadcast, VLAN-tagged (18-byte tagged header + 28-byte ARP + 14 zero pad = 60 bytes w/o FCS).
arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, A_MAC, A_IP, b"\0" * 6, R_IP)
f1 = b"\xff" * 6 + A_MAC + tag(0x0806) + arp + b"\0" * 14
# ICMP echo request, 56 data bytes (bytes 0x00..0x37), to R, VLAN-tagged.
data = bytes(range(56))
icmp = struct.pack("!BBHHH", 8, 0, 0, 0x6279, 1) + data
icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 0x0b0a, 0x4000, 64, 1, 0, A_IP, R_IP)
ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
f2 = R_MAC + A_MAC + tag(0x0800) + ip + icmp
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
s.send(f1); s.send(f2)
' "$IFA" "$VID"
fi

sleep 0.5
kill -TERM "$DUMPCAP" 2>/dev/null || true
wait "$DUMPCAP" || true

# ---- select, check, write ----
KERNEL=$(uname -r)
export PCAP WORK KERNEL VLAN_SRC
(timeout 120 python3 - <<'PY'
import json, os, struct, subprocess, sys

pcap, work, kernel = os.environ["PCAP"], os.environ["WORK"], os.environ["KERNEL"]
out = os.path.join(work, "frames.json")
vlan_kernel = os.environ["VLAN_SRC"] == "kernel"

def read_pcap(path):
    data = open(path, "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic not in (0xA1B2C3D4, 0xA1B23C4D):
        sys.exit("capture-fixtures: %s is not a little-endian classic pcap" % path)
    linktype = struct.unpack("<I", data[20:24])[0]
    frames, off = [], 24
    while off < len(data):
        _, _, incl, orig = struct.unpack("<IIII", data[off:off + 16])
        if incl != orig:
            sys.exit("capture-fixtures: frame %d truncated (%d of %d bytes)" % (len(frames) + 1, incl, orig))
        frames.append(data[off + 16:off + 16 + incl])
        off += 16 + incl
    return linktype, frames

def write_pcap(path, linktype, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", i, 0, len(fr), len(fr)))
            f.write(fr)

CHECKS = ["-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"]

def tshark_numbers(path, flt):
    r = subprocess.run(["tshark", "-n", "-r", path, *CHECKS, "-Y", flt, "-T", "fields", "-e", "frame.number"],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        sys.exit("capture-fixtures: tshark failed on filter %r: %s" % (flt, r.stderr))
    return [int(x) for x in r.stdout.split()]

linktype, frames = read_pcap(pcap)
if linktype != 1:
    sys.exit("capture-fixtures: expected linktype 1 (Ethernet), got %d" % linktype)

HOW = " Captured with dumpcap on host A's veth (10.99.0.1, 02:00:00:99:00:01) in a network namespace, Linux %s, " \
      "checksum/GSO/TSO/GRO/VLAN offloads off on both veth ends; router R is 10.99.0.254 (02:00:00:99:00:fe), " \
      "host B 10.99.1.1 behind R on an MTU-1280 link." % kernel
A2R = "ip.src==10.99.0.1 && ip.dst==10.99.0.254"
R2A = "ip.src==10.99.0.254 && ip.dst==10.99.0.1"
FRAG = "(ip.flags.mf==1 || ip.frag_offset>0)"
# (name, display filter, index among matches, expected match count or None, description)
SPEC = [
    ("arp-request", "!vlan && arp.opcode==1 && arp.src.proto_ipv4==10.99.0.1 && arp.dst.proto_ipv4==10.99.0.254", 0, 1,
     "ARP request (who-has 10.99.0.254 tell 10.99.0.1), broadcast, sent by A's kernel before the first `ping -c1 -s 56 10.99.0.254`."),
    ("arp-reply", "!vlan && arp.opcode==2 && arp.src.proto_ipv4==10.99.0.254", 0, 1,
     "ARP reply (10.99.0.254 is-at 02:00:00:99:00:fe), unicast from R to A, answering arp-request."),
    ("icmp-echo-request", "!vlan && icmp.type==8 && ip.len==84 && " + A2R, 0, 1,
     "ICMP echo request, 56 data bytes (ping's 16-byte little-endian struct timeval, then pattern bytes 0x10..0x37), DF set, from `ping -c1 -s 56 10.99.0.254` on A."),
    ("icmp-echo-reply", "!vlan && icmp.type==0 && ip.len==84 && " + R2A, 0, 1,
     "ICMP echo reply from R's kernel to icmp-echo-request (same identifier, sequence and data)."),
    ("icmp-echo-request-odd-payload", "icmp.type==8 && ip.len==85 && " + A2R, 0, 1,
     "ICMP echo request with an odd payload length (57 data bytes, ICMP length 65), from `ping -c1 -s 57 10.99.0.254`; the checksum covers a trailing odd byte."),
    ("icmp-echo-reply-odd-payload", "icmp.type==0 && ip.len==85 && " + R2A, 0, 1,
     "ICMP echo reply (57 data bytes) from R to icmp-echo-request-odd-payload."),
    ("icmp-dest-unreachable-port", "icmp.type==3 && icmp.code==3 && " + R2A, 0, 1,
     "ICMP destination unreachable, code 3 (port unreachable), from R after A sent a UDP datagram (python socket) to 10.99.0.254:9999 where nothing listens; quotes the whole offending IP datagram."),
    ("icmp-time-exceeded", "icmp.type==11 && icmp.code==0 && " + R2A, 0, 1,
     "ICMP time exceeded, code 0 (TTL exceeded in transit), from router R (ip_forward=1) after `ping -c1 -t 1 10.99.1.1` from A; quotes the expired echo request's IP header and 8+ bytes."),
    ("icmp-frag-needed", "icmp.type==3 && icmp.code==4 && " + R2A, 0, 1,
     "ICMP destination unreachable, code 4 (fragmentation needed and DF set), next-hop MTU 1280, from R after `ping -c1 -M do -s 1400 10.99.1.1` (1428-byte DF packet) towards its MTU-1280 link."),
    ("udp-with-checksum", "udp.dstport==7000 && " + A2R, 0, 1,
     "UDP datagram 10.99.0.1 -> 10.99.0.254:7000, payload 'byway udp with checksum', with a computed (valid) checksum; python socket.sendto from A."),
    ("udp-zero-checksum", "udp.dstport==7001 && udp.checksum==0 && " + A2R, 0, 1,
     "UDP datagram to 10.99.0.254:7001, payload 'byway udp, zero checksum', checksum field 0 (none computed, allowed in IPv4, RFC 768), sent with setsockopt(SOL_SOCKET, SO_NO_CHECK=11, 1) from A."),
    ("ipv4-fragment-1-of-3", FRAG + " && " + A2R, 0, 3,
     "First IPv4 fragment (offset 0, MF set, 1480 payload bytes incl. the ICMP header) of the echo request from `ping -c1 -s 3000 10.99.0.254` over MTU 1500 (3008-byte ICMP message)."),
    ("ipv4-fragment-2-of-3", FRAG + " && " + A2R, 1, 3,
     "Second IPv4 fragment (offset 1480, MF set, 1480 bytes) of the same `ping -s 3000` echo request; same IP identification as fragment 1."),
    ("ipv4-fragment-3-of-3", FRAG + " && " + A2R, 2, 3,
     "Last IPv4 fragment (offset 2960, MF clear, 48 bytes) of the same `ping -s 3000` echo request."),
    ("ipv4-options-record-route-request", "ip.opt.type==7 && icmp.type==8 && ip.src==10.99.0.1", 0, 1,
     "ICMP echo request with an IPv4 Record Route option (IHL 15, 40 option bytes: NOP, then RR length 39 pointer 8 with 9 slots, the first already holding the sender's 10.99.0.1), from `ping -c1 -R 10.99.1.1` on A, before the router."),
    ("ipv4-options-record-route-reply", "ip.opt.type==7 && icmp.type==0 && ip.dst==10.99.0.1", 0, 1,
     "ICMP echo reply from B (10.99.1.1) carrying the Record Route option back through R, with the addresses recorded along the way."),
    ("tcp-syn", "tcp.flags==0x002 && tcp.dstport==5000 && " + A2R, 0, 1,
     "TCP SYN from A to 10.99.0.254:5000 (python socket.create_connection), options MSS 1460, SACK permitted, timestamps, window scale."),
    ("tcp-syn-ack", "tcp.flags==0x012 && tcp.srcport==5000 && " + R2A, 0, 1,
     "TCP SYN-ACK from R's listening socket (port 5000), with MSS, SACK permitted, timestamps, window scale."),
    ("tcp-ack-handshake", "tcp.flags==0x010 && tcp.dstport==5000 && tcp.len==0 && tcp.seq==1 && tcp.ack==1 && " + A2R, 0, 1,
     "TCP ACK from A that completes the three-way handshake (relative seq 1, ack 1, timestamps option)."),
    ("tcp-data-psh", "tcp.dstport==5000 && tcp.len>0 && tcp.flags.push==1 && " + A2R, 0, 1,
     "TCP data segment with PSH+ACK from A, 12 payload bytes 'hello byway\\n'."),
    ("tcp-fin-client", "tcp.dstport==5000 && tcp.flags.fin==1 && " + A2R, 0, 1,
     "TCP FIN+ACK from A after shutdown(SHUT_WR) (active close)."),
    ("tcp-fin-server", "tcp.srcport==5000 && tcp.flags.fin==1 && " + R2A, 0, 1,
     "TCP FIN+ACK from R after it read EOF and closed (passive close)."),
    ("tcp-rst", "tcp.srcport==5001 && tcp.flags.reset==1 && " + R2A, 0, 1,
     "TCP RST+ACK from R's kernel answering A's SYN to the closed port 10.99.0.254:5001 (seq 0, ack = SYN's seq + 1, window 0)."),
    ("vlan-arp-request", "vlan.id==10 && arp.opcode==1", 0, 1,
     ("802.1Q-tagged (TPID 0x8100, PCP 0, DEI 0, VLAN 10) ARP request (who-has 10.99.10.254 tell 10.99.10.1), broadcast, "
      + ("sent by the vlan subinterface on A's veth before `ping -c1 10.99.10.254`, captured on the parent veth (txvlan/rxvlan offloads off)."
         if vlan_kernel else
         "60 bytes without FCS (14 zero pad bytes). CRAFTED, not kernel-built: the capture kernel has no CONFIG_VLAN_8021Q, so a python "
         "AF_PACKET socket sent these bytes on A's veth and dumpcap captured them there."))),
    ("vlan-icmp-echo-request", "vlan.id==10 && icmp.type==8", 0, 1,
     ("802.1Q-tagged (TPID 0x8100, PCP 0, DEI 0, VLAN 10) ICMP echo request 10.99.10.1 -> 10.99.10.254, 56 data bytes, DF set, "
      + ("from `ping -c1 10.99.10.254` over the vlan subinterface of A's veth, captured on the parent veth (tag in the frame bytes: txvlan/rxvlan offloads off)."
         if vlan_kernel else
         "data bytes 0x00..0x37, id 0x6279 seq 1. CRAFTED, not kernel-built: the capture kernel has no CONFIG_VLAN_8021Q, so a python "
         "AF_PACKET socket sent these bytes (IP and ICMP checksums computed by the script, verified by tshark) on A's veth and dumpcap captured them there."))),
]

chosen = []
for name, flt, idx, expect, desc in SPEC:
    nums = tshark_numbers(pcap, flt)
    if expect is not None and len(nums) != expect:
        sys.exit("capture-fixtures: %s: expected %d matching frame(s) for %r, got %d" % (name, expect, flt, len(nums)))
    chosen.append((name, desc + HOW, frames[nums[idx] - 1]))

# The facts each description states, checked on the bytes (offsets assume an untagged frame, IHL 5, unless noted).
by = {n: fr for n, _, fr in chosen}
def u16(b, o): return (b[o] << 8) | b[o + 1]
def tcp_option_kinds(fr):
    ihl = (fr[14] & 15) * 4; t = 14 + ihl; end = t + (fr[t + 12] >> 4) * 4; o = t + 20; kinds = {}
    while o < end:
        k = fr[o]
        if k == 0: break
        if k == 1: o += 1; continue
        kinds[k] = fr[o + 2:o + fr[o + 1]]; o += fr[o + 1]
    return kinds
def check(cond, what):
    if not cond: sys.exit("capture-fixtures: unexpected capture: " + what)
frags = [by["ipv4-fragment-%d-of-3" % i] for i in (1, 2, 3)]
check([(u16(f, 20) >> 13 & 1, (u16(f, 20) & 0x1FFF) * 8) for f in frags] == [(1, 0), (1, 1480), (0, 2960)], "fragment offsets/MF")
check(len({u16(f, 18) for f in frags}) == 1, "fragments share one IP identification")
check(u16(frags[2], 16) == 20 + 48, "last fragment carries 48 bytes")
check(u16(by["icmp-echo-request-odd-payload"], 16) == 85, "odd echo: IP total length 85")
check(by["icmp-frag-needed"][34:36] == b"\x03\x04" and u16(by["icmp-frag-needed"], 40) == 1280, "frag needed with MTU 1280")
check(by["icmp-time-exceeded"][34:36] == b"\x0b\x00", "time exceeded code 0")
check(by["icmp-dest-unreachable-port"][34:36] == b"\x03\x03", "port unreachable")
check(u16(by["udp-zero-checksum"], 40) == 0 and u16(by["udp-with-checksum"], 40) != 0, "UDP checksum zero / non-zero")
rr = by["ipv4-options-record-route-request"]
check(rr[14] == 0x4F and rr[34:38] == b"\x01\x07\x27\x08", "NOP + record route option (len 39, ptr 8), IHL 15")
for n in ("tcp-syn", "tcp-syn-ack"):
    k = tcp_option_kinds(by[n])
    check({2, 3, 4, 8} <= set(k) and u16(k[2], 0) == 1460, n + ": MSS 1460, WS, SACK-permitted, timestamps")
check(by["tcp-syn"][47] == 0x02 and by["tcp-syn-ack"][47] == 0x12 and by["tcp-ack-handshake"][47] == 0x10, "handshake flags")
check(by["tcp-data-psh"][47] == 0x18 and by["tcp-fin-client"][47] == 0x11 and by["tcp-fin-server"][47] == 0x11, "PSH/FIN flags")
check(by["tcp-rst"][47] == 0x14, "RST+ACK flags")
for n in ("vlan-arp-request", "vlan-icmp-echo-request"):
    check(u16(by[n], 12) == 0x8100 and u16(by[n], 14) == 10, n + ": TPID 0x8100, TCI 10")

# Re-check the chosen frames on their own: every checksum tshark can verify must be good.
fx = os.path.join(work, "fixtures.pcap")
write_pcap(fx, 1, [c[2] for c in chosen])
bad = tshark_numbers(fx, "ip.checksum.status==0 || icmp.checksum.status==0 || tcp.checksum.status==0 || udp.checksum.status==0"
                     " || _ws.expert.severity==error || _ws.malformed")
if bad:
    sys.exit("capture-fixtures: bad checksum or malformed in: %s" % ", ".join(chosen[n - 1][0] for n in bad))
good_ip = set(tshark_numbers(fx, "ip.checksum.status==1"))
for i, (name, _, fr) in enumerate(chosen, 1):
    is_ip = fr[12:14] == b"\x08\x00" or (fr[12:14] == b"\x81\x00" and fr[16:18] == b"\x08\x00")
    if is_ip and i not in good_ip:
        sys.exit("capture-fixtures: %s: IPv4 header checksum not verified good" % name)

with open(out, "w") as f:
    json.dump([{"name": n, "description": d, "linktype": 1, "hex": fr.hex()} for n, d, fr in chosen], f, indent=2)
    f.write("\n")
print(len(chosen))
PY
) > "$WORK/count"
# Only a complete, checked run replaces the output.
mkdir -p "$(dirname "$OUT")"
cp "$WORK/frames.json" "$OUT"
echo "capture-fixtures: wrote $(cat "$WORK/count") frames to $OUT"
