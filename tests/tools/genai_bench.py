#!/usr/bin/env python3
"""onnxruntime-genai side of `cargo bench --bench llm_vs_genai`.

    python tests/tools/genai_bench.py --model DIR --prompt-file F --max-new N --threads T

Runs the same ONNX decoder as skylark through onnxruntime-genai (PyPI `onnxruntime-genai`):
writes a genai_config.json for the model (from its config.json, the Optimum input/output
names skylark uses) into a temporary folder of symlinks, then greedy-decodes the prompt and
prints one JSON line: tokens, time to first token, decode tokens/s, peak RSS, text.
SKYLARK_GENAI_SHARE=1 turns on genai's past_present_share_buffer (in-place KV cache); on this
model it measured no faster (54-56 tokens/s against 58 without), so the default is off.
"""
import argparse
import json
import os
import tempfile
import time


def genai_config(cfg, gen, threads):
    eos = gen.get("eos_token_id", cfg.get("eos_token_id"))
    return {
        "model": {
            "bos_token_id": cfg.get("bos_token_id", 1),
            "context_length": cfg["max_position_embeddings"],
            "decoder": {
                "session_options": {"log_id": "onnxruntime-genai", "intra_op_num_threads": threads,
                                    "inter_op_num_threads": 1, "provider_options": []},
                "filename": "model.onnx",
                "head_size": cfg.get("head_dim", cfg["hidden_size"] // cfg["num_attention_heads"]),
                "hidden_size": cfg["hidden_size"],
                "inputs": {"input_ids": "input_ids", "attention_mask": "attention_mask",
                           "position_ids": "position_ids",
                           "past_key_names": "past_key_values.%d.key",
                           "past_value_names": "past_key_values.%d.value"},
                "outputs": {"logits": "logits", "present_key_names": "present.%d.key",
                            "present_value_names": "present.%d.value"},
                "num_attention_heads": cfg["num_attention_heads"],
                "num_hidden_layers": cfg["num_hidden_layers"],
                "num_key_value_heads": cfg.get("num_key_value_heads", cfg["num_attention_heads"]),
            },
            "eos_token_id": eos,
            "pad_token_id": cfg.get("pad_token_id", 0),
            "type": "llama",
            "vocab_size": cfg["vocab_size"],
        },
        "search": {"do_sample": False, "num_beams": 1, "max_length": cfg["max_position_embeddings"],
                   "min_length": 0, "past_present_share_buffer": os.environ.get("SKYLARK_GENAI_SHARE") == "1", "repetition_penalty": 1.0,
                   "temperature": 1.0, "top_k": 1, "top_p": 1.0, "early_stopping": True,
                   "length_penalty": 1.0, "no_repeat_ngram_size": 0, "num_return_sequences": 1,
                   "diversity_penalty": 0.0},
    }


def peak_rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--prompt-file", required=True)
    ap.add_argument("--max-new", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    import onnxruntime_genai as og

    src = os.path.abspath(a.model)
    cfg = json.load(open(os.path.join(src, "config.json")))
    gen_path = os.path.join(src, "generation_config.json")
    gen = json.load(open(gen_path)) if os.path.exists(gen_path) else {}
    with tempfile.TemporaryDirectory() as d:
        for name in os.listdir(src):
            os.symlink(os.path.join(src, name), os.path.join(d, name))
        if os.path.lexists(os.path.join(d, "genai_config.json")):
            os.remove(os.path.join(d, "genai_config.json"))
        with open(os.path.join(d, "genai_config.json"), "w") as f:
            json.dump(genai_config(cfg, gen, a.threads), f, indent=1)
        model = og.Model(d)
        tok = og.Tokenizer(model)
        prompt = open(a.prompt_file, encoding="utf-8").read()
        ids = tok.encode(prompt)
        params = og.GeneratorParams(model)
        params.set_search_options(max_length=len(ids) + a.max_new, do_sample=False)
        t0 = time.perf_counter()
        g = og.Generator(model, params)
        g.append_tokens(ids)
        out = []
        t_first = None
        while not g.is_done():
            g.generate_next_token()
            out.append(int(g.get_next_tokens()[0]))
            if t_first is None:
                t_first = time.perf_counter()
        t_end = time.perf_counter()
        # genai appends the final EOS token to the sequence; skylark does not count it.
        eos = gen.get("eos_token_id", cfg.get("eos_token_id"))
        eos = set(eos if isinstance(eos, list) else [eos])
        n = len(out) - (1 if out and out[-1] in eos else 0)
        decode_s = t_end - t_first
        print(json.dumps({
            "side": "onnxruntime-genai " + og.__version__,
            "prompt_tokens": len(ids),
            "tokens": n,
            "ttft_ms": (t_first - t0) * 1000,
            "decode_tps": (len(out) - 1) / decode_s if len(out) > 1 and decode_s > 0 else 0.0,
            "peak_rss_kib": peak_rss_kib(),
            "text": tok.decode([t for t in out if t not in eos]),
        }, ensure_ascii=False))


if __name__ == "__main__":
    main()
