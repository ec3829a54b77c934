/**
 * Imports under src/ go one way: cli → server → protocols → engine → vad / providers → audio
 * → errors. A folder may import its own files and any layer below it; vad and providers sit
 * side by side and import neither each other nor anything above. Sub-folders belong to their
 * layer (protocols/gateway is protocols). Type-only imports count: a type edge upward is still
 * a layer that knows about the one above it. No cycle is allowed, not even inside a layer.
 * The engine takes from providers/ only their contracts and the few files listed below.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { readModuleImports } from './module-imports.ts';
import { repoRoot } from '../helpers/shared.ts';

const srcRoot = path.join(repoRoot, 'src');

/** Rank of each top-level folder: a file may import only from its own folder or a lower rank. */
const LAYER_RANK: Record<string, number> = {
  errors: 0,
  audio: 1,
  vad: 2,
  providers: 2,
  engine: 3,
  protocols: 4,
  server: 5,
  cli: 6,
};

/**
 * The files of src/providers/ the engine may import, each with why. Anything else there is a
 * provider's own business: the engine picks behaviour from capabilities, never from a provider.
 */
const ENGINE_MAY_IMPORT_FROM_PROVIDERS: Record<string, string> = {
  'contracts.ts': 'the provider contracts (Transcriber, Responder, Synthesizer and their capabilities)',
  'upstream-limits.ts': 'the bounds every provider call is held to, read by the configuration and enforced by the providers too',
  'synthesize-at.ts': 'the one synthesis call that resamples to the caller rate and stops at the audio limit, shared with the HTTP speech routes',
  'sentences.ts': 'the sentence rules: espeak-ng splits whole texts with the same rules as the streaming chunker, and providers/ cannot import engine/',
};

const SOURCE_EXTENSIONS = ['.ts', '.mts', '.js', '.mjs'];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return SOURCE_EXTENSIONS.some((ext) => entry.name.endsWith(ext)) && !entry.name.endsWith('.d.ts') ? [full] : [];
  });
}

function layerOf(file: string): string {
  return path.relative(srcRoot, file).split(path.sep)[0];
}

interface Edge {
  from: string;
  to: string;
  line: number;
  specifier: string;
}

function readEdges(files: string[]): Edge[] {
  return files.flatMap((file) =>
    readModuleImports(readFileSync(file, 'utf8'))
      .filter((found) => found.specifier.startsWith('.') || found.specifier === '<computed>')
      .map((found) => ({ from: file, to: path.resolve(path.dirname(file), found.specifier), line: found.line, specifier: found.specifier })),
  );
}

const rel = (file: string): string => path.relative(repoRoot, file);
const files = sourceFiles(srcRoot);
const edges = readEdges(files);

/** Why an edge breaks the order, or undefined when it keeps it. */
function violation(edge: Edge): string | undefined {
  if (edge.specifier === '<computed>') return 'a computed import() specifier cannot be checked; write it as a string literal';
  const fromLayer = layerOf(edge.from);
  if (!edge.to.startsWith(srcRoot + path.sep)) return 'imports a file outside src/';
  const toLayer = layerOf(edge.to);
  if (!(fromLayer in LAYER_RANK)) return `src/${fromLayer} is no known layer; add it to LAYER_RANK`;
  if (!(toLayer in LAYER_RANK)) return `src/${toLayer} is no known layer; add it to LAYER_RANK`;
  if (fromLayer === toLayer) return undefined;
  if (LAYER_RANK[fromLayer] <= LAYER_RANK[toLayer]) return `${fromLayer}/ must not import ${toLayer}/`;
  if (fromLayer === 'engine' && toLayer === 'providers') {
    const target = path.relative(path.join(srcRoot, 'providers'), edge.to).split(path.sep).join('/');
    if (!(target in ENGINE_MAY_IMPORT_FROM_PROVIDERS))
      return `engine/ imports from providers/ only their contracts (ENGINE_MAY_IMPORT_FROM_PROVIDERS), not providers/${target}`;
  }
  return undefined;
}

