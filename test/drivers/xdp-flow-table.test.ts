/**
 * The shared flow map's bookkeeping (drivers/af-xdp/flow-table.ts) over an in-memory map: one entry and one
 * reservation per port whoever claims it, the last holder's release (or the primary dropping a dead holder)
 * giving it back, and the lock a dead holder kept freed by the primary. The real map: test/cluster/cluster-xdp-shared.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PRIMARY_HOLDER, SharedFlows, adoptReservation, atomicsLock, dropHolder, finishOrphan, flowHolders, flowReservation, mapLock, withFlowLock, type FlowMapAccess } from '../../drivers/af-xdp/flow-table.js';

const ADDR = 0x0a000002;

function memoryMap(): FlowMapAccess & { entries: Map<string, Uint8Array>; insert(a: number, p: number, port: number, v: Uint8Array): boolean } {
  const entries = new Map<string, Uint8Array>();
  const k = (a: number, p: number, port: number): string => `${a}/${p}/${port}`;
  return {
    entries,
    get: (a, p, port) => entries.get(k(a, p, port))?.slice(),
    put: (a, p, port, v) => void entries.set(k(a, p, port), v.slice()),
    insert: (a, p, port, v) => !entries.has(k(a, p, port)) && !!entries.set(k(a, p, port), v.slice()),
    remove: (a, p, port) => void entries.delete(k(a, p, port)),
    list: () =>
      [...entries].map(([key, value]) => {
        const [address, protocol, port] = key.split('/').map(Number) as [number, number, number];
        return { address, protocol, port, value: value.slice() };
      }),
  };
}

/** A kernel of reservations: a port is free or held by one descriptor. */
function kernel(): { reserve: (proto: 'tcp' | 'udp', port: number) => number; unreserve: (fd: number) => void; held: Map<string, number>; taken: Set<string> } {
  const held = new Map<string, number>();
  const taken = new Set<string>(); // ports a kernel program holds
  let next = 100;
  return {
    held,
    taken,
    reserve: (proto, port) => {
      const key = `${proto}/${port}`;
      if (held.has(key) || taken.has(key)) return -98;
      held.set(key, next);
      return next++;
    },
    unreserve: (fd) => {
      for (const [k, v] of held) if (v === fd) held.delete(k);
    },
  };
}

