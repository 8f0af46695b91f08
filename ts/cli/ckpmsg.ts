/**
 * `ckpmsg`: send control messages to a running instance (ckpool's ckpmsg.c, behaviour
 * §11). Each stdin line (or each line typed at the prompt) is one message on a new
 * connection to `<-s or /tmp>/<-n or ckpool>/<-N or listener>`; lines starting with
 * `#` are skipped; each reply is printed as `[stamp] Received response: <reply>`.
 *
 * Options as ckpool's: -n NAME, -s PARENTDIR (the sockdir's parent: the name is always
 * appended), -N SOCKNAME, -p (ckpool's "proxy": the default name becomes ckproxy),
 * -l LOGLEVEL (of ckpmsg's own messages; 7 shows "Got message" lines, 5 only replies),
 * -t/-T the reply timeouts in seconds (first byte / the rest), -c a running count.
 *
 * Better than ckpool: an instance that is not running (no socket, or a stale one) is a
 * clear error on stderr and exit status 1, not "Failed to open socket" and status 0;
 * a reply timeout is reported as such and makes the exit status 1.
 */
import { createInterface } from 'node:readline';
import { Command, CommanderError } from 'commander';
import { isCkpoolError } from '../errors.js';
import { sendControl, REPLY_REST_TIMEOUT_MS, REPLY_TIMEOUT_MS } from '../control/framing.js';
import { clientSocketPath } from '../control/paths.js';
import { LogLevel } from '../log/logger.js';
import { VERSION } from './ckpool.js';
import { runIfEntryPoint } from './entry.js';

export interface CkpmsgOptions {
  readonly socketPath: string;
  readonly loglevel: number;
  readonly counter: boolean;
  readonly timeoutMs: number;
  readonly restTimeoutMs: number;
}

/** Where output goes (replaced in tests). */
export interface Io {
  readonly input: NodeJS.ReadableStream & { isTTY?: boolean };
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown };
}

/** ckpmsg's stamp: `[2024-05-01 12:00:00+02]`, or `+05:30` for a zone with minutes. */
export function ckpmsgStamp(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const off = -d.getTimezoneOffset();
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off);
  const tz = abs % 60 ? `${sign}${p(Math.floor(abs / 60))}:${p(abs % 60)}` : `${sign}${p(Math.floor(abs / 60))}`;
  return `[${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}${tz}]`;
}

function seconds(flag: string) {
  return (v: string): number => {
    if (!/^\d+(\.\d+)?$/.test(v.trim()) || Number(v) <= 0) throw new Error(`${flag} needs a positive number of seconds, got ${JSON.stringify(v)}`);
    return Number(v);
  };
}

interface Raw {
  counter?: true;
  loglevel: string;
  name?: string;
  sockname?: string;
  proxy?: true;
  sockdir?: string;
  timeout1?: number;
  timeout2?: number;
}

/** Parse ckpmsg's command line. Throws Error with a usage message, or {exitCode, output} for --help/--version. */
export function parseCkpmsgArgs(argv: readonly string[]): CkpmsgOptions {
  const out = { stdout: '', stderr: '' };
  const program = new Command('ckpmsg')
    .description('Send control messages (one per stdin line) to a running ckpool-ts instance and print the replies')
    .helpOption('-h, --help', 'show this help and exit')
    .version(VERSION, '--version', 'print the version and exit')
    .option('-c, --counter', 'print a running count of messages sent every 100')
    .option('-l, --loglevel <loglevel>', "level of ckpmsg's own messages, 0..7 (5: replies only)", String(LogLevel.DEBUG))
    .option('-n, --name <name>', 'instance name (default ckpool, or ckproxy with -p)')
    .option('-N, --sockname <sockname>', 'socket: listener, stratifier, generator or connector (default listener)')
    .option('-p, --proxy', 'the instance is a proxy: default name ckproxy')
    .option('-s, --sockdir <dir>', "PARENT of the instance's socket directory (default /tmp); the name is appended")
    .option('-t, --timeout1 <seconds>', `wait this long for a reply to start (default ${REPLY_TIMEOUT_MS / 1000})`, seconds('-t'))
    .option('-T, --timeout2 <seconds>', `and this long for the rest of it (default ${REPLY_REST_TIMEOUT_MS / 1000})`, seconds('-T'))
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({ writeOut: (s) => { out.stdout += s; }, writeErr: (s) => { out.stderr += s; } });
  try {
    program.parse([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) throw Object.assign(new Error(e.message.replace(/^error: /, '')), { exitCode: e.exitCode, output: out.stdout });
    throw e;
  }
  const o = program.opts<Raw>();
  if (!/^[0-7]$/.test(o.loglevel.trim())) throw new Error(`Invalid loglevel: ${o.loglevel} (range 0 - 7)`);
  return {
    socketPath: clientSocketPath({ parentDir: o.sockdir, name: o.name, proxy: !!o.proxy, sockname: o.sockname }),
    loglevel: Number(o.loglevel.trim()),
    counter: !!o.counter,
    timeoutMs: (o.timeout1 ?? REPLY_TIMEOUT_MS / 1000) * 1000,
    restTimeoutMs: (o.timeout2 ?? REPLY_REST_TIMEOUT_MS / 1000) * 1000,
  };
}

/** Send every line of `io.input`; resolves the exit status. */
export async function runCkpmsg(opts: CkpmsgOptions, io: Io): Promise<number> {
  const log = (level: number, text: string) => {
    if (level > opts.loglevel) return;
    (level <= LogLevel.ERR ? io.stderr : io.stdout).write(`${text}\n`);
  };
  const rl = createInterface({ input: io.input, terminal: !!io.input.isTTY, crlfDelay: Infinity });
  let status = 0;
  let count = 0;
  try {
    for await (const line of rl) {
      if (line.length === 0) {
        log(LogLevel.ERR, `${ckpmsgStamp()} No message`);
        continue;
      }
      if (line.startsWith('#')) {
        log(LogLevel.DEBUG, `${ckpmsgStamp()} Got comment: ${line}`);
        continue;
      }
      log(LogLevel.DEBUG, `${ckpmsgStamp()} Got message: ${line}`);
      let reply: string;
      try {
        reply = await sendControl(opts.socketPath, line, { timeoutMs: opts.timeoutMs, restTimeoutMs: opts.restTimeoutMs });
      } catch (e) {
        io.stderr.write(`ckpmsg: ${(e as Error).message}\n`);
        status = 1;
        // Nothing there: every further line would fail the same way.
        if (isCkpoolError(e, 'CKP_ERR_CONTROL_NOT_RUNNING') || isCkpoolError(e, 'CKP_ERR_CONTROL_CONNECT')) break;
        continue;
      }
      if (reply === '') log(LogLevel.ERR, 'Received empty reply');
      else log(LogLevel.NOTICE, `${ckpmsgStamp()} Received response: ${reply}`);
      if (opts.counter && ++count % 100 === 0) io.stdout.write(`${String(count).padStart(8)}\r`);
    }
  } finally {
    rl.close();
  }
  return status;
}

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  let opts: CkpmsgOptions;
  try {
    opts = parseCkpmsgArgs(argv);
  } catch (e) {
    const err = e as Error & { exitCode?: number; output?: string };
    if (err.exitCode === 0) {
      process.stdout.write(err.output ?? '');
      return 0;
    }
    process.stderr.write(`ckpmsg: ${err.message}${/see --help/.test(err.message) ? '' : ' (see --help)'}\n`);
    return 1;
  }
  return runCkpmsg(opts, { input: process.stdin, stdout: process.stdout, stderr: process.stderr });
}


runIfEntryPoint(import.meta.url, () => main());
