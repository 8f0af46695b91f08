/**
 * `ckpool-bench`: a stratum v1 load generator for any pool (ckpool-ts, ckpool, others),
 * and a fake template source for benchmarks. See BENCHMARKS.md, "ckpool-bench (issue 7)".
 *
 *   ckpool-bench throughput -p 3333 -c 10 -P 16 -d 10
 *   ckpool-bench throughput --sv2 --sv2-key <authority pubkey> -p 3336 -c 10 -P 16 -d 10
 *   ckpool-bench connect -p 3333 -c 10000 --pid <pool pid>
 *   ckpool-bench connect -p 3333 -c 100000 --procs 8 --sources 127.0.0.2-127.0.0.40
 *   ckpool-bench broadcast -p 3333 -c 1000 --rpc 127.0.0.1:18443
 *   ckpool-bench flood -p 3333 -c 500 --burst 4000 --interval 500 --requests 12000
 *   ckpool-bench template-source --txs 4000 --port 18443 --zmq 28332
 *
 * Every run prints a human table and, as the last line of stdout, one JSON summary;
 * progress goes to stderr.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ckError, isCkpoolError } from '../errors.js';
import { broadcast, connect, throughput, type CommonOptions } from '../bench/modes.js';
import { flood } from '../bench/flood.js';
import { sv2Connect, sv2Throughput } from '../bench/sv2.js';
import { parseSources } from '../bench/limits.js';
import { broadcastMulti, connectMulti } from '../bench/multi.js';
import { endProgress, formatResult, progressWriter, type BenchResult } from '../bench/report.js';
import type { ChainName } from '../bench/template-source.js';
import { triggerNewBlock } from '../bench/trigger.js';
import { runIfEntryPoint } from './entry.js';

/** ../../package.json from both ts/cli/ and dist/cli/. */
const VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const PROG = 'ckpool-bench';

const FAKE_NODE_NOTE =
  'A FAKE bitcoind for benchmarks only: it validates nothing and holds no chain. It serves ' +
  'block templates over bitcoind\'s JSON-RPC (getblocktemplate with mainnet-like bits and 0..N synthetic segwit ' +
  'transactions, txid != wtxid, a correct default_witness_commitment; getblockchaininfo, ' +
  'getnetworkinfo, validateaddress, getbestblockhash, getblockcount, getblockhash, ' +
  'submitblock, decoderawtransaction) plus bench_newblock (also POST /newblock), which ' +
  'moves the tip and publishes ZMQ hashblock when --zmq is set. Prints one JSON line ' +
  '{rpc, user, password, zmq, …} when ready; runs until SIGINT/SIGTERM.';

function int(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    const x = Number(v);
    if (!/^\s*\d+\s*$/.test(v) || x < min || x > max) throw new InvalidArgumentError(`${name} must be an integer ${min}..${max}`);
    return x;
  };
}

function num(name: string, min: number) {
  return (v: string): number => {
    const x = Number(v);
    if (v.trim() === '' || !Number.isFinite(x) || x < min) throw new InvalidArgumentError(`${name} must be a number ≥ ${min}`);
    return x;
  };
}

function pidList(v: string): number[] {
  const pids = v.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (!pids.length || pids.some((p) => !Number.isInteger(p) || p < 1)) throw new InvalidArgumentError('--pid must be a process id (or a comma-separated list)');
  return pids;
}

const list = (v: string): string[] => v.split(',').map((s) => s.trim()).filter(Boolean);

interface RawCommon {
  host: string;
  port: number;
  user: string;
  password: string;
  connections: number;
  bind?: string[];
  pid?: number[];
  timeout: number;
  quiet?: boolean;
  json?: boolean;
  tls?: boolean;
}

/** Options every load mode has. */
function withCommon(cmd: Command, connections: number): Command {
  return cmd
    .option('-H, --host <host>', 'pool address', '127.0.0.1')
    .option('-p, --port <port>', 'pool stratum port', int('--port', 1, 65535), 3333)
    .option('-u, --user <worker>', 'worker name to authorize as ({i} = connection index)', 'ckpool-bench')
    .option('--password <password>', 'authorize password', 'x')
    .option('-c, --connections <n>', 'connections', int('--connections', 1), connections)
    .option('--bind <addrs>', 'comma-separated source addresses to spread connections over (e.g. 127.0.0.2,127.0.0.3: more than ~28k connections to one port)', list)
    .option('--pid <pids>', 'the pool\'s process id(s); with descendants: RSS and CPU of the pool', pidList)
    .option('--timeout <s>', 'seconds to wait for all handshakes (and each broadcast round)', num('--timeout', 0.1), 60)
    .option('-q, --quiet', 'no progress lines on stderr')
    .option('--json', 'print only the JSON summary line (no table)')
    .option('--tls', 'connect over TLS (a stratum+ssl:// port; the certificate is not verified)');
}

