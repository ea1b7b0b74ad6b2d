// Build step after `tsc`: bundles the CLI and the runtime that `tsc` wrote to dist/ with esbuild,
// in place, so that `sketch` loads a handful of files instead of ~170 ES modules (each one a
// resolve, read, parse and link on Node.js 20, which has no compile cache).
//
// Entry points (overwritten in place): dist/bin/main.js (what dist/bin/sketch.cjs imports),
// dist/bin/cli.js (imported by main.js after the early mDNS probe has started) and
// dist/runtime/index.js (the package's entry, and what `import … from 'sketchnet'` in a user's
// sketch resolves to under `sketch run`: one instance shared with the CLI), and
// dist/runtime/testing/index.js (`sketchnet/testing`, the test kit). Code they share, and
// what is imported on demand (each command's module, each built-in sketch), goes to
// dist/runtime/chunks/. Native addons,
// big libraries loaded on first use (mqtt.js, @peculiar/x509), tsx, esbuild and typescript stay
// outside. Every other dist/ file is left as tsc wrote it (the guardian process runs from there).
//
// Running `tsc` again restores the unbundled entries, so a bundle is never stale: `npm run build`
// runs both. Usage: node scripts/bundle.mjs [--metafile FILE]
import { build } from 'esbuild';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const dist = path.join(root, 'dist');
const MARK = '// sketchnet: bundled by scripts/bundle.mjs';
// dist/bin/fail.js is an entry too: sketch.cjs imports it by name when the CLI fails to load.
// dist/runtime/testing/index.js (`sketchnet/testing`) is one too, sharing the runtime's chunks: a
// test's sketch (importing 'sketchnet') and the kit then use one copy of every module.
const entries = ['bin/main.js', 'bin/cli.js', 'bin/fail.js', 'runtime/index.js', 'runtime/testing/index.js'].map((f) => path.join(dist, f));

for (const file of entries) {
  if (readFileSync(file, 'utf8').startsWith(MARK)) {
    console.error(`bundle: ${path.relative(root, file)} is already a bundle: run tsc -p tsconfig.json first (npm run build does both)`);
    process.exit(1);
  }
}
rmSync(path.join(dist, 'runtime', 'chunks'), { recursive: true, force: true });

// string-width (yargs → cliui, wrap-ansi) builds a Unicode-property RegExp and an
// Intl.Segmenter when its module is evaluated: ~20–50 ms of every start, spent even by commands
// that never print a help text. Imported through this plugin, it is evaluated on the first call
// that needs it: strings of one column per character (the help texts) are measured by
// scripts/narrow-width.mjs, checked against string-width by test/narrow-width.ts.
const lazyStringWidth = {
  name: 'lazy-string-width',
  setup(b) {
    // The copy the importer would get (cliui and wrap-ansi may each have their own).
    b.onResolve({ filter: /^string-width$/ }, (args) =>
      args.namespace === 'lazy' ? undefined : { path: createRequire(args.importer).resolve('string-width'), namespace: 'lazy' },
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy' }, (args) => ({
      resolveDir: path.dirname(args.path),
      contents: [
        `import { narrowWidth } from ${JSON.stringify(path.join(root, 'scripts', 'narrow-width.mjs'))};`,
        'let real;',
        'export default function stringWidth(text, options) {',
        '  const narrow = narrowWidth(text, options);',
        '  if (narrow !== undefined) return narrow;',
        `  real ??= require(${JSON.stringify(args.path)}).default;`,
        '  return real(text, options);',
        '}',
      ].join('\n'),
    }));
  },
};

const result = await build({
  plugins: [lazyStringWidth],
  entryPoints: entries,
  outdir: dist,
  outbase: dist,
  allowOverwrite: true,
  write: false, // written below, once checked (the entries are read and overwritten)
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  chunkNames: 'runtime/chunks/[name]-[hash]',
  sourcemap: false,
  metafile: true,
  logLevel: 'warning',
  // Resolved at run time from node_modules: native addons and their loaders, optional ws
  // accelerators, and what is imported only on first use or by some commands.
  external: [
    'better-sqlite3',
    'better-sqlite3-v12',
    'epoll',
    'onoff',
    'bufferutil',
    'utf-8-validate',
    'mqtt',
    '@peculiar/x509',
    'reflect-metadata',
    'tsx',
    'tsx/*',
    'esbuild',
    'typescript',
    'playwright-core',
    '@sinonjs/fake-timers',
  ],
  // CommonJS packages inside an ES module bundle call require() for Node.js built-ins.
  banner: { js: `${MARK}\nimport { createRequire as __sketchnetRequire } from 'node:module';\nconst require = __sketchnetRequire(import.meta.url);` },
});

// Code that finds files relative to itself (import.meta.url) must stay at the same depth: bin
// modules in dist/bin/, runtime modules anywhere under dist/runtime/ only if they look upwards.
// guardian-process.js compares import.meta.url with argv[1] to know it is the guardian process:
// bundled, it never is (the guardian runs from its own file). gpio.js and gpio-syscalls.js only
// resolve packages (onoff, koffi) through createRequire, which works from any depth in the package.
const RELATIVE_OK = new Set(['dist/runtime/hardware/guardian-process.js', 'dist/runtime/dashboard/server.js', 'dist/runtime/net/broker-link.js', 'dist/runtime/recorder/sqlite.js', 'dist/runtime/hardware/gpio.js', 'dist/runtime/hardware/gpio-syscalls.js', 'dist/runtime/hardware/guardian.js', 'dist/bin/paths.js']);
const problems = [];
for (const [out, meta] of Object.entries(result.metafile.outputs)) {
  for (const input of Object.keys(meta.inputs)) {
    if (!input.startsWith('dist/') || RELATIVE_OK.has(input)) continue;
    if (!readFileSync(path.join(root, input), 'utf8').includes('import.meta.url')) continue;
    if (path.dirname(input) !== path.dirname(out)) problems.push(`${input} uses import.meta.url but was bundled into ${out}`);
  }
}
if (problems.length) {
  for (const p of problems) console.error(`bundle: ${p}`);
  process.exit(1);
}
for (const out of result.outputFiles) {
  mkdirSync(path.dirname(out.path), { recursive: true });
  writeFileSync(out.path, out.contents);
}
const i = process.argv.indexOf('--metafile');
if (i > 0) writeFileSync(process.argv[i + 1], JSON.stringify(result.metafile));
const outs = Object.keys(result.metafile.outputs).filter((o) => !o.endsWith('.map'));
const kib = outs.reduce((n, o) => n + result.metafile.outputs[o].bytes, 0) / 1024;
console.log(`bundle: ${Object.keys(result.metafile.inputs).length} modules → ${outs.length} files (${kib.toFixed(0)} KiB) in dist/`);
