/**
 * RPC credentials: a fixed user/password, or bitcoind's cookie file.
 *
 * bitcoind writes `<datadir>/.cookie` (`__cookie__:<hex>`) at every start, so
 * the cookie is read lazily and read again whenever the node rejects it. The
 * secret only ever lives in the Authorization header value; nothing here puts
 * it in an error message or a log line.
 */
import { readFile } from 'node:fs/promises';
import { ckErrorCause } from '../errors.js';

export interface CredentialSource {
  /** The `Authorization` header value to send. */
  header(): Promise<string>;
  /**
   * Called after the node answered 401/403. Returns a different header to retry
   * with, or null when there is nothing new to try.
   */
  refresh(): Promise<string | null>;
}

function basic(user: string, pass: string): string {
  return 'Basic ' + Buffer.from(`${user}:${pass}`, 'utf8').toString('base64');
}

/** Fixed credentials (ckpool.conf `auth` / `pass`). */
export class StaticCredentials implements CredentialSource {
  readonly #header: string;
  constructor(user: string, pass: string) {
    this.#header = basic(user, pass);
  }
  async header(): Promise<string> {
    return this.#header;
  }
  async refresh(): Promise<string | null> {
    return null;
  }
}

/** Credentials from a bitcoind cookie file, re-read when rejected. */
export class CookieCredentials implements CredentialSource {
  #header: string | null = null;
  constructor(readonly path: string) {}

  async #read(): Promise<string> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      throw ckErrorCause('CKP_ERR_RPC_COOKIE', err, this.path, (err as NodeJS.ErrnoException).code ?? 'unreadable');
    }
    const line = text.split(/\r?\n/, 1)[0] ?? '';
    const colon = line.indexOf(':');
    if (colon <= 0) throw ckErrorCause('CKP_ERR_RPC_COOKIE', undefined, this.path, 'expected user:password');
    return basic(line.slice(0, colon), line.slice(colon + 1));
  }

  async header(): Promise<string> {
    this.#header ??= await this.#read();
    return this.#header;
  }

  async refresh(): Promise<string | null> {
    const old = this.#header;
    this.#header = await this.#read();
    return this.#header === old ? null : this.#header;
  }
}
