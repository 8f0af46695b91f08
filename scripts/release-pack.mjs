#!/usr/bin/env node
// `npm run release:pack`: the npm tarballs of a release, with `npm pack`, into
// dist-release/ (ignored by git):
//
//   ckpool-ts-linux-x64-gnu-<v>.tgz     npm/linux-x64-gnu: the x64 prebuilt binary
//   ckpool-ts-linux-arm64-gnu-<v>.tgz   npm/linux-arm64-gnu: the arm64 prebuilt binary
//   ckpool-ts-<v>.tgz                   the main package
//
//   node scripts/release-pack.mjs [--targets x64,arm64] [--out DIR]
//
// Steps:
//  1. `napi create-npm-dirs` writes npm/<platform>/package.json (name, os, cpu, libc,
//     version: all from package.json, which is why nothing under npm/ is committed) and
//     scripts/prebuild.sh builds each binary against glibc 2.17 (arm64: cross-compiled,
//     see scripts/arm64-toolchain.sh); the binaries are copied into npm/<platform>/.
//  2. The main package is staged in target/release-stage/: its package.json is the
//     repository's, plus `optionalDependencies` naming every platform package at exactly
//     this version (the rule of `napi pre-publish`: <name>-<platformArchABI> = version,
//     checked here against each npm/<platform>/package.json). They are not in the
//     committed package.json because `npm ci` refuses a lock file that cannot resolve
//     them, and they are not on the registry until published. Bins whose file does not
//     exist yet are left out of the staged manifest (with a warning) rather than
//     shipped dangling. bcoin is bundled (`bundleDependencies`, copied from this
//     checkout's node_modules: see below why). dist/ is compiled fresh into the stage (`tsc -p
//     tsconfig.build.json --outDir`), so a stale or missing dist/ in the checkout
//     does not matter and is not touched.
//  3. `npm pack` of each platform dir and of the stage; the main tarball's file list is
//     checked: dist/, bin/, conf/, the loader in binding/, README.md and the Rust
//     sources for the source-build fallback; no .node, ts/, test/ or tsx.
//
// With --targets x64 only the x64 platform tarball is built (what test/install.test.ts
// needs); the main package still declares both platform packages.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const root = resolve(new URL('..', import.meta.url).pathname);
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const out = resolve(opt('--out', join(root, 'dist-release')));
const targets = opt('--targets', process.env.RELEASE_TARGETS ?? 'x64,arm64').split(',').filter(Boolean);
for (const t of targets) if (!['x64', 'arm64'].includes(t)) throw new Error(`unknown target ${t} (x64 or arm64)`);

const log = (msg) => console.log(`# release:pack: ${msg}`);
const t0 = Date.now();
function run(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { cwd: root, stdio: 'inherit', ...opts });
  if (r.status !== 0) {
    console.error(`release:pack: \`${cmd} ${argv.join(' ')}\` failed (${r.error?.message ?? `exit ${r.status}`})`);
    process.exit(1);
  }
}
const bin = (name) => join(root, 'node_modules', '.bin', name);
const readJson = (p) => JSON.parse(readFileSync(p, 'utf8'));

const pkg = readJson(join(root, 'package.json'));
const platformOf = { 'x86_64-unknown-linux-gnu': 'linux-x64-gnu', 'aarch64-unknown-linux-gnu': 'linux-arm64-gnu' };
const platforms = pkg.napi.targets.map((t) => {
  if (!platformOf[t]) throw new Error(`release:pack knows no platform name for napi target ${t}`);
  return platformOf[t];
});

