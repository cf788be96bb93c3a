/**
 * The objects the data path reads on every packet stay in V8's fast-properties mode. An object literal holding an
 * accessor (`{ get x() {...} }`) is made a dictionary at once: the TCP layer's host and its connections' host were
 * such objects, and every segment looked their members up by hash (2026-12-03). The walk runs in a child Node with
 * --allow-natives-syntax (to ask V8), over two stacks with a live TCP connection and UDP sockets.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

describe('hot objects in fast-properties mode', () => {
  it('has no dictionary-mode object reachable from a stack, a TCP socket or a UDP socket', () => {
    const script = fileURLToPath(new URL('./fixtures/slow-objects.ts', import.meta.url));
    const r = spawnSync(process.execPath, ['--allow-natives-syntax', '--import', 'tsx', script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { visited: number; hosts: string[]; slow: string[] };
    // The walk really reached the stack's insides: the TCP layer's host and a connection's.
    expect(out.visited).toBeGreaterThan(100);
    expect(out.hosts.length).toBe(2);
    expect(out.slow).toEqual([]);
  });
});
