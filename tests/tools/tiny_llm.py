#!/usr/bin/env python3
"""Write a tiny, randomly initialised decoder-only LLM in the Hugging Face Optimum ONNX layout.

    python tests/tools/tiny_llm.py --out DIR [--nan] [--context N]

Inputs `input_ids`, `attention_mask`, `position_ids`, `past_key_values.N.key/value`; outputs
`logits`, `present.N.key/value` — only standard ONNX operators (opset 17), numpy + onnx only.
Beside `model.onnx` it writes a byte-level BPE `tokenizer.json` (256 byte tokens + ChatML
special tokens), `tokenizer_config.json` (a ChatML chat template) and `config.json` with a
small context window, so the Rust tests cover the Optimum layout, prompt truncation and
cancellation in milliseconds. `--nan` makes every logit NaN (a damaged model).
The output is deterministic: same arguments, same bytes.
"""
import argparse
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

LAYERS, HIDDEN, HEADS, HEAD_DIM, FFN = 2, 32, 2, 16, 64
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def tokenizer_json():
    b2u = bytes_to_unicode()
    vocab = {s: i for i, s in enumerate(SPECIALS)}
    for b in range(256):
        vocab[b2u[b]] = len(vocab)
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True}
            for i, s in enumerate(SPECIALS)
        ],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                          "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": []},
    }, len(vocab)


