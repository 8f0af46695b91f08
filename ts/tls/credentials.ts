/**
 * The certificate and key of the stratum TLS listeners (config keys `tlscert`,
 * `tlskey`): read from their PEM files and checked before anything listens, so a wrong
 * path, an unreadable file, a file that is not PEM, or a key of another certificate is
 * one clear start-up error naming the file — not a handshake failure on every miner.
 *
 * The same load runs again on SIGHUP and in a -H handover's new process, so a renewed
 * certificate (certbot rewrites the files in place) is served to new connections
 * without any miner reconnecting.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { isTlsUrl } from '../config/stratum-url.js';
import { ckError, ckErrorCause } from '../errors.js';

/** PEM texts as read (plain data: they are posted to worker threads as they are). */
export interface TlsCredentials {
  /** The leaf certificate, optionally followed by its chain. */
  readonly cert: string;
  readonly key: string;
  /** Where they came from (log lines). */
  readonly certPath: string;
  readonly keyPath: string;
}

/** Minimum protocol version of every TLS listener and upstream link. */
export const TLS_MIN_VERSION = 'TLSv1.2';

function readPem(what: 'certificate' | 'key', path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw ckErrorCause('CKP_ERR_TLS_FILE', e, what, path, (e as NodeJS.ErrnoException).code ?? (e as Error).message);
  }
}

/** The first certificate of a (chain) file: the one the key must belong to. */
function leafOf(pem: string, path: string): X509Certificate {
  const first = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem);
  if (!first) throw ckError('CKP_ERR_TLS_PEM', 'certificate', path, 'certificate', 'no "-----BEGIN CERTIFICATE-----" block');
  try {
    return new X509Certificate(first[0]);
  } catch (e) {
    throw ckErrorCause('CKP_ERR_TLS_PEM', e, 'certificate', path, 'certificate', (e as Error).message);
  }
}

function keyOf(pem: string, path: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (e) {
    throw ckErrorCause('CKP_ERR_TLS_PEM', e, 'key', path, 'private key (an encrypted key is not supported)', (e as Error).message);
  }
}

/**
 * Read and check a certificate and key file. Throws CKP_ERR_TLS_FILE (missing or
 * unreadable), CKP_ERR_TLS_PEM (not a certificate / private key), CKP_ERR_TLS_KEY_MISMATCH,
 * or CKP_ERR_TLS_CONTEXT (OpenSSL refuses the pair, e.g. a malformed chain).
 * An expired certificate is loaded (it is the operator's to renew; miners decide
 * whether they accept it) — the caller may warn with `expiry()`.
 */
export function loadTlsCredentials(certPath: string, keyPath: string): TlsCredentials {
  const cert = readPem('certificate', certPath);
  const key = readPem('key', keyPath);
  const leaf = leafOf(cert, certPath);
  const keyObject = keyOf(key, keyPath);
  if (!leaf.checkPrivateKey(keyObject)) {
    throw ckError('CKP_ERR_TLS_KEY_MISMATCH', keyPath, certPath, `certificate subject ${leaf.subject.replace(/\n/g, ', ')}`);
  }
  try {
    createSecureContext({ cert, key, minVersion: TLS_MIN_VERSION });
  } catch (e) {
    throw ckErrorCause('CKP_ERR_TLS_CONTEXT', e, certPath, keyPath, (e as Error).message);
  }
  return { cert, key, certPath, keyPath };
}

/** The leaf certificate's validity end and subject (log lines at start and on reload). */
export function describeCert(c: TlsCredentials): { subject: string; validTo: Date; fingerprint: string } {
  const leaf = leafOf(c.cert, c.certPath);
  return { subject: leaf.subject.replace(/\n/g, ', '), validTo: new Date(leaf.validTo), fingerprint: leaf.fingerprint256 };
}

/** True when any of the urls is `stratum+ssl://` / `stratum+tls://`. */
export function anyTlsUrl(urls: readonly string[]): boolean {
  return urls.some(isTlsUrl);
}

/**
 * The credentials for a config's listeners: undefined when no serverurl / nodeserver
 * url is TLS, otherwise read and checked from `tlscert` / `tlskey`
 * (CKP_ERR_TLS_NOT_CONFIGURED when they are missing — config parsing already refuses
 * that, this covers configs built in code).
 */
export function tlsCredentialsFor(config: { serverurl: readonly string[]; nodeserver?: readonly string[]; tlscert?: string; tlskey?: string }): TlsCredentials | undefined {
  const urls = [...config.serverurl, ...(config.nodeserver ?? [])];
  const tlsUrl = urls.find(isTlsUrl);
  if (tlsUrl === undefined) return undefined;
  if (config.tlscert === undefined || config.tlskey === undefined) throw ckError('CKP_ERR_TLS_NOT_CONFIGURED', tlsUrl);
  return loadTlsCredentials(config.tlscert, config.tlskey);
}
