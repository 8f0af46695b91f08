/**
 * Drives crates/ckpool-sv2/examples/sv2-testclient (an SV2 client built only from the
 * Stratum V2 reference crates, not from ckpool-ts's codec): JSON commands on its stdin,
 * JSON events from its stdout. Also the header arithmetic a test miner needs.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import path from 'node:path';
import { sha256d, merkleRootFromBranch } from '../../ts/native/core.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
export const SV2_CLIENT_BIN = path.join(ROOT, 'target/release/examples/sv2-testclient');

/** Build the client (incremental: a no-op when it is up to date). */
export async function buildSv2Client(): Promise<void> {
  await promisify(execFile)('cargo', ['build', '--release', '-p', 'ckpool-sv2', '--example', 'sv2-testclient'], { cwd: ROOT, timeout: 900_000 });
}

export type Sv2Event = { event: string; type?: string; [k: string]: unknown };

export class Sv2TestClient {
  readonly events: Sv2Event[] = [];
  #waiters: { pred: (e: Sv2Event) => boolean; resolve: (e: Sv2Event) => void }[] = [];
  readonly child: ChildProcess;
  exited: Promise<number | null>;

  private constructor(port: number, pubkey: string) {
    this.child = spawn(SV2_CLIENT_BIN, [`127.0.0.1:${port}`, pubkey], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.exited = new Promise((r) => this.child.on('exit', (code) => r(code)));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const e = JSON.parse(line) as Sv2Event;
      this.events.push(e);
      this.#waiters = this.#waiters.filter((w) => {
        if (!w.pred(e)) return true;
        w.resolve(e);
        return false;
      });
    });
  }

  /** Spawn and wait for the handshake's outcome ('connected' or 'handshake-failed'). */
  static async connect(port: number, pubkey: string): Promise<{ client: Sv2TestClient; first: Sv2Event }> {
    const client = new Sv2TestClient(port, pubkey);
    const first = await client.next((e) => e.event === 'connected' || e.event === 'handshake-failed', 20_000);
    return { client, first };
  }

  /** The first event (seen since `from`, default: since the start) matching `pred`. */
  next(pred: (e: Sv2Event) => boolean, timeoutMs = 20_000, from = 0): Promise<Sv2Event> {
    const seen = this.events.slice(from).find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`sv2 client: no matching event in ${timeoutMs} ms; got ${JSON.stringify(this.events.slice(-5))}`)), timeoutMs);
      this.#waiters.push({ pred, resolve: (e) => { clearTimeout(timer); resolve(e); } });
    });
  }

  /** Send a command and wait for the message of `type` it causes (counting only events after it). */
  async request(cmd: Record<string, unknown>, pred: (e: Sv2Event) => boolean, timeoutMs = 20_000): Promise<Sv2Event> {
    const from = this.events.length;
    this.send(cmd);
    return this.next(pred, timeoutMs, from);
  }

  send(cmd: Record<string, unknown>): void {
    this.child.stdin!.write(JSON.stringify(cmd) + '\n');
  }

  msg(type: string, extra: (e: Sv2Event) => boolean = () => true): (e: Sv2Event) => boolean {
    return (e) => e.event === 'message' && e.type === type && extra(e);
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}

export const u32le = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};

/** An 80-byte header from SV2 job fields (prevHash and merkleRoot hex in header byte order). */
export function header(version: number, prevHash: string, merkleRoot: string, ntime: number, nbits: number, nonce: number): Buffer {
  return Buffer.concat([u32le(version), Buffer.from(prevHash, 'hex'), Buffer.from(merkleRoot, 'hex'), u32le(ntime), u32le(nbits), u32le(nonce)]);
}

/** A hash (or target) as SV2 and the header give it (little-endian) → BigInt. */
export function le(b: Buffer | string): bigint {
  const x = typeof b === 'string' ? Buffer.from(b, 'hex') : Buffer.from(b);
  return BigInt('0x' + (x.reverse().toString('hex') || '0'));
}

/** The target of compact nbits. */
export function nbitsTarget(nbits: number): bigint {
  return BigInt(nbits & 0xffffff) << BigInt(8 * ((nbits >>> 24) - 3));
}

/** First nonce from `start` whose header hash satisfies `pred`. */
export function grind(make: (nonce: number) => Buffer, pred: (hash: bigint) => boolean, start = 0): { nonce: number; hash: bigint } {
  for (let nonce = start; nonce < start + 10_000_000; nonce++) {
    const h = le(sha256d(make(nonce)));
    if (pred(h)) return { nonce, hash: h };
  }
  throw new Error('grind: nothing found');
}

/** Merkle root (hex, header order) of an extended job for a full extranonce. */
export function extendedMerkleRoot(prefix: string, extranonce: Buffer, suffix: string, path: string): string {
  const cb = Buffer.concat([Buffer.from(prefix, 'hex'), extranonce, Buffer.from(suffix, 'hex')]);
  const branch = Buffer.from(path, 'hex');
  return merkleRootFromBranch(sha256d(cb), branch).toString('hex');
}
