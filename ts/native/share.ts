/**
 * Share checks through the native core.
 *
 * `ShareChecker` prepares one job (coinbase halves, branch, header fields) once; each
 * check then writes one fixed-size record into a reusable buffer and makes a single
 * N-API call. `ShareBatch` fills many records and checks them in one call — the form
 * the pool's share pipeline uses. Record layout: crates/ckpool-core/src/share.rs.
 */
import { ckError } from '../errors.js';
import { native } from './binding.js';
import { fromHex, hex32, prevhashFromStratum, toDisplayHex, type Bytes } from './core.js';

export const FLAG_MEETS_SHARE = 1;
export const FLAG_MEETS_NETWORK = 2;
export const FLAG_VERSION_OUTSIDE_MASK = 4;

export interface JobSpec {
  coinb1: Bytes;
  coinb2: Bytes;
  /** branch hashes, internal order */
  branch: readonly Bytes[];
  version: number;
  versionMask: number;
  /** header (internal) order */
  prevhash: Bytes;
  nbits: number;
  extranonce1Len: number;
  extranonce2Len: number;
}

export interface ShareInput {
  /** extranonce1 ‖ extranonce2, or give them separately */
  extranonce1: Bytes;
  extranonce2: Bytes;
  ntime: number;
  nonce: number;
  versionBits?: number;
  /** difficulty the share is judged against (fractional allowed) */
  difficulty: number;
}

export interface ShareResult {
  /** block hash, display (RPC) order hex */
  hash: string;
  /** share difficulty (float; far below 1 for weak shares) */
  difficulty: number;
  meetsShareTarget: boolean;
  meetsNetworkTarget: boolean;
  versionOutsideMask: boolean;
}

function asBuffer(b: Bytes): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

export class ShareChecker {
  readonly job: InstanceType<typeof native.ShareJob>;
  readonly extranonceLen: number;
  readonly recordSize: number;
  private readonly record: Buffer;

  constructor(spec: JobSpec) {
    if (!Array.isArray(spec?.branch)) throw ckError('CKP_ERR_NATIVE_ARG', 'branch must be an array of 32-byte hashes');
    for (const [i, b] of spec.branch.entries()) {
      if (!(b instanceof Uint8Array) || b.length !== 32) {
        throw ckError('CKP_ERR_NATIVE_LENGTH', `branch[${i}]: expected 32 bytes`);
      }
    }
    for (const k of ['coinb1', 'coinb2', 'prevhash'] as const) {
      if (!(spec[k] instanceof Uint8Array)) throw ckError('CKP_ERR_NATIVE_ARG', `${k} must be a Buffer or Uint8Array`);
    }
    for (const k of ['version', 'versionMask', 'nbits', 'extranonce1Len', 'extranonce2Len'] as const) {
      const v = spec[k];
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw ckError('CKP_ERR_NATIVE_RANGE', `${k} must be an integer 0..0xffffffff`);
    }
    this.job = new native.ShareJob({
      coinb1: asBuffer(spec.coinb1),
      coinb2: asBuffer(spec.coinb2),
      branch: Buffer.concat(spec.branch.map(asBuffer)),
      version: spec.version,
      versionMask: spec.versionMask,
      prevhash: asBuffer(spec.prevhash),
      nbits: spec.nbits,
      extranonce1Len: spec.extranonce1Len,
      extranonce2Len: spec.extranonce2Len,
    });
    this.extranonceLen = spec.extranonce1Len + spec.extranonce2Len;
    this.recordSize = this.job.recordSize;
    this.record = Buffer.alloc(this.recordSize);
  }

  /** Build a checker from a mining.notify parameter list (as sent to miners). */
  static fromNotify(params: readonly unknown[], extranonce1Len: number, extranonce2Len: number, versionMask = 0x1fffe000): ShareChecker {
    if (!Array.isArray(params) || params.length < 8) throw ckError('CKP_ERR_NATIVE_ARG', 'notify params must be the 9-element mining.notify list');
    const branch = params[4];
    if (!Array.isArray(branch)) throw ckError('CKP_ERR_NATIVE_ARG', 'notify merkle_branch must be an array');
    return new ShareChecker({
      prevhash: prevhashFromStratum(params[1] as string),
      coinb1: fromHex('coinb1', params[2]),
      coinb2: fromHex('coinb2', params[3]),
      branch: branch.map((b, i) => fromHex(`merkle_branch[${i}]`, b, 32)),
      version: hex32('version', params[5]),
      nbits: hex32('nbits', params[6]),
      versionMask,
      extranonce1Len,
      extranonce2Len,
    });
  }

