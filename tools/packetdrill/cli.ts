/**
 * `npm run packetdrill -- [--json FILE] [--verbose] [--report] PATH...`: runs packetdrill scripts (files, or folders
 * searched for *.pkt) against byway on the virtual clock. One line per script, PASS or FAIL with the first
 * mismatch, then `N passed, M failed`; exit status 1 when a script failed, unless --report.
 */
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { runScript, type ScriptResult } from './executor.js';

export function findScripts(paths: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (p: string): void => {
    if (statSync(p).isDirectory()) {
      for (const name of readdirSync(p).sort()) walk(join(p, name));
    } else if (p.endsWith('.pkt')) out.push(p);
  };
  for (const p of paths) walk(p);
  return out;
}

export function runFile(path: string, log?: (line: string) => void): ScriptResult {
  return runScript(readFileSync(path, 'utf8'), log ? { log } : {});
}

export function formatResult(name: string, r: ScriptResult): string {
  if (r.pass) return `PASS ${name}`;
  const where = r.line !== undefined ? `:${r.line}` : '';
  const when = r.time !== undefined ? ` (t=${r.time.toFixed(6)})` : '';
  return `FAIL ${name}${where}: ${r.message ?? ''}${when}`;
}

export function main(argv: string[]): number {
  let json: string | undefined;
  let verbose = false;
  let report = false;
  const paths: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--json') json = argv[++i];
    else if (a === '--verbose') verbose = true;
    else if (a === '--report') report = true;
    else if (a.startsWith('--')) {
      console.error(`unknown option ${a}`);
      return 2;
    } else paths.push(a);
  }
  if (paths.length === 0) {
    console.error('usage: npm run packetdrill -- [--json FILE] [--verbose] [--report] PATH...');
    return 2;
  }
  const files = findScripts(paths);
  const results: Array<{ script: string } & ScriptResult> = [];
  let passed = 0;
  for (const f of files) {
    const name = relative(process.cwd(), f);
    const r = runFile(f, verbose ? (line) => console.log(`  ${line}`) : undefined);
    if (r.pass) passed++;
    results.push({ script: name, ...r });
    console.log(formatResult(name, r));
  }
  const failed = files.length - passed;
  console.log(`${passed} passed, ${failed} failed`);
  if (json) writeFileSync(json, JSON.stringify({ passed, failed, results }, null, 2) + '\n');
  return failed > 0 && !report ? 1 : 0;
}
