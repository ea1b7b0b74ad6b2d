/**
 * The package as a user gets it: `npm pack`, installed into an empty ES module project in a
 * temporary folder, then used from the shell (`npx sketch …`), from TypeScript (`tsc --noEmit`,
 * strict, NodeNext: the README's examples) and from CommonJS; and its public surface is counted
 * (issue 23: at most 60 runtime values) and held to docs/API.md's "Public surface" table.
 *
 * How it installs without a registry (the tests run in a sandbox that reaches none):
 * `npm install --offline ./sketchnet-0.1.0.tgz` resolves every dependency range against the
 * registry's package documents, and npm's cache need not hold those (here it lacks minimist's:
 * ENOTCACHED). So the project gets a package-lock.json instead, made of this repository's own
 * lock entries for sketchnet's dependencies (the exact versions and integrity hashes `npm ci`
 * of this tree installed), and `npm ci --offline` takes each tarball from the cache by its
 * hash, as any `npm ci` does. `--ignore-scripts`: the native addons (better-sqlite3, onoff's
 * epoll) would be compiled from source, which takes minutes offline, and nothing here loads
 * them (the recorder and GPIO do). The project adds nothing for the types: sketchnet's
 * declarations name types from `ws` and Node.js, and `@types/ws` (which brings `@types/node`)
 * is one of sketchnet's own dependencies, so `tsc` resolves them (`skipLibCheck: false`).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT } from './helpers/child.js';
import { otherNodes } from './helpers/nodes.js';

const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
/** The dev dependencies a TypeScript user adds beside sketchnet for its types: none (typescript itself is run from this tree). */
const USER_DEV_DEPENDENCIES: string[] = [];

interface LockEntry {
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  dev?: boolean;
  devOptional?: boolean;
  [key: string]: unknown;
}

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (never rejects: the exit code and output are the result). */
async function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  try {
    const { stdout, stderr } = await promisify(execFile)(cmd, args, {
      cwd,
      env: { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false', ...env },
      timeout: 60_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string; message: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr || e.message };
  }
}

/**
 * The lock entries (keyed by `node_modules/…` path) that `names`, required from the top of the
 * tree, need: each one and, transitively, what it depends on, found as npm finds it (the
 * requiring package's own node_modules first, then each enclosing one up to the top).
 */
function closure(packages: Record<string, LockEntry>, names: string[]): Set<string> {
  const seen = new Set<string>();
  const visit = (from: string, name: string) => {
    for (let base = from; ; ) {
      const at = `${base ? `${base}/` : ''}node_modules/${name}`;
      const entry = packages[at];
      if (entry) {
        if (seen.has(at)) return;
        seen.add(at);
        for (const dep of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies })) visit(at, dep);
        return;
      }
      if (!base) throw new Error(`package-lock.json has no ${name} for ${from || 'the top'}`);
      const up = base.lastIndexOf('/node_modules/');
      base = up < 0 ? '' : base.slice(0, up);
    }
  };
  for (const name of names) visit('', name);
  return seen;
}

/** An empty ES module project in `dir` depending on `tarball` (in `dir`), installed with `npm ci --offline`. */
async function userProject(dir: string, tarball: string): Promise<Ran> {
  const own = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
    devDependencies: Record<string, string>;
    bin: Record<string, string>;
    engines: Record<string, string>;
    version: string;
  };
  const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const devDependencies = Object.fromEntries(USER_DEV_DEPENDENCIES.map((n) => [n, own.devDependencies[n]!]));
  const pkg = { name: 'user-project', version: '1.0.0', private: true, type: 'module', dependencies: { sketchnet: `file:${tarball}` }, devDependencies };
  const integrity = `sha512-${createHash('sha512').update(readFileSync(path.join(dir, tarball))).digest('base64')}`;
  const packages: Record<string, LockEntry> = {
    '': { name: pkg.name, version: pkg.version, dependencies: pkg.dependencies, devDependencies },
    'node_modules/sketchnet': {
      version: own.version,
      resolved: `file:${tarball}`,
      integrity,
      dependencies: own.dependencies,
      bin: own.bin,
      engines: own.engines,
    },
  };
  const prod = closure(lock.packages, Object.keys(own.dependencies));
  for (const at of closure(lock.packages, [...Object.keys(own.dependencies), ...USER_DEV_DEPENDENCIES])) {
    const { dev: _dev, devOptional: _devOptional, ...entry } = lock.packages[at]!;
    packages[at] = prod.has(at) ? entry : { ...entry, dev: true };
  }
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify(pkg, null, 2));
  writeFileSync(path.join(dir, 'package-lock.json'), JSON.stringify({ name: pkg.name, version: pkg.version, lockfileVersion: 3, requires: true, packages }, null, 2));
  return run('npm', ['ci', '--offline', '--ignore-scripts'], dir);
}