def build(vocab, context, nan):
    rng = np.random.default_rng(20261130)
    inits, nodes = [], []

    def w(name, *shape, scale=0.5):
        a = (rng.standard_normal(shape) * scale).astype(np.float32)
        inits.append(numpy_helper.from_array(a, name))
        return name

    def const(name, value, dtype=np.int64):
        inits.append(numpy_helper.from_array(np.array(value, dtype=dtype), name))
        return name

    def node(op, ins, out, **attrs):
        nodes.append(helper.make_node(op, ins, [out], name=out, **attrs))
        return out

    def rms(x, tag):
        g = w(f"{tag}.g", HIDDEN, scale=0.1)
        if nan and tag == "final":
            inits[-1] = numpy_helper.from_array(np.full(HIDDEN, np.nan, np.float32), g)
        sq = node("Mul", [x, x], f"{tag}.sq")
        mean = node("ReduceMean", [sq], f"{tag}.mean", axes=[-1], keepdims=1)
        eps = node("Add", [mean, const(f"{tag}.eps", 1e-5, np.float32)], f"{tag}.eps_add")
        root = node("Sqrt", [eps], f"{tag}.root")
        normed = node("Div", [x, root], f"{tag}.normed")
        one = node("Add", [g, const(f"{tag}.one", 1.0, np.float32)], f"{tag}.gain")
        return node("Mul", [normed, one], f"{tag}.out")

    emb = w("embed", vocab, HIDDEN, scale=1.0)
    pos = w("pos_embed", context, HIDDEN, scale=0.3)
    x = node("Add", [node("Gather", [emb, "input_ids"], "tok"), node("Gather", [pos, "position_ids"], "pos")], "x0")

    # Mask [B, 1, S, T]: causal (key j <= past_len + query i) and attention_mask[j] == 1.
    shape_ids = node("Shape", ["input_ids"], "ids_shape")
    s_len = node("Gather", [shape_ids, const("one_idx", 1)], "s_len")
    t_len = node("Gather", [node("Shape", ["attention_mask"], "mask_shape"), const("one_idx2", 1)], "t_len")
    past_len = node("Sub", [t_len, s_len], "past_len")
    j = node("Range", [const("zero", 0), t_len, const("step", 1)], "j")
    i = node("Range", [past_len, t_len, const("step2", 1)], "i")
    causal = node("LessOrEqual", [node("Unsqueeze", [j, const("ax0", [0])], "j2"),
                                  node("Unsqueeze", [i, const("ax1", [1])], "i2")], "causal")
    am = node("Cast", ["attention_mask"], "am_bool", to=TensorProto.BOOL)
    am4 = node("Unsqueeze", [am, const("ax12", [1, 2])], "am4")
    allowed = node("And", [causal, am4], "allowed")

    for l in range(LAYERS):
        h = rms(x, f"l{l}.n1")

        def heads(name):
            p = node("MatMul", [h, w(f"l{l}.{name}.w", HIDDEN, HEADS * HEAD_DIM, scale=0.3)], f"l{l}.{name}")
            r = node("Reshape", [p, const(f"l{l}.{name}.shape", [0, 0, HEADS, HEAD_DIM])], f"l{l}.{name}.r")
            return node("Transpose", [r], f"l{l}.{name}.t", perm=[0, 2, 1, 3])

        q, k, v = heads("q"), heads("k"), heads("v")
        pk = node("Concat", [f"past_key_values.{l}.key", k], f"present.{l}.key", axis=2)
        pv = node("Concat", [f"past_key_values.{l}.value", v], f"present.{l}.value", axis=2)
        kt = node("Transpose", [pk], f"l{l}.kt", perm=[0, 1, 3, 2])
        scores = node("Mul", [node("MatMul", [q, kt], f"l{l}.qk"), const(f"l{l}.scale", HEAD_DIM ** -0.5, np.float32)], f"l{l}.scores")
        masked = node("Where", [allowed, scores, const(f"l{l}.neg", -1e9, np.float32)], f"l{l}.masked")
        probs = node("Softmax", [masked], f"l{l}.probs", axis=-1)
        ctx = node("Transpose", [node("MatMul", [probs, pv], f"l{l}.ctx")], f"l{l}.ctx_t", perm=[0, 2, 1, 3])
        ctx = node("Reshape", [ctx, const(f"l{l}.ctx_shape", [0, 0, HEADS * HEAD_DIM])], f"l{l}.ctx_r")
        x = node("Add", [x, node("MatMul", [ctx, w(f"l{l}.o.w", HEADS * HEAD_DIM, HIDDEN, scale=0.3)], f"l{l}.o")], f"l{l}.x1")
        h2 = rms(x, f"l{l}.n2")
        up = node("Relu", [node("MatMul", [h2, w(f"l{l}.up", HIDDEN, FFN, scale=0.3)], f"l{l}.up_mm")], f"l{l}.act")
        x = node("Add", [x, node("MatMul", [up, w(f"l{l}.down", FFN, HIDDEN, scale=0.3)], f"l{l}.down_mm")], f"l{l}.x2")

    final = rms(x, "final")
    node("MatMul", [final, node("Transpose", [emb], "embed_t", perm=[1, 0])], "logits")

    kv = ["batch", HEADS, "seq", HEAD_DIM]
    inputs = [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
        helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "total"]),
        helper.make_tensor_value_info("position_ids", TensorProto.INT64, ["batch", "seq"]),
    ]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "seq", vocab])]
    for l in range(LAYERS):
        for kind in ("key", "value"):
            inputs.append(helper.make_tensor_value_info(f"past_key_values.{l}.{kind}", TensorProto.FLOAT, kv[:2] + ["past"] + kv[3:]))
            outputs.append(helper.make_tensor_value_info(f"present.{l}.{kind}", TensorProto.FLOAT, kv[:2] + ["total"] + kv[3:]))
    graph = helper.make_graph(nodes, "tiny_llm", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="skylark-tiny-llm")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--nan", action="store_true", help="every logit NaN")
    ap.add_argument("--context", type=int, default=64, help="max_position_embeddings")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    tok, vocab = tokenizer_json()
    files = {
        "tokenizer.json": json.dumps(tok, ensure_ascii=False, sort_keys=True).encode(),
        "tokenizer_config.json": json.dumps({"chat_template": CHAT_TEMPLATE, "eos_token": "<|im_end|>",
                                             "bos_token": "<|im_start|>"}, sort_keys=True).encode(),
        "config.json": json.dumps({"model_type": "llama", "num_hidden_layers": LAYERS, "hidden_size": HIDDEN,
                                   "num_attention_heads": HEADS, "num_key_value_heads": HEADS,
                                   "head_dim": HEAD_DIM, "vocab_size": vocab,
                                   "max_position_embeddings": a.context, "eos_token_id": 2}, sort_keys=True).encode(),
        "model.onnx": build(vocab, a.context, a.nan).SerializeToString(),
    }
    import hashlib
    for name, data in files.items():
        path = os.path.join(a.out, name)
        with open(path, "wb") as f:
            f.write(data)
        print(path, len(data), hashlib.sha256(data).hexdigest())


if __name__ == "__main__":
    main()
