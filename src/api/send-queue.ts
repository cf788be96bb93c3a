/**
 * The datagrams a dgram Socket's send() has accepted but not yet handed to the core (they wait for the next tick,
 * as node:dgram's wait for their address lookup). Parallel arrays whose slots are reused from send to send, so a
 * steady ping-pong queues and drains without allocating; references are cleared as slots are taken, so a sent
 * message is not kept alive by the queue.
 */
export type SendCallback = (error: Error | null, bytes: number) => void;

export class SendQueue {
  private readonly data: (Uint8Array | undefined)[] = [];
  private readonly ip: number[] = [];
  /** An IPv6 destination (then `ip` is 0), kept apart so IPv4's array stays one of numbers. */
  private readonly ip6: (Uint8Array | undefined)[] = [];
  /** 0 for a connected socket's send (no destination given); a destination port is never 0. */
  private readonly port: number[] = [];
  private readonly cb: (SendCallback | undefined)[] = [];
  private head = 0;
  private tail = 0;
  /** Payload bytes queued (node:dgram's getSendQueueSize). */
  bytes = 0;

  get length(): number {
    return this.tail - this.head;
  }

  push(data: Uint8Array, ip: number, port: number, cb: SendCallback | undefined, ip6?: Uint8Array): void {
    const i = this.tail++;
    this.data[i] = data;
    this.ip[i] = ip;
    this.ip6[i] = ip6;
    this.port[i] = port;
    this.cb[i] = cb;
    this.bytes += data.length;
  }

  /**
   * Hand the first `count` queued sends to `send`, oldest first; sends queued meanwhile (from a callback) stay for
   * the next drain.
   */
  drain(count: number, send: (data: Uint8Array, ip: number, port: number, cb: SendCallback | undefined, ip6: Uint8Array | undefined) => void): void {
    for (let k = 0; k < count && this.head < this.tail; k++) {
      const i = this.head++;
      const data = this.data[i]!;
      const ip = this.ip[i]!;
      const port = this.port[i]!;
      const cb = this.cb[i];
      const ip6 = this.ip6[i];
      this.data[i] = undefined;
      this.cb[i] = undefined;
      this.ip6[i] = undefined;
      this.bytes -= data.length;
      if (this.head === this.tail) this.head = this.tail = 0;
      send(data, ip, port, cb, ip6);
    }
  }

  clear(): void {
    for (let i = this.head; i < this.tail; i++) {
      this.data[i] = undefined;
      this.cb[i] = undefined;
      this.ip6[i] = undefined;
    }
    this.head = this.tail = 0;
    this.bytes = 0;
  }
}