describe('shared flow map', () => {
  const setup = (holders: number) => {
    const map = memoryMap();
    const k = kernel();
    const buffer = new SharedArrayBuffer(4);
    const lock = atomicsLock(buffer);
    const flows = Array.from({ length: holders }, (_, holder) => new SharedFlows({ map, lock, holder, address: ADDR, reserve: k.reserve, unreserve: k.unreserve }));
    return { map, k, lock, buffer, flows };
  };

  it('a port claimed by every holder is one entry and one reservation; the last release gives it back', () => {
    const { map, k, flows } = setup(3);
    for (const f of flows) expect(f.claim({ protocol: 'tcp', port: 80 })).toBe(true);
    expect(map.entries.size).toBe(1);
    expect(k.held.size).toBe(1);
    expect(flowHolders(map.list()[0]!.value)).toEqual([0, 1, 2]);
    flows[0]!.release({ protocol: 'tcp', port: 80 });
    flows[2]!.release({ protocol: 'tcp', port: 80 });
    // The holder that reserved it has let go: the reservation stays while holder 1 listens.
    expect(k.held.size).toBe(1);
    expect(flowHolders(map.list()[0]!.value)).toEqual([1]);
    flows[1]!.release({ protocol: 'tcp', port: 80 });
    expect(map.entries.size).toBe(0);
    expect(k.held.size).toBe(0);
  });

  it('a port the kernel holds is refused, touching nothing; ICMP reserves nothing; a second claim is a misuse', () => {
    const { map, k, flows } = setup(2);
    k.taken.add('udp/53');
    expect(flows[0]!.claim({ protocol: 'udp', port: 53 })).toBe(false);
    expect(map.entries.size).toBe(0);
    expect(flows[0]!.claim({ protocol: 'icmp', port: 49152 })).toBe(true);
    expect(k.held.size).toBe(0);
    expect(() => flows[0]!.claim({ protocol: 'icmp', port: 49152 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
    expect(() => flows[0]!.claim({ protocol: 'tcp', port: 0 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });

  it("dropping a dead holder frees the lock it kept, releases its own flows and keeps the shared ones", () => {
    const { map, k, lock, buffer, flows } = setup(2);
    flows[0]!.claim({ protocol: 'tcp', port: 80 });
    flows[1]!.claim({ protocol: 'tcp', port: 80 });
    flows[1]!.claim({ protocol: 'tcp', port: 60000 });
    Atomics.store(new Int32Array(buffer), 0, 2); // holder 1 died inside its critical section
    expect(dropHolder(map, lock, 1, { unreserve: k.unreserve, timeoutMs: 100 })).toEqual({ released: 1, kept: 1, reserved: 0, lost: [] });
    expect(Atomics.load(new Int32Array(buffer), 0)).toBe(0);
    expect([...k.held.keys()]).toEqual(['tcp/80']);
    expect(flowHolders(map.list()[0]!.value)).toEqual([0]);
    // A lock another live holder keeps is waited for, then given up on with a code.
    Atomics.store(new Int32Array(buffer), 0, 1);
    expect(() => withFlowLock(lock, 1, 30, () => 0)).toThrow(expect.objectContaining({ code: 'ERR_XDP_FLOW' }));
  });

  it('under any order of claims and releases, an entry and a reservation exist exactly while someone holds the port', () => {
    const op = fc.record({ holder: fc.integer({ min: 0, max: 3 }), port: fc.constantFrom(80, 443, 50000), claim: fc.boolean() });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), fc.integer({ min: 0, max: 3 }), (ops, dead) => {
        const { map, k, lock, flows } = setup(4);
        const holds = new Map<number, Set<number>>([80, 443, 50000].map((p) => [p, new Set<number>()]));
        for (const o of ops) {
          const mine = holds.get(o.port)!;
          if (o.claim && !mine.has(o.holder)) {
            expect(flows[o.holder]!.claim({ protocol: 'tcp', port: o.port })).toBe(true);
            mine.add(o.holder);
          } else if (!o.claim) {
            flows[o.holder]!.release({ protocol: 'tcp', port: o.port });
            mine.delete(o.holder);
          }
        }
        dropHolder(map, lock, dead, { unreserve: k.unreserve });
        for (const s of holds.values()) s.delete(dead);
        for (const [port, s] of holds) {
          const e = map.get(ADDR, 6, port);
          expect(e === undefined ? [] : flowHolders(e)).toEqual([...s].sort());
          expect(k.held.has(`tcp/${port}`)).toBe(s.size > 0);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('between processes: the map is the lock; a reservation another holder owns is orphaned, then closed by its owner', () => {
    const map = memoryMap();
    const k = kernel();
    const lock = mapLock(map);
    const orphans: number[] = [];
    const flows = [0, 1].map((holder) => new SharedFlows({ map, lock, holder, address: ADDR, ownership: 'holder', reserve: k.reserve, unreserve: k.unreserve, orphaned: (_p, port) => orphans.push(port) }));
    expect(flows[0]!.claim({ protocol: 'tcp', port: 80 })).toBe(true); // worker 0 reserves (its descriptor)
    expect(flows[1]!.claim({ protocol: 'tcp', port: 80 })).toBe(true);
    expect(map.entries.size).toBe(1); // the lock key is gone again
    expect(flowReservation(map.list()[0]!.value).owner).toBe(0);
    flows[0]!.release({ protocol: 'tcp', port: 80 }); // its descriptor stays: worker 1 still listens
    expect(k.held.size).toBe(1);
    flows[1]!.release({ protocol: 'tcp', port: 80 }); // the last holder cannot close worker 0's descriptor
    expect(orphans).toEqual([80]);
    expect(flowHolders(map.list()[0]!.value)).toEqual([]);
    const asked: Array<[number, number]> = [];
    expect(finishOrphan(map, lock, { address: ADDR, protocol: 6, port: 80 }, { unreserve: (fd, owner) => asked.push([owner, fd]) })).toBe(true);
    expect(map.entries.size).toBe(0);
    expect(asked.length).toBe(1);
    expect(flows[0]!.closeReservation(asked[0]![1])).toBe(true);
    expect(flows[0]!.closeReservation(asked[0]![1])).toBe(false);
    expect(k.held.size).toBe(0);
  });

  it('between processes: a dead owner\'s reservation for a port others hold is taken again by the primary', () => {
    const map = memoryMap();
    const k = kernel();
    const lock = mapLock(map);
    const flows = [0, 1].map((holder) => new SharedFlows({ map, lock, holder, address: ADDR, ownership: 'holder', reserve: k.reserve, unreserve: k.unreserve }));
    flows[1]!.claim({ protocol: 'udp', port: 53 });
    flows[0]!.claim({ protocol: 'udp', port: 53 });
    flows[1]!.claim({ protocol: 'tcp', port: 60000 });
    // Worker 1 dies inside its section: its descriptors close with its process.
    map.insert(0, 255, 0, new Uint8Array(Uint32Array.of(2, 0, 0, 0).buffer));
    k.held.clear();
    const r = dropHolder(map, lock, 1, { unreserve: () => expect.fail('a dead worker is not asked'), reserve: (p, port) => k.reserve(p, port), timeoutMs: 100 });
    expect(r).toEqual({ released: 1, kept: 1, reserved: 1, lost: [] });
    const e = map.get(ADDR, 17, 53)!;
    expect(flowHolders(e)).toEqual([0]);
    expect(flowReservation(e).owner).toBe(PRIMARY_HOLDER);
    expect([...k.held.keys()]).toEqual(['udp/53']);
    expect(map.get(ADDR, 6, 60000)).toBeUndefined();
  });

  it("between processes: a claim joining another worker's reservation says so; the primary adopts it, and the owner's death leaves the port reserved", () => {
    const map = memoryMap();
    const k = kernel();
    const lock = mapLock(map);
    const shared: number[][] = [[], []];
    const flows = [0, 1].map(
      (holder) => new SharedFlows({ map, lock, holder, address: ADDR, ownership: 'holder', reserve: k.reserve, unreserve: k.unreserve, shared: (_p, port) => shared[holder]!.push(port) }),
    );
    flows[0]!.claim({ protocol: 'tcp', port: 80 });
    expect(shared).toEqual([[], []]); // a port of its own: nothing to adopt
    flows[1]!.claim({ protocol: 'tcp', port: 80 });
    expect(shared).toEqual([[], [80]]);
    const ownerFd = flowReservation(map.get(ADDR, 6, 80)!).fd;
    // The primary's copy of worker 0's descriptor: one socket, two descriptors (pidfd_getfd).
    const asked: Array<[number, number]> = [];
    const take = (owner: number, fd: number): number => (owner === 0 && fd === ownerFd ? 900 : -9);
    expect(adoptReservation(map, lock, { address: ADDR, protocol: 6, port: 80 }, { take, unreserve: (fd, owner) => asked.push([owner, fd]) })).toBe('adopted');
    expect(flowReservation(map.get(ADDR, 6, 80)!)).toEqual({ fd: 900, owner: PRIMARY_HOLDER });
    expect(asked).toEqual([[0, ownerFd]]); // worker 0 closes its own copy
    expect(flows[0]!.closeReservation(ownerFd)).toBe(true);
    expect(adoptReservation(map, lock, { address: ADDR, protocol: 6, port: 80 }, { take, unreserve: () => expect.fail('adopted already') })).toBe('none');
    // Worker 0 dies: nothing to take again, worker 1 keeps the port (the primary's descriptor 900).
    const r = dropHolder(map, lock, 0, { unreserve: () => expect.fail('nothing of worker 0 to close'), reserve: () => expect.fail('nothing to reserve again') });
    expect(r).toEqual({ released: 0, kept: 1, reserved: 0, lost: [] });
    expect(flowReservation(map.get(ADDR, 6, 80)!)).toEqual({ fd: 900, owner: PRIMARY_HOLDER });
    // A dead owner cannot be adopted from: the errno comes back, the entry is untouched.
    flows[1]!.claim({ protocol: 'udp', port: 53 });
    expect(adoptReservation(map, lock, { address: ADDR, protocol: 17, port: 53 }, { take: () => -3, unreserve: () => expect.fail('not adopted') })).toBe(3);
    expect(flowReservation(map.get(ADDR, 17, 53)!).owner).toBe(1);
  });

  it('with IPv6: a claim is an entry and a reservation per family (IPv6 keyed with address 0), both or neither', () => {
    const map = memoryMap();
    const held = new Map<string, number>();
    const taken = new Set<string>(['udp/53/6']); // a kernel program holds UDP 53 over IPv6 only
    let next = 100;
    const reserve = (proto: 'tcp' | 'udp', port: number, family: 4 | 6): number => {
      const key = `${proto}/${port}/${family}`;
      if (held.has(key) || taken.has(key)) return -98;
      held.set(key, next);
      return next++;
    };
    const unreserve = (fd: number): void => {
      for (const [k, v] of held) if (v === fd) held.delete(k);
    };
    const lock = atomicsLock(new SharedArrayBuffer(4));
    const flows = [0, 1].map((holder) => new SharedFlows({ map, lock, holder, address: ADDR, ipv6: true, reserve, unreserve }));
    expect(flows[0]!.claim({ protocol: 'tcp', port: 80 })).toBe(true);
    expect(flows[1]!.claim({ protocol: 'tcp', port: 80 })).toBe(true);
    expect([...map.entries.keys()].sort()).toEqual([`0/6/80`, `${ADDR}/6/80`]);
    expect(flowHolders(map.get(0, 6, 80)!)).toEqual([0, 1]);
    expect([...held.keys()].sort()).toEqual(['tcp/80/4', 'tcp/80/6']);
    // IPv6 refused: the IPv4 half is undone, nothing stays.
    expect(flows[0]!.claim({ protocol: 'udp', port: 53 })).toBe(false);
    expect(map.get(ADDR, 17, 53)).toBeUndefined();
    expect(held.has('udp/53/4')).toBe(false);
    // ICMP: echo identifiers keyed as ICMP (1) and ICMPv6 (58), nothing reserved.
    expect(flows[0]!.claim({ protocol: 'icmp', port: 49152 })).toBe(true);
    expect(flowReservation(map.get(0, 58, 49152)!).fd).toBe(-1);
    expect(map.get(ADDR, 1, 49152)).toBeDefined();
    flows[0]!.close();
    flows[1]!.release({ protocol: 'tcp', port: 80 });
    expect(map.entries.size).toBe(0);
    expect(held.size).toBe(0);
  });

  it('between processes: a port whose dead owner\'s reservation a kernel program took meanwhile is reported lost, not silently kept', () => {
    const map = memoryMap();
    const k = kernel();
    const lock = mapLock(map);
    const flows = [0, 1].map((holder) => new SharedFlows({ map, lock, holder, address: ADDR, ownership: 'holder', reserve: k.reserve, unreserve: k.unreserve }));
    flows[0]!.claim({ protocol: 'tcp', port: 8080 });
    flows[1]!.claim({ protocol: 'tcp', port: 8080 });
    k.held.clear(); // worker 0 died before the primary adopted its reservation
    k.taken.add('tcp/8080'); // and a kernel program bound the port in the window
    const r = dropHolder(map, lock, 0, { unreserve: () => expect.fail('a dead worker is not asked'), reserve: (p, port) => k.reserve(p, port) });
    expect(r).toEqual({ released: 0, kept: 1, reserved: 0, lost: [{ protocol: 6, port: 8080, address: ADDR, errno: 98 }] });
    expect(flowReservation(map.get(ADDR, 6, 8080)!)).toEqual({ fd: -1, owner: PRIMARY_HOLDER });
  });
});