/** The README's thermostat (its ```ts block that starts with `// thermostat.ts`), as a user's file. */
function thermostat(): string {
  const block = /```ts\n(\/\/ thermostat\.ts[^]*?)```/.exec(readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
  assert.ok(block, 'README.md has the thermostat');
  return block[1]!;
}

/**
 * Every ```ts and ```js block of the README that imports sketchnet (or `sketchnet/testing`), as a user's file: named by
 * its first line's comment (`// thermostat.ts`, `// sketch.cjs`), else `readme-N.ts`/`.js`.
 */
function readmeExamples(): { file: string; text: string }[] {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const examples = [...readme.matchAll(/^```(ts|js)\n([^]*?)^```/gm)]
    .filter((m) => /\bfrom 'sketchnet(\/testing)?'|import\('sketchnet'\)|require\('sketchnet'\)/.test(m[2]!))
    .map((m, i) => ({ file: /^\/\/ ([\w.-]+\.[cm]?[jt]s)\b/.exec(m[2]!)?.[1] ?? `readme-${i + 1}.${m[1]}`, text: m[2]! }));
  assert.ok(examples.length >= 2, `README.md has its examples (found ${examples.length})`);
  return examples;
}

/** The names in one column (0-based) of the table under `## Public surface` in docs/API.md. */
function publicSurface(column: number): string[] {
  const api = readFileSync(path.join(ROOT, 'docs', 'API.md'), 'utf8');
  const start = api.indexOf('\n## Public surface\n');
  assert.ok(start >= 0, 'docs/API.md has a Public surface section');
  const section = api.slice(start + 1, api.indexOf('\n## ', start + 1));
  const rows = section.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| group') && !l.startsWith('| ---'));
  return rows.flatMap((row) => [...row.split(' | ')[column]!.matchAll(/`(\w+)`/g)].map((m) => m[1]!)).sort();
}

/** The most runtime values `import … from 'sketchnet'` may give (issue 23: ws exports 5, mqtt.js ~20). */
const MAX_PUBLIC_VALUES = 60;

let dir = '';
let packed: { filename: string; files: { path: string }[] } | undefined;
let installed: Ran | undefined;

test.before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'sketchnet-package-'));
  // --ignore-scripts: `prepare` would run tsc again; npm test has just built dist/.
  const pack = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], ROOT);
  assert.is(pack.code, 0, pack.stderr);
  [packed] = JSON.parse(pack.stdout) as [typeof packed];
  installed = await userProject(dir, packed!.filename);
});

test.after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the tarball holds the built files that main, types, exports and bin name, and no sources or tests', () => {
  const files = new Set(packed!.files.map((f) => f.path));
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    main: string;
    types: string;
    exports: Record<string, string | Record<string, string>>;
    bin: Record<string, string>;
  };
  const targets = [pkg.main, pkg.types, ...Object.values(pkg.bin)];
  for (const target of Object.values(pkg.exports)) targets.push(...(typeof target === 'string' ? [target] : Object.values(target)));
  for (const target of targets) assert.ok(files.has(path.posix.normalize(target)), `${target} is not in the tarball`);
  assert.ok(files.has('dist/runtime/index.d.ts'));
  assert.ok(files.has('runtime/dashboard/page/index.html'), 'the dashboard page is served from the package');
  const strays = [...files].filter((f) => /^(test|bench|scratch|sketches|bin)\//.test(f) || /^runtime\/.*\.ts$/.test(f));
  assert.equal(strays, []);
});

