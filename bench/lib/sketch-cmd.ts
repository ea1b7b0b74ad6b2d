/**
 * The `sketch` command as users have it: a bin directory holding a `sketch` symlink to
 * dist/bin/sketch.cjs, which is what `npm link` or `npm install -g` creates (the file starts
 * with `#!/usr/bin/env node` and is made executable, as npm does), first on PATH. The bench's
 * CLI cases spawn `sketch …` by name through it, so the shell-less exec, the shebang and
 * `env node` are part of every figure, as they are for a user typing `sketch`.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, SKETCH_BIN, spawnOn, type Ctx, type Side } from './env.js';
import { spawnChild, type Child } from './proc.js';

let binDir: string | undefined;
/** One bin directory per Node.js binary other than this one: `node` → that binary (as nvm's PATH has). */
const nodeDirs = new Map<string, string>();

/** Removes the temp bin directories at exit. */
function cleanUpAtExit(dir: string): void {
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
}

/**
 * The bin directory with the `sketch` symlink (made once per bench run, removed at exit).
 * Makes dist/bin/sketch.cjs executable when it is not (tsc does not; npm does at link time).
 */
export function sketchBinDir(): string {
  if (binDir) return binDir;
  const mode = statSync(SKETCH_BIN).mode;
  if ((mode & 0o111) !== 0o111) chmodSync(SKETCH_BIN, mode | 0o111);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sketchnet-bench-bin-'));
  symlinkSync(SKETCH_BIN, path.join(dir, 'sketch'));
  cleanUpAtExit(dir);
  binDir = dir;
  return dir;
}

/**
 * PATH for a child that runs `sketch`: the bin directory first, then (when `node` is another
 * binary than this one) a directory whose `node` is that binary, so that the shebang's
 * `env node` finds it, then the PATH of the bench.
 */
export function sketchPath(node = process.execPath): string {
  const dirs = [sketchBinDir()];
  if (node !== process.execPath) {
    let dir = nodeDirs.get(node);
    if (!dir) {
      dir = mkdtempSync(path.join(os.tmpdir(), 'sketchnet-bench-node-'));
      mkdirSync(dir, { recursive: true });
      symlinkSync(node, path.join(dir, 'node'));
      cleanUpAtExit(dir);
      nodeDirs.set(node, dir);
    }
    dirs.push(dir);
  } else {
    // The node running the bench, first among the others on PATH (it may not be on PATH at all).
    dirs.push(path.dirname(process.execPath));
  }
  return [...dirs, process.env.PATH ?? ''].join(path.delimiter);
}

export interface SketchCmdOptions {
  /** The Node.js binary `env node` finds (default: the one running the bench). */
  node?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Working directory (default: the repository root). */
  cwd?: string;
}

/** Spawns `sketch ARGS` by name, as a user's shell would (unpinned: the CLI cases run as users run them). */
export function spawnSketchCmd(name: string, args: string[], options: SketchCmdOptions = {}): Child {
  return spawnChild(name, 'sketch', args, { cwd: options.cwd ?? ROOT, env: { ...options.env, PATH: sketchPath(options.node) } });
}

/** Spawns `sketch ARGS` by name on one side's CPU when the bench pins (taskset looks `sketch` up on the same PATH). */
export function spawnSketchCmdOn(ctx: Ctx, side: Side, name: string, args: string[], options: SketchCmdOptions = {}): Child {
  return spawnOn(ctx, side, name, 'sketch', args, { cwd: options.cwd ?? ROOT, env: { ...options.env, PATH: sketchPath(options.node) } });
}
