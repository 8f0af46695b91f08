/**
 * Typed wrapper over the native share core: the public library surface for hashing,
 * merkle trees, coinbases, headers, targets and share checks.
 *
 * Conventions:
 * - `Uint8Array`/`Buffer` hashes are in internal byte order (what sha256d returns);
 *   `*Hex` strings named `display` are RPC/explorer order (reversed).
 * - Every invalid input throws a CkpoolError with a stable `code`: the native core's
 *   own CKP_ERR_NATIVE_* codes, or the same codes raised here for inputs that must
 *   be caught before they reach N-API (wrong JS types).
 */
import { ckError } from '../errors.js';
import { native } from './binding.js';

export type Bytes = Uint8Array;

// ------------------------------------------------------------------ argument checks

function bytes(name: string, v: unknown): Uint8Array {
  if (!(v instanceof Uint8Array)) throw ckError('CKP_ERR_NATIVE_ARG', `${name} must be a Buffer or Uint8Array`);
  return v;
}

/** N-API's buffer views want a Buffer; wrap a plain Uint8Array without copying. */
function buf(name: string, v: unknown): Buffer {
  const b = bytes(name, v);
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function u32(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw ckError('CKP_ERR_NATIVE_RANGE', `${name} must be an integer 0..0xffffffff, got ${String(v)}`);
  }
  return v;
}

function num(name: string, v: unknown): number {
  if (typeof v !== 'number' || Number.isNaN(v)) throw ckError('CKP_ERR_NATIVE_ARG', `${name} must be a number`);
  return v;
}

/** Decode hex, throwing CKP_ERR_NATIVE_HEX (Buffer.from silently stops at bad chars). */
export function fromHex(name: string, hex: unknown, length?: number): Buffer {
  if (typeof hex !== 'string' || hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw ckError('CKP_ERR_NATIVE_HEX', `${name} must be an even-length hex string`);
  }
  const b = Buffer.from(hex, 'hex');
  if (length !== undefined && b.length !== length) {
    throw ckError('CKP_ERR_NATIVE_LENGTH', `${name}: expected ${length} bytes, got ${b.length}`);
  }
  return b;
}

/** Parse an 8-digit stratum hex number (ntime, nonce, version, nbits, version bits). */
export function hex32(name: string, hex: unknown): number {
  if (typeof hex !== 'string' || !/^[0-9a-fA-F]{1,8}$/.test(hex)) {
    throw ckError('CKP_ERR_NATIVE_HEX', `${name} must be 1..8 hex digits`);
  }
  return parseInt(hex, 16) >>> 0;
}

/** Display (RPC) order hex ↔ internal order bytes. */
export function fromDisplayHex(name: string, hex: unknown): Buffer {
  return fromHex(name, hex, 32).reverse();
}
export function toDisplayHex(hash: Bytes): string {
  return Buffer.from(hash).reverse().toString('hex');
}

function concat32(name: string, hashes: readonly Bytes[] | Bytes): Buffer {
  if (hashes instanceof Uint8Array) return buf(name, hashes);
  if (!Array.isArray(hashes)) throw ckError('CKP_ERR_NATIVE_ARG', `${name} must be an array of 32-byte hashes or one Buffer`);
  return Buffer.concat(hashes.map((h, i) => {
    const b = bytes(`${name}[${i}]`, h);
    if (b.length !== 32) throw ckError('CKP_ERR_NATIVE_LENGTH', `${name}[${i}]: expected 32 bytes, got ${b.length}`);
    return b;
  }));
}

function split32(b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += 32) out.push(b.subarray(i, i + 32));
  return out;
}

// ------------------------------------------------------------------ hashing

export const sha256 = (data: Bytes): Buffer => native.sha256(buf('data', data));
export const sha256d = (data: Bytes): Buffer => native.sha256d(buf('data', data));
/** sha256d into a caller-owned 32-byte buffer (no allocation on the native side). */
export const sha256dInto = (data: Bytes, out: Bytes): void => native.sha256dInto(buf('data', data), buf('out', out));
/** SHA-256 midstate of the first 64 header bytes (8 state words, little-endian each). */
export const midstate = (header: Bytes): Buffer => native.midstate(buf('header', header));
/**
 * A CPU miner's inner loop: the first of nonces `start` … `start + count - 1` (never past
 * 0xffffffff) for which sha256d(header with that nonce) ≤ `targetLe`, or -1.
 */
export const scanNonces = (header: Bytes, start: number, count: number, targetLe: Bytes): number =>
  native.scanNonces(buf('header', header), u32('start', start), u32('count', count), buf('target', targetLe));

// ------------------------------------------------------------------ merkle

/** Merkle root of all txids (coinbase first), internal order. */
export const merkleRoot = (txids: readonly Bytes[] | Bytes): Buffer => native.merkleRoot(concat32('txids', txids));

/** The coinbase's merkle branch for the block's other txids (internal order). */
export const merkleBranch = (txids: readonly Bytes[] | Bytes): Buffer[] =>
  split32(native.merkleBranch(concat32('txids', txids)));

/** Stratum `merkle_branch` (hex, internal order) from GBT txids (display hex). */
export function stratumMerkleBranch(txidsDisplay: readonly string[]): string[] {
  const joined = Buffer.concat(txidsDisplay.map((t, i) => fromDisplayHex(`txids[${i}]`, t)));
  return merkleBranch(joined).map((h) => h.toString('hex'));
}

export const merkleRootFromBranch = (coinbaseHash: Bytes, branch: readonly Bytes[] | Bytes): Buffer =>
  native.merkleRootFromBranch(buf('coinbaseHash', coinbaseHash), concat32('branch', branch));