interface RawMulti {
  procs: number;
  sources?: string;
}

/** --procs / --sources (connect, broadcast): more connections than one process can hold. */
function withMulti(cmd: Command): Command {
  return cmd
    .option('--procs <n>', 'generator processes sharing the connections (each under its own open-file limit); results are merged', int('--procs', 1, 256), 1)
    .option('--sources <addrs>', 'source addresses, ranges allowed (127.0.0.2-127.0.0.40): connection i binds the i-th, round-robin, so 100,000 connections fit the ephemeral port range');
}

function multi(o: RawCommon & RawMulti): { procs: number; sources: string[] } | null {
  const sources = o.sources ? parseSources(o.sources) : [];
  // the generator processes' connections are plain TCP (ts/bench/swarm.ts)
  if (o.tls && (o.procs > 1 || sources.length)) throw ckError('CKP_ERR_BENCH_OPTION', '--tls', 'used without --procs / --sources (their connections are plain TCP)', 'both');
  return o.procs > 1 || sources.length ? { procs: o.procs, sources } : null;
}

interface RawSv2 {
  sv2?: boolean;
  sv2Key?: string;
  sv2Engine?: string;
}

/** --sv2 (throughput, connect): Stratum V2 clients from the SV2 reference crates (ts/bench/sv2.ts). */
function withSv2(cmd: Command): Command {
  return cmd
    .option('--sv2', 'Stratum V2 clients (one standard channel per connection) instead of V1; -p is the pool\'s sv2url port. ' +
      'The clients are crates/ckpool-sv2/examples/sv2-bench, built on the SV2 reference crates')
    .option('--sv2-key <pubkey>', 'with --sv2: the pool\'s authority public key (as in stratum2+tcp://host:port/<pubkey>)')
    .option('--sv2-engine <path>', 'with --sv2: the sv2-bench binary (default target/release/examples/sv2-bench, or $CKPOOL_SV2_BENCH)');
}

function sv2Of(o: RawSv2): { authorityKey: string; engine?: string } | null {
  if (!o.sv2) {
    if (o.sv2Key || o.sv2Engine) throw ckError('CKP_ERR_BENCH_OPTION', o.sv2Key ? '--sv2-key' : '--sv2-engine', 'used with --sv2', 'no --sv2');
    return null;
  }
  return { authorityKey: o.sv2Key ?? '', engine: o.sv2Engine };
}

function common(o: RawCommon): CommonOptions {
  return {
    host: o.host, port: o.port, user: o.user, password: o.password, connections: o.connections,
    bind: o.bind, pids: o.pid, timeoutS: o.timeout, progress: o.quiet ? undefined : progressWriter(), tls: o.tls,
  };
}

function emit(r: BenchResult, o: RawCommon): void {
  endProgress();
  if (!o.json) process.stdout.write(formatResult(r) + '\n');
  process.stdout.write(JSON.stringify({ tool: PROG, version: VERSION, ...r }) + '\n');
}

