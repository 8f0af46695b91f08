/**
 * Certificates for TLS tests, made with the `openssl` CLI into a directory the test owns:
 * self-signed, expired, or signed by a fresh (or given) test CA. `openssl ca` is used for
 * the signing because it is the one OpenSSL 3.0 command that takes explicit start and end
 * dates, which an expired certificate needs (`req -x509 -days` refuses values < 1).
 *
 * Every leaf carries subjectAltName DNS:<cn>, DNS:localhost and IP:127.0.0.1 (plus any
 * `san` given), so node:tls with the default checkServerIdentity accepts it for 127.0.0.1
 * when the issuer is trusted.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CaRef {
  certPath: string;
  keyPath: string;
}

export interface CertOptions {
  /** Subject common name; also a DNS subjectAltName. */
  cn: string;
  /** Validity in days from now (default 30). Ignored when `expired`. */
  days?: number;
  /** Valid from 10 days ago until yesterday. */
  expired?: boolean;
  /** true: make a new CA in `dir` and sign with it; a CaRef: sign with that CA. Default: self-signed. */
  ca?: boolean | CaRef;
  /** Extra subjectAltName entries, e.g. ['DNS:pool.example', 'IP:10.0.0.1']. */
  san?: string[];
}

export interface MadeCert {
  certPath: string;
  keyPath: string;
  /** The issuing CA's certificate, when the leaf is CA-signed. */
  caPath?: string;
  /** The CA's key, so a later makeCert can sign a renewed leaf with the same CA. */
  caKeyPath?: string;
  cert: string;
  key: string;
}

let seq = 0;

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** openssl ca's date format: YYYYMMDDHHMMSSZ. */
function caDate(d: Date): string {
  return d.toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z');
}

function genKey(path: string, cwd: string): void {
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path], cwd);
}

/**
 * Sign `csr` with `openssl ca` (self-signed when `issuer` is null) between the given dates.
 * A private CA database per signing keeps concurrent tests independent.
 */
function sign(work: string, csr: string, out: string, key: string, issuer: CaRef | null,
  from: Date, to: Date, ext: string): void {
  mkdirSync(join(work, 'db'), { recursive: true });
  writeFileSync(join(work, 'db', 'index.txt'), '');
  writeFileSync(join(work, 'db', 'serial'), `${(Date.now() * 1000 + (++seq)).toString(16).padStart(16, '0')}\n`);
  writeFileSync(join(work, 'ca.cnf'), [
    '[ ca ]', 'default_ca = tca',
    '[ tca ]',
    `dir = ${join(work, 'db')}`, 'database = $dir/index.txt', 'serial = $dir/serial',
    'new_certs_dir = $dir', 'default_md = sha256', 'policy = anything',
    'unique_subject = no', 'copy_extensions = none',
    '[ anything ]', 'commonName = supplied',
    '[ ext ]', ext, '',
  ].join('\n'));
  const args = ['ca', '-batch', '-notext', '-config', 'ca.cnf', '-in', csr, '-out', out,
    '-startdate', caDate(from), '-enddate', caDate(to), '-extensions', 'ext'];
  if (issuer) args.push('-cert', issuer.certPath, '-keyfile', issuer.keyPath);
  else args.push('-selfsign', '-keyfile', key);
  openssl(args, work);
}

function makeCa(dir: string, tag: string): CaRef {
  const work = join(dir, `${tag}-ca`);
  mkdirSync(work, { recursive: true });
  const keyPath = join(dir, `${tag}-ca.key`);
  const certPath = join(dir, `${tag}-ca.pem`);
  genKey(keyPath, work);
  openssl(['req', '-new', '-key', keyPath, '-subj', `/CN=ckpool-ts test CA ${tag}`, '-out', 'ca.csr'], work);
  const now = Date.now();
  sign(work, 'ca.csr', certPath, keyPath, null, new Date(now - 86400_000), new Date(now + 365 * 86400_000),
    'basicConstraints = critical, CA:true\nkeyUsage = critical, keyCertSign, cRLSign\nsubjectKeyIdentifier = hash');
  return { certPath, keyPath };
}

/** Make a key and certificate in `dir` (which must exist). File names are unique per call. */
export function makeCert(dir: string, opts: CertOptions): MadeCert {
  const tag = `${opts.cn.replace(/[^A-Za-z0-9.-]/g, '_')}-${process.pid}-${++seq}`;
  const work = join(dir, `${tag}-work`);
  mkdirSync(work, { recursive: true });
  let issuer: CaRef | null = null;
  if (opts.ca === true) issuer = makeCa(dir, tag);
  else if (opts.ca) issuer = opts.ca;
  const keyPath = join(dir, `${tag}.key`);
  const certPath = join(dir, `${tag}.pem`);
  genKey(keyPath, work);
  openssl(['req', '-new', '-key', keyPath, '-subj', `/CN=${opts.cn}`, '-out', 'leaf.csr'], work);
  const now = Date.now();
  const day = 86400_000;
  const from = opts.expired ? new Date(now - 10 * day) : new Date(now - 3600_000);
  const to = opts.expired ? new Date(now - day) : new Date(now + (opts.days ?? 30) * day);
  const san = [`DNS:${opts.cn}`, 'DNS:localhost', 'IP:127.0.0.1', ...(opts.san ?? [])];
  sign(work, 'leaf.csr', certPath, keyPath, issuer, from, to, [
    'basicConstraints = critical, CA:false',
    'keyUsage = critical, digitalSignature, keyEncipherment',
    'extendedKeyUsage = serverAuth, clientAuth',
    `subjectAltName = ${[...new Set(san)].join(', ')}`,
  ].join('\n'));
  const result: MadeCert = {
    certPath, keyPath,
    cert: readFileSync(certPath, 'utf8'),
    key: readFileSync(keyPath, 'utf8'),
  };
  if (issuer) { result.caPath = issuer.certPath; result.caKeyPath = issuer.keyPath; }
  return result;
}