export const witnessRoot = (wtxids: readonly Bytes[] | Bytes): Buffer => native.witnessRoot(concat32('wtxids', wtxids));

/** Witness commitment hash (reserved value defaults to 32 zero bytes). */
export const witnessCommitment = (wtxids: readonly Bytes[] | Bytes, reserved?: Bytes): Buffer =>
  native.witnessCommitment(concat32('wtxids', wtxids), reserved === undefined ? undefined : buf('reserved', reserved));

/** The commitment output script `6a24aa21a9ed‖commitment`. */
export function witnessCommitmentScript(commitment: Bytes): Buffer {
  const c = bytes('commitment', commitment);
  if (c.length !== 32) throw ckError('CKP_ERR_NATIVE_LENGTH', `commitment: expected 32 bytes, got ${c.length}`);
  return Buffer.concat([Buffer.from('6a24aa21a9ed', 'hex'), c]);
}

// ------------------------------------------------------------------ coinbase

export interface PayoutOutput {
  script: Bytes;
  /** satoshis */
  value: number;
}

export interface CoinbaseSpec {
  txVersion?: number;
  height: number;
  auxFlags?: Bytes;
  timestamp: number;
  /** per-workbase randomiser pushed after the time */
  nonce: number;
  extranonce1Len: number;
  extranonce2Len: number;
  poolTag: string | Bytes;
  btcsig?: string | Bytes;
  outputs: readonly PayoutOutput[];
  witnessCommitment?: Bytes;
}

export interface CoinbaseParts {
  coinb1: Buffer;
  coinb2: Buffer;
}

const text = (name: string, v: string | Bytes | undefined): Buffer | undefined =>
  v === undefined ? undefined : typeof v === 'string' ? Buffer.from(v, 'utf8') : buf(name, v);

export function buildCoinbase(spec: CoinbaseSpec): CoinbaseParts {
  if (!Array.isArray(spec?.outputs)) throw ckError('CKP_ERR_NATIVE_ARG', 'outputs must be an array');
  return native.buildCoinbase({
    txVersion: spec.txVersion === undefined ? undefined : u32('txVersion', spec.txVersion),
    height: u32('height', spec.height),
    auxFlags: spec.auxFlags === undefined ? undefined : buf('auxFlags', spec.auxFlags),
    timestamp: u32('timestamp', spec.timestamp),
    nonce: u32('nonce', spec.nonce),
    extranonce1Len: u32('extranonce1Len', spec.extranonce1Len),
    extranonce2Len: u32('extranonce2Len', spec.extranonce2Len),
    poolTag: text('poolTag', spec.poolTag) ?? Buffer.alloc(0),
    btcsig: text('btcsig', spec.btcsig),
    outputs: spec.outputs.map((o, i) => ({ script: buf(`outputs[${i}].script`, o.script), value: num(`outputs[${i}].value`, o.value) })),
    witnessCommitment: spec.witnessCommitment === undefined ? undefined : buf('witnessCommitment', spec.witnessCommitment),
  });
}

/** Legacy coinbase → segwit serialisation with the all-zero witness reserved value. */
export const segwitCoinbase = (legacy: Bytes): Buffer => native.segwitCoinbase(buf('legacy', legacy));

// ------------------------------------------------------------------ header

export interface HeaderSpec {
  version: number;
  /** BIP310 rolled bits, applied under `versionMask` */
  versionBits?: number;
  versionMask?: number;
  /** internal (header) order; see prevhashFromStratum */
  prevhash: Bytes;
  merkleRoot: Bytes;
  ntime: number;
  nbits: number;
  nonce: number;
}

export function buildHeader(h: HeaderSpec): Buffer {
  return native.buildHeader({
    version: u32('version', h.version),
    versionBits: h.versionBits === undefined ? undefined : u32('versionBits', h.versionBits),
    versionMask: h.versionMask === undefined ? undefined : u32('versionMask', h.versionMask),
    prevhash: buf('prevhash', h.prevhash),
    merkleRoot: buf('merkleRoot', h.merkleRoot),
    ntime: u32('ntime', h.ntime),
    nbits: u32('nbits', h.nbits),
    nonce: u32('nonce', h.nonce),
  });
}

/** Stratum `prevhash` hex (word-swapped) → header-order bytes. */
export const prevhashFromStratum = (hex: string): Buffer => native.swapWords32(fromHex('prevhash', hex, 32));
/** GBT `previousblockhash` (display hex) → stratum `prevhash` hex. */
export const stratumPrevhash = (displayHex: string): string =>
  native.swapWords32(fromDisplayHex('previousblockhash', displayHex)).toString('hex');

// ------------------------------------------------------------------ targets

/** Exact target (32 bytes, little-endian) for a difficulty, fractional allowed. */
export const targetFromDifficulty = (diff: number): Buffer => native.targetFromDifficulty(num('difficulty', diff));
/** Difficulty of a target or a hash (32 bytes, internal/little-endian order). */
export const difficultyFromTarget = (targetLe: Bytes): number => native.difficultyFromTarget(buf('target', targetLe));
export const difficultyFromHash = difficultyFromTarget;
export const targetFromNbits = (nbits: number): Buffer => native.targetFromNbits(u32('nbits', nbits));
export const nbitsFromTarget = (targetLe: Bytes): number => native.nbitsFromTarget(buf('target', targetLe));
export const difficultyFromNbits = (nbits: number): number => native.difficultyFromNbits(u32('nbits', nbits));

/** A little-endian 32-byte target as a bigint (for display and JS-side comparisons). */
export function targetToBigInt(targetLe: Bytes): bigint {
  return BigInt('0x' + (toDisplayHex(targetLe) || '0'));
}