test('the tarball installs into an empty project with npm ci --offline', () => {
  assert.is(installed!.code, 0, `npm ci failed (run npm ci in this tree first, so npm's cache holds the tarballs): ${installed!.stderr.slice(-2000)}`);
});

test('npx sketch run clock --help in a fresh project prints the clock options and exits 0', async () => {
  const help = await run('npx', ['--offline', 'sketch', 'run', 'clock', '--help'], dir);
  assert.is(help.code, 0, help.stderr);
  assert.match(help.stdout, /Clock options/);
  assert.match(help.stdout, /--tacks\s+number of ticks to send/);
  assert.match(help.stdout, /--delay\s+seconds between ticks/);
});

test(`import('sketchnet') gives at most ${MAX_PUBLIC_VALUES} runtime values, none of the internals, and exactly those docs/API.md lists`, async () => {
  const listed = await run(process.execPath, ['--input-type=module', '-e', "console.log(JSON.stringify(Object.keys(await import('sketchnet'))))"], dir);
  assert.is(listed.code, 0, listed.stderr);
  const names = (JSON.parse(listed.stdout) as string[]).sort();
  assert.ok(names.length <= MAX_PUBLIC_VALUES, `${names.length} runtime values: ${names.join(' ')}`);
  for (const name of ['Sketch', 'reactive', 'Peer', 'SketchError', 'ERROR_CODES', 'openOutput', 'openSensor']) assert.ok(names.includes(name), `${name} is exported`);
  for (const name of ['QUEUE_HIGH_WATER', 'TURN_SLICE', 'Heartbeat', 'Dedupe', 'Gate', 'DashboardServer', 'BrokerClient']) assert.not.ok(names.includes(name), `${name} is internal`);
  assert.equal(names, publicSurface(1), "docs/API.md's Public surface, runtime values");
  for (const doc of ['README.md', path.join('docs', 'API.md')]) {
    const stated = /(\d+) runtime values \(/.exec(readFileSync(path.join(ROOT, doc), 'utf8'));
    assert.is(Number(stated?.[1]), names.length, `${doc} states the count`);
  }
});

test("the installed declarations export exactly the values and types docs/API.md's Public surface lists", () => {
  const dts = readFileSync(path.join(dir, 'node_modules', 'sketchnet', 'dist', 'runtime', 'index.d.ts'), 'utf8');
  const exported = [...dts.matchAll(/export (?:type )?\{([^}]*)\} from/g)]
    .flatMap((m) => m[1]!.split(','))
    .map((n) => n.trim().replace(/^type /, ''))
    .filter(Boolean);
  assert.not.match(dts, /export \*/, 'no export * (every public name is listed)');
  assert.equal(exported.sort(), [...publicSurface(1), ...publicSurface(2)].sort());
});

test("the README's examples type-check against the installed declarations (strict, NodeNext), and a misuse is reported", async () => {
  const examples = readmeExamples();
  mkdirSync(path.join(dir, 'readme'), { recursive: true });
  for (const { file, text } of examples) writeFileSync(path.join(dir, 'readme', file), text);
  writeFileSync(
    path.join(dir, 'misuse.ts'),
    `import { Sketch } from 'sketchnet';\nexport class Loud extends Sketch {\n  override setup() {\n    this.out(42);\n  }\n}\n`,
  );
  const compilerOptions = { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false };
  const ts = examples.filter((e) => /\.[cm]?ts$/.test(e.file)).map((e) => `readme/${e.file}`);
  const js = examples.filter((e) => /\.[cm]?js$/.test(e.file)).map((e) => `readme/${e.file}`);
  writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['misuse.ts', ...ts] }));
  // JavaScript as a user writes it: untyped parameters are fine; a name, method or argument sketchnet lacks is not.
  writeFileSync(path.join(dir, 'tsconfig.js.json'), JSON.stringify({ compilerOptions: { ...compilerOptions, allowJs: true, checkJs: true, noImplicitAny: false }, files: js }));
  const tsc = await run(process.execPath, [TSC, '-p', 'tsconfig.json'], dir);
  // The only error is the misuse: sketchnet's types resolved (no TS2307/TS7016, nothing in node_modules).
  const errors = tsc.stdout.split('\n').filter((l) => /error TS\d+/.test(l));
  assert.is(errors.length, 1, `${ts.join(', ')}:\n${tsc.stdout}`);
  assert.match(errors[0]!, /^misuse\.ts\(4,14\): error TS2345: Argument of type 'number' is not assignable to parameter of type 'string'/);
  if (js.length) {
    const checkJs = await run(process.execPath, [TSC, '-p', 'tsconfig.js.json'], dir);
    assert.is(checkJs.code, 0, `${js.join(', ')}:\n${checkJs.stdout}${checkJs.stderr}`);
  }
});

