#!/usr/bin/env bash
# linux-arm64 check, without arm64 hardware or Docker (`npm run test:arm64`; not part of
# `npm test`: it installs Debian packages and takes a few minutes, most of it cold builds):
#
#   1. scripts/arm64-toolchain.sh: Debian's Rust with the arm64 std, qemu-user, and
#      Debian's arm64 node (18.x) unpacked into target/arm64-sysroot;
#   2. scripts/prebuild.sh arm64: the release binary, cross-compiled and linked against
#      glibc 2.17 (fails if it needs a glibc symbol newer than 2.28);
#   3. under qemu-aarch64 with the arm64 node, scripts/check-vectors.cjs validates
#      test/fixtures/share-vectors.json through the generated loader (binding/index.js)
#      twice: the binary as a local build (binding/*.node) and as the prebuilt package
#      ckpool-ts-linux-arm64-gnu in node_modules (napi create-npm-dirs' package.json);
#   4. the core crate's own tests (`cargo test -p ckpool-core --lib --tests`, including
#      tests/vectors.rs on the same fixture) built for aarch64 and run under qemu: the
#      portable SHA-256 paths (shani.rs is x86-only, cfg-gated) must give the same answers;
#   5. `npm run release:pack --targets arm64`, the tarballs installed for arm64 and, under
#      qemu: the vectors through the installed package, ckpool --version, ckpmsg -h,
#      notifier -h and `import 'ckpool-ts'` (Debian's arm64 node is 18.x, below the
#      package's engines; the CLIs run on it all the same).
#
# Run as root (apt-get). Prints each step's time.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
SYSROOT="${ARM64_SYSROOT:-$ROOT/target/arm64-sysroot}"
T0=$SECONDS
step() { echo "## test-arm64: $* ($((SECONDS - T0)) s)"; }

step "toolchain"
bash scripts/arm64-toolchain.sh
step "cross-compiling the release binary"
bash scripts/prebuild.sh arm64
NODE_FILE="$ROOT/target/prebuilt/ckpool-core.linux-arm64-gnu.node"
echo "glibc: $(cat "$ROOT/target/prebuilt/ckpool-core.linux-arm64-gnu.glibc")"

qnode() { qemu-aarch64 -L "$SYSROOT" "$SYSROOT/usr/bin/node" "$@"; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

step "vectors under qemu: local build (binding/ckpool-core.linux-arm64-gnu.node)"
mkdir -p "$work/local/binding"
cp binding/index.js binding/package.json "$work/local/binding/"
cp "$NODE_FILE" "$work/local/binding/"
qnode scripts/check-vectors.cjs "$work/local" --expect "$work/local/binding/ckpool-core.linux-arm64-gnu.node"

step "vectors under qemu: prebuilt package (node_modules/ckpool-ts-linux-arm64-gnu)"
node_modules/.bin/napi create-npm-dirs >/dev/null 2>&1
mkdir -p "$work/pkg/binding" "$work/pkg/node_modules"
cp binding/index.js binding/package.json "$work/pkg/binding/"
cp -r npm/linux-arm64-gnu "$work/pkg/node_modules/ckpool-ts-linux-arm64-gnu"
cp "$NODE_FILE" "$work/pkg/node_modules/ckpool-ts-linux-arm64-gnu/"
qnode scripts/check-vectors.cjs "$work/pkg" --expect "node_modules/ckpool-ts-linux-arm64-gnu/ckpool-core.linux-arm64-gnu.node"

step "cargo test -p ckpool-core for aarch64, run under qemu"
TC="$ROOT/target/napi-cross/aarch64"
CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER="$TC/bin/aarch64-unknown-linux-gnu-gcc" \
CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L $SYSROOT" \
RUSTC=/usr/bin/rustc \
  /usr/bin/cargo test -p ckpool-core --lib --tests --release --target aarch64-unknown-linux-gnu --color never 2>&1 \
  | grep -E '^(test result|running|error|failures|---- )|FAILED|panicked' \
  | sed -E 's/^test result: /arm64 cargo test result: /'
test "${PIPESTATUS[0]}" = 0

step "npm install of the packed tarballs for arm64, run under qemu"
# release:pack (arm64 only), then the main + arm64 tarballs installed as an arm64 machine
# would (--cpu=arm64; --force because npm checks a directly named tarball against the
# host's real cpu; --ignore-scripts because install scripts would run on this x64 host).
node scripts/release-pack.mjs --targets arm64 --out "$work/tarballs" | grep '^# release:pack'
mkdir -p "$work/app"
echo '{"name":"arm64-install","private":true}' >"$work/app/package.json"
(cd "$work/app" && npm install --force --no-audit --no-fund --loglevel=error --os=linux --cpu=arm64 --libc=glibc --ignore-scripts \
  "$work"/tarballs/ckpool-ts-[0-9]*.tgz "$work"/tarballs/ckpool-ts-linux-arm64-gnu-*.tgz)
app="$work/app/node_modules/ckpool-ts"
qnode scripts/check-vectors.cjs "$app" --expect "node_modules/ckpool-ts-linux-arm64-gnu/ckpool-core.linux-arm64-gnu.node"
echo "ckpool --version (arm64 node): $(qnode "$app/bin/ckpool.js" --version)"
qnode "$app/bin/ckpmsg.js" -h | head -1
qnode "$app/bin/notifier.js" -h | head -1
(cd "$work/app" && qnode --input-type=module -e \
  "import { sha256d } from 'ckpool-ts'; if (sha256d(Buffer.from('abc')).toString('hex') !== '4f8b42c22dd3729b519ba6f68d2da7cc5b2d606d05daed5ad5128cc03e6c6358') process.exit(1); console.log('import ckpool-ts: sha256d ok')")

step "done: the arm64 binary builds, installs from the packed tarballs and passes the core vectors under qemu"
