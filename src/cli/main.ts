#!/usr/bin/env node
/**
 * The crimux command line: `serve`, `config check FILE`, `route --explain POD.json`, `state ls`.
 * Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.
 */
import { parseArgs } from 'node:util';
import { errorMessage, InvalidArgumentError } from '../errors';
import { serve } from './serve';
import { configCheck } from './config-check';
import { routeExplain } from './route-explain';
import { stateLs } from './state-ls';
import { rkt } from './rkt';

const USAGE = `usage: crimux <command> [options]

commands:
  serve [--config FILE] [--socket PATH] [--state-dir DIR] [--metrics-address HOST:PORT] [--log-level LEVEL]
        run the daemon (SIGTERM/SIGINT drain and stop, SIGHUP reloads handlers and routing rules)
  config check FILE          validate a config file and print the effective handler table
  route --explain POD.json [--config FILE] [--runtime-handler NAME]
                             print the backend a PodSandboxConfig would be routed to, and why
  state ls [--config FILE] [--state-dir DIR] [--json]
                             print the ownership records (safe while the daemon runs)
  rkt [--config FILE] <rkt command>
                             rkt-syntax view of the rkt backend's pods (e.g. rkt list --format=json)
`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'serve':
        return await serve(parse(rest, { config: 'string', socket: 'string', 'state-dir': 'string', 'metrics-address': 'string', 'log-level': 'string' }).values);
      case 'config': {
        const [sub, file] = rest;
        if (sub !== 'check' || !file) return usage('config check needs a FILE');
        return configCheck(file);
      }
      case 'route': {
        const { values, positionals } = parse(rest, { explain: 'string', config: 'string', 'runtime-handler': 'string' }, true);
        const pod = values.explain ?? positionals[0];
        if (!pod) return usage('route --explain needs a POD.json');
        return routeExplain(pod, values.config, values['runtime-handler'] ?? '');
      }
      case 'state': {
        const [sub, ...more] = rest;
        if (sub !== 'ls') return usage('state: only "ls" is known');
        const { values } = parse(more, { config: 'string', 'state-dir': 'string', json: 'boolean' });
        return stateLs(values);
      }
      case 'rkt':
        return await rkt(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        return cmd === undefined ? 2 : 0;
      default:
        return usage(`unknown command "${cmd}"`);
    }
  } catch (err) {
    process.stderr.write(`crimux ${cmd ?? ''}: ${errorMessage(err)}\n`);
    return err instanceof InvalidArgumentError ? 2 : 1;
  }
}

type OptionTypes = Record<string, 'string' | 'boolean'>;

function parse(args: string[], spec: OptionTypes, allowPositionals = false) {
  const options = Object.fromEntries(Object.entries(spec).map(([k, type]) => [k, { type }]));
  try {
    return parseArgs({ args, options, allowPositionals, strict: true }) as {
      values: Record<string, string | undefined> & { json?: boolean };
      positionals: string[];
    };
  } catch (err) {
    throw new InvalidArgumentError(errorMessage(err));
  }
}

function usage(problem: string): number {
  process.stderr.write(`crimux: ${problem}\n\n${USAGE}`);
  return 2;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`crimux: ${errorMessage(err)}\n`);
      process.exitCode = 1;
    },
  );
}
