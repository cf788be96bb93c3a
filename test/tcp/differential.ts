/**
 * The differential method of test/tcp/send-one.test.ts and test/tcp/predicted.test.ts: a shortcut of the TCP core
 * (a method that returns true when it handled the case itself) is run once as the stack runs it and once refused
 * every time, and the two runs must put the same segments on the wire at the same times and leave the same state.
 */
import { expect } from 'vitest';
import type { Tester } from './fixtures.js';

/** What one run saw: the segments the peer received (with the virtual time), a state snapshot per mark, and how often the shortcut answered. */
export interface DiffRun {
  wire: string[];
  state: unknown[];
  answered: number;
}

/**
 * Replace `owner[name]` (a shortcut) by one that counts its answers (`enabled`) or declines every time; the run
 * `answered()` reads the count.
 */
export function shimShortcut(owner: object, name: string, enabled: boolean): { answered: () => number } {
  const o = owner as Record<string, (...args: unknown[]) => boolean>;
  const own = o[name]!.bind(owner);
  let n = 0;
  o[name] = enabled
    ? (...args) => {
        const r = own(...args);
        if (r) n++;
        return r;
      }
    : () => false;
  return { answered: () => n };
}

/** A run's record: `mark()` takes what the peer received since the last mark and a snapshot. */
export function recorder(t: Tester, snapshot: () => unknown[]): { run: DiffRun; mark: () => void } {
  const run: DiffRun = { wire: [], state: [], answered: 0 };
  const mark = (): void => {
    for (const s of t.recvAll()) run.wire.push(`${t.now} ${JSON.stringify({ ...s, payload: Array.from(s.payload) })}`);
    run.state.push(snapshot());
  };
  return { run, mark };
}

/** The run with the shortcut and the one without: the same wire and the same states; returns how often it answered. */
export function expectSameRuns(withShortcut: DiffRun, without: DiffRun): number {
  expect(withShortcut.wire).toEqual(without.wire);
  expect(withShortcut.state).toEqual(without.state);
  return withShortcut.answered;
}
