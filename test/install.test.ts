// The npm release as a user gets it: `npm run release:pack` (x64 only), then the packed
// main + linux-x64-gnu tarballs installed into empty directories with no Rust toolchain
// on PATH — locally (`npm install <tarballs>`) and globally (`npm install -g`) — and the
// installed commands and native core exercised. Also the main tarball alone (no prebuilt
// for the platform): the install hook and the library say clearly that cargo is needed.
//
// It builds a release binary and runs three `npm install`s against the registry (one to
// two minutes), so `npm test` (scripts/test.mjs) runs it on its own after the other
// tests, with CKPOOL_INSTALL_TEST=1; a plain `npx ava` skips it unless that is set.
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  bin: Record<string, string>;
};
const enabled = process.env.CKPOOL_INSTALL_TEST === '1';
const serial = enabled ? test.serial : test.serial.skip;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

let work = '';
let noRustPath = '';
let tarballs: { main: string; x64: string } | undefined;
let env: NodeJS.ProcessEnv = {};

/** Run a command (async, so ava's timers keep running); never rejects. */
function run(cmd: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: opts.cwd ?? work, env: opts.env ?? env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', (e) => resolve({ code: -1, stdout, stderr: stderr + String(e) }));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function ok(t: ExecutionContext, r: Result, what: string): void {
  t.is(r.code, 0, `${what} exited ${r.code}\n--- stdout\n${r.stdout.slice(-3000)}\n--- stderr\n${r.stderr.slice(-3000)}`);
}

/**
 * A directory of symlinks to every program on PATH except the Rust toolchain (cargo,
 * rustc, rustup, ...): Debian's cargo in /usr/bin can't be removed from PATH by
 * dropping ~/.cargo/bin alone.
 */
function pathWithoutRust(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const rust = /^(cargo|rustc|rustup|rustdoc|rustfmt|rust-|clippy-driver|rls$)/;
  for (const d of (process.env.PATH ?? '').split(delimiter)) {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      continue;
    }
    for (const name of names) {
      if (rust.test(name) || existsSync(join(dir, name))) continue;
      try {
        if (statSync(join(d, name)).isFile()) symlinkSync(join(d, name), join(dir, name));
      } catch {
        // dangling link or unreadable: skip
      }
    }
  }
  return dir;
}

function newApp(name: string, extra: Record<string, unknown> = {}): string {
  const dir = join(work, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `install-test-${name}`, private: true, ...extra }));
  return dir;
}

test.before(() => {
  if (!enabled) return;
  work = mkdtempSync(join(tmpdir(), 'ckpool-ts-install-'));
  noRustPath = pathWithoutRust(join(work, 'bin'));
  // The install must not see this checkout's npm settings (npm test sets npm_config_*).
  env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
  env.PATH = noRustPath;
  env.npm_config_audit = 'false';
  env.npm_config_fund = 'false';
  env.npm_config_update_notifier = 'false';
});
test.after.always(() => {
  if (work && !process.env.CKPOOL_KEEP_INSTALL_TEST) rmSync(work, { recursive: true, force: true });
});

serial('release:pack builds the x64 platform tarball and the main tarball', async (t) => {
  t.timeout(8 * 60_000);
  const out = join(work, 'tarballs');
  const r = await run(process.execPath, [join(ROOT, 'scripts', 'release-pack.mjs'), '--targets', 'x64', '--out', out], {
    cwd: ROOT,
    env: { ...process.env },
  });
  ok(t, r, 'release:pack');
  const files = readdirSync(out);
  const main = files.find((f) => f === `${PKG.name}-${PKG.version}.tgz`);
  const x64 = files.find((f) => f === `${PKG.name}-linux-x64-gnu-${PKG.version}.tgz`);
  t.truthy(main, files.join(', '));
  t.truthy(x64, files.join(', '));
  tarballs = { main: join(out, main!), x64: join(out, x64!) };
});

serial('the install environment has no Rust toolchain', async (t) => {
  t.truthy(tarballs);
  const r = await run('sh', ['-c', 'command -v cargo || command -v rustc || echo none']);
  t.is(r.stdout.trim(), 'none');
  ok(t, await run('npm', ['--version']), 'npm --version');
});

