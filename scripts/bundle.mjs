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
import { builtinModules, createRequire } from 'node:module';
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

// Node.js built-ins through require(), not through `import`. An ES module importing a built-in
// gets its ES module facade, which reads every export once to copy it, getters included: that
// runs the lazy loaders behind them (node:http's WebSocket/CloseEvent getters load all of undici,
// which loads node:http2; node:fs's ReadStream getter loads fs/streams, fs/promises and readline;
// node:util's loads worker_threads…), ~15–25 ms of each start spent on modules no command uses.
// require() returns the module object itself, whose lazy getters stay untouched until read.
//
// The heavier built-ins that a start may not need (LAZY_BUILTINS: TLS and HTTPS for a sketch
// served over plain HTTP, zlib with permessage-deflate off, crypto until the first handshake or
// random id, dgram with mDNS off, child_process without a guardian…) are more: each is a stand-in
// object that requires the module on the first read of one of its properties. Its keys are the
// module's own (read here, at build time) so that `import { x } from 'node:crypto'` and
// `import * as ns` bind without loading it; any property not in that list is read from the module
// itself. ws's own require() calls of them get the same stand-ins; the three ws files that
// destructure crypto at their top level are rewritten to read it at call time (DESTRUCTURED below).
const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
const LAZY_BUILTINS = new Set(['https', 'tls', 'zlib', 'crypto', 'dgram', 'child_process', 'readline', 'fs/promises', 'assert', 'util']);
const nodeRequire = createRequire(import.meta.url);
/** What stands for built-in `name`: the module itself, or (LAZY_BUILTINS) a stand-in loading it on first use. */
function builtinContents(name) {
  const id = JSON.stringify(`node:${name}`);
  if (!LAZY_BUILTINS.has(name)) return `module.exports = require(${id});`;
  const mod = nodeRequire(name);
  const keys = Object.getOwnPropertyNames(mod).filter((k) => k !== '__esModule' && !(typeof mod === 'function' && ['length', 'name'].includes(k)));
  return [
    `const KEYS = ${JSON.stringify(keys)};`,
    'let real;',
    `const load = () => (real ??= require(${id}));`,
    // node:assert is a function: an arrow function stands for it (callable, no own `prototype`).
    `module.exports = new Proxy(${typeof mod === 'function' ? '() => {}' : '{}'}, {`,
    '  apply: (_, self, args) => Reflect.apply(load(), self, args),',
    '  get: (_, k) => load()[k],',
    '  set: (_, k, v) => ((load()[k] = v), true),',
    '  has: (_, k) => k in load(),',
    '  deleteProperty: (_, k) => delete load()[k],',
    '  defineProperty: (_, k, d) => Reflect.defineProperty(load(), k, d),',
    // Only the build-time keys are listed, and described without reading the module: Node marks
    // some exports lazy (node:util's diff, setTraceSigInt…), and describing one loads what it needs.
    '  ownKeys: () => [...KEYS],',
    '  getOwnPropertyDescriptor: (_, k) => {',
    '    if (typeof k === "string" && KEYS.includes(k)) return { configurable: true, enumerable: true, get: () => load()[k] };',
    '    const d = Reflect.getOwnPropertyDescriptor(load(), k);',
    '    return d && { ...d, configurable: true };',
    '  },',
    '});',
  ].join('\n');
}
// Files that take functions out of a lazy built-in at their top level (ws 8 from crypto, yargs's
// platform shim from assert), which would load it at once: each such line becomes one binding of
// the module and one function per name that reads it at call time. yargs calls its asserts while
// it sets up; they pass, so the two are checked as node:assert does (Object.is), and a failing one
// (pkgUp's, when no package.json is found above the CLI; yargs catches it) throws an Error with
// code ERR_ASSERTION of its own: node:assert is never loaded. The build fails when a line is no
// longer there (a new version of the package), rather than losing the laziness unseen.
const DESTRUCTURED = [
  ['ws/lib/websocket.js', "const { randomBytes, createHash } = require('crypto');"],
  ['ws/lib/websocket-server.js', "const { createHash } = require('crypto');"],
  ['ws/lib/sender.js', "const { randomFillSync } = require('crypto');"],
  ['yargs/lib/platform-shims/esm.mjs', "import { notStrictEqual, strictEqual } from 'assert'"],
];
const patched = new Set();
/** `source` with `line` (destructuring built-in functions) replaced by functions reading the module at call time. */
function lazyDestructuring(source, line) {
  const names = line.slice(line.indexOf('{') + 1, line.indexOf('}')).split(',').map((n) => n.trim());
  const module = /['"]([^'"]+)['"]/.exec(line)[1];
  const binding = `__sketchnetLazy_${module}`;
  const head = line.startsWith('import') ? `import ${binding} from '${module}';` : `const ${binding} = require('${module}');`;
  const passes = { strictEqual: 'Object.is(a[0], a[1])', notStrictEqual: '!Object.is(a[0], a[1])' };
  const fail = (n) => `(() => { throw Object.assign(new Error(a[2] ?? 'Expected values to be strictly ${n === 'strictEqual' ? 'equal' : 'unequal'}'), { code: 'ERR_ASSERTION' }); })()`;
  const fn = (n) => (module === 'assert' && passes[n] ? `const ${n} = (...a) => (${passes[n]} ? undefined : ${fail(n)});` : `const ${n} = (...a) => ${binding}.${n}(...a);`);
  const own = module === 'assert' && names.every((n) => passes[n]); // nothing reads the module
  return source.replace(line, [...(own ? [] : [head]), ...names.map(fn)].join(' '));
}
const builtinsByRequire = {
  name: 'builtins-by-require',
  setup(b) {
    b.onResolve({ filter: /^[a-z_:/0-9]+$/ }, (args) => {
      if (!BUILTINS.has(args.path) || args.namespace === 'builtin') return undefined; // a stand-in's own require() is the module
      const name = args.path.replace(/^node:/, '');
      const viaImport = args.kind === 'import-statement' || args.kind === 'dynamic-import';
      return viaImport || (args.kind === 'require-call' && LAZY_BUILTINS.has(name)) ? { path: name, namespace: 'builtin' } : undefined;
    });
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => ({ contents: builtinContents(args.path), loader: 'js' }));
    for (const [file, line] of DESTRUCTURED) {
      const filter = new RegExp(`[\\\\/]node_modules[\\\\/]${file.replace(/[./]/g, (c) => (c === '.' ? '\\.' : '[\\\\/]'))}$`);
      b.onLoad({ filter }, (args) => {
        const source = readFileSync(args.path, 'utf8');
        if (!source.includes(line)) {
          console.error(`bundle: ${path.relative(root, args.path)} no longer has "${line}": update DESTRUCTURED in scripts/bundle.mjs`);
          process.exit(1);
        }
        patched.add(file);
        return { contents: lazyDestructuring(source, line), loader: 'js', resolveDir: path.dirname(args.path) };
      });
    }
  },
};

const result = await build({
  plugins: [lazyStringWidth, builtinsByRequire],
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
  // CommonJS packages inside an ES module bundle call require() for Node.js built-ins. Made on
  // first use: most chunks never call it, and each createRequire() walks the path to list its
  // node_modules folders (path.resolve and friends, hot enough across ~35 chunks to get
  // node:path's normalizeString optimized by TurboFan, whose code pages then stay resident).
  banner: {
    js: `${MARK}\nlet __sketchnetRequire;\nconst require = (id) => (__sketchnetRequire ??= process.getBuiltinModule('node:module').createRequire(import.meta.url))(id);`,
  },
});

for (const [file] of DESTRUCTURED) {
  if (!patched.has(file)) {
    console.error(`bundle: node_modules/${file} was not bundled: update DESTRUCTURED in scripts/bundle.mjs`);
    process.exit(1);
  }
}

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
