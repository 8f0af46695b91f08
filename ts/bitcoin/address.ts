/**
 * Address → scriptPubKey for P2PKH, P2SH, P2WPKH, P2WSH and P2TR, decoded locally
 * with @scure/btc-signer (checksums verified — unlike ckpool, which decodes bech32
 * without checking and leans on bitcoind's validateaddress).
 */
import { Address, OutScript } from '@scure/btc-signer';
import { ckError } from '../errors.js';

export type NetworkName = 'main' | 'testnet' | 'signet' | 'regtest';

interface Params {
  bech32: string;
  pubKeyHash: number;
  scriptHash: number;
  wif: number;
}

/** Address parameters per network; regtest has two flavours (Bitcoin Core, bcoin). */
export const NETWORKS: Record<NetworkName, readonly Params[]> = {
  main: [{ bech32: 'bc', pubKeyHash: 0x00, scriptHash: 0x05, wif: 0x80 }],
  testnet: [{ bech32: 'tb', pubKeyHash: 0x6f, scriptHash: 0xc4, wif: 0xef }],
  signet: [{ bech32: 'tb', pubKeyHash: 0x6f, scriptHash: 0xc4, wif: 0xef }],
  regtest: [
    { bech32: 'bcrt', pubKeyHash: 0x6f, scriptHash: 0xc4, wif: 0xef },
    // bcoin's regtest: rb1… addresses, P2PKH version 0x3c, P2SH 0x26
    { bech32: 'rb', pubKeyHash: 0x3c, scriptHash: 0x26, wif: 0x5a },
  ],
};

export type AddressType = 'p2pkh' | 'p2sh' | 'p2wpkh' | 'p2wsh' | 'p2tr';

const TYPE: Record<string, AddressType> = { pkh: 'p2pkh', sh: 'p2sh', wpkh: 'p2wpkh', wsh: 'p2wsh', tr: 'p2tr' };

export interface DecodedAddress {
  type: AddressType;
  script: Buffer;
}

/** Decode `address` for `network`; throws CKP_ERR_ADDRESS_INVALID otherwise. */
export function decodeAddress(address: string, network: NetworkName): DecodedAddress {
  const nets = NETWORKS[network];
  if (!nets) throw ckError('CKP_ERR_NETWORK_UNKNOWN', network);
  if (typeof address !== 'string' || address.length === 0 || address.length > 100) {
    throw ckError('CKP_ERR_ADDRESS_INVALID', JSON.stringify(address), 'not an address string');
  }
  let lastErr: unknown;
  for (const net of nets) {
    try {
      const decoded = Address(net).decode(address);
      const type = TYPE[decoded.type];
      if (!type) throw new Error(`unsupported output type ${decoded.type}`);
      return { type, script: Buffer.from(OutScript.encode(decoded)) };
    } catch (err) {
      lastErr = err;
    }
  }
  const why = lastErr instanceof Error ? lastErr.message : String(lastErr);
  throw ckError('CKP_ERR_ADDRESS_INVALID', JSON.stringify(address), `not a valid ${network} address (${why})`);
}

export function addressToScript(address: string, network: NetworkName): Buffer {
  return decodeAddress(address, network).script;
}

/** Which network an address belongs to, if any. */
export function addressNetwork(address: string): NetworkName | undefined {
  for (const n of ['main', 'testnet', 'regtest'] as const) {
    try {
      decodeAddress(address, n);
      return n;
    } catch {
      /* try the next */
    }
  }
  return undefined;
}