serial('npm install <main> <x64> into an empty directory: every command and the core work', async (t) => {
  t.timeout(5 * 60_000);
  const app = newApp('local');
  const r = await run('npm', ['install', tarballs!.main, tarballs!.x64], { cwd: app });
  ok(t, r, 'npm install');
  const pkgDir = join(app, 'node_modules', PKG.name);
  const bin = (name: string) => join(app, 'node_modules', '.bin', name);

  // What was installed: compiled JS, no TypeScript sources, no local .node, no tsx.
  t.true(existsSync(join(pkgDir, 'dist', 'cli', 'ckpool.js')));
  t.false(existsSync(join(pkgDir, 'ts')));
  t.false(existsSync(join(pkgDir, 'test')));
  t.deepEqual(readdirSync(join(pkgDir, 'binding')).filter((f) => f.endsWith('.node')), []);
  t.false(existsSync(join(app, 'node_modules', 'tsx')));
  t.true(existsSync(join(app, 'node_modules', `${PKG.name}-linux-x64-gnu`)));
  const installed = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
  t.deepEqual(installed.optionalDependencies, {
    [`${PKG.name}-linux-x64-gnu`]: PKG.version,
    [`${PKG.name}-linux-arm64-gnu`]: PKG.version,
  });

  const version = await run(bin('ckpool'), ['--version'], { cwd: app });
  ok(t, version, 'ckpool --version');
  t.is(version.stdout.trim(), PKG.version);
  for (const name of ['ckpmsg', 'notifier']) {
    const h = await run(bin(name), ['-h'], { cwd: app });
    ok(t, h, `${name} -h`);
    t.regex(h.stdout, new RegExp(`Usage: ${name}\\b`));
  }
  // Every other bin the package declares starts too.
  for (const name of Object.keys(installed.bin)) {
    if (['ckpmsg', 'notifier'].includes(name)) continue;
    ok(t, await run(bin(name), ['--help'], { cwd: app }), `${name} --help`);
  }

  // The core vectors, through the installed package's loader: it must pick the prebuilt package.
  const v = await run(process.execPath, [join(ROOT, 'scripts', 'check-vectors.cjs'), pkgDir, '--expect', `node_modules/${PKG.name}-linux-x64-gnu/`]);
  ok(t, v, 'check-vectors');
  t.regex(v.stdout, /check-vectors: OK: all 5 vectors/);
  // and the library entry point (ESM, exports map) loads the same core
  const lib = await run(process.execPath, ['--input-type=module', '-e',
    `import { sha256d } from '${PKG.name}'; console.log(sha256d(Buffer.from('abc')).toString('hex'))`], { cwd: app });
  ok(t, lib, 'import ckpool-ts');
  t.is(lib.stdout.trim(), '4f8b42c22dd3729b519ba6f68d2da7cc5b2d606d05daed5ad5128cc03e6c6358');
});

serial('npm install -g: ckpool, ckproxy, ckpmsg, notifier on PATH; ckproxy is ckpool -p', async (t) => {
  t.timeout(5 * 60_000);
  const prefix = join(work, 'global');
  ok(t, await run('npm', ['install', '-g', '--prefix', prefix, tarballs!.main, tarballs!.x64]), 'npm install -g');
  const gbin = join(prefix, 'bin');
  const genv = { ...env, PATH: `${gbin}${delimiter}${noRustPath}` };
  for (const name of ['ckpool', 'ckproxy', 'ckpmsg', 'notifier']) t.true(existsSync(join(gbin, name)), `${name} in ${gbin}`);

  const version = await run('ckpool', ['--version'], { env: genv });
  ok(t, version, 'ckpool --version');
  t.is(version.stdout.trim(), PKG.version);
  for (const name of ['ckpmsg', 'notifier']) ok(t, await run(name, ['-h'], { env: genv }), `${name} -h`);

  // ckproxy implies -p: -B conflicts with it exactly as with `ckpool -p`.
  const asProxy = await run('ckproxy', ['-B'], { env: genv });
  const withP = await run('ckpool', ['-p', '-B'], { env: genv });
  t.is(asProxy.code, withP.code);
  t.not(asProxy.code, 0);
  t.regex(asProxy.stderr + asProxy.stdout, /proxy mode \(running as ckproxy\).*btcsolo/);
  t.regex(withP.stderr + withP.stdout, /proxy mode \(-p\).*btcsolo/);
  // and the same through a symlink named ckproxy to the ckpool launcher (argv[1] decides)
  const link = join(work, 'links');
  mkdirSync(link);
  symlinkSync(join(prefix, 'lib', 'node_modules', PKG.name, 'bin', 'ckpool.js'), join(link, 'ckproxy'));
  const viaLink = await run(join(link, 'ckproxy'), ['-B'], { env: genv });
  t.regex(viaLink.stderr + viaLink.stdout, /proxy mode \(running as ckproxy\).*btcsolo/);
  const plain = await run('ckpool', ['-B', '-c', join(work, 'missing.conf')], { env: genv });
  t.notRegex(plain.stderr + plain.stdout, /proxy/);
});

serial('the main tarball alone (no prebuilt matched): clear messages, cargo named', async (t) => {
  t.timeout(5 * 60_000);
  // The platform packages are not on the registry: npm skips the optional dependencies.
  // npm 11 runs a dependency's install script only when the project allows it.
  const app = newApp('bare', { allowScripts: { [PKG.name]: true } });
  const hook = await run('npm', ['install', tarballs!.main], { cwd: app });
  // The install hook finds no prebuilt and no cargo: it fails the install with the reason.
  t.not(hook.code, 0);
  t.regex(hook.stdout + hook.stderr, new RegExp(`prebuilt native core for this platform \\(optional dependency ${PKG.name}-linux-x64-gnu\\) is not installed`));
  t.regex(hook.stdout + hook.stderr, /`cargo` was not found on PATH/);

  // Installed without scripts, the library itself explains at load time.
  ok(t, await run('npm', ['install', '--ignore-scripts', tarballs!.main], { cwd: app }), 'npm install --ignore-scripts');
  const lib = await run(process.execPath, ['--input-type=module', '-e', `await import('${PKG.name}')`], { cwd: app });
  t.not(lib.code, 0);
  t.regex(lib.stderr, /No prebuilt binary matched this platform \(linux-x64/);
  t.regex(lib.stderr, /needs a Rust toolchain\s+\(cargo/);
  t.regex(lib.stderr, /scripts\/install\.cjs --build/);
});
