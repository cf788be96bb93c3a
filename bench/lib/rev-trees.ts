/**
 * Source trees of git revisions for the A/B benches (bench/ab-inmemory.ts, bench/ab-inprocess.ts): each revision
 * checked out as a detached worktree under a temporary directory (`WORKTREE` names the working tree itself,
 * uncommitted changes included), a file of it bundled with esbuild, and everything removed by `close`.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export class RevTrees {
  readonly repo = resolve(import.meta.dirname, '..', '..');
  readonly tmp = mkdtempSync(join(tmpdir(), 'byway-ab-'));
  private readonly made: string[] = [];
  private readonly esbuild = join(this.repo, 'node_modules', '.bin', 'esbuild');

  private git(...args: string[]): string {
    return execFileSync('git', ['-C', this.repo, ...args], { encoding: 'utf8' }).trim();
  }

  /** The source tree of `rev` (its worktree, made at the first ask; the working tree for WORKTREE). */
  tree(rev: string, i: number): string {
    if (rev === 'WORKTREE') return this.repo;
    const dir = join(this.tmp, `tree-${i}`);
    if (!this.made.includes(dir)) {
      this.git('worktree', 'add', '--detach', dir, this.git('rev-parse', '--verify', `${rev}^{commit}`));
      this.made.push(dir);
    }
    return dir;
  }

  /**
   * Bundle `entry` (a path inside the tree) of `rev` into one ES module and return its path. `fromHere`: copy this
   * checkout's file of that path into the revision's tree first (a bench entry the revision may not have), never
   * into the working tree.
   */
  bundle(rev: string, i: number, entry: string, fromHere = false): string {
    const src = this.tree(rev, i);
    if (fromHere && src !== this.repo) copyFileSync(join(this.repo, entry), join(src, entry));
    const out = join(this.tmp, `side-${i}.mjs`);
    execFileSync(this.esbuild, [join(src, entry), '--bundle', '--platform=node', '--format=esm', `--outfile=${out}`, '--log-level=error']);
    return out;
  }

  /** Remove the worktrees and the temporary directory. */
  close(): void {
    for (const dir of this.made) {
      try {
        execFileSync('git', ['-C', this.repo, 'worktree', 'remove', '--force', dir], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
    rmSync(this.tmp, { recursive: true, force: true });
  }
}