// 1. platform packages
log(`version ${pkg.version}; building ${targets.join(', ')} into ${relative(root, out) || out}`);
run(bin('napi'), ['create-npm-dirs']);
run('bash', [join(root, 'scripts', 'prebuild.sh'), ...targets]);
mkdirSync(out, { recursive: true });
const tarballs = [];
function pack(dir) {
  const json = execFileSync('npm', ['pack', '--json', '--pack-destination', out], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const [info] = JSON.parse(json);
  tarballs.push(info.filename);
  return info;
}
const expectedOptional = {};
for (const platform of platforms) {
  const dir = join(root, 'npm', platform);
  const manifest = readJson(join(dir, 'package.json'));
  if (manifest.version !== pkg.version || manifest.name !== `${pkg.name}-${platform}`) {
    throw new Error(`npm/${platform}/package.json is ${manifest.name}@${manifest.version}, expected ${pkg.name}-${platform}@${pkg.version}`);
  }
  expectedOptional[manifest.name] = manifest.version;
  const arch = platform.split('-')[1];
  if (!targets.includes(arch)) continue;
  const node = `${pkg.napi.binaryName}.${platform}.node`;
  cpSync(join(root, 'target', 'prebuilt', node), join(dir, node));
  const info = pack(dir);
  if (!info.files.some((f) => f.path === node)) throw new Error(`${info.filename} lacks ${node}`);
  log(`${info.filename}: ${info.files.length} files, ${(info.size / 1024).toFixed(0)} KiB`);
}

// 2. the main package, staged
const stage = join(root, 'target', 'release-stage');
rmSync(stage, { recursive: true, force: true });
mkdirSync(stage, { recursive: true });
for (const entry of pkg.files) {
  if (entry.startsWith('!') || entry === 'dist') continue;
  const src = join(root, entry);
  if (!existsSync(src)) throw new Error(`package.json files: ${entry} does not exist`);
  cpSync(src, join(stage, entry), { recursive: true });
}
log('compiling TypeScript into the stage (tsc -p tsconfig.build.json)');
run(bin('tsc'), ['-p', 'tsconfig.build.json', '--outDir', join(stage, 'dist')]);

// bcoin (the embedded demo's node) is bundled, with the dependency tree `npm ci` installed
// here: bcoin 1.0.2 -> bdb 0.2.3 pins leveldown 4.0.1, whose install compiles C++ that
// no longer builds on Node >= 12, so a plain `npm install ckpool-ts` fails. The
// repository's package.json overrides it with leveldown 6.1.1 (N-API prebuilds, no
// compiler needed), but overrides only apply to the root project; a bundled tree is
// installed as packed. Compiled leftovers (each package's build/) are not bundled.
const bundled = dependencyClosure('bcoin');
for (const dir of bundled) {
  const gyp = existsSync(join(root, dir, 'binding.gyp')); // build/ is node-gyp output there
  cpSync(join(root, dir), join(stage, dir), {
    recursive: true,
    filter: (src) => {
      const top = relative(join(root, dir), src).split('/')[0];
      return top !== 'node_modules' && !(gyp && top === 'build');
    },
  });
}
const leveldown = readJson(join(stage, 'node_modules', 'leveldown', 'package.json')).version;
if (!leveldown.startsWith('6.')) throw new Error(`bundled leveldown is ${leveldown}: run npm ci (package.json overrides pin 6.1.1)`);
log(`bundling bcoin: ${bundled.length} packages (leveldown ${leveldown})`);

const manifest = structuredClone(pkg);
manifest.bundleDependencies = ['bcoin'];
manifest.optionalDependencies = { ...(pkg.optionalDependencies ?? {}), ...expectedOptional };
for (const [name, file] of Object.entries(manifest.bin ?? {})) {
  if (!existsSync(join(root, file))) {
    console.warn(`release:pack: WARNING: bin ${name} -> ${file} does not exist yet; left out of the package`);
    delete manifest.bin[name];
  }
}
writeFileSync(join(stage, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);

/** Installed directories (relative to root) of a package and everything it depends on. */
function dependencyClosure(name) {
  const seen = new Set();
  const find = (dep, from) => {
    for (let d = from; ; d = join(d, '..')) {
      const c = join(d, 'node_modules', dep);
      if (existsSync(join(c, 'package.json'))) return c;
      if (d === root) return null;
    }
  };
  const walk = (dir) => {
    if (seen.has(dir)) return;
    seen.add(dir);
    const p = readJson(join(dir, 'package.json'));
    for (const dep of Object.keys({ ...p.dependencies, ...p.optionalDependencies })) {
      const c = find(dep, dir);
      if (c) walk(c);
      else if (!p.optionalDependencies?.[dep]) throw new Error(`${relative(root, dir)}: dependency ${dep} is not installed (npm ci first)`);
    }
  };
  const top = find(name, root);
  if (!top) throw new Error(`${name} is not installed: run npm ci first`);
  walk(top);
  return [...seen].map((d) => relative(root, d));
}

// 3. pack the main package and check what it ships
const info = pack(stage);
const files = info.files.map((f) => f.path);
const problems = [];
const must = ['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/ckpool.js',
  'binding/index.js', 'binding/index.d.ts', 'binding/package.json', 'scripts/install.cjs',
  'Cargo.toml', 'Cargo.lock', 'build.rs', 'src/lib.rs', 'crates/ckpool-core/Cargo.toml', 'crates/ckpool-core/src/lib.rs',
  'web/index.html', 'web/app.js', 'web/style.css', // the dashboard, served as is (no build step)
  ...Object.values(manifest.bin).map((f) => f.replace(/^\.\//, ''))];
for (const f of must) if (!files.includes(f)) problems.push(`missing ${f}`);
if (!files.some((f) => f.startsWith('conf/'))) problems.push('missing conf/');
for (const f of files.filter((f) => !f.startsWith('node_modules/'))) {
  if (/\.node$|^ts\/|^test\/|\.test\.|^target\/|^npm\/|\.map$|tsbuildinfo/.test(f)) problems.push(`should not ship ${f}`);
}
if (files.some((f) => f.startsWith('node_modules/tsx/') || f.startsWith('node_modules/ava/'))) problems.push('bundles a devDependency');
if (!files.includes('node_modules/bcoin/package.json')) problems.push('bcoin is not bundled');
for (const f of files.filter((f) => f.startsWith('dist/') && f.endsWith('.js'))) {
  if (/from ['"]tsx|import\(['"]tsx/.test(readFileSync(join(stage, f), 'utf8'))) problems.push(`${f} imports tsx (a devDependency)`);
}
if (problems.length) {
  console.error(`release:pack: the main package is wrong:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
log(`${info.filename}: ${files.length} files (${files.filter((f) => f.startsWith('node_modules/')).length} bundled), ${(info.size / 1024).toFixed(0)} KiB; optionalDependencies ${JSON.stringify(manifest.optionalDependencies)}`);
log(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s:`);
for (const f of tarballs) console.log(join(out, f));
// statSync: fail loudly if npm wrote the tarballs anywhere else
for (const f of tarballs) statSync(join(out, f));
