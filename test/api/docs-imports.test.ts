/**
 * The README and docs/ import from 'byway' only what the package exports (issue #13: docs/drivers.md imported
 * `openTap` from a file path while the package exports `tap`). Every `import { ... } from 'byway'` in them is read
 * and each name looked up in src/index.ts, the package's entry point (dist/src/index.js is built from it).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as byway from '../../src/index.js';

const root = join(import.meta.dirname, '../..');
const pages = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const indexSource = readFileSync(join(root, 'src/index.ts'), 'utf8');

describe('imports shown in the docs', () => {
  const found: Array<{ page: string; name: string; typeOnly: boolean }> = [];
  for (const page of pages) {
    const text = readFileSync(join(root, page), 'utf8');
    for (const m of text.matchAll(/import\s*(type\s*)?\{([^}]*)\}\s*from\s*'byway'/g)) {
      for (const raw of m[2]!.split(',')) {
        const spec = raw.trim();
        if (spec === '') continue;
        const typeOnly = m[1] !== undefined || spec.startsWith('type ');
        const name = spec.replace(/^type\s+/, '').split(/\s+as\s+/)[0]!.trim();
        found.push({ page, name, typeOnly });
      }
    }
  }

  it('finds the examples (the check is not vacuous)', () => {
    expect(found.length).toBeGreaterThanOrEqual(10);
    expect(found.some((f) => f.page === 'README.md')).toBe(true);
    expect(found.some((f) => f.page === 'docs/drivers.md' && f.name === 'tap')).toBe(true);
  });

  it('come from the package, not from a file of this repository', () => {
    const byPath: string[] = [];
    for (const page of pages) {
      const text = readFileSync(join(root, page), 'utf8');
      for (const m of text.matchAll(/^\s*import\b[^;\n]*from\s*'(\.{1,2}\/[^']*)'/gm)) byPath.push(`${page}: ${m[1]}`);
    }
    expect(byPath).toEqual([]);
  });

  it('name only what the package exports', () => {
    const missing = found.filter((f) =>
      f.typeOnly ? !new RegExp(`\\b${f.name}\\b`).test(indexSource) : !(f.name in byway),
    );
    expect(missing.map((f) => `${f.page}: ${f.name}`)).toEqual([]);
  });
});
