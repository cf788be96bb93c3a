/**
 * Where control sockets live: `$XDG_RUNTIME_DIR/byway/PID.sock`, else `/run/user/UID/byway/PID.sock`, else
 * `TMPDIR/byway-UID/PID.sock`. The directory is made with mode 0700 and must belong to the caller and not be a
 * symbolic link (another user could otherwise plant or read sockets there).
 */
import { lstatSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BywayError } from '../../protocols/util/errors.js';

const uid = (): number => (typeof process.getuid === 'function' ? process.getuid() : 0);

export function runtimeDir(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const xdg = env['XDG_RUNTIME_DIR'];
  if (xdg) return join(xdg, 'byway');
  const run = `/run/user/${uid()}`;
  if (existsSync(run)) return join(run, 'byway');
  return join(tmpdir(), `byway-${uid()}`);
}

export function controlPath(pid: number, env?: Readonly<Record<string, string | undefined>>): string {
  return join(runtimeDir(env), `${pid}.sock`);
}

/** Make the runtime directory (0700) and check it is ours. */
export function ensureRuntimeDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.isSymbolicLink()) throw new BywayError('ERR_CONTROL_DIR', `${dir} is not a directory`);
  if (st.uid !== uid()) throw new BywayError('ERR_CONTROL_DIR', `${dir} belongs to uid ${st.uid}, not to this user (${uid()})`);
  if ((st.mode & 0o077) !== 0) throw new BywayError('ERR_CONTROL_DIR', `${dir} is open to other users (mode ${(st.mode & 0o777).toString(8)}); want 700`);
}