export function buildProgram(out: { stdout: string; stderr: string }, run: { task: (() => Promise<number>) | null }): Command {
  const program = new Command(PROG)
    .description('Stratum v1 load generator for any mining pool (ckpool-ts, ckpool, others), and a fake template source for benchmarks.\n' +
      'Each run prints a table, then one JSON summary line (last line of stdout); progress goes to stderr.\n' +
      'It reports its own CPU use: near 100 % of a core means the generator, not the pool, was the limit.')
    .helpOption('-h, --help', 'show this help and exit')
    .version(VERSION, '--version', 'print the version and exit')
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({ writeOut: (s) => { out.stdout += s; }, writeErr: (s) => { out.stderr += s; } });

  withSv2(withCommon(program.command('throughput'), 10))
    .description('N connections subscribe + authorize; each keeps P submits with random extranonce2/nonce for the current job in flight. ' +
      'Replies per second split by verdict, latency per request (p50/p99). Random shares are fully validated before being rejected ' +
      'as above target, so this measures the pool\'s validation path.')
    .option('-P, --pipeline <n>', 'submits in flight per connection', int('--pipeline', 1, 1024), 16)
    .option('-d, --duration <s>', 'seconds to measure', num('--duration', 0.01), 10)
    .option('-w, --warmup <s>', 'seconds of load before measuring', num('--warmup', 0), 2)
    .option('--shares <n>', 'stop after this many replies (after the warm-up)', int('--shares', 1))
    .option('--table <n>', 'pre-built submits per job, a power of two (default 4096, shared by connections with the same worker name; fewer with {i})', int('--table', 1, 1 << 20))
    .exitOverride()
    .action((o: RawCommon & RawSv2 & { pipeline: number; duration: number; warmup: number; shares?: number; table?: number }) => {
      const sv2 = sv2Of(o);
      run.task = async () => {
        const opts = { ...common(o), pipeline: o.pipeline, durationS: o.duration, warmupS: o.warmup, shares: o.shares, tableSize: o.table };
        const r = sv2 ? await sv2Throughput({ ...opts, ...sv2 }) : await throughput(opts);
        emit(r, o);
        return 0;
      };
    });

  withSv2(withMulti(withCommon(program.command('connect'), 1000)))
    .description('Open N connections at once (or --rate per second); each subscribes + authorizes. Time until all are authorized, ' +
      'failures, and with --pid the pool\'s RSS before/after: bytes per idle authorized client.')
    .option('--rate <n>', 'connections per second (0 = all at once)', num('--rate', 0), 0)
    .option('--settle <ms>', 'wait after the last authorize before reading the pool\'s RSS', num('--settle', 0), 2000)
    .option('--hold <s>', 'keep the connections open this long after measuring', num('--hold', 0), 0)
    .exitOverride()
    .action((o: RawCommon & RawMulti & RawSv2 & { rate: number; settle: number; hold: number }) => {
      const sv2 = sv2Of(o);
      run.task = async () => {
        const m = multi(o);
        if (sv2 && m) throw ckError('CKP_ERR_BENCH_OPTION', '--procs / --sources', 'left out with --sv2', 'both');
        const opts = { ...common(o), rate: o.rate, settleMs: o.settle, holdS: o.hold };
        const r = sv2 ? await sv2Connect({ ...opts, ...sv2 }) : m ? await connectMulti({ ...opts, ...m }) : await connect(opts);
        emit(r, o);
        // a run that lost connections to a system limit says so and fails
        if (r.limits?.length) {
          process.stderr.write(`${PROG}: ${ckError('CKP_ERR_BENCH_LIMIT', r.limits.join('; ')).message}\n`);
          return 1;
        }
        return 0;
      };
    });

  withMulti(withCommon(program.command('broadcast'), 1000))
    .description('N idle authorized clients; trigger a block change (--trigger "<command>", e.g. bitcoin-cli generatetoaddress, ' +
      'or --rpc: bench_newblock on a ckpool-bench template source); time from the trigger until the first, median and last client ' +
      'holds the clean mining.notify.')
    .option('--trigger <command>', 'shell command that changes the tip (the clock starts just before it runs)')
    .option('--rpc <[user:pass@]host:port>', 'template source whose bench_newblock changes the tip (default credentials bench:bench)')
    .option('--rounds <n>', 'block changes to time (the summary gives the median)', int('--rounds', 1), 3)
    .option('--gap <ms>', 'pause between rounds', num('--gap', 0), 2000)
    .option('--settle <ms>', 'pause after all clients hold work, before the first trigger', num('--settle', 0), 1000)
    .exitOverride()
    .action((o: RawCommon & RawMulti & { trigger?: string; rpc?: string; rounds: number; gap: number; settle: number }) => {
      if (o.trigger && o.rpc) throw new InvalidArgumentError('give --trigger or --rpc, not both');
      run.task = async () => {
        const m = multi(o);
        const opts = { ...common(o), trigger: o.trigger, rpc: o.rpc, rounds: o.rounds, gapMs: o.gap, settleMs: o.settle };
        const r = m ? await broadcastMulti({ ...opts, ...m }) : await broadcast(opts);
        emit(r, o);
        return 0;
      };
    });

  withCommon(program.command('flood'), 500)
    .description('Does a heavy client delay everyone? N authorized flooders each send --requests short requests in bursts of --burst ' +
      'every --interval ms (all in step), reading their replies or not (--no-read); one separate miner submits a share every ' +
      '--miner-interval ms (open loop) and its send → reply latency is reported (p50/p99/max, counts over 200/500 ms, unanswered ' +
      'within 5 s), and a fresh connection authorizes once a second. The pool must not drop the miner for its random, invalid shares.')
    .option('--burst <n>', 'requests per burst per flooder', int('--burst', 1), 4000)
    .option('--interval <ms>', 'ms between bursts', num('--interval', 1), 500)
    .option('--requests <n>', 'requests per flooder in all', int('--requests', 1), 12000)
    .option('--method <name>', 'method of the short requests (replies are counted by "pong" for mining.ping)', 'mining.ping')
    .option('--no-read', 'flooders never read their replies')
    .option('--miner-interval <ms>', 'ms between the measured miner\'s submits', num('--miner-interval', 1), 20)
    .option('-d, --duration <s>', 'seconds to measure, from the first burst', num('--duration', 0.1), 20)
    .exitOverride()
    .action((o: RawCommon & { burst: number; interval: number; requests: number; method: string; read: boolean; minerInterval: number; duration: number }) => {
      // flood's own clients (ts/bench/flood.ts) are plain TCP
      if (o.tls) throw new InvalidArgumentError('--tls is not supported by flood');
      run.task = async () => {
        const r = await flood({
          ...common(o), burst: o.burst, intervalMs: o.interval, requests: o.requests, method: o.method, read: o.read,
          minerIntervalMs: o.minerInterval, durationS: o.duration,
        });
        emit(r, o);
        return 0;
      };
    });

  program.command('template-source')
    .description(FAKE_NODE_NOTE)
    .option('--host <host>', 'listen address', '127.0.0.1')
    .option('--port <port>', 'RPC port (0 = any free port)', int('--port', 0, 65535), 0)
    .option('--rpcuser <user>', 'RPC user', 'bench')
    .option('--rpcpassword <password>', 'RPC password', 'bench')
    .option('--txs <n>', 'transactions per template (e.g. 0 or 4000)', int('--txs', 0, 100_000), 0)
    .option('--bits <hex>', 'compact network target (mainnet-like by default)', '17034219')
    .addOption(new Option('--chain <chain>', 'chain reported by getblockchaininfo (decides which addresses validate)')
      .choices(['main', 'test', 'signet', 'regtest']).default('regtest'))
    .option('--height <n>', 'height of the first template', int('--height', 1, 100_000_000), 880_000)
    .option('--zmq <port|endpoint>', 'publish ZMQ hashblock on this port (0 = any) or endpoint (tcp://127.0.0.1:28332)')
    .option('--block-interval <s>', 'also make a new tip every s seconds', num('--block-interval', 0.1))
    .option('-v, --verbose', 'log new tips and submitted blocks to stderr')
    .exitOverride()
    .action((o: { host: string; port: number; rpcuser: string; rpcpassword: string; txs: number; bits: string; chain: ChainName; height: number; zmq?: string; blockInterval?: number; verbose?: boolean }) => {
      run.task = async () => {
        const zmq = o.zmq === undefined ? null : /^\d+$/.test(o.zmq) ? Number(o.zmq) : o.zmq;
        // loaded only here: the template source uses the native core, the load modes do not
        const { TemplateSource } = await import('../bench/template-source.js');
        const ts = await TemplateSource.start({
          host: o.host, port: o.port, user: o.rpcuser, password: o.rpcpassword, txs: o.txs, bits: o.bits, chain: o.chain,
          height: o.height, zmq, log: o.verbose ? (l) => process.stderr.write(`${PROG} template-source: ${l}\n`) : undefined,
        });
        process.stdout.write(JSON.stringify({
          tool: PROG, mode: 'template-source', note: 'fake node for benchmarks only', rpc: ts.url, user: ts.user, password: ts.password,
          zmq: ts.zmq, chain: ts.chain, bits: ts.bits, txs: ts.txs, height: ts.tipHeight + 1, templateBytes: ts.templateBytes, pid: process.pid,
        }) + '\n');
        const iv = o.blockInterval ? setInterval(() => ts.newBlock(), o.blockInterval * 1000) : null;
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        if (iv) clearInterval(iv);
        await ts.close();
        return 0;
      };
    });

  program.command('newblock')
    .description('Ask a ckpool-bench template source for a new tip (bench_newblock); prints {hash, height, rpcMs}.')
    .requiredOption('--rpc <[user:pass@]host:port>', 'the template source')
    .exitOverride()
    .action((o: { rpc: string }) => {
      run.task = async () => {
        const r = await triggerNewBlock(o.rpc);
        process.stdout.write(JSON.stringify(r) + '\n');
        return 0;
      };
    });

  return program;
}

/** The whole program; returns the exit code. */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  const out = { stdout: '', stderr: '' };
  const run: { task: (() => Promise<number>) | null } = { task: null };
  const program = buildProgram(out, run);
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.exitCode === 0 || e.code === 'commander.help' || e.code === 'commander.helpDisplayed' || e.code === 'commander.version') {
        process.stdout.write(out.stdout);
        return 0;
      }
      const msg = isCkpoolError(e) ? e.message : ckError('CKP_ERR_CLI_USAGE', e.message.replace(/^error: /, '')).message;
      process.stderr.write(`${PROG}: ${msg}\n`);
      return 1;
    }
    process.stderr.write(`${PROG}: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  if (!run.task) {
    process.stdout.write(program.helpInformation());
    return argv.length ? 1 : 0;
  }
  try {
    return await run.task();
  } catch (e) {
    endProgress();
    const msg = isCkpoolError(e) ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e);
    process.stderr.write(`${PROG}: ${msg}\n`);
    return 1;
  }
}


runIfEntryPoint(import.meta.url, () => main());
