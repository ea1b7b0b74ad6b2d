/** `systemd-analyze verify` for the tests of generated units (test/systemd-unit.ts, test/cli-service.ts). No side effects on import. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';

/**
 * `systemd-analyze verify` on `unit` written as `sketch-NAME.service` in a temporary folder:
 * its exit status and everything it printed (warnings about unknown keys or bad quoting included).
 */
export function verifyUnit(unit: string, scope: 'system' | 'user', name = 'porch'): { status: number | null; output: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'unit-'));
  try {
    const file = path.join(dir, `sketch-${name}.service`);
    writeFileSync(file, unit);
    // A user manager needs a runtime folder of its own to exist, even just to check a unit.
    const env = { ...process.env, XDG_RUNTIME_DIR: dir, SYSTEMD_LOG_COLOR: '0' };
    const args = [...(scope === 'user' ? ['--user'] : []), 'verify', '--man=no', file];
    const r = spawnSync(SYSTEMD_ANALYZE, args, { env, encoding: 'utf8', timeout: 30_000 });
    return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Why systemd-analyze cannot be used here, or undefined when it can. */
export const noAnalyzer = (): string | undefined =>
  existsSync(SYSTEMD_ANALYZE) ? undefined : `${SYSTEMD_ANALYZE} is missing (Debian's systemd package; .ci/run installs it)`;

