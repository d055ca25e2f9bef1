#!/usr/bin/env bash
# The Android binding's tests on this machine:
#  1. build the JNI library (android/, a cdylib) for x86_64 Linux, compile the Java API
#     (io.skylark) and its tests, and run them on OpenJDK with -Xcheck:jni and the real models;
#  2. `cargo check` the binding for aarch64-linux-android (type-checks the binding and the
#     engine for the phone target; linking needs the Android NDK, which is not here).
# Usage: android/test.sh            run both
#        android/test.sh --bench N  time N recognize calls through JNI and in process
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"
cd "$SKYLARK_ROOT"
export GGML_NATIVE=${GGML_NATIVE:-OFF}

models=${SKYLARK_MODELS_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/skylark/models}
[ -d "$models" ] || die "no models in $models: run scripts/setup.sh first"
command -v javac >/dev/null || die "javac not found: apt-get install openjdk-17-jdk-headless"

say "building the JNI library (release)"
cargo build --release --locked -p skylark-android
classes=target/android-java
rm -rf "$classes"
mkdir -p "$classes"
javac -Xlint:all -Werror -encoding UTF-8 -d "$classes" \
  android/src/main/java/io/skylark/*.java android/src/test/java/io/skylark/*.java

if [ "${1:-}" = "--bench" ]; then
  n=${2:-200000}
  say "recognize: $n calls through JNI, then in process"
  java -Djava.library.path=target/release -cp "$classes" io.skylark.AssistantTest \
    "$models" tests/data --bench "$n" 2>/dev/null
  cargo run --release --locked -q -p skylark-android --example recognize_bench -- "$n" 2>/dev/null
  exit 0
fi

say "Java API tests on $(java -version 2>&1 | head -1)"
mkdir -p "$SKYLARK_CACHE"
# Logs (tracing, java.util.logging) go to stderr; the results to stdout.
java -Xcheck:jni -Djava.library.path=target/release -cp "$classes" io.skylark.AssistantTest \
  "$models" tests/data "$@" 2>"$SKYLARK_CACHE/android-test.log" \
  || die "Java API tests failed (logs: $SKYLARK_CACHE/android-test.log)"

say "cargo check of the binding for aarch64-linux-android"
"$SKYLARK_ROOT/android/check-android.sh"
