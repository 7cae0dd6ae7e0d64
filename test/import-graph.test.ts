// The import graph, read from the sources: the passes build on their own foundation
// (passes/ir/) and never import from src/, which builds the pipeline, CLI and runtime on top; and
// no module imports itself round a cycle. Type-only imports count (they are arrows a reader
// follows), except inside src/runtime/, whose host modules name their owner's types (lunatic.ts
// and its api-*.ts files): there only imports that load code must not go round.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../src/project-root.js';

const ROOTS = ['src', 'passes', 'scripts', 'bench', 'examples'];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'node_modules' ? [] : sourceFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Each source file (relative to the root) with the project files it imports (or loads, `typeImports` false). */
function importGraph(typeImports: boolean): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of ROOTS.flatMap((root) => sourceFiles(join(projectRoot, root)))) {
    const text = readFileSync(file, 'utf8');
    const targets = [...text.matchAll(/^(import|export)( type)?\b[^;]*?\bfrom\s+'(\.{1,2}\/[^']+)'/gms)]
      .filter((match) => typeImports || !match[2])
      .map((match) => relative(projectRoot, resolve(dirname(file), match[3]!.replace(/\.js$/, '.ts'))));
    graph.set(relative(projectRoot, file), targets);
  }
  return graph;
}

/** The first cycle found, as a path of files, or undefined. */
function findCycle(graph: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (file: string): string[] | undefined => {
    if (state.get(file) === 'done') return undefined;
    if (state.get(file) === 'open') return [...path.slice(path.indexOf(file)), file];
    state.set(file, 'open');
    path.push(file);
    for (const target of graph.get(file) ?? []) {
      const cycle = visit(target);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(file, 'done');
    return undefined;
  };
  for (const file of graph.keys()) {
    const cycle = visit(file);
    if (cycle) return cycle;
  }
  return undefined;
}

describe('the import graph', () => {
  const graph = importGraph(true);

  it('reads the sources (a sanity check of the reader)', () => {
    expect(graph.get('src/instrument.ts')).toContain('passes/asyncify/asyncify.ts');
  });

  it('has no import from passes/ into src/ (or anywhere outside passes/)', () => {
    const upward = [...graph].flatMap(([file, targets]) =>
      file.startsWith('passes/') ? targets.filter((t) => !t.startsWith('passes/')).map((t) => `${file} -> ${t}`) : [],
    );
    expect(upward).toEqual([]);
  });

  it('has the passes build only on passes/ir/, never on each other across groups', () => {
    const across = [...graph].flatMap(([file, targets]) => {
      const group = file.split('/')[1];
      return file.startsWith('passes/')
        ? targets.filter((t) => !t.startsWith('passes/ir/') && t.split('/')[1] !== group).map((t) => `${file} -> ${t}`)
        : [];
    });
    expect(across).toEqual([]);
  });

  it('has no cycle of imports that load code', () => {
    expect(findCycle(importGraph(false))).toBeUndefined();
  });

  it('has no cycle of any imports outside src/runtime/', () => {
    const outside = new Map([...graph].filter(([file]) => !file.startsWith('src/runtime/')));
    expect(findCycle(outside)).toBeUndefined();
  });
});
