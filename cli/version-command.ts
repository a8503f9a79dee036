/** `berth version`: the client's version (and, once a server is reachable, the server's). */
import { Command } from 'commander';
import { berthVersion } from '../lib/version.js';

export function versionCommand(): Command {
  return new Command('version')
    .description('print the Berth version')
    .option('-o, --output <format>', 'output format: text or json', 'text')
    .action((opts: { output: string }) => {
      const v = berthVersion();
      if (opts.output === 'json') {
        process.stdout.write(`${JSON.stringify({ clientVersion: v }, null, 2)}\n`);
      } else if (opts.output === 'text') {
        process.stdout.write(`Berth version ${v.version} (node ${v.node}, ${v.platform})\n`);
      } else {
        throw new Error(`unknown output format "${opts.output}": use text or json`);
      }
    });
}
