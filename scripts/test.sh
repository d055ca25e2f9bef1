#!/usr/bin/env bash
# Set everything up (see setup.sh) and run every test: unit tests, and integration tests on
# the real models, a real dbus-daemon and a real PulseAudio server (each test starts its own).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
"$SKYLARK_ROOT/scripts/setup.sh" --tests
cd "$SKYLARK_ROOT"
# The tests' reference computations (LLM logits) use the converters' Python environment.
export SKYLARK_PYTHON="$SKYLARK_CACHE/venv/bin/python"
say "running the tests"
cargo test --release --locked
