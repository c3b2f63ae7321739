# SPDX-License-Identifier: Apache-2.0
"""Peers of the text benchmark (bench/embed.sh): sentence-transformers on PyTorch CPU for
embeddings, llama-cpp-python for generation, and the cross-check of the vectors.

    embed_peer.py st TEXTS.json RUNS THREADS BATCH VECTORS_OUT.json
        sentence-transformers' encode(batch_size=BATCH) over the texts (which sorts them by
        length and pads each batch to its longest, as the Rust embedder does), torch with
        THREADS intra-op threads; one JSON line per timed run after one warm-up batch.
    embed_peer.py check REFERENCE.json ST_VECTORS.json RUST_VECTORS.json
        cosine of sentence-transformers' and of Rust's vectors to the NumPy reference
        (python/tests/embed_reference.py) and to each other: min, median; exits 1 below 0.999.
    embed_peer.py llama GGUF MAX_TOKENS RUNS THREADS
        llama.cpp (llama-cpp-python) on the same GGUF and prompt, greedy (top_k=1), no repeat
        penalty, MAX_TOKENS new tokens at most; ttft and tokens/s measured like the Rust side:
        ttft from the call to the first sampled token, tokens/s = (tokens - 1) / (last - first).

The prompt must stay equal to crates/text/examples/text_bench.rs.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

SYSTEM = "You are a helpful assistant for an online shop's support team."
USER = ("A customer writes: my order arrived late and the screen of the phone is broken. "
        "Write a short, polite reply explaining the next steps for a replacement.")


def st(texts_path: str, runs: int, threads: int, batch: int, out: str) -> None:
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    texts = json.load(open(texts_path, encoding="utf-8"))["texts"]
    import os
    t = time.perf_counter()
    model = SentenceTransformer(os.path.join(os.environ.get("STEWARD_MODELS", "models"),
                                             "all-MiniLM-L6-v2"), device="cpu")
    load_s = time.perf_counter() - t
    model.encode(texts[:batch], batch_size=batch)
    vectors = None
    for run in range(runs):
        t = time.perf_counter()
        vectors = model.encode(texts, batch_size=batch, convert_to_numpy=True)
        s = time.perf_counter() - t
        print(json.dumps({"side": "sentence-transformers", "what": "embed", "run": run,
                          "texts": len(texts), "seconds": round(s, 4),
                          "texts_per_s": round(len(texts) / s, 2), "load_s": round(load_s, 3),
                          "torch": torch.__version__, "threads": torch.get_num_threads(),
                          "max_seq_length": model.max_seq_length}), flush=True)
    json.dump(vectors.tolist(), open(out, "w"))


def check(reference: str, st_path: str, rust_path: str) -> int:
    import numpy as np

    ref = np.array(json.load(open(reference))["vectors"], dtype=np.float64)
    sides = {"sentence-transformers": np.array(json.load(open(st_path)), dtype=np.float64),
             "steward": np.array(json.load(open(rust_path)), dtype=np.float64)}
    n = len(ref)

    def cos(a, b):
        return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))

    ok = True
    pairs = [("sentence-transformers", "numpy-reference", sides["sentence-transformers"][:n], ref),
             ("steward", "numpy-reference", sides["steward"][:n], ref),
             ("steward", "sentence-transformers", sides["steward"], sides["sentence-transformers"])]
    for a, b, x, y in pairs:
        c = cos(x, y)
        ok &= bool(c.min() >= 0.999)
        print(json.dumps({"what": "cosine", "a": a, "b": b, "texts": len(c), "min": float(c.min()),
                          "median": float(np.median(c)), "argmin": int(c.argmin())}), flush=True)
    return 0 if ok else 1


def llama(gguf: str, max_tokens: int, runs: int, threads: int) -> None:
    import llama_cpp
    from llama_cpp import Llama

    llm = Llama(model_path=gguf, n_ctx=2048, n_threads=threads, n_threads_batch=threads,
                n_batch=512, verbose=False)
    prompt = (f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{USER}<|im_end|>\n"
              "<|im_start|>assistant\n")
    eos = {llm.token_eos(), 0, 2}

    def once():
        llm.reset()
        start = time.perf_counter()
        ids = llm.tokenize(prompt.encode(), add_bos=False, special=True)
        out, first, last = [], None, None
        for tok in llm.generate(ids, top_k=1, top_p=1.0, temp=0.0, repeat_penalty=1.0, reset=True):
            now = time.perf_counter()
            first = first or now
            last = now
            out.append(tok)
            if tok in eos or len(out) >= max_tokens:
                break
        text = llm.detokenize([t for t in out if t not in eos]).decode("utf-8", "replace")
        rate = (len(out) - 1) / (last - first) if len(out) > 1 and last > first else 0.0
        return {"prompt_tokens": len(ids), "tokens": len(out), "ttft_ms": (first - start) * 1e3,
                "tokens_per_s": rate, "seconds": last - start, "text": text}

    once()
    for run in range(runs):
        r = once()
        print(json.dumps({"side": "llama.cpp", "what": "generate", "run": run,
                          "version": llama_cpp.__version__, **r}), flush=True)


def main() -> int:
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "st":
        st(args[0], int(args[1]), int(args[2]), int(args[3]), args[4])
    elif cmd == "check":
        return check(*args[:3])
    elif cmd == "llama":
        llama(args[0], int(args[1]), int(args[2]), int(args[3]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
