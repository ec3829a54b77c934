/**
 * `npm run build`: compiles src/ to plain JavaScript in dist/, one file per source at the same
 * place (src/cli/main.ts → dist/cli/main.js; other files, such as the worker scripts, which
 * are JavaScript already, are copied), so the command line starts without tsx's loader, about
 * two thirds of its start-up (bench/cli-say.ts). Same depth as src/, so the paths the code
 * finds from its own place (../../package.json, ../../web/, ./espeak-worker.mjs) hold for both.
 *
 * esbuild does the compiling, the compiler tsx runs the sources with (and the same
 * tsconfig.json). It checks no types (`npm run typecheck` does).
 * The new build is written beside dist/ and then takes its place, its manifest (what it was
 * built from, bin/build-freshness.js) last, so a command started meanwhile runs the old build,
 * the sources, or the new build, never half of one.
 */
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MANIFEST_NAME, sourceStamps } from '../bin/build-freshness.js';

export interface BuildResult {
  outDir: string;
  /** Sources compiled (TypeScript) and copied (the rest, type declarations left out). */
  compiled: number;
  copied: number;
}

/** Builds `root`/src into `outDir` (default `root`/dist). */
export async function buildDist(root: string, outDir = path.join(root, 'dist')): Promise<BuildResult> {
  const srcDir = path.join(root, 'src');
  // Stamped before compiling: a source edited while the build runs leaves it stale, not wrongly fresh.
  const stamps = sourceStamps(root);
  const files = listFiles(srcDir);
  const typescript = files.filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'));
  // Everything else the code may load from its own place (the worker scripts) is copied as it is.
  const others = files.filter((file) => !file.endsWith('.ts'));
  const staging = `${outDir}.building-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  try {
    await build({
      absWorkingDir: root,
      entryPoints: typescript.map((file) => path.join(srcDir, file)),
      outdir: staging,
      outbase: srcDir,
      outExtension: { '.js': '.js' },
      format: 'esm',
      platform: 'node',
      target: 'node20',
      // Bundling is on only so that imports are resolved and rewritten: every relative import is
      // kept as an import of the compiled file (./x.ts → ./x.js) and every package stays a
      // package import, so each output file holds its own source alone.
      bundle: true,
      packages: 'external',
      plugins: [
        {
          name: 'compiled-relative-imports',
          setup(compiler) {
            compiler.onResolve({ filter: /^\.\.?\/.*\.ts$/ }, (args) =>
              args.kind === 'entry-point' ? undefined : { path: args.path.replace(/\.ts$/, '.js'), external: true },
            );
          },
        },
      ],
      logLevel: 'warning',
    });
    for (const file of others) {
      mkdirSync(path.dirname(path.join(staging, file)), { recursive: true });
      copyFileSync(path.join(srcDir, file), path.join(staging, file));
    }
    writeFileSync(path.join(staging, MANIFEST_NAME), `${JSON.stringify({ sources: stamps }, null, 1)}\n`);
    rmSync(outDir, { recursive: true, force: true });
    renameSync(staging, outDir);
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    throw error;
  }
  return { outDir, compiled: typescript.length, copied: others.length };
}

/** Files under `folder`, relative to it. */
function listFiles(folder: string, prefix = ''): string[] {
  return readdirSync(path.join(folder, prefix), { withFileTypes: true }).flatMap((entry) => {
    const relative = path.join(prefix, entry.name);
    return entry.isDirectory() ? listFiles(folder, relative) : [relative];
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const started = performance.now();
  const result = await buildDist(root);
  console.log(
    `built ${path.relative(root, result.outDir)}/: ${result.compiled} TypeScript files compiled, ${result.copied} copied, in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
}
