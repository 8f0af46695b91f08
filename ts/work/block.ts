/**
 * Solved-block assembly (ckpool's stratifier.c:process_block), with one difference:
 * when the template commits to witnesses, the coinbase is serialised with the BIP141
 * witness reserved value (32 zero bytes) instead of relying on the node to add it —
 * bcoin, for one, does not.
 */
import { segwitCoinbase, sha256d, toDisplayHex } from '../native/core.js';
import type { Workbase } from './workbase.js';

function varint(n: number): Buffer {
  if (n < 0xfd) return Buffer.from([n]);
  if (n <= 0xffff) {
    const b = Buffer.alloc(3);
    b[0] = 0xfd;
    b.writeUInt16LE(n, 1);
    return b;
  }
  const b = Buffer.alloc(5);
  b[0] = 0xfe;
  b.writeUInt32LE(n, 1);
  return b;
}

export interface SolvedBlock {
  /** display order */
  hash: string;
  height: number;
  hex: string;
  /**
   * Whether the header's merkle root is the root of this coinbase and the template's
   * branch. False means the block cannot be valid: the header and the coinbase were put
   * together from different work (the caller logs it loudly and submits anyway).
   */
  rootMatches: boolean;
}

/** header (80 bytes) ‖ tx count ‖ coinbase ‖ the template's transactions, as hex. */
export function assembleBlock(wb: Workbase, header: Buffer, coinbaseLegacy: Buffer): SolvedBlock {
  const coinbase = wb.witnessCommitment ? segwitCoinbase(coinbaseLegacy) : coinbaseLegacy;
  const head = Buffer.concat([header, varint(1 + wb.txCount), coinbase]).toString('hex');
  const hex = head + wb.txData().join('');
  // Once per block, not per share: the root the header commits to, from the coinbase
  // that goes into the block (its txid is the legacy serialisation's hash).
  let root = sha256d(coinbaseLegacy);
  for (const b of wb.branch) root = sha256d(Buffer.concat([root, b]));
  return { hash: toDisplayHex(sha256d(header)), height: wb.height, hex, rootMatches: root.equals(header.subarray(36, 68)) };
}
