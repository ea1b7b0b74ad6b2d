import path from 'node:path';
import type { CommandModule } from 'yargs';
import { CA_DAYS, CERT_DAYS, defaultCaDir, initCa, issueCert } from '../runtime/security/ca.js';
import { die } from './fail.js';

interface CaArgs {
  action: string;
  name?: string;
  dir: string;
  host?: string[];
  days?: number;
}

/**
 * `sketch ca init` / `sketch ca issue NAME`: a private CA for a network of sketches, and a
 * certificate per sketch, so that clients can tell the real `iopin` from an impostor announcing
 * the same name (mDNS cannot: RFC 6762 §21).
 */
export const caCommand: CommandModule<object, CaArgs> = {
  builder: (y) =>
    y
      .positional('action', { type: 'string', choices: ['init', 'issue'], demandOption: true, describe: 'init: create the CA; issue: a certificate for sketch NAME' })
      .positional('name', { type: 'string', describe: 'issue: the sketch instance name (its --name)' })
      .option('dir', { type: 'string', default: defaultCaDir(), requiresArg: true, describe: 'where the CA and certificates are kept' })
      .option('host', { type: 'string', array: true, requiresArg: true, describe: 'issue: another DNS name or IP address for the certificate (repeatable)' })
      .option('days', { type: 'number', requiresArg: true, describe: `validity in days (default: CA ${CA_DAYS}, certificate ${CERT_DAYS})` })
      .check((a) => {
        if (a.action === 'issue' && !a.name) throw new Error('name the sketch: sketch ca issue NAME');
        if (a.action === 'init' && a.name) throw new Error('sketch ca init takes no name');
        if (a.days !== undefined && !(Number.isInteger(a.days) && a.days >= 1)) throw new Error(`--days must be a whole number ≥ 1, got ${a.days}`);
        return true;
      }),
  handler: async (argv) => {
    const dir = path.resolve(argv.dir);
    try {
      if (argv.action === 'init') {
        const files = await initCa(dir, { days: argv.days });
        console.log(`CA created: ${files.cert} (give it to clients: --ca ${files.cert})`);
        console.log(`            ${files.key} (keep it here, mode 0600)`);
        console.log('next: sketch ca issue NAME for each sketch');
      } else {
        const out = await issueCert(dir, argv.name!, { hosts: argv.host, days: argv.days });
        console.log(`certificate for "${argv.name}": ${out.cert}, key ${out.key} (mode 0600)`);
        console.log(`serve with: sketch run KIND --name ${argv.name} --tls-cert ${out.cert} --tls-key ${out.key}`);
        console.log(`clients:    --ca ${path.join(dir, 'ca.crt')}`);
      }
    } catch (err) {
      die(err);
    }
  },
};
