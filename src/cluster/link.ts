/**
 * The link between `byway run --workers N` (the supervisor, processes.ts) and each worker process's preload
 * (src/register/member.ts): one Unix stream socket per worker, in the user's 0700 runtime directory, carrying
 * messages framed as `u32 length (big-endian, of what follows) | u8 type | payload`:
 *
 *   hello    worker -> supervisor  JSON { index, pid, control }: the worker's socket has joined the fanout group
 *   arp      both ways             an ARP frame: the ARP owner's to relay, or one relayed to a worker
 *   program  supervisor -> worker  a fanout steering program to install for the group (PACKET_FANOUT_DATA)
 *   role     supervisor -> worker  one byte: 1 answer ARP for the address, 0 stop answering
 *   serving  worker -> supervisor  (empty) the program listens now: its share of the clients may come to it
 *   hop      both ways             a frame for another worker's ephemeral slice (AF_XDP: the device picked its queue)
 *   orphan   worker -> supervisor  shared-address AF_XDP: u32 address, u16 port, u8 protocol (big-endian): a flow
 *                                  no worker holds now whose reservation another process owns (flow-table.ts)
 *   unreserve supervisor -> worker i32 (big-endian): close that reservation descriptor of yours
 *   adopt    worker -> supervisor  as orphan: this worker now holds a flow whose reservation another worker's
 *                                  descriptor is; the supervisor takes a copy of it (flow-table.ts adoptReservation)
 *   stray    both ways             a TCP segment for no connection its worker holds, as an IPv4 frame: to the
 *                                  supervisor u64 tried (big-endian, a bit per worker index) | frame; to a worker
 *                                  u8 final | u64 tried | frame: take it, and if you do not hold its flow either,
 *                                  pass it on (final 0) or answer it as a stack does (final 1; plan.ts strayNext)
 *   halfopen both ways             to a worker, empty: the service table changed, list your half-open connections
 *                                  on service ports; from a worker, that list (strays.ts HalfOpens records); to a
 *                                  worker, u8 holder | another worker's list: send their SYNs to it as strays
 *
 * `LinkReader` takes the stream in chunks of any size. What it cannot read (a length over `MAX_MESSAGE`, an
 * unknown type, a hello that is not the JSON above) is counted in `malformed` and ends the reading (`broken`):
 * the caller closes the connection. Nothing here throws on input. Ownership: a payload handed to `onMessage` is a
 * fresh copy the receiver may keep.
 */

export const MsgType = { hello: 1, arp: 2, program: 3, role: 4, serving: 5, hop: 6, orphan: 7, unreserve: 8, adopt: 9, stray: 10, halfopen: 11 } as const;
export type MsgType = (typeof MsgType)[keyof typeof MsgType];

/** Larger than any frame or steering program (a classic BPF program is at most 4096 x 8 bytes). */
export const MAX_MESSAGE = 64 * 1024;

export interface Hello {
  readonly index: number;
  readonly pid: number;
  /** The worker's control socket (for `byway stat` on the supervisor), or null without one. */
  readonly control: string | null;
}

/** One framed message. */
export function encodeMessage(type: MsgType, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + payload.length);
  const n = payload.length + 1;
  out[0] = n >>> 24;
  out[1] = (n >>> 16) & 0xff;
  out[2] = (n >>> 8) & 0xff;
  out[3] = n & 0xff;
  out[4] = type;
  out.set(payload, 5);
  return out;
}

export function encodeHello(h: Hello): Uint8Array {
  return encodeMessage(MsgType.hello, new TextEncoder().encode(JSON.stringify(h)));
}

/** The hello's fields, or undefined when the payload is not one. */
export function decodeHello(payload: Uint8Array): Hello | undefined {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(payload));
  } catch {
    return undefined;
  }
  const h = v as Partial<Hello> | null;
  if (h === null || typeof h !== 'object') return undefined;
  if (!Number.isInteger(h.index) || (h.index as number) < 0 || !Number.isInteger(h.pid) || (h.pid as number) <= 0) return undefined;
  if (h.control !== null && typeof h.control !== 'string') return undefined;
  return { index: h.index as number, pid: h.pid as number, control: h.control };
}

const KNOWN = new Set<number>(Object.values(MsgType));

export class LinkReader {
  malformed = 0;
  broken = false;
  private buf = new Uint8Array(0);

  constructor(private readonly onMessage: (type: MsgType, payload: Uint8Array) => void) {}

  /** Feed the next chunk of the stream; complete messages go to `onMessage` in order. */
  push(chunk: Uint8Array): void {
    if (this.broken) return;
    const all = new Uint8Array(this.buf.length + chunk.length);
    all.set(this.buf);
    all.set(chunk, this.buf.length);
    let at = 0;
    while (all.length - at >= 4) {
      const n = ((all[at]! << 24) | (all[at + 1]! << 16) | (all[at + 2]! << 8) | all[at + 3]!) >>> 0;
      if (n < 1 || n > MAX_MESSAGE + 1) return this.fail();
      if (all.length - at < 4 + n) break;
      const type = all[at + 4]!;
      if (!KNOWN.has(type)) return this.fail();
      const payload = all.slice(at + 5, at + 4 + n);
      at += 4 + n;
      this.onMessage(type as MsgType, payload);
      if (this.broken) return;
    }
    this.buf = all.slice(at);
  }

  /** Mark the stream unreadable (also for a message the caller finds malformed, such as a bad hello). */
  fail(): void {
    this.malformed++;
    this.broken = true;
    this.buf = new Uint8Array(0);
  }
}
