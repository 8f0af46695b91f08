/**
 * SV2 key files (ckpool 1.2's `sv2_authority_key` / `sv2_static_key`): a secp256k1
 * secret key as base58check text (SRI's format), created on first start with mode 0600
 * when missing; `sv2_authority.pub` beside the authority key holds the base58check
 * public key miners put in `stratum2+tcp://host:port/<pubkey>`.
 *
 * The static key file is created and checked for ckpool 1.2 config compatibility, but
 * the SV2 reference responder (noise_sv2 2.0) draws a fresh static key for every
 * connection and signs a certificate for it with the authority key; it has no way to
 * take a fixed static key, so the file is not used in the handshake (README says so).
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ckError } from '../errors.js';
import { native } from '../native/binding.js';

export interface Sv2Keys {
  /** base58check secret of the authority key (kept in memory for the handshakes) */
  authoritySecret: string;
  /** base58check authority public key */
  authorityPublic: string;
  authorityPath: string;
  staticPath: string;
  /** path of sv2_authority.pub */
  publicPath: string;
  /** key files created by this call */
  created: string[];
  /** key files other users can read (mode & 077): logged as warnings, not refused */
  exposed: string[];
}

function loadOrCreate(path: string, created: string[], exposed: string[]): string {
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true });
    // 'wx': never overwrite a key another process wrote in between
    writeFileSync(path, native.sv2GenerateKey() + '\n', { mode: 0o600, flag: 'wx' });
    chmodSync(path, 0o600);
    created.push(path);
  }
  const st = statSync(path);
  if (!st.isFile()) throw ckError('CKP_ERR_SV2_KEY_FILE', path, 'not a regular file');
  if (st.mode & 0o077) exposed.push(path);
  const text = readFileSync(path, 'utf8').trim();
  try {
    native.sv2PublicKey(text);
  } catch (e) {
    throw ckError('CKP_ERR_SV2_KEY_FILE', path, `not a base58check secp256k1 secret key (${(e as Error).message})`);
  }
  return text;
}

/** Read (or create) both key files and write sv2_authority.pub next to the authority key. */
export function loadSv2Keys(opts: { authorityPath?: string; staticPath?: string; sockdir: string }): Sv2Keys {
  const created: string[] = [];
  const exposed: string[] = [];
  const authorityPath = opts.authorityPath ?? join(opts.sockdir, 'sv2_authority.key');
  const staticPath = opts.staticPath ?? join(opts.sockdir, 'sv2_static.key');
  const authoritySecret = loadOrCreate(authorityPath, created, exposed);
  loadOrCreate(staticPath, created, exposed);
  const authorityPublic = native.sv2PublicKey(authoritySecret);
  const publicPath = join(dirname(authorityPath), 'sv2_authority.pub');
  const current = existsSync(publicPath) ? readFileSync(publicPath, 'utf8').trim() : '';
  if (current !== authorityPublic) writeFileSync(publicPath, authorityPublic + '\n', { mode: 0o644 });
  return { authoritySecret, authorityPublic, authorityPath, staticPath, publicPath, created, exposed };
}
