/**
 * The V8 flag `byway run` gives a Node program it starts: `--initial-old-space-size=64` (MiB).
 *
 * Why: a byway receiver hands every 'data' chunk out as a view of a fresh 64 KiB slab (the user may keep it), as
 * node:net gives each read a fresh buffer. V8 counts such ArrayBuffers against the old generation's limit until a
 * scavenge frees them, and in a heap of about 8-12 MB (a small service with byway loaded) that limit leaves room for
 * only a few MB of them: receiving at Gbit/s then starts a mark-compact every 10-40 MB (47-89 per GB received, a
 * third of a bulk receiver's time: docs/performance-targets.md, "Bulk receive through the API: the collector and
 * cold slabs"). A larger initial old-generation size removes that (0-1 per 2 GB in bench/gc-external.mjs). The flag
 * is refused in NODE_OPTIONS and has no effect set at run time (`v8.setFlagsFromString`), so only the command line
 * can carry it: `byway run` adds it when the command is Node itself and the program sets no heap size of its own.
 *
 * Off with `BYWAY_HEAP=off` (`--no-heap-flag`). A program started through a shell, npm or another launcher does not
 * get it (the launcher's Node would, not the program's); such a program can pass the flag itself.
 */
import { basename } from 'node:path';

export const HEAP_FLAG = '--initial-old-space-size=64';

/** A heap-size flag of the program's own (any spelling Node accepts: `-` or `_`, `=value` or a separate value). */
const OWN = /^--(initial|max)[-_](old[-_]space|heap|semi[-_]space)[-_]size\b/;

/** Is `command` Node itself (a `node`, `nodejs`, `node20`... on the PATH, or this Node's own path)? */
export function isNode(command: string, execPath: string): boolean {
  return command === execPath || /^node(js)?\d*$/.test(basename(command));
}

/**
 * The program's arguments with the heap flag first, or as they are: when the command is not Node, when `env`
 * turns it off (`BYWAY_HEAP=off`), or when the program's arguments or NODE_OPTIONS already size the heap.
 */
export function withHeapFlag(command: string, args: readonly string[], env: Readonly<Record<string, string | undefined>>, execPath: string): string[] {
  if (env['BYWAY_HEAP'] === 'off' || !isNode(command, execPath)) return [...args];
  const own = (a: string) => OWN.test(a);
  // Anywhere in the arguments (a program's own argument of that spelling is unlikely; a heap flag of Node's missed
  // would be worse: the program's limit must win).
  if (args.some(own) || (env['NODE_OPTIONS'] ?? '').split(/\s+/).some(own)) return [...args];
  return [HEAP_FLAG, ...args];
}
