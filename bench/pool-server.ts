/**
 * The pool under benchmark, run as its own process (bench/pool.ts pins it to one core).
 * Config comes as JSON in BENCH_POOL_CONFIG; prints {"port","pid"} once listening and
 * stops when its stdin closes.
 */
import { Pool } from '../ts/pool/pool.js';

const cfg = JSON.parse(process.env.BENCH_POOL_CONFIG ?? '{}');
const pool = await Pool.start(cfg, {
  server: { highdiffPort: 65535, floodRate: 1e9, floodBurst: 1e9, maxClients: 50_000 },
  authTimeoutMs: 600_000,
  invalidBurst: Number.POSITIVE_INFINITY, // every benchmark share is a random, rejected one
  statsIntervalMs: 3_600_000,
});
process.stdout.write(JSON.stringify({ port: pool.addresses[0]!.port, pid: process.pid }) + '\n');
process.stdin.resume();
process.stdin.on('end', () => void pool.stop().then(() => process.exit(0)));
