/** How a script's shell lines and buffer options become byway TCP options (tools/packetdrill/settings.ts). */
import { describe, expect, it } from 'vitest';
import { parseScript } from '../../tools/packetdrill/parse.js';
import { settingsFor } from '../../tools/packetdrill/settings.js';
import { newReno } from '../../protocols/tcp/cc/index.js';

const settings = (text: string) => settingsFor(parseScript(text));

describe('settingsFor', () => {
  it("maps defaults.sh to the Linux profile with defaults.sh's buffers, and no defaults.sh to the 2013 machine's", () => {
    expect(settings('`../common/defaults.sh`\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3').tcp).toMatchObject({
      profile: 'linux',
      receiveBuffer: 540000,
      maxReceiveBuffer: 15 * 1024 * 1024,
      sendBuffer: 256 * 1024,
      slowStartAfterIdle: false,
    });
    expect(settings('0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3').tcp).toEqual({ profile: 'linux', maxReceiveBuffer: 3 * 1024 * 1024, pushBursts: false });
  });

  it('maps sysctls to the options with the same meaning and accepts knobs that change nothing here', () => {
    const s = settings(
      [
        '`./defaults.sh',
        'sysctl -q net.ipv4.tcp_congestion_control=reno',
        'sysctl -q net.ipv4.tcp_rmem="4096 131072 $((32*1024*1024))"',
        '../common/set_sysctls.py /proc/sys/net/ipv4/tcp_timestamps=0 \\',
        '   /proc/sys/net/ipv4/tcp_min_tso_segs=10',
        'sysctl -q net.ipv4.tcp_slow_start_after_idle=1',
        'ethtool -K tun0 tso off gso off`',
        '0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3',
      ].join('\n'),
    );
    expect(s.unsupported).toEqual([]);
    expect(s.tcp).toMatchObject({ congestionControl: newReno, receiveBuffer: 131072, maxReceiveBuffer: 32 * 1024 * 1024, timestamps: false, slowStartAfterIdle: true, minTsoSegs: 10 });
  });

  it('reports what byway has no counterpart for instead of ignoring it', () => {
    const s = settings('`sysctl -q net.ipv4.tcp_early_retrans=7`\n`tc qdisc replace dev tun0 root fq`\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3');
    expect(s.unsupported).toEqual(['sysctl tcp_early_retrans=7', 'tc qdisc replace dev tun0 root fq']);
  });

  it("maps tcp_cubic's HyStart module parameters to the hystart option", () => {
    const s = settings('`echo 2 > /sys/module/tcp_cubic/parameters/hystart_detect`\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3');
    expect(s.tcp.hystart).toEqual({ variant: 'linux', detect: 'delay' });
    expect(settings('`echo 0 > /sys/module/tcp_cubic/parameters/hystart`\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3').tcp.hystart).toMatchObject({ variant: 'off' });
    expect(settings('`echo 1 > /sys/module/tcp_cubic/parameters/beta`\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3').unsupported).toEqual(['tcp_cubic parameter beta=1']);
  });

  it('maps tcp_early_retrans to lossDetection (0-2: Linux 3.x loss detection, 3-4: RACK-TLP)', () => {
    const modes = ['dupthresh', 'early-retransmit', 'early-retransmit-delayed', 'rack-tlp', 'rack-tlp'];
    modes.forEach((m, v) => expect(settings(`\`sysctl -q net.ipv4.tcp_early_retrans=${v}\`\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3`).tcp.lossDetection).toBe(m));
  });

  it('doubles SO_RCVBUF / SO_SNDBUF into fixed stack buffers, and refuses a second, different size', () => {
    const s = settings('0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 setsockopt(3, SOL_SOCKET, SO_RCVBUF, [20000], 4) = 0\n+0 setsockopt(3, SOL_SOCKET, SO_SNDBUF, [5000], 4) = 0');
    expect(s.tcp).toMatchObject({ receiveBuffer: 40000, maxReceiveBuffer: 40000, sendBuffer: 10000, maxSendBuffer: 10000 });
    const twice = settings('0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 setsockopt(3, SOL_SOCKET, SO_RCVBUF, [20000], 4) = 0\n+0 setsockopt(4, SOL_SOCKET, SO_RCVBUF, [12000], 4) = 0');
    expect(twice.unsupported).toEqual(["SO_RCVBUF set to 20000 and then 12000 (byway's buffer sizes are per stack)"]);
  });

  it('while running: a qdisc with limit 0 drops what the stack sends, deleting it delivers again, restores are allowed', () => {
    const s = settings('0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3');
    expect(s.shell('tc qdisc replace dev tun0 root pfifo limit 0')).toBe('blackhole');
    expect(s.shell('tc qdisc delete dev tun0 root 2>/dev/null ; tc qdisc add dev tun0 root pfifo limit 0')).toBe('blackhole');
    expect(s.shell('tc qdisc del dev tun0 root')).toBe('unblock');
    expect(s.shell('sysctl -q net.ipv4.tcp_early_retrans=3')).toBeUndefined();
    expect(s.shell('sysctl -q net.ipv4.tcp_sack=0')).toBe('sysctl tcp_sack=0 while connections run');
  });
});
