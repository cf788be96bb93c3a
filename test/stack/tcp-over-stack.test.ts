/** TCP through the whole stack (ARP, IPv4, the memory link), on the virtual clock. */
import { describe, expect, it } from 'vitest';
import { faults } from '../../drivers/middleware/index.js';
import type { FrameDriver } from '../../drivers/types.js';
import type { TcpConnection } from '../../protocols/tcp/connection.js';
import { ip, makePair, pattern, transfer } from './harness.js';
import { expectBytes } from '../helpers/bytes.js';



describe('TCP over the stack', () => {
  it('connects through ARP and moves 1 MB intact', () => {
    const p = makePair();
    const { got } = transfer(p, 1_000_000);
    expectBytes(got, pattern(1_000_000));
    expect(p.a.stats.tcp!.segsOut).toBeGreaterThan(600);
  });

  it('coalesces the ACKs of a receive batch (coalesceAcks), and acknowledges every second segment without it', () => {
    const acksPerSegment = (coalesceAcks: boolean): number => {
      const tcp = { coalesceAcks, sendBuffer: 1 << 20, receiveBuffer: 1 << 20, maxReceiveBuffer: 1 << 20 };
      // GRO off: it would merge the batch's segments before TCP and so change what this counts per segment.
      const p = makePair({ configA: { tcp, gro: false }, configB: { tcp, gro: false } });
      const { got } = transfer(p, 2_000_000);
      expectBytes(got, pattern(2_000_000));
      return p.b.stats.tcp!.segsOut / p.b.stats.tcp!.segsIn;
    };
    const without = acksPerSegment(false);
    const withCoalescing = acksPerSegment(true);
    // RFC 5681 4.2: one ACK per two full-sized segments at most (plus quick ACKs at the start).
    expect(without).toBeGreaterThan(0.45);
    // The memory link hands the receiver its segments in batches: one ACK per batch.
    expect(withCoalescing).toBeLessThan(without / 2);
  });

  it('recovers from loss, reordering and duplication in both directions', () => {
    const impair = (seed: number) => (d: FrameDriver) =>
      faults(d, { seed, tx: { loss: 0.05, reorder: 0.1, duplicate: 0.02, delayMs: 5, jitterMs: 2 } });
    const p = makePair({ wrapA: impair(1), wrapB: impair(2) });
    const { got, client } = transfer(p, 300_000);
    expectBytes(got, pattern(300_000));
    expect(client.info().retransmits).toBeGreaterThan(0);
  });

  it('answers a SYN to a closed port with RST: ECONNREFUSED', () => {
    const p = makePair();
    const c = p.a.tcp!.connect(p.clock.now(), ip('10.0.0.2'), 81);
    let err: string | undefined = 'none';
    c.onClose = (e) => (err = e);
    p.run({ until: p.clock.now() + 5_000 });
    expect(err).toBe('ECONNREFUSED');
    expect(p.b.stats.tcp!.noSocket).toBe(1);
  });

  it('fails a connect with EHOSTUNREACH when ARP gives up', () => {
    const p = makePair();
    const c = p.a.tcp!.connect(p.clock.now(), ip('10.0.0.99'), 80);
    let err: string | undefined = 'none';
    c.onClose = (e) => (err = e);
    p.run({ until: p.clock.now() + 10_000 });
    expect(err).toBe('EHOSTUNREACH');
  });
});

describe('RST rate limit', () => {
  it('answers segments for no connection with at most rstRateLimit RSTs per second, counting the rest', () => {
    const p = makePair({ configB: { tcp: { rstRateLimit: 5 } } });
    const refused: string[] = [];
    const connectMany = (n: number) => {
      for (let i = 0; i < n; i++) {
        const c = p.a.tcp!.connect(p.clock.now(), ip('10.0.0.2'), 81);
        c.onClose = (e) => refused.push(e ?? 'none');
      }
    };
    connectMany(20);
    p.run({ until: p.clock.now() + 500 }); // before any SYN retransmission (initial RTO 1 s)
    expect(p.b.stats.tcp!.rstsSent).toBe(5);
    expect(p.b.stats.tcp!.rstsRateLimited).toBe(15);
    expect(refused.filter((e) => e === 'ECONNREFUSED')).toHaveLength(5);
    // A second later the budget is back: the retransmitted SYNs are refused too.
    p.run({ until: p.clock.now() + 30_000 });
    expect(refused.filter((e) => e === 'ECONNREFUSED')).toHaveLength(20);
  });
});

