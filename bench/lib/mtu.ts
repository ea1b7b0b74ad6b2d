/**
 * The loopback interface's MTU, inside the bench's own network namespace only.
 *
 * Loopback's 64 KiB MTU makes Linux size a new TCP socket's send buffer from a 64 KiB MSS:
 * a peer that stops reading lets the sender's kernel take ~4 MB before `write()` pushes back,
 * where over Ethernet (MTU 1500) it takes ~100–130 KiB. The slow-subscriber case sets 1500
 * for its duration so that stalled sockets fill as they would on a real link.
 */
import { execFileSync } from 'node:child_process';

/** The current MTU of `lo`, or undefined when it cannot be read. */
export function loopbackMtu(): number | undefined {
  try {
    const out = execFileSync('ip', ['-o', 'link', 'show', 'lo'], { encoding: 'utf8', timeout: 5000 });
    const m = /\bmtu (\d+)/.exec(out);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Runs `fn` with `lo`'s MTU set to `mtu`, and sets it back afterwards. Only inside
 * `../shared/sandbox` (SKETCH_SANDBOXED set: a network namespace of the bench's own); anywhere
 * else the host's loopback is left alone. `fn` gets the MTU it runs with and, when that is
 * not `mtu`, why.
 */
export async function withLoopbackMtu<T>(mtu: number, fn: (actual: number | undefined, why?: string) => Promise<T>): Promise<T> {
  const before = loopbackMtu();
  if (!process.env.SKETCH_SANDBOXED) return fn(before, 'not inside ../shared/sandbox: the host loopback is left as it is');
  if (before === undefined) return fn(undefined, 'cannot read the loopback MTU (no `ip`?)');
  if (before === mtu) return fn(mtu);
  try {
    execFileSync('ip', ['link', 'set', 'lo', 'mtu', String(mtu)], { timeout: 5000, stdio: 'pipe' });
  } catch (err) {
    return fn(before, `cannot set the loopback MTU: ${(err as Error).message.split('\n')[0]}`);
  }
  try {
    return await fn(loopbackMtu());
  } finally {
    try {
      execFileSync('ip', ['link', 'set', 'lo', 'mtu', String(before)], { timeout: 5000, stdio: 'pipe' });
    } catch {
      // the namespace goes away with the sandbox anyway
    }
  }
}
