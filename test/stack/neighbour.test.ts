import { describe, expect, it } from 'vitest';
import { NeighbourCache, type NeighbourHost } from '../../src/stack/neighbour.js';

const MAC_A = new Uint8Array([2, 0, 0, 0, 0, 0xa]);
const MAC_B = new Uint8Array([2, 0, 0, 0, 0, 0xb]);

function host() {
  const requests: Array<[number, number]> = [];
  const sent: Array<[number, Uint8Array, Uint8Array]> = [];
  const h: NeighbourHost = {
    sendRequest: (now, ip) => requests.push([now, ip]),
    sendResolved: (now, frame, mac) => sent.push([now, frame, mac.slice()]),
  };
  return { h, requests, sent };
}

describe('NeighbourCache', () => {
  it('queues packets while resolving and sends them, in order, once the reply comes', () => {
    const { h, requests, sent } = host();
    const c = new NeighbourCache(h);
    expect(c.enqueue(0, 5, { frame: new Uint8Array([1]) })).toBe(true);
    expect(c.enqueue(10, 5, { frame: new Uint8Array([2]) })).toBe(true);
    expect(requests).toEqual([[0, 5]]); // one request for both packets
    expect(c.learn(20, 5, MAC_A, true, false)).toBe(true);
    expect(sent.map(([, f]) => f[0])).toEqual([1, 2]);
    expect(sent[0]![2]).toEqual(MAC_A);
    expect(c.lookup(20, 5)).toEqual(MAC_A);
    expect(c.queuedBytes).toBe(0);
  });

  it('retries every retransmitMs, then fails the queued packets', () => {
    const { h, requests } = host();
    const c = new NeighbourCache(h, { retransmitMs: 500, maxRequests: 4 });
    let unreachable = 0;
    c.enqueue(0, 9, { frame: new Uint8Array(10), onUnreachable: () => unreachable++ });
    for (let t = 0; t <= 3000; t += 100) {
      if ((c.pollAt() ?? Infinity) <= t) c.poll(t);
    }
    expect(requests.map(([t]) => t)).toEqual([0, 500, 1000, 1500]);
    expect(unreachable).toBe(1);
    expect(c.size).toBe(0);
    expect(c.stats.failed).toBe(1);
  });

  it('answers repeated lookups of one address with its entry as it is now (expiry, delete, static, a new MAC, eviction)', () => {
    // lookup keeps the last entry it found: every change of that entry, or its removal, must show at once.
    const { h } = host();
    const c = new NeighbourCache(h, { reachableMs: 1000, maxEntries: 2 });
    c.learn(0, 7, MAC_A, true, true);
    expect(c.lookup(1, 7)).toEqual(MAC_A);
    expect(c.lookup(2, 7)).toEqual(MAC_A);
    c.learn(3, 7, MAC_B, false, false); // the merge rule updates it in place
    expect(c.lookup(4, 7)).toEqual(MAC_B);
    expect(c.lookup(1003, 7)).toBeUndefined(); // expired (learned at 3)
    expect(c.lookup(1004, 7)).toBeUndefined();
    c.learn(1005, 7, MAC_A, true, true);
    expect(c.lookup(1006, 7)).toEqual(MAC_A);
    c.delete(7);
    expect(c.lookup(1007, 7)).toBeUndefined();
    c.learn(1008, 7, MAC_A, true, true);
    expect(c.lookup(1009, 7)).toEqual(MAC_A);
    c.addStatic(7, MAC_B); // replaces the learned entry
    expect(c.lookup(1_000_000, 7)).toEqual(MAC_B);
    // Another address in between, then a third one evicting the oldest reachable entry (8): 7 is static and stays.
    c.learn(1010, 8, MAC_A, true, true);
    expect(c.lookup(1011, 8)).toEqual(MAC_A);
    c.learn(1012, 9, MAC_B, true, true);
    expect(c.lookup(1013, 8)).toBeUndefined();
    expect(c.lookup(1014, 7)).toEqual(MAC_B);
    expect(c.lookup(1015, 9)).toEqual(MAC_B);
    c.learnFromHost(1016, 9, null); // the host forgot it
    expect(c.lookup(1017, 9)).toBeUndefined();
  });

  it('expires reachable entries after reachableMs', () => {
    const { h } = host();
    const c = new NeighbourCache(h, { reachableMs: 1000 });
    c.learn(0, 7, MAC_A, true, true);
    expect(c.lookup(999, 7)).toEqual(MAC_A);
    expect(c.lookup(1000, 7)).toBeUndefined();
    expect(c.stats.expired).toBe(1);
  });

  it('updates an existing entry from any ARP packet but creates one only from a request to us (RFC 826)', () => {
    const { h } = host();
    const c = new NeighbourCache(h);
    expect(c.learn(0, 1, MAC_A, true, false)).toBe(false); // unsolicited reply
    expect(c.learn(0, 1, MAC_A, false, true)).toBe(false); // a request for someone else
    expect(c.size).toBe(0);
    expect(c.learn(0, 1, MAC_A, true, true)).toBe(true);
    expect(c.learn(5, 1, MAC_B, false, true)).toBe(true); // existing entry: merge
    expect(c.lookup(5, 1)).toEqual(MAC_B);
  });

  it('never lets a static entry be overwritten', () => {
    const { h } = host();
    const c = new NeighbourCache(h);
    c.addStatic(3, MAC_A);
    expect(c.learn(0, 3, MAC_B, true, true)).toBe(false);
    expect(c.lookup(1e12, 3)).toEqual(MAC_A);
  });

  it('bounds the table, evicting the oldest non-static entry', () => {
    const { h } = host();
    const c = new NeighbourCache(h, { maxEntries: 3 });
    c.addStatic(100, MAC_A);
    for (let ip = 1; ip <= 50; ip++) c.learn(ip, ip, MAC_B, true, true);
    expect(c.size).toBe(3);
    expect(c.lookup(50, 100)).toEqual(MAC_A);
    expect(c.lookup(50, 50)).toEqual(MAC_B);
    expect(c.lookup(50, 49)).toEqual(MAC_B);
    expect(c.lookup(50, 1)).toBeUndefined();
    expect(c.stats.evicted).toBe(48);
  });

  it('bounds the queue per address and in total', () => {
    const { h } = host();
    const c = new NeighbourCache(h, { maxQueuedPackets: 2, maxQueuedBytes: 2500 });
    expect(c.enqueue(0, 1, { frame: new Uint8Array(1000) })).toBe(true);
    expect(c.enqueue(0, 1, { frame: new Uint8Array(1000) })).toBe(true);
    expect(c.enqueue(0, 1, { frame: new Uint8Array(10) })).toBe(false); // per address
    expect(c.enqueue(0, 2, { frame: new Uint8Array(1000) })).toBe(false); // total bytes
    expect(c.enqueue(0, 2, { frame: new Uint8Array(400) })).toBe(true);
    expect(c.queuedBytes).toBe(2400);
    expect(c.stats.queueDrops).toBe(2);
  });
});

