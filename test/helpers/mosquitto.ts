/**
 * A real MQTT broker for tests: Debian's mosquitto (`apt-get install mosquitto`, as .ci/run does)
 * started with a generated config in a temporary directory. Tests print `skipped: <reason>` when
 * it is not installed. Logs go to stderr and are kept (the last {@link LOG_LINES} lines) for
 * failure messages.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** Debian's broker binary. */
export const MOSQUITTO_BIN = '/usr/sbin/mosquitto';
/** Lines of the broker's log kept for {@link Mosquitto.logs}. */
export const LOG_LINES = 200;
/** How long (ms) a start or restart may take before it fails. */
export const START_TIMEOUT_MS = 5000;

export interface MosquittoOptions {
  /** Address the listener binds. Default `127.0.0.1`. */
  host?: string;
  /**
   * Listener port. Default: a free one (asked of the kernel on `host`; with `netns`, where this
   * process cannot bind, a random one in 20000–59999 of that fresh namespace).
   */
  port?: number;
  /**
   * User names and passwords (no `:` in a name, no newline in either): written to a
   * `password_file` hashed by `mosquitto_passwd -U`, and anonymous clients are refused.
   * Default: none, and `allow_anonymous true`.
   */
  users?: Record<string, string>;
  /**
   * The `acl_file`'s lines, e.g. `user clock\ntopic readwrite sketchnet/#`. Default with `users`:
   * every user may read and write `sketchnet/#` and `homeassistant/#`; without users: no ACL.
   */
  acl?: string;
  /**
   * Keep retained messages and QoS 1 sessions across {@link Mosquitto.restart} (mosquitto writes
   * them to the temporary directory when it stops on SIGTERM; a {@link Mosquitto.kill} loses
   * what it has not saved). Default false.
   */
  persistence?: boolean;
  /**
   * Run the broker inside this network namespace (`ip netns exec NS`; needs root), e.g. the
   * `broker` of test/helpers/hosts.ts `threeHosts()` with `host` `0.0.0.0` or its `brokerAddress`.
   * Readiness is then read from the broker's log (this process cannot connect into the namespace).
   * Default: this process's namespace.
   */
  netns?: string;
  /** PEM file paths: the listener speaks TLS (`mqtts://`) with this certificate and key. Default: plain TCP. */
  tls?: { cert: string; key: string };
  /** The broker binary. Default {@link MOSQUITTO_BIN}. */
  bin?: string;
}

/** A running broker (see {@link startMosquitto}). */
export interface Mosquitto {
  /** `mqtt://HOST:PORT`, or `mqtts://HOST:PORT` with `tls`. */
  url: string;
  host: string;
  port: number;
  /** The temporary directory holding the config (removed by stop/kill). */
  dir: string;
  /** The broker's pid while it runs. */
  readonly pid: number | undefined;
  /** Stops the broker with SIGTERM and starts it again on the same port; resolves once it accepts connections. */
  restart(): Promise<void>;
  /** SIGTERM, waits for the exit, removes the temporary directory. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL: the broker dies without saving anything; waits for it, removes the temporary directory. Idempotent. */
  kill(): Promise<void>;
  /** The last {@link LOG_LINES} lines of the broker's log, oldest first. */
  logs(): string[];
  /** Stops the broker only (SIGTERM, waits), keeping the directory, so a later {@link start} resumes. */
  halt(): Promise<void>;
  /** Starts it again after {@link halt}; resolves once it accepts connections. */
  start(): Promise<void>;
}

/** Why a broker cannot be started here, or undefined when it can. */
export function mosquittoMissing(options: Pick<MosquittoOptions, 'users' | 'bin' | 'netns'> = {}): string | undefined {
  const bin = options.bin ?? MOSQUITTO_BIN;
  if (!existsSync(bin)) return `${bin} is not installed (apt-get install mosquitto, as .ci/run does)`;
  if (options.users && spawnSync('mosquitto_passwd', ['-h']).error) return 'mosquitto_passwd is not installed (apt-get install mosquitto)';
  if (options.netns && process.getuid?.() !== 0) return 'not root (ip netns exec needs root)';
  return undefined;
}

/** A port nobody listens on at `host`, as the kernel hands out. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts mosquitto with a generated config (one listener on `host:port`, TCP_NODELAY, no
 * persistence unless asked, log to stderr) and resolves once it accepts connections, or with
 * `{ skip }` (a reason for a `skipped:` line) when it is not installed. Rejects, with the
 * broker's last log lines, when it exits or is not listening after {@link START_TIMEOUT_MS}.
 */