test("the sketchnet/testing entry of the tarball exports testSketch (and nothing else), as its declarations say", async () => {
  const listed = await run(process.execPath, ['--input-type=module', '-e', "console.log(JSON.stringify(Object.keys(await import('sketchnet/testing'))))"], dir);
  assert.is(listed.code, 0, listed.stderr);
  assert.equal(JSON.parse(listed.stdout), ['testSketch']);
  const dts = readFileSync(path.join(dir, 'node_modules', 'sketchnet', 'dist', 'runtime', 'testing', 'index.d.ts'), 'utf8');
  assert.match(dts, /export \{ testSketch, type TestSketch, type TestSketchOptions/);
});

test("the README's test of the thermostat passes as printed, with node --test and tsx, against the installed sketchnet/testing, on every Node.js at hand", async () => {
  const files = readmeExamples().filter((e) => e.file === 'thermostat.ts' || e.file === 'thermostat.test.ts');
  assert.equal(files.map((f) => f.file).sort(), ['thermostat.test.ts', 'thermostat.ts']);
  mkdirSync(path.join(dir, 'readme-test'), { recursive: true });
  for (const { file, text } of files) writeFileSync(path.join(dir, 'readme-test', file), text);
  const nodes = [process.execPath, ...otherNodes().filter((n) => Number(n.version.split('.')[0]) >= 20).map((n) => n.bin)];
  for (const node of nodes) {
    const r = await run(node, ['--import', 'tsx', '--test', '--test-reporter=tap', path.join('readme-test', 'thermostat.test.ts')], dir);
    assert.is(r.code, 0, `${node}: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /^# pass 1$/m, `${node}: ${r.stdout}`);
    assert.match(r.stdout, /^# fail 0$/m, `${node}: ${r.stdout}`);
  }
});

test("npx sketch run ./thermostat.ts --help in the project lists the sketch's own --limit", async () => {
  writeFileSync(path.join(dir, 'thermostat.ts'), thermostat());
  const help = await run('npx', ['--offline', 'sketch', 'run', './thermostat.ts', '--help'], dir);
  assert.is(help.code, 0, help.stderr);
  assert.match(help.stdout, /Thermostat options \(switch a fan on above a temperature\)/);
  assert.match(help.stdout, /--limit\s+temperature above which the fan runs/);
});

test("from CommonJS, await import('sketchnet') and require('sketchnet') both load it and a sketch runs, on every Node.js at hand", async () => {
  const script = (load: string) => `(async () => {
  const { Sketch, reactive } = ${load};
  class Echo extends Sketch {
    async loop(channel, message) { return message; }
  }
  const echo = new Echo({ discovery: false });
  await echo.run({ host: '127.0.0.1', port: 0 });
  console.log('loaded', typeof reactive, String(echo instanceof Sketch));
  await echo.close();
})().catch((err) => { console.error(err.code, err.message); process.exit(1); });
`;
  writeFileSync(path.join(dir, 'import-form.cjs'), script("await import('sketchnet')"));
  writeFileSync(path.join(dir, 'require-form.cjs'), script("require('sketchnet')"));
  const nodes = [process.execPath, ...otherNodes().filter((n) => Number(n.version.split('.')[0]) >= 20).map((n) => n.bin)];
  for (const node of nodes) {
    for (const file of ['import-form.cjs', 'require-form.cjs']) {
      const r = await run(node, [file], dir);
      assert.is(r.code, 0, `${node} ${file}: ${r.stderr}`);
      assert.match(r.stdout, /^loaded function true$/m, `${node} ${file}: ${r.stdout}`);
    }
  }
});

test.run();
