# SPDX-License-Identifier: Apache-2.0
"""Reference embeddings for all-MiniLM-L6-v2 without torch: a NumPy forward pass of the BERT
encoder over the same ``model.safetensors`` the Rust embedder (crates/text) loads.

Run by crates/text/tests/reference.rs as

    python/.venv/bin/python python/tests/embed_reference.py --models models [--count 200]

and by bench/embed.sh, which also checks these vectors against sentence-transformers (so the
chain Rust → NumPy → sentence-transformers is checked end to end). Prints one JSON object on
stdout: ``{"model": ..., "dim": 384, "texts": [...], "vectors": [[...], ...]}``.

Everything here is written from the model's definition, independently of the Rust side:

- tokenization: BERT's uncased WordPiece as the shipped ``tokenizer.json`` configures it
  (clean text, pad CJK ideographs with spaces, strip accents (NFD, drop Mn), lowercase; split
  on whitespace and around punctuation; greedy longest-match WordPiece with ``##``, a word over
  100 characters or with an unmatched rest is ``[UNK]``), ``[CLS] … [SEP]``, truncated to 256
  tokens (sentence-transformers' ``max_seq_length`` for this model);
- the encoder in float64: embeddings (word + position + token type 0) and LayerNorm, six
  layers of 12-head self-attention and GELU (erf) feed-forward with post-LayerNorm (eps 1e-12);
- mean pooling over the tokens (one text at a time, so no padding) and L2 normalization.

``texts(count)`` is the deterministic test set: short sentences, long texts (over 128 and over
256 tokens), unicode (accents, CJK, Cyrillic, Greek, Arabic, emoji), punctuation, numbers,
empty-ish and odd whitespace. The benchmark imports it for its larger text set.

Needs numpy and scipy (python/.venv, from python/requirements.txt). Exits 2 when the model
files are missing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import struct
import sys
import unicodedata

import numpy as np
from scipy.special import erf

MODEL_DIR = "all-MiniLM-L6-v2"
MAX_TOKENS = 256
LAYERS = 6
HEADS = 12
EPS = 1e-12


# --- the texts ------------------------------------------------------------------------------

WORDS = (
    "order delivery refund package late arrived broken screen battery charger account password "
    "login email invoice payment card declined shipping address update cancel subscription "
    "plan upgrade support agent thanks please help issue problem again still waiting week "
    "days store pickup return label size color shoes jacket phone laptop headphones warranty "
    "replacement tracking number courier weekend morning evening customer service quick "
    "friendly rude slow happy disappointed excellent terrible price discount coupon code "
    "loyalty points review stars recommend quality material fits small large blue red green"
).split()

UNICODE = [
    "Café au lait, crème brûlée et naïveté",
    "Ünïcödé téxt wïth dïäcrïtïcs",
    "Müller Straße 12, München",
    "El niño pidió una canción en español",
    "São Paulo é uma cidade grande",
    "中文文本测试：我的订单还没有到",
    "日本語のテキスト、配送が遅れています",
    "한국어 텍스트 주문 취소",
    "Привет, мой заказ не пришёл",
    "Ελληνικά κείμενα για δοκιμή",
    "مرحبا، طلبي لم يصل بعد",
    "עברית טקסט לבדיקה",
    "हिंदी पाठ परीक्षण",
    "ไทย ข้อความ ทดสอบ",
    "Emoji 😀🎉👍 great service!",
    "🔥🔥🔥",
    "I ❤️ this product ✨",
    "naïve café résumé coöperate",
    "Zürich – Genève — Lausanne",
    "“Smart quotes” and ‘single’ ones…",
    "Ligatures: ﬁne ﬂow",
    "Full-width ＡＢＣ１２３",
    "Mixed: English, 中文, русский, 日本語",
    "Tiếng Việt có dấu",
    "Polski: zażółć gęślą jaźń",
    "Türkçe: ığüşöç İstanbul",
    "Ångström Ærø Øresund",
    "Čeština: příliš žluťoučký kůň",
    "Zero\u200bwidth space and soft\u00adhyphen",
    "Combining e\u0301 and a\u0308 marks",
]

PUNCT = [
    "!!!", "???", "...", "a,b;c:d", "Hello!!! Is anyone there???",
    "https://shop.example.com/orders/12345?ref=email#top", "mail me: jane.doe+shop@example.org",
    "@support #help $$$ %%% ^^^ &&& ***", "(parentheses) [brackets] {braces} <angles>",
    "don't won't can't it's they're", "C++ / C# / F# / .NET", "path/to/file.txt & back\\slash",
    "--- ___ === +++ ~~~", "\"quoted\" 'single' `backtick`", "semi;colon;separated;values",
    "e.g. i.e. etc. vs. Mr. Mrs. Dr.", "!!!wow!!!", "a-b-c-d-e-f", "...and then?!",
    "¿Qué? ¡Sí!", "« guillemets » and „German“", "bullet • point · dot", "100% sure!!! (really)",
    "key=value&other=thing", "<b>bold</b> &amp; <i>italic</i>", "{\"json\": [1, 2, 3]}",
    "SELECT * FROM orders WHERE id = 42;", "tab\tseparated\tvalues", "line\nbreaks\nhere",
    "trailing punctuation,,,,",
]

EMPTYISH = ["", " ", "\n", "\t\t", ".", "a", "?", "   hi   ", "  ", "\r\n", "-", "ok", "I",
            "0", "x y", "...", "\u00a0", "!", "hm", "yes"]


def _sentence(rng: random.Random, lo: int, hi: int) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(lo, hi))]
    text = " ".join(words)
    return text[0].upper() + text[1:] + rng.choice([".", "!", "?", ""])


def _number_text(rng: random.Random) -> str:
    forms = [
        lambda: f"Order #{rng.randint(10000, 99999)} total ${rng.randint(1, 2000)}.{rng.randint(0, 99):02d}",
        lambda: f"Call {rng.randint(200, 999)}-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
        lambda: f"{rng.randint(1, 28)}/{rng.randint(1, 12)}/20{rng.randint(10, 30)} at {rng.randint(0, 23)}:{rng.randint(0, 59):02d}",
        lambda: f"{rng.randint(1, 9)},{rng.randint(100, 999)},{rng.randint(100, 999)} units",
        lambda: f"{rng.random() * 1000:.4f} kg",
        lambda: f"ID {rng.getrandbits(64):x}",
        lambda: " ".join(str(rng.randint(0, 10**rng.randint(1, 9))) for _ in range(rng.randint(1, 8))),
        lambda: f"Version {rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 99)} released",
        lambda: f"{rng.randint(1, 100)}% off for {rng.randint(2, 14)} days",
        lambda: f"3.14159 2.71828 1e-{rng.randint(3, 12)} -{rng.randint(1, 99)}",
    ]
    return rng.choice(forms)()


def _odd_whitespace(rng: random.Random) -> str:
    base = _sentence(rng, 3, 10)
    forms = [
        lambda: base.upper(),
        lambda: "  ".join(base.split()),
        lambda: "\n".join(base.split()),
        lambda: "\t" + base + "\t",
        lambda: base.replace(" ", " \n "),
        lambda: base.swapcase(),
    ]
    return rng.choice(forms)()


def texts(count: int = 200, seed: int = 13) -> list[str]:
    """The deterministic test set: 200 by default; larger counts cycle through the same
    kinds with fresh random draws."""
    rng = random.Random(seed)
    out: list[str] = []
    kinds = ["short"] * 40 + ["long"] * 30 + ["unicode"] * 30 + ["punct"] * 30 + \
            ["number"] * 30 + ["empty"] * 20 + ["odd"] * 20
    i = 0
    while len(out) < count:
        kind = kinds[i % len(kinds)]
        j = i // len(kinds)
        if kind == "short":
            out.append(_sentence(rng, 3, 14))
        elif kind == "long":
            # 120..420 words: all over 128 tokens, about half over 256 (truncated).
            out.append(" ".join(_sentence(rng, 8, 20) for _ in range(rng.randint(8, 24))))
        elif kind == "unicode":
            k = (i % len(kinds)) - 70
            out.append(UNICODE[k] if j == 0 else UNICODE[k] + " " + _sentence(rng, 2, 8))
        elif kind == "punct":
            k = (i % len(kinds)) - 100
            out.append(PUNCT[k] if j == 0 else _sentence(rng, 2, 6) + " " + PUNCT[k])
        elif kind == "number":
            out.append(_number_text(rng))
        elif kind == "empty":
            k = (i % len(kinds)) - 160
            out.append(EMPTYISH[k] if j == 0 else EMPTYISH[k] + rng.choice(WORDS))
        else:
            out.append(_odd_whitespace(rng))
        i += 1
    return out


# --- the tokenizer --------------------------------------------------------------------------

def _is_control(c: str) -> bool:
    if c in "\t\n\r":
        return False
    return unicodedata.category(c).startswith("C")


def _is_whitespace(c: str) -> bool:
    # Rust's char::is_whitespace (the Unicode White_Space property) after controls are gone.
    return c in "\t\n\r " or unicodedata.category(c) in ("Zs", "Zl", "Zp")


def _is_chinese(cp: int) -> bool:
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def _is_punctuation(c: str) -> bool:
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(c).startswith("P")


class WordPiece:
    def __init__(self, tokenizer_json: str):
        with open(tokenizer_json, encoding="utf-8") as f:
            spec = json.load(f)
        self.vocab: dict[str, int] = spec["model"]["vocab"]
        self.unk = self.vocab["[UNK]"]
        self.cls = self.vocab["[CLS]"]
        self.sep = self.vocab["[SEP]"]

    def normalize(self, text: str) -> str:
        out = []
        for c in text:
            cp = ord(c)
            if cp == 0 or cp == 0xFFFD or _is_control(c):
                continue
            if _is_whitespace(c):
                out.append(" ")
            elif _is_chinese(cp):
                out.append(f" {c} ")
            else:
                out.append(c)
        text = unicodedata.normalize("NFD", "".join(out))
        text = "".join(c for c in text if unicodedata.category(c) != "Mn")
        return text.lower()

    @staticmethod
    def pre_tokenize(text: str) -> list[str]:
        words: list[str] = []
        for chunk in text.split():
            current = ""
            for c in chunk:
                if _is_punctuation(c):
                    if current:
                        words.append(current)
                        current = ""
                    words.append(c)
                else:
                    current += c
            if current:
                words.append(current)
        return words

    def word_ids(self, word: str) -> list[int]:
        if len(word) > 100:
            return [self.unk]
        ids = []
        start = 0
        while start < len(word):
            end = len(word)
            found = None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    found = self.vocab[piece]
                    break
                end -= 1
            if found is None:
                return [self.unk]
            ids.append(found)
            start = end
        return ids

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for word in self.pre_tokenize(self.normalize(text)):
            ids.extend(self.word_ids(word))
        return [self.cls] + ids[: MAX_TOKENS - 2] + [self.sep]


# --- the model ------------------------------------------------------------------------------

def read_safetensors(path: str) -> dict[str, np.ndarray]:
    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    tensors = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        lo, hi = meta["data_offsets"]
        tensors[name] = np.frombuffer(data[lo:hi], dtype=dtypes[meta["dtype"]]).reshape(meta["shape"])
    return tensors


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + EPS) * w + b


class MiniLM:
    def __init__(self, weights: str):
        raw = read_safetensors(weights)
        self.w = {k: v.astype(np.float64) for k, v in raw.items()}
        # Linear weights are stored [out, in]; keep them transposed and contiguous for x @ W.
        self.t = {k: np.ascontiguousarray(v.T) for k, v in self.w.items()
                  if k.endswith(".weight") and v.ndim == 2 and ".encoder." in "." + k}

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.t[name + ".weight"] + self.w[name + ".bias"]

    def embed(self, ids: list[int]) -> np.ndarray:
        w = self.w
        n = len(ids)
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][:n]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        dim = x.shape[1]
        head = dim // HEADS
        for i in range(LAYERS):
            p = f"encoder.layer.{i}."
            q = self._linear(x, p + "attention.self.query").reshape(n, HEADS, head).transpose(1, 0, 2)
            k = self._linear(x, p + "attention.self.key").reshape(n, HEADS, head).transpose(1, 0, 2)
            v = self._linear(x, p + "attention.self.value").reshape(n, HEADS, head).transpose(1, 0, 2)
            scores = q @ k.transpose(0, 2, 1) / np.sqrt(head)
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(1, 0, 2).reshape(n, dim)
            attn = self._linear(context, p + "attention.output.dense")
            x = _layer_norm(attn + x, w[p + "attention.output.LayerNorm.weight"],
                            w[p + "attention.output.LayerNorm.bias"])
            h = self._linear(x, p + "intermediate.dense")
            h = 0.5 * h * (1.0 + erf(h / np.sqrt(2.0)))
            h = self._linear(h, p + "output.dense")
            x = _layer_norm(h + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
        pooled = x.mean(0)
        return pooled / max(np.linalg.norm(pooled), 1e-12)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=os.environ.get("STEWARD_MODELS", "models"))
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--texts-only", action="store_true", help="print the texts, no vectors")
    args = parser.parse_args()

    items = texts(args.count)
    if args.texts_only:
        json.dump({"texts": items}, sys.stdout, ensure_ascii=False)
        return 0
    model_dir = os.path.join(args.models, MODEL_DIR)
    for name in ("tokenizer.json", "model.safetensors"):
        if not os.path.isfile(os.path.join(model_dir, name)):
            print(f"missing {os.path.join(model_dir, name)}: run `bash scripts/models.sh`",
                  file=sys.stderr)
            return 2
    tokenizer = WordPiece(os.path.join(model_dir, "tokenizer.json"))
    model = MiniLM(os.path.join(model_dir, "model.safetensors"))
    ids = [tokenizer.encode(t) for t in items]
    vectors = [model.embed(i).tolist() for i in ids]
    json.dump({"model": "all-MiniLM-L6-v2", "dim": len(vectors[0]), "texts": items,
               "token_counts": [len(i) for i in ids], "vectors": vectors}, sys.stdout,
              ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
