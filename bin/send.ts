import type { CommandModule } from 'yargs';
import { MdnsDiscovery, Peer, SketchError } from '../runtime/index.js';
import { CLIENT_SECURITY_OPTIONS, clientSecurity } from './cli-options.js';
import { die } from './fail.js';

/** `sketch send <peer> <message...>`: send each message, print each acknowledgement. */
export const sendCommand: CommandModule<object, { peer: string; message: string[]; 'discover-timeout': number; key?: string; 'insecure-key': boolean; ca?: string }> = {
  command: 'send <peer> <message...>',
  describe: 'send messages to a sketch (instance name or ws:// URL) and print each acknowledgement',
  builder: (y) =>
    y
      .positional('peer', { type: 'string', demandOption: true, describe: 'instance name or ws://HOST:PORT/PATH' })
      .positional('message', { type: 'string', array: true, demandOption: true, describe: 'messages, sent in order' })
      .option('discover-timeout', { type: 'number', default: 5, requiresArg: true, describe: 'seconds to look for the peer by name' })
      .options(CLIENT_SECURITY_OPTIONS),
  handler: async (argv) => {
    const byName = !/^wss?:\/\//i.test(argv.peer);
    const discovery = byName ? new MdnsDiscovery() : false;
    const peer = new Peer(argv.peer, {
      discovery,
      discoverTimeout: argv['discover-timeout'] * 1000,
      retries: 0,
      ...(await clientSecurity(argv).catch(die)),
      log: (line) => console.error(`sketch: ${line}`),
    });
    let status = 0;
    try {
      for (const message of argv.message) {
        try {
          console.log(await peer.send(String(message)));
        } catch (err) {
          if (!(err instanceof SketchError) || err.code !== 'SKETCH_ERR_REMOTE') throw err;
          console.error(`sketch: ${err.message}`);
          status = 1;
        }
      }
    } catch (err) {
      await peer.close();
      if (discovery) await discovery.close();
      die(err);
    }
    await peer.close();
    if (discovery) await discovery.close();
    process.exit(status);
  },
};
