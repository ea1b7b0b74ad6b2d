/** Runs a child process and collects its output, with a hard time limit. No side effects on import. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Repository root, the children's working directory (so `--import tsx` resolves). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ChildResult {
  /** Exit status, or null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** stdout split into lines (no empty trailing line). */
  lines: string[];
  stderr: string;
}

/**
 * Spawns `command args`, calls `onLine(line, child)` for each stdout line as it arrives, and
 * resolves when the child exits. After `timeoutMs` the child gets SIGKILL and the promise
 * rejects, so a stuck child never hangs the test run.
 */
export function runChild(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; onLine?: (line: string, child: ChildProcess) => void } = {},
): Promise<ChildResult> {
  const { timeoutMs = 10_000 } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: ROOT,
      env: { ...process.env, FORCE_COLOR: '0', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: string[] = [];
    let partial = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop()!;
      for (const line of parts) {
        lines.push(line);
        options.onLine?.(line, child);
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} took over ${timeoutMs} ms; stdout:\n${lines.join('\n')}\nstderr:\n${stderr}`));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (partial) lines.push(partial);
      resolve({ code, signal, lines, stderr });
    });
  });
}
