/**
 * The real CLI (`dist/bin/sketch.cjs`), or any other program, run on one of the test hosts of
 * {@link threeHosts} (`ip netns exec NS …`), with its output collected. No side effects on import.
 */
import type { ChildProcess } from 'node:child_process';
import type { ThreeHosts } from './hosts.js';
import { SKETCH_BIN } from './net.js';
import { ROOT } from './child.js';

/** A program running on a test host. */
export interface HostProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `pattern` in stdout (`where: 'stderr'`: in stderr); rejects when the program exits first or after `timeout` ms. */
  waitFor(pattern: RegExp, timeout?: number, where?: 'stdout' | 'stderr'): Promise<string>;
  /** The exit status (128 + signal number when killed); SIGKILL and a rejection after `timeout` ms. */
  exited(timeout?: number): Promise<number>;
  /** SIGTERM (or `signal`) unless it already exited, then waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

const SIGNALS: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/** Spawns `command args` inside namespace `ns`, from the repository root, with `env` added to this process's environment. */
export function onHost(hosts: ThreeHosts, ns: string, command: string, args: string[], env: NodeJS.ProcessEnv = {}): HostProcess {
  const child = hosts.exec(ns, [command, ...args], { cwd: ROOT, env: { ...process.env, FORCE_COLOR: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exit = new Promise<number>((resolve) => child.once('exit', (code, signal) => resolve(code ?? 128 + (SIGNALS[signal!] ?? 0))));
  const exited = (timeout = 20_000) =>
    Promise.race([
      exit,
      new Promise<number>((_, reject) =>
        setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`${command} ${args.join(' ')} did not exit within ${timeout} ms: ${out}${err}`));
        }, timeout).unref(),
      ),
    ]);
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    waitFor(pattern, timeout = 10_000, where = 'stdout') {
      return new Promise((resolve, reject) => {
        const started = Date.now();
        const poll = () => {
          const m = pattern.exec(where === 'stdout' ? out : err);
          if (m) return resolve(m[0]);
          if (child.exitCode !== null || child.signalCode !== null) return reject(new Error(`exited (${child.exitCode ?? child.signalCode}) before ${pattern}: ${out}${err}`));
          if (Date.now() - started > timeout) return reject(new Error(`no ${pattern} within ${timeout} ms: ${out}${err}`));
          setTimeout(poll, 10);
        };
        poll();
      });
    },
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      await exited(5000).catch(() => {});
    },
  };
}

/** `sketch ARGS…` (the built CLI, `dist/bin/sketch.cjs`) on host `ns`. */
export function sketchOn(hosts: ThreeHosts, ns: string, args: string[], env: NodeJS.ProcessEnv = {}): HostProcess {
  return onHost(hosts, ns, process.execPath, [SKETCH_BIN, ...args], env);
}
