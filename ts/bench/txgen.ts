/**
 * Synthetic mainnet-like transactions for the benchmark template source, and a
 * minimal transaction decoder for its decoderawtransaction.
 *
 * The transactions are well-formed segwit v0 spends (1–3 P2WPKH inputs with a
 * 71–72-byte signature and a 33-byte key each, 1–3 outputs, about 380 bytes on
 * average), so txid ≠ wtxid and the sizes, weights and the witness commitment are
 * those a node would report. The signatures are random bytes: nothing here is valid
 * on any chain, and nothing needs to be — a pool only hashes transactions.
 */
import { randomBytes } from 'node:crypto';
import { sha256d, toDisplayHex } from '../native/core.js';
import type { TemplateTransaction } from '../node/rpc-types.js';

class Writer {
  buf: Buffer;
  off = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  u8(v: number): void {
    this.buf[this.off++] = v;
  }
  u32(v: number): void {
    this.buf.writeUInt32LE(v >>> 0, this.off);
    this.off += 4;
  }
  u64(v: number): void {
    this.buf.writeBigUInt64LE(BigInt(v), this.off);
    this.off += 8;
  }
  bytes(b: Uint8Array): void {
    this.buf.set(b, this.off);
    this.off += b.length;
  }
  get data(): Buffer {
    return this.buf.subarray(0, this.off);
  }
}

/** Random source that hands out slices of one big random buffer. */
class Rand {
  #pool = Buffer.alloc(0);
  #off = 0;
  bytes(n: number): Buffer {
    if (this.#off + n > this.#pool.length) {
      this.#pool = randomBytes(Math.max(1 << 20, n));
      this.#off = 0;
    }
    const b = this.#pool.subarray(this.#off, this.#off + n);
    this.#off += n;
    return b;
  }
  int(lo: number, hi: number): number {
    return lo + (this.bytes(4).readUInt32LE(0) % (hi - lo + 1));
  }
}

export interface SyntheticTx extends TemplateTransaction {
  /** serialized sizes, bytes */
  size: number;
  vsize: number;
}

/** `count` independent segwit transactions in template order. */
export function makeTransactions(count: number): SyntheticTx[] {
  const r = new Rand();
  const out: SyntheticTx[] = [];
  const base = new Writer(2048);
  const full = new Writer(4096);
  for (let n = 0; n < count; n++) {
    const nIn = r.int(1, 3);
    const nOut = r.int(1, 3);
    base.off = 0;
    full.off = 0;
    const version = 2;
    base.u32(version);
    full.u32(version);
    full.u8(0); // segwit marker
    full.u8(1); // flag
    for (const w of [base, full]) w.u8(nIn);
    const ins: Buffer[] = [];
    for (let i = 0; i < nIn; i++) {
      const prev = r.bytes(32);
      const vout = r.int(0, 3);
      for (const w of [base, full]) {
        w.bytes(prev);
        w.u32(vout);
        w.u8(0); // empty scriptSig
        w.u32(0xfffffffd);
      }
      ins.push(prev);
    }
    for (const w of [base, full]) w.u8(nOut);
    for (let o = 0; o < nOut; o++) {
      const value = r.int(546, 50_000_000);
      const prog = r.bytes(20);
      for (const w of [base, full]) {
        w.u64(value);
        w.u8(22);
        w.u8(0x00);
        w.u8(0x14);
        w.bytes(prog);
      }
    }
    for (let i = 0; i < nIn; i++) {
      full.u8(2); // two witness items: signature, public key
      const sigLen = r.int(71, 72);
      full.u8(sigLen);
      const sig = r.bytes(sigLen);
      full.bytes(sig.subarray(0, sigLen - 1));
      full.u8(1); // SIGHASH_ALL
      full.u8(33);
      full.u8(2 + (r.int(0, 1)));
      full.bytes(r.bytes(32));
    }
    base.u32(0);
    full.u32(0);
    const b = base.data;
    const f = full.data;
    const weight = b.length * 3 + f.length;
    out.push({
      data: f.toString('hex'),
      txid: toDisplayHex(sha256d(b)),
      hash: toDisplayHex(sha256d(f)),
      depends: [],
      fee: r.int(200, 40_000),
      sigops: nIn,
      weight,
      size: f.length,
      vsize: Math.ceil(weight / 4),
    });
  }
  return out;
}

/** decoderawtransaction's answer, with what a pool may look at; throws on malformed input. */
export function decodeTransaction(hex: string): Record<string, unknown> {
  if (typeof hex !== 'string' || hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new Error('TX decode failed');
  const b = Buffer.from(hex, 'hex');
  let o = 0;
  const need = (n: number) => {
    if (o + n > b.length) throw new Error('TX decode failed');
  };
  const u8 = () => { need(1); return b[o++]!; };
  const u32 = () => { need(4); const v = b.readUInt32LE(o); o += 4; return v; };
  const varint = (): number => {
    const c = u8();
    if (c < 0xfd) return c;
    if (c === 0xfd) { need(2); const v = b.readUInt16LE(o); o += 2; return v; }
    if (c === 0xfe) return u32();
    need(8);
    const v = Number(b.readBigUInt64LE(o));
    o += 8;
    return v;
  };
  const slice = (n: number) => { need(n); const s = b.subarray(o, o + n); o += n; return s; };

  const version = u32();
  let segwit = false;
  let nIn = varint();
  if (nIn === 0) {
    if (u8() !== 1) throw new Error('TX decode failed');
    segwit = true;
    nIn = varint();
  }
  const vin: Record<string, unknown>[] = [];
  for (let i = 0; i < nIn; i++) {
    const prev = slice(32);
    const vout = u32();
    const script = slice(varint());
    const sequence = u32();
    const coinbase = prev.every((x) => x === 0) && vout === 0xffffffff;
    vin.push(coinbase
      ? { coinbase: script.toString('hex'), sequence }
      : { txid: toDisplayHex(prev), vout, scriptSig: { asm: '', hex: script.toString('hex') }, sequence });
  }
  const nOut = varint();
  const vout: Record<string, unknown>[] = [];
  for (let n = 0; n < nOut; n++) {
    need(8);
    const sats = Number(b.readBigUInt64LE(o));
    o += 8;
    const script = slice(varint());
    vout.push({ value: sats / 1e8, n, scriptPubKey: { hex: script.toString('hex') } });
  }
  const witnessStart = o;
  if (segwit) {
    for (const input of vin) {
      const items: string[] = [];
      const k = varint();
      for (let j = 0; j < k; j++) items.push(slice(varint()).toString('hex'));
      input.txinwitness = items;
    }
  }
  const locktime = u32();
  if (o !== b.length) throw new Error('TX decode failed: trailing bytes');
  const legacy = segwit
    ? Buffer.concat([b.subarray(0, 4), b.subarray(6, witnessStart), b.subarray(b.length - 4)])
    : b;
  const weight = legacy.length * 3 + b.length;
  return {
    txid: toDisplayHex(sha256d(legacy)),
    hash: toDisplayHex(sha256d(b)),
    version,
    size: b.length,
    vsize: Math.ceil(weight / 4),
    weight,
    locktime,
    vin,
    vout,
  };
}
