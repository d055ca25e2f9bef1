#!/usr/bin/env bash
# Set everything up (see setup.sh) and run every test: unit tests, and integration tests on
# the real models, a real dbus-daemon and real clients (each test starts its own bus and daemon).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
"$SKYLARK_ROOT/scripts/setup.sh" --tests
cd "$SKYLARK_ROOT"

# The tests' Python side (reference LLM logits, jeepney D-Bus clients) uses the converters' venv.
venv=$SKYLARK_CACHE/venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
stamp=$venv/.skylark-test-requirements
if ! cmp -s tests/requirements.txt "$stamp" || ! cmp -s models/requirements.txt "$venv/.skylark-test-models-requirements"; then
  say "installing the tests' Python packages"
  "$venv/bin/pip" install --quiet -r models/requirements.txt -r tests/requirements.txt
  cp tests/requirements.txt "$stamp"
  cp models/requirements.txt "$venv/.skylark-test-models-requirements"
fi
export SKYLARK_PYTHON=$venv/bin/python

# Code hygiene first: it fails in seconds where the tests take minutes.
say "checking formatting (cargo fmt) and lints (cargo clippy, warnings are errors)"
cargo fmt --all --check
cargo clippy --release --locked --workspace --all-targets -- -D warnings

say "running the tests"
cargo test --release --locked

# The Android binding: its Java API on OpenJDK with the real models, and a cargo check for the
# phone target.
"$SKYLARK_ROOT/android/test.sh"
