/**
 * Class sizes, measured with the TypeScript compiler's AST (issue #16): for every class in the given files (default:
 * protocols/tcp/*.ts), its members, fields (property declarations, parameter properties included), methods (methods
 * and get/set accessors), and the file's lines. `--json` prints one JSON record instead of the table.
 *   node --import tsx tools/class-sizes.ts [--json] [file.ts ...]
 * Numbers to watch: no class past ~30 fields, no file past ~800 lines (docs/STYLE: split a class along its state).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';

export interface ClassSize {
  file: string;
  name: string;
  members: number;
  fields: number;
  methods: number;
  fileLines: number;
}

export function classSizes(file: string): ClassSize[] {
  const text = readFileSync(file, 'utf8');
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const fileLines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
  const out: ClassSize[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isClassDeclaration(node) || ts.isClassExpression(node)) {
      let fields = 0;
      let methods = 0;
      for (const m of node.members) {
        if (ts.isPropertyDeclaration(m)) fields++;
        else if (ts.isMethodDeclaration(m) || ts.isGetAccessorDeclaration(m) || ts.isSetAccessorDeclaration(m)) methods++;
        else if (ts.isConstructorDeclaration(m)) {
          for (const p of m.parameters) if (ts.isParameterPropertyDeclaration(p, m)) fields++;
        }
      }
      out.push({ file, name: node.name?.text ?? '(anonymous)', members: node.members.length, fields, methods, fileLines });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

function main(): void {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  let files = args.filter((a) => !a.startsWith('--'));
  if (files.length === 0) {
    const dir = 'protocols/tcp';
    files = readdirSync(dir)
      .filter((f) => f.endsWith('.ts'))
      .sort()
      .map((f) => join(dir, f));
  }
  const rows = files.flatMap(classSizes);
  if (json) {
    console.log(JSON.stringify(rows));
    return;
  }
  console.log(['file', 'lines', 'class', 'members', 'fields', 'methods'].join('\t'));
  for (const r of rows) console.log([r.file, r.fileLines, r.name, r.members, r.fields, r.methods].join('\t'));
}

main();
