/**
 * Three test hosts in network namespaces (root only, as `twoHosts` in test/discovery.ts): host A
 * and host B, each linked by a veth pair to a third, "broker", namespace that routes between
 * them. A and B reach each other and the broker by unicast, but multicast (mDNS on
 * 224.0.0.251) does not cross: the broker namespace forwards IPv4 but has no multicast routing,
 * as a plain router between two LANs. Tests print `skipped: <reason>` when the hosts cannot be
 * built.
 */
import { execFileSync, spawn, spawnSync, type SpawnOptions, type SpawnSyncOptions, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';

/** The three hosts (see {@link threeHosts}). */
export interface ThreeHosts {
  ok: true;
  /** Namespace name of host A. */
  a: string;
  /** Namespace name of host B. */
  b: string;
  /** Namespace name of the router the broker runs on. */
  broker: string;
  /** The broker namespace's address on A's link, which both A and B reach (listen on it, or on 0.0.0.0). */
  brokerAddress: string;
  /** The IPv4 address of `host` (one of a, b, broker; for the broker, {@link brokerAddress}). */
  addressOf(host: string): string;
  /** Spawns `args` inside namespace `ns` (`ip netns exec ns …`). */
  exec(ns: string, args: string[], options?: SpawnOptions): ChildProcess;
  /** Runs `args` inside namespace `ns` to completion. */
  execSync(ns: string, args: string[], options?: SpawnSyncOptions): SpawnSyncReturns<string>;
  /** Deletes the namespaces (and with them the veth pairs). Idempotent. */
  close(): void;
}

let calls = 0;

/**
 * Builds host A, host B and the broker namespace, with addresses unique to this call (two /24s
 * under 10.128.0.0/9 derived from the pid and a per-process counter, so parallel test files do
 * not collide). Returns `{ ok: false, reason }` when not root or when `ip` refuses.
 */
export function threeHosts(): ThreeHosts | { ok: false; reason: string } {
  if (process.getuid?.() !== 0) return { ok: false, reason: 'not root (ip netns needs root)' };
  const k = ((process.pid % 4096) * 4 + (calls++ % 4)) % 16384;
  const id = String(k);
  const a = `skA${id}x`;
  const b = `skB${id}x`;
  const broker = `skM${id}x`;
  const second = 128 + (k >> 7);
  const third = (k & 127) * 2;
  const netA = `10.${second}.${third}`;
  const netB = `10.${second}.${third + 1}`;
  const addresses: Record<string, string> = { [a]: `${netA}.2`, [b]: `${netB}.2`, [broker]: `${netA}.1` };
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    process.removeListener('exit', close);
    for (const ns of [a, b, broker]) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  };
  process.on('exit', close);
  try {
    for (const ns of [a, b, broker]) {
      // one left behind by a killed run of a process with the same pid
      spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      ip('netns', 'add', ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    for (const [host, net, dev, peer] of [
      [a, netA, `a${id}`, `ma${id}`],
      [b, netB, `b${id}`, `mb${id}`],
    ] as const) {
      ip('link', 'add', dev, 'netns', host, 'type', 'veth', 'peer', 'name', peer, 'netns', broker);
      ip('-n', host, 'addr', 'add', `${net}.2/24`, 'dev', dev);
      ip('-n', broker, 'addr', 'add', `${net}.1/24`, 'dev', peer);
      ip('-n', host, 'link', 'set', dev, 'up', 'multicast', 'on');
      ip('-n', broker, 'link', 'set', peer, 'up', 'multicast', 'on');
      ip('-n', host, 'route', 'add', 'default', 'via', `${net}.1`);
      // mDNS goes out on the host's own link, as on a LAN; nothing forwards it further
      ip('-n', host, 'route', 'add', '224.0.0.0/4', 'dev', dev);
    }
    execFileSync('ip', ['netns', 'exec', broker, 'sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward'], { stdio: 'pipe' });
    // a new veth pair has no carrier for a moment; what is sent before is lost
    const links: Array<[string, string]> = [[a, `a${id}`], [b, `b${id}`], [broker, `ma${id}`], [broker, `mb${id}`]];
    for (let attempt = 0; links.some(([ns, dev]) => /NO-CARRIER|state DOWN/.test(ip('-n', ns, 'link', 'show', 'dev', dev).toString())); attempt++) {
      if (attempt === 200) throw new Error('the veth links did not come up within 2 s');
      spawnSync('sleep', ['0.01']);
    }
  } catch (err) {
    close();
    return { ok: false, reason: `cannot build test hosts: ${(err as Error).message.split('\n')[0]}` };
  }
  return {
    ok: true,
    a,
    b,
    broker,
    brokerAddress: addresses[broker]!,
    addressOf(host) {
      const address = addresses[host];
      if (!address) throw new TypeError(`no test host ${JSON.stringify(host)} (hosts: ${a}, ${b}, ${broker})`);
      return address;
    },
    exec: (ns, args, options = {}) => spawn('ip', ['netns', 'exec', ns, ...args], options),
    execSync: (ns, args, options = {}) => spawnSync('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8', ...options }) as SpawnSyncReturns<string>,
    close,
  };
}