describe('out-of-order memory cap across connections', () => {
  it('keeps all connections together under oooTotalLimit, drops (and counts) the rest, and still delivers', () => {
    const limit = 6000;
    const reorder = (seed: number) => (d: FrameDriver) => faults(d, { seed, tx: { reorder: 0.3, reorderDelayMs: 2, loss: 0.02 } });
    const p = makePair({ wrapA: reorder(7), configB: { tcp: { oooTotalLimit: limit } } });
    const listener = p.b.tcp!.listen(0, 80, 16);
    const servers: TcpConnection[] = [];
    listener.onConnection = (c) => servers.push(c);
    const size = 200_000;
    const data = pattern(size, 3);
    const clients = [0, 1, 2].map(() => p.a.tcp!.connect(p.clock.now(), ip('10.0.0.2'), 80));
    const sent = [0, 0, 0];
    const got = [0, 0, 0].map(() => new Uint8Array(size));
    const recvd = [0, 0, 0];
    const scratch = new Uint8Array(65536);
    let peak = 0;
    const pump = () => {
      clients.forEach((c, i) => {
        if (c.state === 'ESTABLISHED' && sent[i]! < size) sent[i]! += c.send(p.clock.now(), data.subarray(sent[i]!));
      });
      servers.forEach((s) => {
        const i = clients.findIndex((c) => c.localPort === s.remotePort);
        for (let n = s.read(p.clock.now(), scratch); n > 0; n = s.read(p.clock.now(), scratch)) {
          got[i]!.set(scratch.subarray(0, n), recvd[i]!);
          recvd[i]! += n;
        }
      });
      peak = Math.max(peak, p.b.tcp!.oooMemory);
    };
    p.run({ stopWhen: () => (pump(), recvd.every((r) => r === size)), until: p.clock.now() + 600_000 });
    expect(recvd).toEqual([size, size, size]);
    for (const g of got) expectBytes(g, data);
    expect(peak).toBeLessThanOrEqual(limit);
    expect(p.b.stats.tcp!.oooTotalDrops).toBeGreaterThan(0);
    for (const s of servers) s.abort(p.clock.now());
    expect(p.b.tcp!.oooMemory).toBe(0);
  });
});

describe('buffer memory cap across connections', () => {
  it('stops send-buffer growth at bufferMemoryLimit (backpressure, not failure) and releases on close', () => {
    // Each connection starts with 16 KiB of send ring and a 64 KiB receive buffer; the cap leaves little room to grow.
    const tcp = { sendBuffer: 1 << 20, receiveBuffer: 65536, bufferMemoryLimit: 3 * (16384 + 65536) + 40_000 };
    const p = makePair({ configA: { tcp }, configB: { tcp } });
    const listener = p.b.tcp!.listen(0, 80, 16);
    const servers: TcpConnection[] = [];
    listener.onConnection = (c) => servers.push(c);
    const clients = [0, 1, 2].map(() => p.a.tcp!.connect(p.clock.now(), ip('10.0.0.2'), 80));
    p.run({ stopWhen: () => servers.length === 3 && clients.every((c) => c.state === 'ESTABLISHED'), until: p.clock.now() + 10_000 });
    // Offer 1 MB each while nobody reads: the send rings may only grow within the cap.
    const accepted = clients.map((c) => c.send(p.clock.now(), new Uint8Array(1 << 20)));
    expect(p.a.tcp!.bufferMemory).toBeLessThanOrEqual(tcp.bufferMemoryLimit);
    expect(p.a.stats.tcp!.bufferLimitHits).toBeGreaterThan(0);
    expect(accepted.every((n) => n > 0 && n < 1 << 20)).toBe(true);
    // Reading on the far side drains everything through the capped buffers.
    const want = accepted.reduce((a, b) => a + b, 0);
    let got = 0;
    const scratch = new Uint8Array(65536);
    p.run({
      stopWhen: () => {
        for (const s of servers) for (let n = s.read(p.clock.now(), scratch); n > 0; n = s.read(p.clock.now(), scratch)) got += n;
        return got === want;
      },
      until: p.clock.now() + 60_000,
    });
    expect(got).toBe(want);
    for (const c of clients) c.abort(p.clock.now());
    expect(p.a.tcp!.bufferMemory).toBe(0);
  });
});

describe('drops without an answer are still counted', () => {
  it('counts segments a listener drops and RSTs outside the window', async () => {
    const { emptyTcpFields, emitTcp, fillTcpChecksum, tcpHeaderLen, TcpFlag } = await import('../../protocols/tcp/wire.js');
    const p = makePair();
    const listener = p.b.tcp!.listen(0, 80, 16);
    let server: TcpConnection | undefined;
    listener.onConnection = (c) => (server = c);
    const client = p.a.tcp!.connect(p.clock.now(), ip('10.0.0.2'), 80);
    p.run({ stopWhen: () => server !== undefined && client.state === 'ESTABLISHED', until: p.clock.now() + 5_000 });
    const inject = (srcPort: number, dstPort: number, flags: number, seq: number) => {
      const f = emptyTcpFields();
      f.srcPort = srcPort;
      f.dstPort = dstPort;
      f.seq = seq;
      f.flags = flags;
      f.window = 1000;
      const buf = new Uint8Array(tcpHeaderLen(f));
      emitTcp(f, buf, 0);
      fillTcpChecksum(buf, 0, buf.length, ip('10.0.0.1'), ip('10.0.0.2'));
      p.b.tcp!.input(p.clock.now(), ip('10.0.0.1'), ip('10.0.0.2'), buf);
    };
    const before = { ...p.b.stats.tcp! };
    inject(40000, 80, TcpFlag.FIN | TcpFlag.PSH | TcpFlag.URG, 1); // to the listener: neither SYN nor ACK
    inject(40001, 80, TcpFlag.RST, 1); // a RST to the listener
    // RCV.NXT is not public; with the seeded ISNs of this pair, 0x80000000 lies far outside the server's window.
    inject(client.localPort, 80, TcpFlag.RST, 0x80000000);
    const s = p.b.stats.tcp!;
    expect(s.listenDrops - before.listenDrops).toBe(2);
    expect(s.rstsOutOfWindow - before.rstsOutOfWindow).toBe(1);
    expect(server!.state).toBe('ESTABLISHED');
  });
});
