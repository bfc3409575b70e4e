#!/usr/bin/env node
/**
 * The crimux command line: `serve`, `config check FILE`, `config default`, `route --explain POD.json`, `state ls`,
 * `rkt …`, `version`. Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error. Usage goes to stdout
 * only when asked for (--help); as the answer to a wrong call it goes to stderr with exit 2.
 */
import { parseArgs } from 'node:util';
import { errorMessage, InvalidArgumentError } from '../errors';
import { defaultConfigFile } from '../config/load';
import { VERSION } from '../version';
import { serve } from './serve';
import { configCheck } from './config-check';
import { configDefault } from './config-default';
import { routeExplain } from './route-explain';
import { stateLs } from './state-ls';
import { rkt } from './rkt';

const USAGE = `usage: crimux <command> [options]

commands:
  serve [--config FILE] [--socket PATH] [--state-dir DIR] [--metrics-address HOST:PORT] [--log-level LEVEL]
        run the daemon (SIGTERM/SIGINT drain and stop, SIGHUP reloads handlers, routing rules and the log level)
  config check FILE          validate a config file and print the effective handler table
  config default             print the default configuration, every key documented (a valid config file)
  route --explain POD.json [--config FILE] [--runtime-handler NAME]
                             print the backend a PodSandboxConfig would be routed to, and why
  state ls [--config FILE] [--state-dir DIR] [--json]
                             print the ownership records (safe while the daemon runs)
  rkt [--config FILE] <rkt command>
                             rkt-syntax view of the rkt backend's pods (e.g. rkt list --format=json)
  version                    print crimux's version (also --version)

Without --config, commands read $CRIMUX_CONFIG, else /etc/crimux/crimux.json if it exists, else the defaults.
`;

const SERVE_OPTIONS = {
  config: 'string',
  socket: 'string',
  'state-dir': 'string',
  'metrics-address': 'string',
  'log-level': 'string',
} as const;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    // `crimux rkt … --help` is rkt's own syntax; every other command answers --help with the usage.
    if (cmd !== 'rkt' && (rest.includes('--help') || rest.includes('-h'))) return help();
    switch (cmd) {
      case 'serve': {
        const values = parse(rest, SERVE_OPTIONS).values as Record<string, string | undefined>;
        return await serve({ ...values, config: values.config ?? defaultConfigFile() });
      }
      case 'config': {
        const [sub, file] = rest;
        if (sub === 'default') return configDefault();
        if (sub !== 'check' || !file) return usage('config: "check FILE" or "default"');
        return configCheck(file);
      }
      case 'route': {
        const { values, positionals } = parse(
          rest,
          { explain: 'string', config: 'string', 'runtime-handler': 'string' },
          true,
        );
        const pod = values.explain ?? positionals[0];
        if (!pod) return usage('route --explain needs a POD.json');
        return routeExplain(pod, values.config ?? defaultConfigFile(), values['runtime-handler'] ?? '');
      }
      case 'state': {
        const [sub, ...more] = rest;
        if (sub !== 'ls') return usage('state: only "ls" is known');
        const { values } = parse(more, { config: 'string', 'state-dir': 'string', json: 'boolean' });
        return stateLs({ ...values, config: values.config ?? defaultConfigFile() });
      }
      case 'rkt':
        return await rkt(rest);
      case 'version':
      case '--version':
      case '-v':
        process.stdout.write(`crimux ${VERSION}\n`);
        return 0;
      case 'help':
      case '--help':
      case '-h':
        return help();
      case undefined:
        return usage('a command is needed');
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

function help(): number {
  process.stdout.write(USAGE);
  return 0;
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
