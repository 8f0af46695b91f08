/**
 * `ckpool` (and `ckproxy`, which is `ckpool -p`): command line, config, log file, then
 * hand-off to ./run.ts.
 *
 * Options, their short and long names, the implied modes and the name/config/sockdir
 * defaults follow ckpool 0.9.9 (ckpool.c:main). Differences, on purpose:
 * - conflicting mode flags are rejected whatever their order (ckpool only checks the
 *   flags seen before, so `-B -p` slipped through while `-p -B` failed);
 * - `-l` must be an integer 0..7 (ckpool's atoi turned `-l x` into 0, EMERG);
 * - `--workers <n|auto>` (ours): worker threads serving the miners in pool and solo
 *   mode; it wins over the config's `workers` key; the default is one per CPU;
 * - a missing btcaddress and other config errors exit 1 (ckpool exited 0);
 * - `-T/--testconfig` is ckpool 1.2's: check the config, print it, exit 0 or 1 (./testconfig.ts).
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { loadConfig } from '../config/load.js';
import type { CkpoolConfig, Mode } from '../config/types.js';
import type { CliFlags, ResolvedOptions } from '../config/options.js';

export type { CliFlags, ResolvedOptions } from '../config/options.js';
import { ckError, isCkpoolError } from '../errors.js';
import { FileLogger } from '../log/file.js';
import { LogLevel } from '../log/logger.js';
import { checkImplemented, run } from './run.js';
import { configReport } from './testconfig.js';
import { runIfEntryPoint } from './entry.js';
import { autoWorkers } from '../config/defaults.js';

/**
 * Thrown by parseArgs for --help and --version: not an error, but parsing ends there.
 * (commander does the same internally.) `output` goes to stdout.
 */
export class CliExit extends Error {
  constructor(readonly exitCode: number, readonly output: string) {
    super(output.trim());
    this.name = 'CliExit';
  }
}

export const VERSION: string = (() => {
  // ../../package.json from both ts/cli/ and dist/cli/.
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
})();

/** `/usr/bin/ckproxy`, `bin/ckproxy.js` → `ckproxy`. */
export function programName(invokedAs: string): string {
  return basename(invokedAs).replace(/\.(?:[cm]?js|ts)$/, '') || 'ckpool';
}

interface RawOptions {
  btcsolo?: true;
  config?: string;
  daemonise?: true;
  group?: string;
  handover?: true;
  killold?: true;
  logShares?: true;
  loglevel?: string;
  node?: true;
  name?: string;
  passthrough?: true;
  proxy?: true;
  quiet?: true;
  demoMiner?: boolean;
  redirector?: true;
  sockdir?: string;
  testconfig?: true;
  trusted?: true;
  userproxy?: true;
  workers?: string;
}

function buildProgram(name: string, out: { stdout: string; stderr: string }): Command {
  return new Command(name)
    .description('Bitcoin mining pool, proxy, passthrough, node and redirector (ckpool-compatible)')
    .helpOption('-h, --help', 'show this help and exit')
    .version(VERSION, '--version', 'print the version and exit')
    .option('-B, --btcsolo', 'solo mining: each miner is paid to the address it authorises with')
    .option('-c, --config <config>', 'config file (default: <name>.conf in the current directory)')
    .option('-D, --daemonise', 'run in the background')
    .option('-g, --group <group>', 'group owning the unix sockets')
    .option('-H, --handover', 'take over the listening sockets of a running instance (implies -k)')
    .option('-k, --killold', 'kill a running instance with the same name')
    .option('-L, --log-shares', 'log every share to <logdir>/<height>/<workbase>.sharelog')
    .option('-l, --loglevel <loglevel>', 'log level 0 (emerg) .. 7 (debug)', String(LogLevel.NOTICE))
    .option('-N, --node', 'node mode: passthrough with its own bitcoind (implies -p -P)')
    .option('-n, --name <name>', 'instance name: default config, sockdir and log file name')
    .option('-P, --passthrough', 'passthrough mode (implies -p)')
    .option('-p, --proxy', 'proxy mode (the default when run as ckproxy)')
    .option('-q, --quiet', 'no status line on stdout')
    .option('--no-demo-miner', 'embedded demo (no config file): do not start the built-in CPU miner')
    .option('-R, --redirector', 'redirector mode (implies -p -P)')
    .option('-s, --sockdir <sockdir>', 'directory for the unix sockets (default: /tmp/<name>/)')
    .option('-T, --testconfig', 'check the config file, print what it resolves to and exit: 0 if good, 1 if not')
    .option('-t, --trusted', 'trusted remote mode: a local pool reporting to an upstream pool')
    .option('-u, --userproxy', 'userproxy mode: one upstream connection per user (implies -p)')
    .option('--workers <n|auto>', 'pool/solo mode: threads serving the miners, 0 (main thread only) .. 1024 or ' +
      '"auto" (default: the config\'s "workers", else one per CPU); ignored by the proxy modes')
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => { out.stdout += s; },
      writeErr: (s) => { out.stderr += s; },
    });
}

