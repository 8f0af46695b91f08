/**
 * A process under the passthrough benchmark (bench/passthrough.ts): the main pool
 * (BENCH_ROLE=pool, config JSON in BENCH_CONFIG, a Pool) or the passthrough
 * (BENCH_ROLE=passthrough, a CkpoolConfig in BENCH_CONFIG). Prints {"port","pid"} once
 * listening; each "stats" line on stdin is answered with one JSON line; stops when
 * stdin closes.
 */
import { createInterface } from 'node:readline';
import { MemoryLogger, NullLogger } from '../ts/log/logger.js';
import { PassthroughMode } from '../ts/modes/passthrough.js';
import { Pool } from '../ts/pool/pool.js';

const role = process.env.BENCH_ROLE;
const cfg = JSON.parse(process.env.BENCH_CONFIG ?? '{}');
const server = { highdiffPort: 65535, floodRate: 1e9, floodBurst: 1e9, maxClients: 50_000 };
let stats: () => unknown;
let stop: () => Promise<void>;
let port: number;
if (role === 'pool') {
  const pool = await Pool.start(cfg, { server, authTimeoutMs: 600_000, invalidBurst: Number.POSITIVE_INFINITY, statsIntervalMs: 3_600_000 });
  port = pool.addresses[0]!.port;
  stats = () => ({ tcpClients: pool.server.stats().clients, stratifierClients: pool.stratifier.clients.size, links: pool.links.links.size, subClients: pool.links.subClients });
  stop = () => pool.stop();
} else {
  const pt = await PassthroughMode.start(cfg, { server, logger: process.env.BENCH_DEBUG ? new MemoryLogger() : new NullLogger() });
  await pt.waitReady(10_000);
  port = pt.addresses[0]!.port;
  stats = () => ({ miners: pt.miners.size, ...pt.counters, upstreamPending: pt.link?.pendingBytes ?? -1 });
  stop = () => pt.stop();
}
process.stdout.write(JSON.stringify({ port, pid: process.pid }) + '\n');
const rl = createInterface({ input: process.stdin });
rl.on('line', (l) => { if (l.trim() === 'stats') process.stdout.write(JSON.stringify(stats()) + '\n'); });
rl.on('close', () => void stop().then(() => process.exit(0)));
