#!/usr/bin/env bash
# `cargo check` of the JNI binding (and the whole engine under it) for aarch64-linux-android.
#
# What this proves: every Rust line of skylark and skylark-android type-checks and borrow-checks
# for the phone's target, with the target's own cfgs (no ALSA, cpal's AAudio host, 64-bit ARM).
# What it does not: linking, and whisper.cpp. No package registry here ships the Android NDK,
# so there is no sysroot (bionic headers, libc++):
#  - whisper-rs-sys would build whisper.cpp (C++) with cmake for the target: DOCS_RS=1 makes
#    its build script stop after copying the bindings bundled with the crate
#    (WHISPER_DONT_GENERATE_BINDINGS), so whisper.cpp is not compiled for Android here;
#  - ring (TLS for the cloud client and `models fetch`) compiles C and assembly: Debian's clang
#    does that for the target without a sysroot, the way ring itself supports for musl and wasm
#    (-nostdlibinc, RING_CORE_NOSTDLIBINC).
# The AAR build (build.gradle.kts, cargo ndk) compiles and links all of it with the NDK.
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"
cd "$SKYLARK_ROOT"
target=aarch64-linux-android
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$target"; then
  die "the Rust target $target is not installed: rustup target add $target (scripts/setup.sh --tests does it)"
fi
command -v clang >/dev/null || die "clang not found: apt-get install clang (scripts/setup.sh installs it)"
llvm_ar=$(command -v llvm-ar || ls /usr/lib/llvm-*/bin/llvm-ar 2>/dev/null | tail -1 || true)
[ -n "$llvm_ar" ] || die "llvm-ar not found: apt-get install llvm"
export CC_aarch64_linux_android=clang
export AR_aarch64_linux_android=$llvm_ar
export CFLAGS_aarch64_linux_android="--target=aarch64-linux-android26 -nostdlibinc -DRING_CORE_NOSTDLIBINC=1"
export DOCS_RS=1 WHISPER_DONT_GENERATE_BINDINGS=1
cargo check --release --locked --target "$target" -p skylark-android
