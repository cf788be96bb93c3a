/**
 * What keeps the process alive, as node:net and node:dgram would: each case runs in its own Node process (the
 * event loop's liveness cannot be seen from inside vitest's worker) and prints what it saw before exiting. A
 * process that is held open by nothing exits on its own; one held open wrongly is killed by the bound and fails.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const prelude = `
import { createStack } from ${JSON.stringify(join(repo, 'src/api/stack.ts'))};
import { memoryLink } from ${JSON.stringify(join(repo, 'drivers/memory/index.ts'))};
const [da, db] = memoryLink();
const a = createStack({ driver: da, address: '10.0.0.1/24' });
`;

/** Run `body` (after the prelude) in a fresh process; returns its stdout lines and exit status. */
function run(body: string): { lines: string[]; status: number | null; signal: string | null } {
  const dir = mkdtempSync(join(tmpdir(), 'byway-lifecycle-'));
  try {
    const file = join(dir, 'case.mts');
    writeFileSync(file, prelude + body);
    // The bound only catches a process held open wrongly; every case here ends well within it.
    const r = spawnSync(process.execPath, ['--import', 'tsx', file], { cwd: repo, encoding: 'utf8', timeout: 20_000 });
    return { lines: r.stdout.split('\n').filter(Boolean), status: r.status, signal: r.signal };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('what keeps the process alive', () => {
  it('a stack with nothing active does not; a pending ping does, until it settles', () => {
    const r = run(`
a.ping('10.0.0.2', { timeoutMs: 300 }).then(() => console.log('reply'), (e) => console.log('ping', e.code));
process.on('exit', () => console.log('exit'));
`);
    expect(r.signal).toBeNull();
    expect(r.lines).toEqual(['ping ETIMEDOUT', 'exit']);
  });

  it('a listening server does; stack.unref() lets the process exit anyway, stack.ref() undoes it', () => {
    const r = run(`
const server = a.net.createServer().listen(80, '10.0.0.1', () => {
  console.log('listening');
  // An unref'd timer runs only if something else holds the process: here the listening server.
  setTimeout(() => {
    console.log('still alive');
    a.unref();
    a.ref();
    a.unref();
    // Held open by nothing else now: exits although the server still listens.
    process.on('exit', () => console.log('exit while listening', server.listening));
  }, 200).unref();
});
`);
    expect(r.signal).toBeNull();
    expect(r.lines).toEqual(['listening', 'still alive', 'exit while listening true']);
  });

  it('a bound dgram socket does, until closed; an unbound one and a never-connected net.Socket do not', () => {
    const r = run(`
new (a.net.Socket)().end();
a.dgram.createSocket('udp4');
const bound = a.dgram.createSocket('udp4').bind(5000, () => {
  console.log('bound');
  setTimeout(() => bound.close(() => console.log('closed')), 200).unref();
});
process.on('exit', () => console.log('exit'));
`);
    expect(r.signal).toBeNull();
    expect(r.lines).toEqual(['bound', 'closed', 'exit']);
  });

  it('a connected socket that is reading does; once both sides have ended, nothing does', () => {
    const r = run(`
const b = createStack({ driver: db, address: '10.0.0.2/24' });
b.net.createServer((s) => { s.on('data', () => {}); s.on('end', () => { console.log('server end'); s.end(); }); }).listen(80).unref();
const c = a.net.createConnection(80, '10.0.0.2', () => {
  console.log('connected');
  setTimeout(() => c.end(), 200).unref(); // runs only if the reading client holds the process
});
c.on('data', () => {});
c.on('close', () => console.log('client close'));
process.on('exit', () => console.log('exit'));
`);
    expect(r.signal).toBeNull();
    expect(r.lines).toEqual(['connected', 'server end', 'client close', 'exit']);
  });
  it('a socket whose write fails (the peer reset it) keeps nothing alive', () => {
    const r = run(`
const b = createStack({ driver: db, address: '10.0.0.2/24' });
const srv = b.net.createServer((s) => s.resetAndDestroy()).listen(80);
srv.unref();
const c = a.net.createConnection(80, '10.0.0.2');
c.on('data', () => {});
c.on('error', (e) => console.log('error ' + e.code));
c.on('close', () => {
  console.log('client close');
  c.write('late', (e) => console.log('write callback ' + (e ? e.code : 'ok')));
});
// Writing until the reset arrives: each write's callback schedules the next (no timer, no waiting on the clock).
const pump = () => { if (!c.destroyed) c.write('x', (e) => { if (!e) setImmediate(pump); }); };
c.on('connect', pump);
process.on('exit', () => console.log('exit'));
`);
    expect(r.signal).toBeNull();
    expect(r.lines[0]).toBe('error ECONNRESET');
    expect(r.lines.slice(1, 2)).toEqual(['client close']);
    expect(r.lines.at(-1)).toBe('exit');
  });
  // The latency profile's busy polling (issue #15: a client under byway run --profile latency never exited).
  it('busy polling holds the process only while something is active, as event mode does', () => {
    const r = run(`
const [d1, d2] = memoryLink();
const x = createStack({ driver: d1, address: '10.0.0.1/24', pollMode: 'busy' });
const y = createStack({ driver: d2, address: '10.0.0.2/24', pollMode: 'busy' });
y.net.createServer((s) => { s.on('data', () => {}); s.on('end', () => { console.log('server end'); s.end(); }); }).listen(80).unref();
const c = x.net.createConnection(80, '10.0.0.2', () => {
  console.log('connected');
  setTimeout(() => c.end(), 200).unref(); // runs only if the reading client holds the process
});
c.on('data', () => {});
c.on('close', () => console.log('client close'));
process.on('exit', () => console.log('exit'));
`);
    expect(r.signal).toBeNull();
    expect(r.lines).toEqual(['connected', 'server end', 'client close', 'exit']);
  });
});