describe('NeighbourCache static entries', () => {
  it('sends what was waiting when a static entry resolves it', () => {
    const { h, sent } = host();
    const c = new NeighbourCache(h);
    c.enqueue(0, 4, { frame: new Uint8Array([9]) });
    c.addStatic(4, MAC_A);
    expect(sent.map(([, f, m]) => [f[0], m[5]])).toEqual([[9, 0xa]]);
    expect(c.pollAt()).toBeUndefined(); // nothing unresolved is left to wake for
    expect(c.queuedBytes).toBe(0);
  });
});

describe('NeighbourCache under more unresolved addresses than entries', () => {
  it('asks each address at most once per retransmitMs even when its entry was evicted in between', () => {
    const { h, requests } = host();
    const c = new NeighbourCache(h, { maxEntries: 4, retransmitMs: 1000 });
    // 40 packets to 20 addresses within 10 ms: the table churns, but each address is asked once.
    for (let i = 0; i < 40; i++) c.enqueue(i / 4, 100 + (i % 20), { frame: new Uint8Array(1) });
    expect(c.size).toBe(4);
    expect(requests).toHaveLength(20);
    expect(new Set(requests.map(([, ip]) => ip)).size).toBe(20);
    expect(c.stats.requestsDeferred).toBe(20); // every second-round packet found its entry evicted
    // A second later the addresses may be asked again.
    c.enqueue(1000, 100, { frame: new Uint8Array(1) });
    expect(requests.filter(([, ip]) => ip === 100)).toHaveLength(2);
  });
});

describe('NeighbourCache eviction order', () => {
  it('evicts unresolved entries before reachable ones', () => {
    const { h } = host();
    const c = new NeighbourCache(h, { maxEntries: 3 });
    c.learn(0, 1, MAC_A, true, true); // a neighbour in use
    for (let ip = 10; ip < 60; ip++) c.enqueue(ip, ip, { frame: new Uint8Array(1) }); // 50 that never answer
    expect(c.lookup(60, 1)).toEqual(MAC_A);
    expect(c.size).toBe(3);
  });
});
