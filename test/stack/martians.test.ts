/**
 * Martian sources (RFC 1122 3.2.1.3) and the IPv4 options area (RFC 791 3.1): dropped and counted before any
 * protocol sees them; a TCP SYN from a martian source opens nothing and draws no answer.
 */
import { describe, expect, it } from 'vitest';
import { memoryLink } from '../../drivers/memory/index.js';
import { emitEthernet, EtherType } from '../../protocols/ethernet/wire.js';
import { IpProtocol, writeIpv4Header } from '../../protocols/ipv4/wire.js';
import { checkIpv4Options } from '../../protocols/ipv4/options.js';
import { write16, write32 } from '../../protocols/util/bytes.js';
import { checksum, pseudoHeaderSum } from '../../protocols/util/checksum.js';
import { ip, makeStack } from './harness.js';

const PEER_MAC = new Uint8Array([2, 0, 0, 0, 0, 0x66]);

/** B (10.0.0.2/24) listening on TCP 80, and a raw sender on the other end of the link. */
function lab() {
  const [raw, db] = memoryLink();
  const b = makeStack(db, '10.0.0.2/24', 2);
  b.tcp!.listen(0, 80, 16);
  const received: Uint8Array[] = [];
  b.poll(0);
  raw.receive(0, 64, () => {}); // whatever B announces on its first poll
  /** A SYN to 10.0.0.2:80 from `src`, with `options` in the IP header (a multiple of 4 bytes). */
  const syn = (src: number, options: number[] = [], dst = ip('10.0.0.2')): void => {
    const ipLen = 20 + options.length;
    const f = raw.txReserve(14 + ipLen + 20)!;
    emitEthernet({ dst: b.mac, src: PEER_MAC, ethertype: EtherType.IPv4 }, f);
    const tcp = f.subarray(14 + ipLen);
    write16(tcp, 0, 40000);
    write16(tcp, 2, 80);
    write32(tcp, 4, 12345);
    write32(tcp, 8, 0);
    tcp[12] = 5 << 4;
    tcp[13] = 0x02; // SYN
    write16(tcp, 14, 65535);
    write16(tcp, 16, 0);
    write16(tcp, 18, 0);
    write16(tcp, 16, checksum(tcp, 0, 20, pseudoHeaderSum(src, dst, IpProtocol.TCP, 20)));
    writeIpv4Header(f, 14, src, dst, IpProtocol.TCP, 20 + options.length, 64, 1, 0x4000, 0, false);
    f[14] = 0x40 | (ipLen / 4);
    f.set(options, 34);
    write16(f, 24, 0);
    write16(f, 24, checksum(f, 14, 14 + ipLen));
    raw.txCommit(0, 14 + ipLen + 20);
    b.poll(0);
    raw.receive(0, 64, (fr) => received.push(fr.slice()));
  };
  return { b, syn, received };
}

describe('martian destinations', () => {
  it('drops and counts a packet from the wire to loopback (127.0.0.0/8), though the stack answers 127/8 itself', () => {
    const { b, syn, received } = lab();
    syn(ip('10.0.0.1'), [], ip('127.0.0.1'));
    syn(ip('10.0.0.1'), [], ip('127.1.2.3'));
    expect(b.stats.ipv4.notForUs).toBe(2);
    expect(b.stats.tcp!.segsIn).toBe(0);
    expect(received).toEqual([]);
    expect(b.isLocalAddress(ip('127.0.0.1'))).toBe(true); // its own traffic to loopback stays inside
  });
});

describe('martian sources', () => {
  it('drops and counts SYNs from this-network, loopback, broadcast, multicast and our own address (land)', () => {
    const { b, syn, received } = lab();
    const martians = ['0.0.0.0', '0.1.2.3', '127.0.0.1', '127.255.0.9', '255.255.255.255', '10.0.0.255', '224.0.0.1', '239.1.2.3', '10.0.0.2'];
    for (const m of martians) syn(ip(m));
    expect(b.stats.ipv4.badSource).toBe(martians.length);
    expect(b.stats.tcp!.segsIn).toBe(0);
    expect([...b.tcp!.connections()].length).toBe(0);
    expect(received).toEqual([]); // no SYN-ACK, no RST, no ARP for a martian
    // An ordinary on-link source still gets its SYN-ACK (after ARP), through the same path.
    syn(ip('10.0.0.7'));
    expect(b.stats.ipv4.badSource).toBe(martians.length);
    expect(b.stats.tcp!.segsIn).toBe(1);
  });
});

describe('martian sources between packets of a good one (the stack remembers the last good source)', () => {
  it('still drops each martian source, whichever good source came before it', () => {
    const { b, syn } = lab();
    const martians = ['0.0.0.0', '127.0.0.1', '255.255.255.255', '10.0.0.255', '224.0.0.1', '10.0.0.2'];
    for (const m of martians) {
      syn(ip('10.0.0.7')); // remembered as good
      syn(ip(m));
      syn(ip('10.0.0.7'));
    }
    syn(ip('10.0.0.8')); // another good source: checked, then remembered
    syn(ip('10.0.0.2'));
    expect(b.stats.ipv4.badSource).toBe(martians.length + 1);
    expect(b.stats.tcp!.segsIn).toBe(2 * martians.length + 1);
  });
});

describe('IPv4 options', () => {
  it('accepts well-formed options (NOP, EOL, record route, router alert) and delivers the packet', () => {
    const { b, syn } = lab();
    syn(ip('10.0.0.7'), [1, 1, 1, 0]);
    syn(ip('10.0.0.8'), [7, 7, 4, 0, 0, 0, 0, 0]); // record route, one empty slot
    syn(ip('10.0.0.9'), [148, 4, 0, 0]); // router alert
    expect(b.stats.ipv4.withOptions).toBe(3);
    expect(b.stats.ipv4.badOptions).toBe(0);
    expect(b.stats.tcp!.segsIn).toBe(3);
  });

  it('drops and counts options with length 0 or 1, or running past the header', () => {
    const { b, syn } = lab();
    syn(ip('10.0.0.7'), [7, 0, 0, 0]);
    syn(ip('10.0.0.7'), [7, 1, 0, 0]);
    syn(ip('10.0.0.7'), [1, 1, 7, 8]); // claims 8 bytes from offset 2 of a 4-byte area
    syn(ip('10.0.0.7'), [1, 1, 1, 68]); // type with no room for its length byte
    expect(b.stats.ipv4.badOptions).toBe(4);
    expect(b.stats.tcp!.segsIn).toBe(0);
  });

  it('refuses loose and strict source routes, as Linux does by default', () => {
    const { b, syn } = lab();
    syn(ip('10.0.0.7'), [131, 7, 4, 10, 0, 0, 9, 0]);
    syn(ip('10.0.0.7'), [1, 137, 7, 4, 10, 0, 0, 9]);
    expect(b.stats.ipv4.sourceRouted).toBe(2);
    expect(b.stats.tcp!.segsIn).toBe(0);
  });

  it('checkIpv4Options never reads past the header, whatever the bytes', () => {
    const h = new Uint8Array(60);
    for (let seed = 1; seed < 5000; seed++) {
      let x = seed;
      for (let i = 20; i < 60; i++) {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        h[i] = x >>> 24;
      }
      const len = 20 + 4 * (seed % 11);
      expect(['ok', 'malformed', 'source-route']).toContain(checkIpv4Options(h, len));
    }
    expect(checkIpv4Options(h, 20)).toBe('ok');
  });
});
