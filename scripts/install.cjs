#!/usr/bin/env node
// The published package's `install` hook, and its build-from-source command.
//
//   node scripts/install.cjs           install hook: nothing to do when the native core
//                                      loads (a prebuilt platform package matched, or a
//                                      binary was built before) or in a source checkout
//                                      (there `npm run build` builds it); otherwise build
//                                      it from the Rust sources shipped in the package.
//   node scripts/install.cjs --build   build from source now, whatever is installed.
//   node scripts/install.cjs --need-cargo
//                                      exit 1 with a clear message when cargo is missing
//                                      (`npm run build:native` starts with it: the napi CLI
//                                      alone only says "cargo metadata failed to run").
//
// Building needs a Rust toolchain (cargo, rustc >= 1.88) and reaches crates.io for the
// crates in Cargo.lock. Without cargo it prints what to do and exits 1, so that npm
// shows the message (npm hides the output of install scripts that succeed).
// Plain CommonJS with no dependencies: it runs before anything else is usable.
'use strict';

const { spawnSync } = require('child_process');
const { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } = require('fs');
const { tmpdir } = require('os');
const path = require('path');

const root = path.join(__dirname, '..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const binaryName = (pkg.napi && pkg.napi.binaryName) || 'ckpool-core';
const force = process.argv.includes('--build');
const say = (msg) => process.stderr.write(`ckpool-ts: ${msg}\n`);

function isMusl() {
  if (process.platform !== 'linux') return false;
  const report = process.report && process.report.getReport ? process.report.getReport() : null;
  return !(report && report.header && report.header.glibcVersionRuntime);
}

/** The napi-rs platform name the generated loader looks for (binding/<binary>.<this>.node). */
function platformArchAbi() {
  const { platform, arch } = process;
  if (platform === 'linux') {
    const abi = isMusl() ? 'musl' : arch === 'arm' ? 'gnueabihf' : 'gnu';
    return `linux-${arch}-${abi}`;
  }
  if (platform === 'win32') return `win32-${arch}-msvc`;
  return `${platform}-${arch}`;
}

/** Prebuilt platforms, in napi-rs naming (from package.json napi.targets). */
function prebuiltPlatforms() {
  const names = { 'x86_64-unknown-linux-gnu': 'linux-x64-gnu', 'aarch64-unknown-linux-gnu': 'linux-arm64-gnu' };
  return ((pkg.napi && pkg.napi.targets) || []).map((t) => names[t] || t);
}

function loads() {
  try {
    require(path.join(root, 'binding', 'index.js'));
    return true;
  } catch (err) {
    return err;
  }
}

function hasCargo() {
  const r = spawnSync('cargo', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

function build() {
  const cargo = hasCargo();
  const here = platformArchAbi();
  if (!cargo) {
    const why = prebuiltPlatforms().includes(here)
      ? `the prebuilt native core for this platform (optional dependency ${pkg.name}-${here}) is not installed ` +
        '(npm skips an optional dependency it cannot fetch, and --omit=optional skips them all)'
      : `no prebuilt native core matches this platform (${here}; prebuilt: ${prebuiltPlatforms().join(', ')})`;
    say(
      `${why}, and building it from source needs a Rust toolchain, but \`cargo\` was not found on PATH.\n` +
        '  Install Rust (https://rustup.rs; rustc >= 1.88), then run:\n' +
        `    node ${path.join(root, 'scripts', 'install.cjs')} --build`,
    );
    return 1;
  }
  say(`building the native core from source for ${here} with ${cargo} (about a minute)...`);
  const targetDir = mkdtempSync(path.join(tmpdir(), 'ckpool-ts-build-'));
  try {
    const r = spawnSync('cargo', ['build', '--release', '--lib', '--package', 'ckpool-native', '--target-dir', targetDir], {
      cwd: root,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    if (r.status !== 0) {
      say(`cargo build failed (exit ${r.status}${r.error ? `: ${r.error.message}` : ''}); the native core is not installed.`);
      return 1;
    }
    const lib = { win32: 'ckpool_native.dll', darwin: 'libckpool_native.dylib' }[process.platform] || 'libckpool_native.so';
    const dest = path.join(root, 'binding', `${binaryName}.${here}.node`);
    copyFileSync(path.join(targetDir, 'release', lib), dest);
    say(`built ${path.relative(process.cwd(), dest) || dest}`);
  } finally {
    rmSync(targetDir, { recursive: true, force: true });
  }
  const ok = loads();
  if (ok !== true) {
    say(`the binary built from source does not load: ${ok.message}`);
    return 1;
  }
  return 0;
}

function main() {
  if (process.argv.includes('--need-cargo')) {
    if (hasCargo()) return 0;
    say(
      'building the native core needs a Rust toolchain, but `cargo` was not found on PATH.\n' +
        '  Install Rust (https://rustup.rs; rustc >= 1.88) and run the build again.',
    );
    return 1;
  }
  if (force) return build();
  if (existsSync(path.join(root, 'ts', 'index.ts'))) return 0; // source checkout: `npm run build`
  if (loads() === true) return 0;
  return build();
}

process.exitCode = main();
