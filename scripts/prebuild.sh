#!/usr/bin/env bash
# Release builds of the native core for the npm platform packages:
#
#   scripts/prebuild.sh [x64] [arm64]      (default: both)
#
# writes target/prebuilt/ckpool-core.linux-{x64,arm64}-gnu.node. Each is linked with
# napi-rs's prebuilt gcc cross toolchain against glibc 2.17 (npm packages
# @napi-rs/cross-toolchain-x64-target-{x86_64,aarch64}, fetched with `npm pack` and
# unpacked under target/napi-cross/), so the binaries need nothing newer than the
# glibc symbol versions printed at the end; the build fails if one needs more than
# GLIBC_MAX (default 2.28). Linking with the machine's own gcc (glibc 2.36 here) would
# pull in GLIBC_2.33/2.34 symbols (stat64, pthread_key_create, ...).
#
# x64 uses the cargo/rustc on PATH. arm64 needs an aarch64 Rust std, which rustup
# cannot download here: scripts/arm64-toolchain.sh installs Debian's rustc-web/cargo-web
# with libstd-rust-web-dev:arm64, and this script builds with those (/usr/bin/cargo).
# No build uses target-cpu=native: sha2 and the SHA-NI path pick CPU features at run time.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
OUT="${PREBUILT_DIR:-$ROOT/target/prebuilt}"
GLIBC_MAX="${GLIBC_MAX:-2.28}"
CROSS="$ROOT/target/napi-cross"
# The newest published version of each toolchain package (x86_64 stops at 1.0.0).
declare -A TC_VERSION=([x86_64]=1.0.0 [aarch64]=1.0.3)
declare -A TRIPLE=([x64]=x86_64-unknown-linux-gnu [arm64]=aarch64-unknown-linux-gnu)
declare -A TC_ARCH=([x64]=x86_64 [arm64]=aarch64)

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(x64 arm64)

# Unpack the glibc-2.17 cross toolchain for $1 (x86_64|aarch64); prints its directory.
toolchain() {
  local arch="$1" ver="${TC_VERSION[$1]}" dir="$CROSS/$1"
  if [ ! -x "$dir/bin/$arch-unknown-linux-gnu-gcc" ] || [ "$(cat "$dir/.version" 2>/dev/null)" != "$ver" ]; then
    echo "# prebuild: fetching @napi-rs/cross-toolchain-x64-target-$arch@$ver (glibc 2.17)" >&2
    rm -rf "$dir" && mkdir -p "$dir"
    (cd "$dir" && npm pack --silent "@napi-rs/cross-toolchain-x64-target-$arch@$ver" >/dev/null)
    tar -xzf "$dir"/napi-rs-cross-toolchain-*.tgz -C "$dir"
    tar -xJf "$dir/package/$arch-unknown-linux-gnu.tar.xz" -C "$dir"
    rm -rf "$dir"/napi-rs-cross-toolchain-*.tgz "$dir/package"
    echo "$ver" >"$dir/.version"
  fi
  echo "$dir"
}

[ "$(uname -m)" = x86_64 ] || { echo "prebuild: the cross toolchains used here run on x86_64 hosts only" >&2; exit 1; }
mkdir -p "$OUT"
NAPI="$ROOT/node_modules/.bin/napi"
[ -x "$NAPI" ] || { echo "prebuild: @napi-rs/cli is missing: run npm ci first" >&2; exit 1; }

for t in "${targets[@]}"; do
  triple="${TRIPLE[$t]:-}"
  [ -n "$triple" ] || { echo "prebuild: unknown target '$t' (x64 or arm64)" >&2; exit 2; }
  tc="$(toolchain "${TC_ARCH[$t]}")"
  env_vars=()
  if [ "$t" = arm64 ]; then
    bash scripts/arm64-toolchain.sh >&2
    env_vars+=(CARGO=/usr/bin/cargo RUSTC=/usr/bin/rustc)
  else
    command -v cargo >/dev/null || { echo "prebuild: cargo not found on PATH (install Rust: https://rustup.rs)" >&2; exit 1; }
  fi
  var="CARGO_TARGET_$(echo "$triple" | tr 'a-z-' 'A-Z_')_LINKER"
  env_vars+=("$var=$tc/bin/$triple-gcc" "TARGET_CC=$tc/bin/$triple-gcc" "TARGET_AR=$tc/bin/$triple-ar")
  echo "# prebuild: $t ($triple)" >&2
  start=$SECONDS
  env "${env_vars[@]}" "$NAPI" build --platform --release --target "$triple" --output-dir "$OUT" --no-js >&2
  node="$OUT/ckpool-core.linux-$t-gnu.node"
  [ -f "$node" ] || { echo "prebuild: $node was not written" >&2; exit 1; }
  rm -f "$OUT/index.d.ts"   # napi writes one beside the binary; binding/index.d.ts is the real one
  versions="$(objdump -T "$node" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tr '\n' ' ')"
  newest="$(printf '%s\n' $versions | sed 's/GLIBC_//' | sort -V | tail -1)"
  echo "# prebuild: $t built in $((SECONDS - start)) s; glibc symbol versions: $versions" >&2
  if [ "$(printf '%s\n%s\n' "$newest" "$GLIBC_MAX" | sort -V | tail -1)" != "$GLIBC_MAX" ]; then
    echo "prebuild: $node needs GLIBC_$newest, newer than GLIBC_$GLIBC_MAX:" >&2
    objdump -T "$node" | grep -E "GLIBC_$newest\b" >&2
    exit 1
  fi
  echo "$t $newest $versions" >"$OUT/ckpool-core.linux-$t-gnu.glibc"
done
