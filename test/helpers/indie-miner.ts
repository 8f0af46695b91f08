/**
 * A test miner that shares no code with the pool's share core: it builds the coinbase,
 * merkle root and 80-byte header from a mining.notify itself and hashes with
 * node:crypto, so a share the pool rejects (or a block the node rejects) is a real
 * disagreement, not the same bug on both sides. Three kinds of miner, as met in the wild:
 *
 * - `none`:   does not roll; submits five params; hashes the job version as sent.
 * - `bip310`: rolls bits inside the mask and submits the rolled version's bits inside
 *             the mask (BIP310's `version_bits`), e.g. cgminer-style firmware.
 * - `delta`:  rolls and submits only the bits it changed (`rolled ^ job`), as esp-miner
 *             (Bitaxe) does.
 *
 * The protocol side is ts/miner/client.ts (a plain stratum client: sockets and JSON).
 */
import { createHash } from 'node:crypto';
import type { Job, StratumClient } from '../../ts/miner/client.js';

export type RollKind = 'none' | 'bip310' | 'delta';

const sha256d = (b: Buffer): Buffer => createHash('sha256').update(createHash('sha256').update(b).digest()).digest();

/** ckpool's difficulty-1 target, 0xffff·2^208, and a share target for `diff` (fractional allowed). */
export function targetFor(diff: number): bigint {
  const scale = 1_000_000_000_000n;
  return ((0xffffn << 208n) * scale) / BigInt(Math.max(1, Math.round(diff * Number(scale))));
}

export interface IndieShare {
  /** mining.submit params after the worker name */
  params: string[];
  /** display-order block hash */
  hash: string;
  /** the header version this miner hashed */
  version: number;
  header: Buffer;
}

/**
 * Grind `job` for a share at `diff`. `roll` rolls the bits `rollBits` (inside the mask)
 * into the version: set bits are XORed into the job's version, so a roll can also clear
 * a template bit (bit 28 during a deployment).
 */
export function grindIndependent(c: StratumClient, job: Job, opts: { diff: number; kind: RollKind; rollBits?: number; mask?: number; maxTries?: number }): IndieShare {
  const p = job.params as [string, string, string, string, string[], string, string, string, boolean];
  const [jobId, prevStratum, coinb1, coinb2, branch, versionHex, nbitsHex, ntimeHex] = p;
  const jobVersion = parseInt(versionHex, 16) >>> 0;
  const mask = opts.mask ?? 0x1fffe000;
  const roll = opts.kind === 'none' ? 0 : ((opts.rollBits ?? 0x2000) & mask) >>> 0;
  const version = (jobVersion ^ roll) >>> 0;
  // stratum's prevhash is the header bytes with every 4-byte word reversed
  const prevStr = Buffer.from(prevStratum, 'hex');
  const prev = Buffer.alloc(32);
  for (let i = 0; i < 32; i += 4) for (let j = 0; j < 4; j++) prev[i + j] = prevStr[i + 3 - j]!;
  const en2 = Buffer.alloc(c.extranonce2Size);
  en2.writeUInt32LE((Math.random() * 0xffffffff) >>> 0, 0);
  let root = sha256d(Buffer.concat([Buffer.from(coinb1, 'hex'), c.extranonce1, en2, Buffer.from(coinb2, 'hex')]));
  for (const b of branch) root = sha256d(Buffer.concat([root, Buffer.from(b, 'hex')]));
  const header = Buffer.alloc(80);
  header.writeUInt32LE(version, 0);
  prev.copy(header, 4);
  root.copy(header, 36);
  header.writeUInt32LE(parseInt(ntimeHex, 16) >>> 0, 68);
  header.writeUInt32LE(parseInt(nbitsHex, 16) >>> 0, 72);
  const target = targetFor(opts.diff);
  const max = opts.maxTries ?? 20_000_000;
  for (let nonce = 0; nonce < max; nonce++) {
    header.writeUInt32LE(nonce, 76);
    const h = sha256d(header);
    if (BigInt('0x' + Buffer.from(h).reverse().toString('hex')) > target) continue;
    const hex8 = (n: number) => (n >>> 0).toString(16).padStart(8, '0');
    const params = [jobId, en2.toString('hex'), ntimeHex, hex8(nonce)];
    if (opts.kind === 'bip310') params.push(hex8(version & mask));
    if (opts.kind === 'delta') params.push(hex8(roll));
    return { params, hash: Buffer.from(h).reverse().toString('hex'), version, header: Buffer.from(header) };
  }
  throw new Error(`no share at diff ${opts.diff} in ${max} tries`);
}
