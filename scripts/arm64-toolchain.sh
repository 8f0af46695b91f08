#!/usr/bin/env bash
# Installs what the linux-arm64 prebuild and its qemu test need, without Docker, from
# Debian's packages (idempotent; run as root; scripts/test-arm64.sh calls it):
#   - rustc-web/cargo-web (Debian's Rust, /usr/bin/{rustc,cargo}) with the arm64 std
#     (libstd-rust-web-dev:arm64) and the cross linker gcc-aarch64-linux-gnu
#     (.cargo/config.toml names it as the aarch64 linker);
#   - qemu-user (qemu-aarch64) and binutils (objdump, for the glibc symbol check);
#   - an arm64 sysroot holding Debian's arm64 node and every library it needs, unpacked
#     with `dpkg-deb -x` (never `apt-get install nodejs:arm64`: that would replace the
#     machine's own node). Run it as `qemu-aarch64 -L $SYSROOT $SYSROOT/usr/bin/node`.
#
# SYSROOT defaults to target/arm64-sysroot (ignored by git, like all of target/).
set -euo pipefail
cd "$(dirname "$0")/.."
SYSROOT="${ARM64_SYSROOT:-$PWD/target/arm64-sysroot}"

need_apt=0
for f in /usr/bin/cargo /usr/bin/rustc /usr/bin/aarch64-linux-gnu-gcc /usr/bin/qemu-aarch64 /usr/bin/objdump; do
  [ -x "$f" ] || need_apt=1
done
ls /usr/lib/rust-web*/lib/rustlib/aarch64-unknown-linux-gnu/lib/libstd-*.rlib >/dev/null 2>&1 \
  || ls /usr/lib/rustlib/aarch64-unknown-linux-gnu/lib/libstd-*.rlib >/dev/null 2>&1 \
  || need_apt=1

if [ "$need_apt" = 1 ]; then
  echo "# arm64 toolchain: installing Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
  apt-get update -qq
  pkgs=(rustc-web cargo-web libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user binutils)
  # Refuse a plan that removes anything (e.g. the machine's nodejs).
  if apt-get install -s -y --no-install-recommends "${pkgs[@]}" | grep -q '^Remv'; then
    echo "arm64-toolchain: apt would remove packages; refusing:" >&2
    apt-get install -s -y --no-install-recommends "${pkgs[@]}" | grep '^Remv' >&2
    exit 1
  fi
  apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi

if [ ! -x "$SYSROOT/usr/bin/node" ] || [ ! -e "$SYSROOT/usr/share/nodejs/cjs-module-lexer/lexer.js" ]; then
  echo "# arm64 toolchain: unpacking Debian's arm64 nodejs into $SYSROOT"
  dpkg --print-foreign-architectures | grep -qx arm64 || { dpkg --add-architecture arm64; apt-get update -qq; }
  debs="$(mktemp -d)"
  # nodejs:arm64 and its run-time dependencies: the arm64 libraries, and the `all`
  # packages node-* holding the builtins Debian's node externalises (acorn,
  # cjs-module-lexer, undici, ...). Other `all` packages (perl, python, ...) are not needed.
  mapfile -t deps < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
      --no-breaks --no-replaces --no-enhances --no-pre-depends nodejs:arm64 libc6:arm64 \
    | grep -E '^([a-z0-9][a-z0-9.+-]*:arm64|node-[a-z0-9.+-]+)$' | sort -u)
  (cd "$debs" && apt-get download -qq "${deps[@]}" 2>/dev/null) || {
    # A virtual or unavailable name in the list: fetch one by one, skipping those.
    for d in "${deps[@]}"; do (cd "$debs" && apt-get download -qq "$d" 2>/dev/null) || true; done
  }
  mkdir -p "$SYSROOT"
  for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$SYSROOT"; done
  rm -rf "$debs"
  [ -x "$SYSROOT/usr/bin/node" ] || { echo "arm64-toolchain: no node in $SYSROOT" >&2; exit 1; }
fi

echo "# arm64 toolchain ready: $(/usr/bin/rustc --version), $(aarch64-linux-gnu-gcc --version | head -1)," \
  "node $(qemu-aarch64 -L "$SYSROOT" "$SYSROOT/usr/bin/node" -p 'process.version + " " + process.arch')"