// The proxy-type flags ckpool treats as mutually exclusive, with their labels.
const PROXY_TYPES = [
  ['proxy', 'proxy mode (-p)'],
  ['passthrough', 'passthrough mode (-P)'],
  ['node', 'node mode (-N)'],
  ['redirector', 'redirector mode (-R)'],
  ['userproxy', 'userproxy mode (-u)'],
] as const;

/** The most specific mode, checked in ckpool's naming order. */
function modeOf(f: Omit<CliFlags, 'group'>): Mode {
  if (f.node) return 'node';
  if (f.redirector) return 'redirector';
  if (f.passthrough) return 'passthrough';
  if (f.userproxy) return 'userproxy';
  if (f.proxy) return 'proxy';
  return f.btcsolo ? 'solo' : 'pool';
}

const DEFAULT_NAME: Record<Mode, string> = {
  pool: 'ckpool',
  solo: 'ckpool',
  proxy: 'ckproxy',
  userproxy: 'ckproxy',
  passthrough: 'ckpassthrough',
  node: 'cknode',
  redirector: 'ckredirector',
};

/**
 * Parse ckpool's command line (without node and script). Pure: reads no files and
 * does not exit. Throws CkpoolError (CKP_ERR_CLI_*) for bad usage and CliExit for
 * --help / --version.
 */
export function parseArgs(argv: readonly string[], invokedAs = 'ckpool'): ResolvedOptions {
  const prog = programName(invokedAs);
  const out = { stdout: '', stderr: '' };
  const program = buildProgram(prog, out);
  try {
    program.parse([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.exitCode === 0) throw new CliExit(0, out.stdout);
      throw ckError('CKP_ERR_CLI_USAGE', e.message.replace(/^error: /, ''));
    }
    throw e;
  }
  const o = program.opts<RawOptions>();

  // Running as ckproxy is an implicit -p, so `ckproxy -P` conflicts just as `-p -P` does.
  const asProxy = prog === 'ckproxy';
  const chosen = PROXY_TYPES.filter(([k]) => o[k] || (k === 'proxy' && asProxy))
    .map(([k, label]) => (k === 'proxy' && asProxy && !o.proxy ? 'proxy mode (running as ckproxy)' : label));
  if (chosen.length > 1) throw ckError('CKP_ERR_CLI_CONFLICT', chosen[0], chosen[1]);
  const anyProxy = chosen.length === 1;
  if (anyProxy && o.btcsolo) throw ckError('CKP_ERR_CLI_CONFLICT', chosen[0], 'btcsolo mode (-B)');
  if (anyProxy && o.trusted) throw ckError('CKP_ERR_CLI_CONFLICT', chosen[0], 'trusted remote mode (-t)');

  const loglevelText = o.loglevel ?? String(LogLevel.NOTICE);
  if (!/^[0-7]$/.test(loglevelText.trim())) throw ckError('CKP_ERR_CLI_LOGLEVEL', JSON.stringify(loglevelText));

  let workers: number | undefined;
  if (o.workers !== undefined) {
    const w = o.workers.trim();
    if (w === 'auto') workers = autoWorkers();
    else if (/^\d{1,4}$/.test(w) && Number(w) <= 1024) workers = Number(w);
    else throw ckError('CKP_ERR_CLI_WORKERS', JSON.stringify(o.workers));
  }

  const node = !!o.node;
  const redirector = !!o.redirector;
  const passthrough = !!o.passthrough || node || redirector;
  const userproxy = !!o.userproxy;
  const flags = {
    btcsolo: !!o.btcsolo,
    proxy: anyProxy,
    passthrough,
    node,
    redirector,
    userproxy,
    trusted: !!o.trusted,
    handover: !!o.handover,
    killold: !!o.killold || !!o.handover,
    logShares: !!o.logShares,
    daemonise: !!o.daemonise,
    quiet: !!o.quiet,
    demoMiner: o.demoMiner !== false,
    testconfig: !!o.testconfig,
  };
  const mode = modeOf(flags);

  if (o.name !== undefined && (o.name === '' || o.name.includes('/'))) {
    throw ckError('CKP_ERR_CLI_USAGE', `invalid --name ${JSON.stringify(o.name)}: it names files, so no '/' and not empty`);
  }
  for (const [opt, v] of [['--config', o.config], ['--sockdir', o.sockdir], ['--group', o.group]] as const) {
    if (v !== undefined && v.trim() === '') throw ckError('CKP_ERR_CLI_USAGE', `${opt} needs a non-empty value`);
  }
  const name = o.name ?? DEFAULT_NAME[mode];
  const sockdir = o.sockdir ?? `/tmp/${name}/`;
  return {
    mode,
    name,
    configPath: o.config ?? `${name}.conf`,
    configExplicit: o.config !== undefined,
    sockdir: sockdir.endsWith('/') ? sockdir : `${sockdir}/`,
    loglevel: Number(loglevelText.trim()),
    invokedAs: prog,
    flags: o.group !== undefined ? { ...flags, group: o.group } : flags,
    ...(workers !== undefined ? { workers } : {}),
  };
}