export async function startMosquitto(options: MosquittoOptions = {}): Promise<Mosquitto | { skip: string }> {
  const missing = mosquittoMissing(options);
  if (missing) return { skip: missing };
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? (options.netns ? 20000 + Math.floor(Math.random() * 40000) : await freePort(host));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sketch-mosquitto-'));
  const conf = path.join(dir, 'mosquitto.conf');
  const lines = [`listener ${port} ${host}`, 'set_tcp_nodelay true'];
  if (options.tls) lines.push(`certfile ${options.tls.cert}`, `keyfile ${options.tls.key}`);
  // As root mosquitto switches to the user `mosquitto`, which cannot read our 0700 directory.
  if (process.getuid?.() === 0) lines.push('user root');
  if (options.users) {
    const passwords = path.join(dir, 'passwords');
    const entries = Object.entries(options.users);
    for (const [name, password] of entries) {
      if (name.includes(':') || /[\n\r]/.test(name + password)) throw new TypeError(`mosquitto user ${JSON.stringify(name)}: no ':' in a name, no newline in a name or password`);
    }
    writeFileSync(passwords, entries.map(([name, password]) => `${name}:${password}\n`).join(''), { mode: 0o600 });
    const hashed = spawnSync('mosquitto_passwd', ['-U', passwords], { encoding: 'utf8' });
    if (hashed.status !== 0) throw new Error(`mosquitto_passwd -U failed: ${hashed.stderr || hashed.error?.message}`);
    lines.push('allow_anonymous false', `password_file ${passwords}`);
  } else {
    lines.push('allow_anonymous true');
  }
  const acl =
    options.acl ??
    (options.users
      ? Object.keys(options.users)
          .map((name) => `user ${name}\ntopic readwrite sketchnet/#\ntopic readwrite homeassistant/#\n`)
          .join('\n')
      : undefined);
  if (acl !== undefined) {
    const aclFile = path.join(dir, 'acl');
    writeFileSync(aclFile, acl.endsWith('\n') ? acl : `${acl}\n`, { mode: 0o600 });
    lines.push(`acl_file ${aclFile}`);
  }
  if (options.persistence) lines.push('persistence true', `persistence_location ${dir}/`);
  else lines.push('persistence false');
  lines.push('log_dest stderr', 'log_type error', 'log_type warning', 'log_type notice', 'log_type information', 'connection_messages true');
  writeFileSync(conf, `${lines.join('\n')}\n`);

  const bin = options.bin ?? MOSQUITTO_BIN;
  const log: string[] = [];
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let cleaned = false;
  const cleanup = () => {
    if (cleaned) return;
    cleaned = true;
    process.removeListener('exit', onExit);
    rmSync(dir, { recursive: true, force: true });
  };
  // a test that throws must not leave a broker behind
  const onExit = () => {
    child?.kill('SIGKILL');
    cleanup();
  };
  process.on('exit', onExit);

  const launch = async () => {
    const command = options.netns ? 'ip' : bin;
    const args = options.netns ? ['netns', 'exec', options.netns, bin, '-c', conf] : ['-c', conf];
    const proc = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child = proc;
    let running = false;
    let wake: (() => void) | undefined;
    let partial = '';
    proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop()!;
      for (const line of parts) {
        log.push(line);
        if (log.length > LOG_LINES) log.shift();
        if (/ running$/.test(line)) running = true;
      }
      wake?.();
    });
    let exitCode: string | undefined;
    exited = new Promise<void>((resolve) => {
      proc.once('exit', (code, signal) => {
        exitCode = signal ?? String(code);
        if (child === proc) child = undefined;
        wake?.();
        resolve();
      });
      proc.once('error', (err) => {
        log.push(`spawn ${command}: ${err.message}`);
        exitCode = 'error';
        wake?.();
        resolve();
      });
    });
    const deadline = Date.now() + START_TIMEOUT_MS;
    // "running" is logged once every listener is open; a TCP probe confirms it where we can reach it
    while (!running && exitCode === undefined && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 50);
      });
      wake = undefined;
    }
    if (running && !options.netns) {
      while (!(await accepts(host, port)) && exitCode === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    }
    if (exitCode !== undefined) throw new Error(`mosquitto exited (${exitCode}) while starting: ${log.slice(-5).join(' / ')}`);
    if (!running || Date.now() > deadline) {
      proc.kill('SIGKILL');
      await exited;
      throw new Error(`mosquitto is not listening on ${host}:${port} after ${START_TIMEOUT_MS} ms: ${log.slice(-5).join(' / ')}`);
    }
  };
  const halt = async (signal: NodeJS.Signals = 'SIGTERM') => {
    child?.kill(signal);
    await exited;
  };

  try {
    await launch();
  } catch (err) {
    cleanup();
    throw err;
  }
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `${options.tls ? 'mqtts' : 'mqtt'}://${urlHost}:${port}`,
    host,
    port,
    dir,
    get pid() {
      return child?.pid;
    },
    async restart() {
      await halt();
      await launch();
    },
    halt: () => halt(),
    start: () => launch(),
    async stop() {
      await halt();
      cleanup();
    },
    async kill() {
      await halt('SIGKILL');
      cleanup();
    },
    logs: () => [...log],
  };
}

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, host, () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
