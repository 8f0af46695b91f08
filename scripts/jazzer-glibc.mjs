// Make the published @jazzer.js/fuzzer 4.0.0 prebuild load on glibc < 2.38 (Debian 12 has 2.36).
//
// The linux-x64 prebuild was built with GCC 13 against glibc 2.38 and needs three symbols
// this machine's libraries lack:
//   - __isoc23_strtol and __isoc23_strtoul (GLIBC_2.38): the C23 versions, which differ
//     from the classic strtol/strtoul only in also reading a "0b" prefix with base 0 or 2
//     (libFuzzer parses its flags with them, in base 10). They are renamed to their tails
//     "strtol"/"strtoul" (st_name + 9: the same string, 9 bytes in) at GLIBC_2.2.5;
//   - std::ios_base_library_init() (GLIBCXX_3.4.32): only an anchor GCC 13's <iostream>
//     references so that linking against an older libstdc++ fails; the streams themselves
//     are set up by libstdc++ when node loads it. It becomes an undefined *weak* symbol.
// and the then unused GLIBC_2.38 / GLIBCXX_3.4.32 requirements are marked VER_FLG_WEAK
// (not fatal if absent). Building the addon from source instead needs a patched LLVM
// libFuzzer download, which this network does not allow. Nothing else in the file changes. Idempotent; does nothing on glibc >= 2.38 or when the
// binary needs no 2.38 symbols. Run by scripts/fuzz.mjs before jazzer starts.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const SHT_DYNSYM = 11;
const SHT_GNU_VERNEED = 0x6ffffffe;
const SHT_GNU_VERSYM = 0x6fffffff;
const VER_FLG_WEAK = 2;
const STB_WEAK = 2;
const PREFIX = '__isoc23_';

function cstr(buf, off) {
  const end = buf.indexOf(0, off);
  return buf.toString('latin1', off, end);
}

/** Patch `file` in place; returns a one-line description of what was done. */
export function patchElf(file) {
  const b = readFileSync(file);
  if (b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2 || b[5] !== 1) return 'not a little-endian ELF64 file: left alone';
  const shoff = Number(b.readBigUInt64LE(0x28));
  const shentsize = b.readUInt16LE(0x3a);
  const shnum = b.readUInt16LE(0x3c);
  const sections = [];
  for (let i = 0; i < shnum; i++) {
    const o = shoff + i * shentsize;
    sections.push({
      type: b.readUInt32LE(o + 4), offset: Number(b.readBigUInt64LE(o + 0x18)), size: Number(b.readBigUInt64LE(o + 0x20)),
      link: b.readUInt32LE(o + 0x28), info: b.readUInt32LE(o + 0x2c),
    });
  }
  const dynsym = sections.find((s) => s.type === SHT_DYNSYM);
  const versym = sections.find((s) => s.type === SHT_GNU_VERSYM);
  const verneed = sections.find((s) => s.type === SHT_GNU_VERNEED);
  if (!dynsym || !versym || !verneed) return 'no symbol versions: left alone';
  const dynstr = sections[dynsym.link];
  const strs = verneed.link === dynsym.link ? dynstr : sections[verneed.link];
  // version index -> { name, aux offset } for every vernaux
  const aux = new Map();
  let vn = verneed.offset;
  for (let n = 0; n < verneed.info; n++) {
    const cnt = b.readUInt16LE(vn + 2);
    let a = vn + b.readUInt32LE(vn + 8);
    for (let k = 0; k < cnt; k++) {
      aux.set(b.readUInt16LE(a + 6), { name: cstr(b, strs.offset + b.readUInt32LE(a + 8)), at: a });
      a += b.readUInt32LE(a + 12);
    }
    const next = b.readUInt32LE(vn + 12);
    if (next === 0) break;
    vn += next;
  }
  const byName = (n) => [...aux].find(([, v]) => v.name === n)?.[0];
  const idx238 = byName('GLIBC_2.38');
  const idx432 = byName('GLIBCXX_3.4.32');
  const idxBase = byName('GLIBC_2.2.5');
  if (idx238 === undefined && idx432 === undefined) return 'needs no GLIBC_2.38 or GLIBCXX_3.4.32 symbol: nothing to do';
  const done = [];
  const count = dynsym.size / 24;
  for (let i = 0; i < count; i++) {
    const vi = versym.offset + 2 * i;
    const v = b.readUInt16LE(vi) & 0x7fff;
    if (v !== idx238 && v !== idx432) continue;
    const so = dynsym.offset + 24 * i;
    const name = cstr(b, dynstr.offset + b.readUInt32LE(so));
    if (v === idx238) {
      if (!name.startsWith(PREFIX) || idxBase === undefined) throw new Error(`${file}: ${name}@GLIBC_2.38 is not a C23 alias; cannot make it load on this glibc`);
      b.writeUInt32LE(b.readUInt32LE(so) + PREFIX.length, so);
      b.writeUInt16LE(idxBase, vi);
      done.push(`${name} -> ${name.slice(PREFIX.length)}@GLIBC_2.2.5`);
    } else {
      if (name !== '_ZSt21ios_base_library_initv' || b.readUInt16LE(so + 6) !== 0) {
        throw new Error(`${file}: ${name}@GLIBCXX_3.4.32 is not the <iostream> anchor; cannot make it load on this libstdc++`);
      }
      if (b[so + 4] >> 4 === STB_WEAK) continue;
      b[so + 4] = (STB_WEAK << 4) | (b[so + 4] & 0xf);
      done.push(`${name} weak`);
    }
  }
  for (const idx of [idx238, idx432]) {
    if (idx === undefined) continue;
    const at = aux.get(idx).at;
    if (b.readUInt16LE(at + 4) & VER_FLG_WEAK) continue;
    b.writeUInt16LE(b.readUInt16LE(at + 4) | VER_FLG_WEAK, at + 4);
    done.push(`${aux.get(idx).name} weak`);
  }
  if (done.length === 0) return 'already patched';
  writeFileSync(file, b);
  return done.join(', ');
}

function glibcBelow238() {
  const v = process.report?.getReport?.().header?.glibcVersionRuntime;
  if (typeof v !== 'string') return false;
  const [maj, min] = v.split('.').map(Number);
  return maj < 2 || (maj === 2 && min < 38);
}

/** Patch the installed prebuild when this machine's glibc needs it. */
export function ensureJazzerLoads() {
  if (process.platform !== 'linux' || process.arch !== 'x64' || !glibcBelow238()) return;
  const require = createRequire(import.meta.url);
  const pkg = require.resolve('@jazzer.js/fuzzer/package.json');
  const file = join(dirname(pkg), 'prebuilds', 'fuzzer-linux-x64.node');
  if (!existsSync(file)) return;
  const what = patchElf(file);
  if (!what.startsWith('needs no') && what !== 'already patched') console.error(`# jazzer-glibc: ${file}: ${what}`);
}

if (import.meta.url === `file://${process.argv[1]}`) ensureJazzerLoads();
