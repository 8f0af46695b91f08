/**
 * Share checks through the native core.
 *
 * `ShareChecker` prepares one job (coinbase halves, branch, header fields) once; each
 * check then writes one fixed-size record into a reusable buffer and makes a single
 * N-API call through `job.checker()` — a plain N-API function, ~0.2 µs cheaper per call
 * than the napi-rs method `job.check()` (why: src/lib.rs, `ShareJob::checker`).
 * `ShareBatch` fills many records and checks them in one call — the form the pool's
 * share pipeline uses; the core hashes its records two at a time (2-way SHA-NI where
 * the CPU has it). Record layout: crates/ckpool-core/src/share.rs.
 */
import { ckError } from '../errors.js';
import { native } from './binding.js';
import { fromHex, hex32, prevhashFromStratum, toDisplayHex, type Bytes } from './core.js';

export const FLAG_MEETS_SHARE = 1;
export const FLAG_MEETS_NETWORK = 2;
export const FLAG_VERSION_OUTSIDE_MASK = 4;
/**
 * The share met its target only with the delta reading of its version bits
 * (`version ^ (bits & mask)`, as esp-miner/Bitaxe send them) rather than BIP310's
 * `(version & ~mask) | (bits & mask)`. Pass the flags to `header()` to rebuild that header.
 */
export const FLAG_VERSION_DELTA = 8;

/**
 * The header version a checked share was judged on, from the job's version and mask, the
 * submitted bits and the check's flags — the same rule as the core's header.rs
 * (`ShareJob::version_of`): no bits → the job version; FLAG_VERSION_DELTA →
 * `version ^ (bits & mask)`; otherwise BIP310's `(version & ~mask) | (bits & mask)`.
 * For the rare caller that needs the number without a header (the proxy forwarding a share).
 */
export function headerVersion(version: number, mask: number, bits: number, flags: number): number {
  if (flags & FLAG_VERSION_DELTA) return (version ^ (bits & mask)) >>> 0;
  if (bits === 0) return version >>> 0;
  return ((version & ~mask) | (bits & mask)) >>> 0;
}

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
  /** judged on the delta reading of the version bits (FLAG_VERSION_DELTA) */
  versionDelta: boolean;
  /** the raw FLAG_* bits, for `header()` */
  flags: number;
}

function asBuffer(b: Bytes): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function viewOf(b: Buffer): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * Write a share's input fields into the record at `off` of `rec` (`dv` views `rec`).
 * A DataView and byte loops, not Buffer#writeUInt32LE/#set: ~30 ns instead of ~85 ns
 * per record, which matters when a whole batched check costs ~0.2 µs. The caller
 * guarantees `off` is a valid record offset; the numeric fields are written first so
 * an out-of-range offset throws (DataView) before any byte is stored.
 */
function fillRecord(enLen: number, rec: Buffer, dv: DataView, off: number, s: ShareInput): void {
  const e1 = s.extranonce1;
  const e2 = s.extranonce2;
  if (!(e1 instanceof Uint8Array) || !(e2 instanceof Uint8Array)) {
    throw ckError('CKP_ERR_NATIVE_ARG', 'extranonce1 and extranonce2 must be Buffers');
  }
  const l1 = e1.length;
  const l2 = e2.length;
  if (l1 + l2 !== enLen) {
    throw ckError('CKP_ERR_NATIVE_LENGTH', `extranonce1+extranonce2: expected ${enLen} bytes, got ${l1 + l2}`);
  }
  const en = off + enLen;
  dv.setUint32(en, s.ntime >>> 0, true);
  dv.setUint32(en + 4, s.nonce >>> 0, true);
  dv.setUint32(en + 8, (s.versionBits ?? 0) >>> 0, true);
  dv.setFloat64(en + 12, s.difficulty, true);
  for (let i = 0; i < l1; i++) rec[off + i] = e1[i];
  const o2 = off + l1;
  for (let i = 0; i < l2; i++) rec[o2 + i] = e2[i];
}

export class ShareChecker {
  readonly job: InstanceType<typeof native.ShareJob>;
  readonly extranonceLen: number;
  readonly recordSize: number;
  private readonly record: Buffer;
  private readonly recordView: DataView;
  /** One-entry cache of a DataView over the last buffer given to `writeRecord`. */
  private lastBuf: Buffer;
  private lastView: DataView;
  /**
   * `job.checker()`: checks the record at the start of its argument in place (record
   * layout in share.rs; write it with `writeRecord`) and returns its difficulty.
   */
  readonly checkRecord: (record: Buffer) => number;

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
    this.recordView = viewOf(this.record);
    this.lastBuf = this.record;
    this.lastView = this.recordView;
    this.checkRecord = this.job.checker();
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
    if (!Number.isInteger(off) || off < 0 || off + this.recordSize > rec.length) {
      throw ckError('CKP_ERR_NATIVE_RANGE', `record offset ${off} outside a ${rec.length}-byte buffer`);
    }
    if (rec !== this.lastBuf) {
      this.lastBuf = rec;
      this.lastView = viewOf(rec);
    }
    fillRecord(this.extranonceLen, rec, this.lastView, off, s);
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
      versionDelta: (flags & FLAG_VERSION_DELTA) !== 0,
      flags,
    };
  }

  /** Check one share. */
  check(s: ShareInput): ShareResult {
    fillRecord(this.extranonceLen, this.record, this.recordView, 0, s);
    this.checkRecord(this.record);
    return this.readResult(this.record, 0);
  }

  /**
   * The 80-byte header a share describes. `flags` are the share's check flags: a share
   * judged on the delta reading of its version bits (FLAG_VERSION_DELTA) gets that header.
   */
  header(extranonce1: Bytes, extranonce2: Bytes, ntime: number, nonce: number, versionBits = 0, flags = 0): Buffer {
    return this.job.header(Buffer.concat([extranonce1, extranonce2]), ntime >>> 0, nonce >>> 0, versionBits >>> 0, flags >>> 0);
  }

  /** A batch of shares for this job, checked in one native call. */
  batch(capacity: number): ShareBatch {
    return new ShareBatch(this, capacity);
  }
}

export class ShareBatch {
  readonly buffer: Buffer;
  length = 0;
  private readonly view: DataView;
  constructor(readonly checker: ShareChecker, readonly capacity: number) {
    this.buffer = Buffer.alloc(checker.recordSize * capacity);
    this.view = viewOf(this.buffer);
  }
  /** Queue a share; returns its index. */
  add(s: ShareInput): number {
    if (this.length >= this.capacity) throw ckError('CKP_ERR_NATIVE_RANGE', `batch is full (${this.capacity})`);
    fillRecord(this.checker.extranonceLen, this.buffer, this.view, this.length * this.checker.recordSize, s);
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
  /** Block hash of share i, display (RPC) order hex, without building a result object. */
  hash(i: number): string {
    const o = i * this.checker.recordSize + this.checker.extranonceLen + 20;
    return toDisplayHex(this.buffer.subarray(o, o + 32));
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
  return { ...r, header: c.header(s.extranonce1, s.extranonce2, s.ntime, s.nonce, s.versionBits ?? 0, r.flags) };
}
