/**
 * The ckpool-ts pool under benchmark (scripts/bench-table.sh), as its own process:
 *
 *   node --max-semi-space-size=1 --import=tsx scripts/bench-pool.ts --rpc 127.0.0.1:18443 [--zmq tcp://127.0.0.1:28332] [--port 3333] [--workers N]
 *
 * A Pool from the library, on a ckpool-bench template source (RPC user/password
 * bench/bench), with the limits a load generator needs lifted: no invalid-share flood
 * drop (every benchmark share is a random, rejected one), no per-client message rate
 * limit, 50,000 clients. `--workers N` serves the miners on N worker threads (default 0:
on the main thread, as one process always did). Run it with the V8 flag the ckpool
binary uses (bin/ckpool.js), as bench-table.sh does. Everything else is the pool's default. Prints
 * {"port","pid"} once listening; stops on SIGINT/SIGTERM.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Pool } from '../ts/pool/pool.js';

const { values } = parseArgs({
  options: {
    rpc: { type: 'string' },
    zmq: { type: 'string' },
    port: { type: 'string', default: '0' },
    workers: { type: 'string', default: '0' },
    address: { type: 'string', default: 'bcrt1qlk935ze2fsu86zjp395uvtegztrkaezawxx0wf' },
    // also listen on stratum+ssl://127.0.0.1:0 with this certificate and key (scripts/bench-tls.ts)
    tlscert: { type: 'string' },
    tlskey: { type: 'string' },
  },
});
if (!values.rpc) throw new Error('--rpc host:port of the template source is required');
const logdir = mkdtempSync(path.join(tmpdir(), 'ckpool-bench-pool-'));
const pool = await Pool.start({
  btcd: [{ url: values.rpc, auth: 'bench', pass: 'bench', notify: !!values.zmq, line: 0 }],
  zmqblock: values.zmq,
  btcaddress: values.address,
  serverurl: [`127.0.0.1:${values.port}`, ...(values.tlscert ? ['stratum+ssl://127.0.0.1:0'] : [])],
  ...(values.tlscert ? { tlscert: values.tlscert, tlskey: values.tlskey } : {}),
  startdiff: 1,
  mindiff: 1,
  logdir,
  updateInterval: 3600,
}, {
  server: { highdiffPort: 65535, floodRate: 1e9, floodBurst: 1e9, maxClients: 50_000 },
  authTimeoutMs: 600_000,
  invalidBurst: Number.POSITIVE_INFINITY,
  statsIntervalMs: 3_600_000,
  workers: Number(values.workers),
});
process.stdout.write(JSON.stringify({ port: pool.addresses[0]!.port, ...(values.tlscert ? { tlsPort: pool.addresses[1]!.port } : {}), pid: process.pid }) + '\n');
const stop = () => void pool.stop().finally(() => { rmSync(logdir, { recursive: true, force: true }); process.exit(0); });
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