  /** SHA-256 compressions one check costs. */
  get compressionsPerCheck(): number {
    return this.job.compressionsPerCheck;
  }

  /** Write one share's inputs into `rec` at `off` (record layout in share.rs). */
  writeRecord(rec: Buffer, off: number, s: ShareInput): void {
    const e1 = s.extranonce1;
    const e2 = s.extranonce2;
    if (!(e1 instanceof Uint8Array) || !(e2 instanceof Uint8Array)) {
      throw ckError('CKP_ERR_NATIVE_ARG', 'extranonce1 and extranonce2 must be Buffers');
    }
    if (e1.length + e2.length !== this.extranonceLen) {
      throw ckError('CKP_ERR_NATIVE_LENGTH', `extranonce1+extranonce2: expected ${this.extranonceLen} bytes, got ${e1.length + e2.length}`);
    }
    rec.set(e1, off);
    rec.set(e2, off + e1.length);
    const en = off + this.extranonceLen;
    rec.writeUInt32LE(s.ntime >>> 0, en);
    rec.writeUInt32LE(s.nonce >>> 0, en + 4);
    rec.writeUInt32LE((s.versionBits ?? 0) >>> 0, en + 8);
    rec.writeDoubleLE(s.difficulty, en + 12);
  }

  /** Read the outputs of the record at `off`. */
  readResult(rec: Buffer, off: number): ShareResult {
    const o = off + this.extranonceLen + 20;
    const flags = rec.readUInt32LE(o + 40);
    return {
      hash: toDisplayHex(rec.subarray(o, o + 32)),
      difficulty: rec.readDoubleLE(o + 32),
      meetsShareTarget: (flags & FLAG_MEETS_SHARE) !== 0,
      meetsNetworkTarget: (flags & FLAG_MEETS_NETWORK) !== 0,
      versionOutsideMask: (flags & FLAG_VERSION_OUTSIDE_MASK) !== 0,
    };
  }

  /** Check one share. */
  check(s: ShareInput): ShareResult {
    this.writeRecord(this.record, 0, s);
    this.job.check(this.record);
    return this.readResult(this.record, 0);
  }

  /** The 80-byte header a share describes. */
  header(extranonce1: Bytes, extranonce2: Bytes, ntime: number, nonce: number, versionBits = 0): Buffer {
    return this.job.header(Buffer.concat([extranonce1, extranonce2]), ntime >>> 0, nonce >>> 0, versionBits >>> 0);
  }

  /** A batch of shares for this job, checked in one native call. */
  batch(capacity: number): ShareBatch {
    return new ShareBatch(this, capacity);
  }
}

export class ShareBatch {
  readonly buffer: Buffer;
  length = 0;
  constructor(readonly checker: ShareChecker, readonly capacity: number) {
    this.buffer = Buffer.alloc(checker.recordSize * capacity);
  }
  /** Queue a share; returns its index. */
  add(s: ShareInput): number {
    if (this.length >= this.capacity) throw ckError('CKP_ERR_NATIVE_RANGE', `batch is full (${this.capacity})`);
    this.checker.writeRecord(this.buffer, this.length * this.checker.recordSize, s);
    return this.length++;
  }
  /** Check every queued share. */
  run(): void {
    if (this.length === 0) return;
    this.checker.job.checkBatch(this.buffer.subarray(0, this.length * this.checker.recordSize));
  }
  result(i: number): ShareResult {
    return this.checker.readResult(this.buffer, i * this.checker.recordSize);
  }
  /** Flags of share i without building an object (hot path). */
  flags(i: number): number {
    return this.buffer.readUInt32LE(i * this.checker.recordSize + this.checker.extranonceLen + 60);
  }
  difficulty(i: number): number {
    return this.buffer.readDoubleLE(i * this.checker.recordSize + this.checker.extranonceLen + 52);
  }
  clear(): void {
    this.length = 0;
  }
}

/** Everything of one share at once: the stateless form of a share check. */
export interface FullShare extends ShareInput, Omit<JobSpec, 'extranonce1Len' | 'extranonce2Len'> {}

export function checkShare(s: FullShare): ShareResult & { header: Buffer } {
  const c = new ShareChecker({ ...s, extranonce1Len: s.extranonce1?.length ?? 0, extranonce2Len: s.extranonce2?.length ?? 0 });
  const r = c.check(s);
  return { ...r, header: c.header(s.extranonce1, s.extranonce2, s.ntime, s.nonce, s.versionBits ?? 0) };
}