function report(prog: string, e: unknown): number {
  if (isCkpoolError(e)) process.stderr.write(`${prog}: ${e.message}\n`);
  else process.stderr.write(`${prog}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  return 1;
}

/** Log the config's warnings and mask its credentials in every later line. */
function prepareLogger(logger: FileLogger, config: CkpoolConfig): void {
  for (const b of config.btcd) {
    logger.addSecret(b.pass);
    // auth may be an ordinary word ("user"); only the password is certainly secret
  }
  for (const p of config.proxy) logger.addSecret(p.pass);
  for (const w of config.warnings) logger.warning(w.message);
}

/**
 * The whole program. Returns the exit code rather than exiting, so a running pool
 * keeps the process alive and tests can call it. `invokedAs` is argv[1] (or a name):
 * `ckproxy` implies -p.
 */
export async function main(argv: readonly string[] = process.argv.slice(2), invokedAs = process.argv[1] ?? 'ckpool'): Promise<number> {
  const prog = programName(invokedAs);
  let options: ResolvedOptions;
  try {
    options = parseArgs(argv, invokedAs);
    // Before the config: an unimplemented mode should say so, not complain about keys.
    checkImplemented(options);
  } catch (e) {
    if (e instanceof CliExit) {
      process.stdout.write(e.output);
      return e.exitCode;
    }
    return report(prog, e);
  }

  let config: CkpoolConfig;
  try {
    config = loadConfig(options.configPath, options.mode, {
      // a config test needs a file: the embedded demo is not a config to check
      optional: !options.configExplicit && !options.flags.testconfig,
      trusted: options.flags.trusted,
    });
  } catch (e) {
    const code = report(prog, e);
    if (options.flags.testconfig) process.stderr.write(`${prog}: Configuration check of ${options.configPath} failed\n`);
    return code;
  }

  if (options.flags.testconfig) {
    for (const w of config.warnings) process.stderr.write(`${prog}: ${w.message}\n`);
    process.stdout.write(`${configReport(config, options).join('\n')}\nConfiguration check of ${config.source} passed\n`);
    return 0;
  }

  if (options.flags.daemonise && process.env[DAEMON_ENV] !== '1') {
    try {
      return daemonise(prog, argv, config, options);
    } catch (e) {
      return report(prog, e);
    }
  }

  // -n names the process too (ckpool renames its threads with prctl); shows in ps/top
  process.title = options.name;

  let logger: FileLogger;
  try {
    logger = new FileLogger({ logdir: config.logdir, name: options.name, level: options.loglevel });
  } catch (e) {
    // The log is not open: config warnings go to stderr, as ckpool prints them.
    for (const w of config.warnings) process.stderr.write(`${prog}: ${w.message}\n`);
    return report(prog, e);
  }
  prepareLogger(logger, config);
  logger.notice(`${prog} ${VERSION} starting: ${options.mode} mode, name ${options.name}, ` +
    (config.embeddedDemo ? `no ${options.configPath}: embedded regtest demo` : `config ${config.source}`));

  try {
    await run(options, config, logger);
    return 0;
  } catch (e) {
    const msg = isCkpoolError(e) ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e);
    logger.emerg(msg); // echoed to stderr too
    logger.close();
    return 1;
  }
}

const DAEMON_ENV = 'CKPOOL_TS_DAEMON';

/**
 * -D: start the same command line again, detached in its own session, with its stdout
 * and stderr appended to the log file, and return at once. The config was loaded first,
 * so configuration errors still reach the terminal.
 */
function daemonise(prog: string, argv: readonly string[], config: CkpoolConfig, options: ResolvedOptions): number {
  mkdirSync(config.logdir, { recursive: true });
  const out = openSync(join(config.logdir, `${options.name}.log`), 'a');
  const script = process.argv[1]!;
  const child = spawn(process.execPath, [...process.execArgv, script, ...argv], {
    detached: true,
    stdio: ['ignore', out, out],
    env: { ...process.env, [DAEMON_ENV]: '1' },
  });
  child.unref();
  closeSync(out);
  process.stdout.write(`${prog}: running in the background as process ${child.pid}\n`);
  return 0;
}


runIfEntryPoint(import.meta.url, () => main());

