#!/usr/bin/env node
// The README's test command (`npm test`). Runs, in order:
//   1. the native build when the .node binary is missing or older than its sources,
//   2. `cargo test` for the pure Rust core,
//   3. ava (TAP reporter) for everything under test/,
// then prints one line `N passed, N failed, N skipped` summed over both, which is
// what CI reads (ava's own reporter never prints that line). Exit status is non-zero
// if any step failed.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

function newest(dir, acc = 0) {
  for (const name of readdirSync(dir)) {
    if (name === 'target' || name === 'node_modules') continue;
    const p = join(dir, name);
    const st = statSync(p);
    acc = Math.max(acc, st.isDirectory() ? newest(p, acc) : st.mtimeMs);
  }
  return acc;
}

function ensureNative() {
  const bins = readdirSync(join(root, 'binding')).filter((f) => f.endsWith('.node')).map((f) => join('binding', f));
  const binTime = bins.length ? Math.max(...bins.map((b) => statSync(join(root, b)).mtimeMs)) : 0;
  const srcTime = Math.max(newest(join(root, 'src')), newest(join(root, 'crates')),
    statSync(join(root, 'Cargo.toml')).mtimeMs);
  if (binTime >= srcTime) return true;
  console.log('# native binary missing or stale: npm run build:native');
  const r = spawnSync('npm', ['run', '-s', 'build:native'], { cwd: root, stdio: 'inherit' });
  return r.status === 0;
}

function run(cmd, args, onLine) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let buf = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      buf += chunk;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        onLine(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    child.on('close', (code) => {
      if (buf) onLine(buf);
      resolve(code ?? 1);
    });
  });
}

let passed = 0;
let failed = 0;
let skipped = 0;
let status = 0;

if (!ensureNative()) {
  console.log('native build failed');
  failed += 1;
  status = 1;
} else {
  // cargo prints `test result: ok. 12 passed; 0 failed; 1 ignored; ...` per test binary.
  const cargo = await run('cargo', ['test', '--workspace', '--release', '--color', 'never'], (line) => {
    const m = /^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored/.exec(line);
    if (m) {
      passed += Number(m[1]);
      failed += Number(m[2]);
      skipped += Number(m[3]);
    }
  });
  if (cargo !== 0) status = 1;

  // ava in TAP: one `ok N - title` / `not ok N - title` line per test; `# SKIP` / `# TODO` marks.
  const avaBin = join(root, 'node_modules', 'ava', 'entrypoints', 'cli.mjs');
  const runAva = async (files) => {
    let avaSeen = 0;
    const ava = await run(process.execPath, [avaBin, '--tap', ...files], (line) => {
      const m = /^(not ok|ok) \d+ /.exec(line);
      if (!m) return;
      avaSeen += 1;
      if (/# (SKIP|TODO)/i.test(line)) skipped += 1;
      else if (m[1] === 'ok') passed += 1;
      else failed += 1;
    });
    if (ava !== 0) {
      status = 1;
      if (avaSeen === 0) failed += 1; // ava crashed before reporting anything
    }
  };
  // The whole suite includes test/install.test.ts (release:pack + npm installs, a minute
  // or two of cargo and npm); it runs alone, after the others, so its builds do not slow
  // down timing-sensitive tests beside it. CKPOOL_INSTALL_TEST=0 leaves it out; a plain
  // `npx ava` skips it unless CKPOOL_INSTALL_TEST=1.
  const installTest = 'test/install.test.ts';
  if (process.argv.length > 2 || process.env.CKPOOL_INSTALL_TEST === '0') {
    await runAva(process.argv.slice(2));
  } else {
    process.env.CKPOOL_INSTALL_TEST = '1';
    const all = readdirSync(join(root, 'test'), { recursive: true })
      .map((f) => join('test', String(f)))
      .filter((f) => f.endsWith('.test.ts') && f !== installTest)
      .sort();
    await runAva(all);
    await runAva([installTest]);
  }
}

console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(status || (failed > 0 ? 1 : 0));
