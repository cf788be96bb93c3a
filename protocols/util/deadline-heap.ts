/**
 * A binary min-heap of (deadline, item) pairs for timer tables with lazy deletion: the owner pushes an entry when a
 * deadline moves earlier, never removes one, and drops the entries that have gone stale (the item's deadline moved
 * or the item is gone) when they reach the top; `takeAll` lets it rebuild the heap when stale entries pile up.
 * Deadlines live in a Float64Array (no boxed numbers), items in a plain array; both grow by doubling and are not
 * shrunk. Nothing is allocated per push or pop once grown. Used by the TCP layer (connections) and the TIME-WAIT
 * table (record slots).
 */
export class DeadlineHeap<T> {
  private at = new Float64Array(16);
  private items: (T | undefined)[] = [];
  private n = 0;

  get length(): number {
    return this.n;
  }

  /** The earliest deadline (only when length > 0). */
  get topAt(): number {
    return this.at[0]!;
  }

  /** The item of the earliest deadline (only when length > 0). */
  get top(): T {
    return this.items[0]!;
  }

  push(at: number, item: T): void {
    if (this.n === this.at.length) {
      const a = new Float64Array(this.at.length * 2);
      a.set(this.at);
      this.at = a;
    }
    const A = this.at;
    const I = this.items;
    let i = this.n++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (A[p]! <= at) break;
      A[i] = A[p]!;
      I[i] = I[p];
      i = p;
    }
    A[i] = at;
    I[i] = item;
  }

  /** Remove the top entry (only when length > 0). */
  pop(): void {
    const A = this.at;
    const I = this.items;
    const n = --this.n;
    const lastAt = A[n]!;
    const lastItem = I[n];
    I[n] = undefined; // the heap holds no reference to what it no longer files
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const m = r < n && A[r]! < A[l]! ? r : l;
      if (A[m]! >= lastAt) break;
      A[i] = A[m]!;
      I[i] = I[m];
      i = m;
    }
    A[i] = lastAt;
    I[i] = lastItem;
  }

  /** Empty the heap, returning the items it filed (stale ones included, in no order) for a rebuild. */
  takeAll(): T[] {
    const out = this.items.slice(0, this.n) as T[];
    this.items = [];
    this.n = 0;
    return out;
  }
}
