/**
 * `notifier`: tell a running instance that bitcoind has a new block, for
 * `bitcoind -blocknotify="notifier -n NAME"` (ckpool's notifier.c, behaviour §11).
 * Sends `update` to `<-s or /tmp>/<-n or ckpool>/stratifier`; `-p` makes the default
 * name ckproxy. An optional block hash argument (`-blocknotify="notifier -n NAME %s"`)
 * is passed on as `update <hash>`; ckpool's stratifier also accepts that form (it
 * matches the `update` prefix).
 *
 * Better than ckpool: it waits for the instance's answer, so "not running" and a
 * refused update are a clear message on stderr and exit status 1. An empty reply
 * (a real ckpool answers nothing) counts as delivered.
 */
import { Command, CommanderError } from 'commander';
import { sendControl } from '../control/framing.js';
import { clientSocketPath } from '../control/paths.js';
import { VERSION } from './ckpool.js';
import { runIfEntryPoint } from './entry.js';

/** bitcoind waits for -blocknotify commands; do not hold it long. */
const NOTIFY_TIMEOUT_MS = 10_000;

export interface NotifierOptions {
  readonly socketPath: string;
  readonly message: string;
}

export function parseNotifierArgs(argv: readonly string[]): NotifierOptions {
  const out = { stdout: '' };
  const program = new Command('notifier')
    .description('Tell a running ckpool-ts instance about a new block (for bitcoind -blocknotify)')
    .helpOption('-h, --help', 'show this help and exit')
    .version(VERSION, '--version', 'print the version and exit')
    .option('-n, --name <name>', 'instance name (default ckpool, or ckproxy with -p)')
    .option('-p, --proxy', 'the instance is a proxy: default name ckproxy')
    .option('-s, --sockdir <dir>', "PARENT of the instance's socket directory (default /tmp); the name is appended")
    .argument('[blockhash]', 'the new block hash (bitcoind %s), optional')
    .exitOverride()
    .configureOutput({ writeOut: (s) => { out.stdout += s; }, writeErr: () => undefined });
  try {
    program.parse([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) throw Object.assign(new Error(e.message.replace(/^error: /, '')), { exitCode: e.exitCode, output: out.stdout });
    throw e;
  }
  const o = program.opts<{ name?: string; proxy?: true; sockdir?: string }>();
  const hash = program.args[0];
  if (hash !== undefined && !/^[0-9a-fA-F]{64}$/.test(hash)) throw new Error(`${JSON.stringify(hash)} is not a 64-digit block hash`);
  return {
    socketPath: clientSocketPath({ parentDir: o.sockdir, name: o.name, proxy: !!o.proxy, sockname: 'stratifier' }),
    message: hash ? `update ${hash.toLowerCase()}` : 'update',
  };
}

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  let opts: NotifierOptions;
  try {
    opts = parseNotifierArgs(argv);
  } catch (e) {
    const err = e as Error & { exitCode?: number; output?: string };
    if (err.exitCode === 0) {
      process.stdout.write(err.output ?? '');
      return 0;
    }
    process.stderr.write(`notifier: ${err.message} (see --help)\n`);
    return 1;
  }
  let reply: string;
  try {
    reply = await sendControl(opts.socketPath, opts.message, { timeoutMs: NOTIFY_TIMEOUT_MS });
  } catch (e) {
    process.stderr.write(`notifier: ${(e as Error).message}\n`);
    return 1;
  }
  if (reply.startsWith('{')) {
    // our error shape: {"error": "..."}
    let error: unknown;
    try {
      error = (JSON.parse(reply) as { error?: unknown }).error;
    } catch {
      error = reply;
    }
    if (error !== undefined) {
      process.stderr.write(`notifier: the instance refused the update: ${String(error)}\n`);
      return 1;
    }
  }
  process.stdout.write('Notified stratifier of block update\n');
  return 0;
}


runIfEntryPoint(import.meta.url, () => main());