test('every relative import under src/ resolves to a source file', () => {
  const known = new Set(files);
  const missing = edges
    .filter((edge) => edge.specifier !== '<computed>' && edge.to.startsWith(srcRoot) && !known.has(edge.to) && !edge.to.endsWith('.json'))
    .map((edge) => `${rel(edge.from)}:${edge.line} imports '${edge.specifier}', which is no file under src/`);
  assert.deepEqual(missing, []);
});

test('imports under src/ follow cli → server → protocols → engine → vad / providers → audio → errors', () => {
  const wrong = edges.flatMap((edge) => {
    const why = violation(edge);
    return why === undefined ? [] : [`${rel(edge.from)}:${edge.line} imports '${edge.specifier}': ${why}`];
  });
  assert.deepEqual(wrong, []);
});

test('src/ has no import cycle', () => {
  const out = new Map<string, string[]>();
  for (const edge of edges) out.set(edge.from, [...(out.get(edge.from) ?? []), edge.to]);
  // Depth-first search with three colours: a grey node met again closes a cycle.
  const colour = new Map<string, 'grey' | 'black'>();
  const stack: string[] = [];
  const cycles: string[] = [];
  const visit = (file: string): void => {
    colour.set(file, 'grey');
    stack.push(file);
    for (const next of out.get(file) ?? []) {
      const seen = colour.get(next);
      if (seen === 'grey') cycles.push([...stack.slice(stack.indexOf(next)), next].map(rel).join(' → '));
      else if (seen === undefined) visit(next);
    }
    stack.pop();
    colour.set(file, 'black');
  };
  for (const file of files) if (!colour.has(file)) visit(file);
  assert.deepEqual(cycles, []);
});

test('the import reader sees static, type-only, re-export and dynamic imports but not comments or strings', () => {
  const source = [
    "import { a } from './a.ts';",
    "import type { B } from '../b/b.ts';",
    "export { c } from './c.ts';",
    "export type * from './d.ts';",
    "import './e.ts';",
    "const f = await import('./f.ts');",
    "// import { g } from './g.ts';",
    "/* import('./h.ts') */",
    'const text = "import { i } from \'./i.ts\'";',
    "const tpl = `import('./j.ts') ${await import('./k.ts')}`;",
    "const re = /'/g; import {",
    '  l,',
    "} from './l.ts';",
  ].join('\n');
  assert.deepEqual(
    readModuleImports(source).map((found) => [found.specifier, found.line, found.kind]),
    [
      ['./a.ts', 1, 'static'],
      ['../b/b.ts', 2, 'static'],
      ['./c.ts', 3, 'static'],
      ['./d.ts', 4, 'static'],
      ['./e.ts', 5, 'static'],
      ['./l.ts', 11, 'static'],
      ['./f.ts', 6, 'dynamic'],
      ['./k.ts', 10, 'dynamic'],
    ],
  );
});

test('the order refuses upward, sideways and non-contract engine imports, and allows the rest', () => {
  const edge = (from: string, specifier: string): Edge => {
    const file = path.join(srcRoot, from);
    return { from: file, to: path.resolve(path.dirname(file), specifier), line: 1, specifier };
  };
  assert.equal(violation(edge('engine/ids.ts', '../server/config.ts')), 'engine/ must not import server/');
  assert.equal(violation(edge('vad/segments.ts', '../providers/deadline.ts')), 'vad/ must not import providers/');
  assert.equal(violation(edge('providers/local/espeak-pool.ts', '../../vad/voice-detector.ts')), 'providers/ must not import vad/');
  assert.equal(violation(edge('errors/abort.ts', '../audio/pcm.ts')), 'errors/ must not import audio/');
  assert.match(violation(edge('engine/session-engine.ts', '../providers/local/echo-responder.ts')) ?? '', /only their contracts/);
  assert.equal(violation(edge('engine/session-engine.ts', '../providers/contracts.ts')), undefined);
  assert.equal(violation(edge('cli/main.ts', '../errors/registry.ts')), undefined);
  assert.equal(violation(edge('protocols/gateway/codec.ts', '../websocket-door.ts')), undefined);
  assert.equal(violation(edge('server/app.ts', '../protocols/upgrade-router.ts')), undefined);
});
