/**
 * The module `byway/register` names: runs the preload once, at import, for the whole process. A problem ends the
 * process (exit 1) with one line on stderr that names it. Child processes do not inherit the preload from
 * `byway run` (see below); one started with `node --import byway/register` in NODE_OPTIONS by hand does.
 */
import { register, whenAddressesUsable } from './index.js';

// Set by `byway run`: the --import options it added to NODE_OPTIONS. Taken out again so that child processes of
// the program (which inherit the environment) do not each open a stack on the same interface and address.
const added = process.env['BYWAY_PRELOAD'];
if (added !== undefined) {
  const rest = (process.env['NODE_OPTIONS'] ?? '').replace(added, '').trim();
  if (rest === '') delete process.env['NODE_OPTIONS'];
  else process.env['NODE_OPTIONS'] = rest;
  delete process.env['BYWAY_PRELOAD'];
}

let registered: ReturnType<typeof register> | undefined;
try {
  registered = register();
} catch (err) {
  process.stderr.write(`byway: ${(err as Error).message}\n`);
  process.exit(1);
}
// The program starts once byway's own IPv6 addresses have passed duplicate address detection (about 1-2 s with an
// IPv6 --address; at once without one, or with the kernel's shared addresses): until then a tentative address is
// no source, and a connect over IPv6 would fail ENETUNREACH.
if (registered !== undefined) await whenAddressesUsable(registered.stack, 10_000, (l) => process.stderr.write(l + '\n'));
