/**
 * Shapes of the JSON-RPC results the pool uses, covering both Bitcoin Core and
 * bcoin 1.0.2 (see ../../../shared/reference/bitcoin-nodes.md). Fields only one
 * of them sends are optional; nothing here is a promise that a field exists
 * beyond what both nodes were seen to return.
 */

/** The request object for getblocktemplate. Core needs `rules` to contain "segwit". */
export interface BlockTemplateRequest {
  rules: string[];
  capabilities?: string[];
  /** BIP22 long polling: the call returns when the template changes. */
  longpollid?: string;
  mode?: 'template' | 'proposal';
  data?: string;
}

/** One transaction of a block template, in GBT order. */
export interface TemplateTransaction {
  /** Serialized transaction, hex (with witness data when it has any). */
  data: string;
  /** txid, RPC display order (byte-reversed). */
  txid: string;
  /** wtxid, RPC display order; equals txid for a transaction without witness. */
  hash: string;
  /** 1-based indexes of earlier template transactions this one spends. */
  depends: number[];
  /** Satoshis. */
  fee: number;
  sigops: number;
  weight: number;
}

export interface BlockTemplate {
  version: number;
  /** Core: ["csv","!segwit","taproot"]; bcoin: [] below height 432, then ["csv","!segwit","testdummy"]. */
  rules: string[];
  vbavailable?: Record<string, number>;
  vbrequired?: number;
  capabilities?: string[];
  /** RPC display order. */
  previousblockhash: string;
  transactions: TemplateTransaction[];
  /** Core 31 sends `{}`; bcoin sends `{flags: hex}`. ckpool rejects a template without it. */
  coinbaseaux: { flags?: string };
  /** Satoshis, subsidy plus fees. */
  coinbasevalue: number;
  longpollid?: string;
  /** 64 hex digits, big-endian. */
  target: string;
  mintime: number;
  mutable: string[];
  noncerange: string;
  sigoplimit: number;
  sizelimit: number;
  weightlimit?: number;
  curtime: number;
  /** Compact target as 8 hex digits, e.g. "207fffff". */
  bits: string;
  height: number;
  /** Full output script (6a24aa21a9ed…) of the witness commitment; absent before segwit on bcoin. */
  default_witness_commitment?: string;
  // bcoin only
  maxtime?: number;
  expires?: number;
  submitold?: boolean;
}

export interface BlockchainInfo {
  chain: string;
  blocks: number;
  headers?: number;
  bestblockhash: string;
  difficulty: number;
  mediantime?: number;
  verificationprogress?: number;
  initialblockdownload?: boolean;
  chainwork?: string;
  pruned?: boolean;
  warnings?: string | string[];
}

export interface NetworkInfo {
  /** Core: a number such as 310000; bcoin: a string such as "v1.0.2". */
  version: number | string;
  subversion: string;
  protocolversion: number;
  connections?: number;
  networkactive?: boolean;
  relayfee?: number;
  warnings?: string | string[];
}

export interface ValidateAddressResult {
  isvalid: boolean;
  address?: string;
  scriptPubKey?: string;
  // Core only (bcoin 1.0.2 has none of these; ckpool then guesses from the first letter)
  isscript?: boolean;
  iswitness?: boolean;
  witness_version?: number;
  witness_program?: string;
  // bcoin only
  ismine?: boolean;
  iswatchonly?: boolean;
}

/** A normalised submitblock verdict. */
export interface SubmitBlockResult {
  /**
   * True when the node took the block: a null result, or "duplicate" (the node
   * already has it), as ckpool counts them. "inconclusive" is not accepted here;
   * the caller confirms with getblockhash at that height.
   */
  accepted: boolean;
  /** The reject reason without bcoin's "rejected: " prefix; null when accepted outright. */
  reason: string | null;
  /** The node's result exactly as received. */
  raw: string | null;
}

export interface DecodedScriptPubKey {
  asm?: string;
  hex: string;
  type?: string;
  address?: string;
  addresses?: string[];
}

export interface DecodedTransaction {
  txid: string;
  hash: string;
  version: number;
  size?: number;
  vsize?: number;
  weight?: number;
  locktime: number;
  vin: Array<{
    coinbase?: string;
    txid?: string;
    vout?: number;
    scriptSig?: { asm?: string; hex: string };
    txinwitness?: string[];
    sequence: number;
  }>;
  vout: Array<{
    /** BTC, as a JSON number. */
    value: number;
    n: number;
    scriptPubKey: DecodedScriptPubKey;
  }>;
}
