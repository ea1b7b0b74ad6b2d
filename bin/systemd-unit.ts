/**
 * The systemd unit `sketch service install` writes: a pure function of what goes in it, so that
 * tests can check every line and hand the result to `systemd-analyze verify`.
 */

/** What a unit for one sketch (`sketch run`) or one device (`sketch up FILE`) holds. Paths must be absolute. */
export interface UnitSpec {
  /** The service's name without prefix or suffix: `porch` → `sketch-porch.service`. See {@link unitName}. */
  name: string;
  /** The command line: the Node.js binary first (absolute), then its arguments, unquoted. */
  exec: readonly string[];
  /** `WorkingDirectory=`: where relative paths among the arguments resolve. */
  workingDirectory: string;
  /** A system unit (`/etc/systemd/system`, started at boot) or a user unit (`--user`). */
  scope: 'system' | 'user';
  /** `User=` of a system unit (ignored for user units, which run as their user). */
  user?: string;
  /** `SupplementaryGroups=` of a system unit, e.g. `['gpio']` for a sketch that drives pins. Default none. */
  groups?: readonly string[];
  /** `EnvironmentFile=`: a file of `NAME=value` lines (`SKETCH_KEY=…`), read by systemd as root; keys never go in the unit itself. */
  environmentFile?: string;
  /** `Description=`. Default `sketchnet sketch NAME`. */
  description?: string;
}

/** Seconds systemd waits after SIGTERM before SIGKILL (`TimeoutStopSec=`): `sketch run` stops within 2 s. */
export const UNIT_STOP_TIMEOUT_S = 5;
/** Seconds before a failed sketch is started again (`RestartSec=`). */
export const UNIT_RESTART_DELAY_S = 2;

/** Characters a unit name (and so `--name` for `sketch service`) may hold besides the prefix and suffix. */
const NAME_RE = /^[A-Za-z0-9_.-]{1,200}$/;

/**
 * `sketch-NAME.service`, the file and unit name for a sketch service. `NAME` may already carry
 * the prefix or suffix (`sketch-porch`, `sketch-porch.service`: the same unit).
 * @throws Error when NAME holds anything but letters, digits, `_`, `.` and `-` (systemd would
 *   need escapes there, and `journalctl -u` would be awkward to type).
 */
export function unitName(name: string): string {
  const bare = name.replace(/\.service$/, '').replace(/^sketch-/, '');
  if (!NAME_RE.test(bare)) throw new Error(`"${name}" cannot name a systemd unit: use letters, digits, "_", "." and "-"`);
  return `sketch-${bare}.service`;
}

/**
 * One word of an `ExecStart=` command line (systemd.service(5), "Command lines"): as it is when
 * it holds only safe characters, else in double quotes with `\` and `"` escaped (and control
 * characters as C escapes); in both, `%` is written `%%` (specifiers) and `$` as `$$`
 * (environment variables), so that the sketch receives exactly `arg`.
 */
export function execWord(arg: string): string {
  const literal = arg.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  if (/^[A-Za-z0-9_@+=:,./%$-]+$/.test(arg) && !arg.startsWith('@')) return literal;
  const escaped = literal.replace(/[\\"\n\r\t]|[\0-\x1f\x7f]/g, (c) => {
    const named: Record<string, string> = { '\\': '\\\\', '"': '\\"', '\n': '\\n', '\r': '\\r', '\t': '\\t' };
    return named[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
  return `"${escaped}"`;
}

/** A path or text in any other setting: `%` written `%%`, newlines (which would end the setting) refused. */
function setting(value: string): string {
  if (/[\n\r]/.test(value)) throw new Error(`a unit setting cannot hold a line break: ${JSON.stringify(value)}`);
  return value.replace(/%/g, '%%');
}

/**
 * The text of the unit file for `spec`:
 *
 * - `[Unit]`: `Description=`, `After=`/`Wants=network-online.target` (system units: mDNS
 *   needs an address; user units cannot order against system targets), `StartLimitIntervalSec=60`
 *   with `StartLimitBurst=5` (a sketch failing at every start stops being restarted after 5
 *   tries a minute).
 * - `[Service]`: `Type=simple`, `User=` and `SupplementaryGroups=` (system units),
 *   `WorkingDirectory=`, `EnvironmentFile=`, `ExecStart=` (each word through {@link execWord}),
 *   `Restart=on-failure`, `RestartSec=2`, `KillSignal=SIGTERM`, `TimeoutStopSec=5`,
 *   `SyslogIdentifier=sketch-NAME`.
 * - `[Install]`: `WantedBy=multi-user.target` (system) or `default.target` (user).
 * @throws Error for a bad name (see {@link unitName}), a relative path, or a line break in a value.
 */
export function systemdUnit(spec: UnitSpec): string {
  const unit = unitName(spec.name);
  const [node, ...args] = spec.exec;
  if (!node) throw new Error('the unit needs a command');
  for (const [what, p] of [['the Node.js binary', node], ['WorkingDirectory', spec.workingDirectory], ['EnvironmentFile', spec.environmentFile]] as const) {
    if (p !== undefined && !p.startsWith('/')) throw new Error(`${what} must be an absolute path, got ${JSON.stringify(p)}`);
  }
  const system = spec.scope === 'system';
  const bare = unit.slice(0, -'.service'.length);
  const lines = [
    `# ${unit}: written by "sketch service install"; "sketch service uninstall ${bare.slice('sketch-'.length)}" removes it.`,
    '[Unit]',
    `Description=${setting(spec.description ?? `sketchnet sketch ${spec.name}`)}`,
    ...(system ? ['After=network-online.target', 'Wants=network-online.target'] : []),
    'StartLimitIntervalSec=60',
    'StartLimitBurst=5',
    '',
    '[Service]',
    'Type=simple',
    ...(system && spec.user ? [`User=${setting(spec.user)}`] : []),
    ...(system && spec.groups?.length ? [`SupplementaryGroups=${spec.groups.map(setting).join(' ')}`] : []),
    `WorkingDirectory=${setting(spec.workingDirectory)}`,
    ...(spec.environmentFile ? [`EnvironmentFile=${setting(spec.environmentFile)}`] : []),
    `ExecStart=${[node, ...args].map(execWord).join(' ')}`,
    'Restart=on-failure',
    `RestartSec=${UNIT_RESTART_DELAY_S}`,
    'KillSignal=SIGTERM',
    `TimeoutStopSec=${UNIT_STOP_TIMEOUT_S}`,
    `SyslogIdentifier=${bare}`,
    '',
    '[Install]',
    `WantedBy=${system ? 'multi-user.target' : 'default.target'}`,
  ];
  return `${lines.join('\n')}\n`;
}
