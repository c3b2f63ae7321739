#!/usr/bin/env python3
"""Breaks down a PII scanner's results on the held-out corpus (bench/pii_heldout/generate.py).

Usage: python3 bench/pii_heldout/breakdown.py CORPUS.ndjson PREDICTIONS.ndjson [--misses N]

PREDICTIONS is what `pii_eval CORPUS --predictions FILE` writes: one line per text,
{"i": n, "predictions": [{"entity", "start", "end"}]} (byte offsets). The matching rule
is pii_eval's: a label is found if a prediction of the same entity overlaps it; a
prediction is right if it overlaps a label of the same entity.

Prints markdown: precision/recall per entity (and the share of found values whose predicted
span is exactly the labelled one), recall per case (the value's format, with the
hard cases marked), recall and precision per language and per text family, false alarms
per kind of declared negative, and false alarms outside declared negatives. With
--misses N, also up to N missed values per case and N false alarms per negative kind.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict

PLAIN_CASES = {"email_plain", "phone_intl"}


def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def pct(a: int, b: int) -> str:
    return f"{a / b:.3f}" if b else "–"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("predictions")
    ap.add_argument("--misses", type=int, default=0)
    args = ap.parse_args()

    corpus = [json.loads(l) for l in open(args.corpus, encoding="utf-8") if l.strip()]
    preds: dict[int, list[dict]] = {}
    for line in open(args.predictions, encoding="utf-8"):
        if line.strip():
            d = json.loads(line)
            preds[d["i"]] = d["predictions"]
    if len(preds) != len(corpus):
        sys.exit(f"{len(corpus)} texts but predictions for {len(preds)}")

    # [labels, found] and [predictions, right]
    rec = {k: defaultdict(lambda: [0, 0]) for k in ("entity", "case", "lang", "source", "lang_entity")}
    prec = {k: defaultdict(lambda: [0, 0]) for k in ("entity", "lang", "source")}
    neg = defaultdict(lambda: [0, 0, defaultdict(int)])  # kind -> [spans, flagged, by entity]
    elsewhere = defaultdict(int)
    misses = defaultdict(list)
    nested_missed = defaultdict(int)  # case -> missed labels inside another label that was found
    exact = defaultdict(int)  # entity -> labels found with exactly the labelled span
    neg_examples = defaultdict(list)
    other_examples = defaultdict(list)

    for i, doc in enumerate(corpus):
        raw = doc["text"].encode("utf-8")
        ps = preds[i]
        labels = doc["labels"]
        for l in labels:
            span = (l["start"], l["end"])
            found = any(p["entity"] == l["entity"] and overlaps(span, (p["start"], p["end"])) for p in ps)
            for key, val in (("entity", l["entity"]), ("case", (l["entity"], l.get("case", "?"))),
                             ("lang", doc["lang"]), ("source", doc["source"]),
                             ("lang_entity", (doc["lang"], l["entity"]))):
                c = rec[key][val]
                c[0] += 1
                c[1] += found
            if found and any(p["entity"] == l["entity"] and (p["start"], p["end"]) == span for p in ps):
                exact[l["entity"]] += 1
            if not found and any(
                    o is not l and o["start"] <= l["start"] and l["end"] <= o["end"]
                    and any(p["entity"] == o["entity"] and overlaps((o["start"], o["end"]), (p["start"], p["end"]))
                            for p in ps)
                    for o in labels):
                nested_missed[l.get("case", "?")] += 1
            if not found:
                got = [p["entity"] for p in ps if overlaps(span, (p["start"], p["end"]))]
                misses[l.get("case", "?")].append((raw[l["start"]:l["end"]].decode(), got, doc["text"]))
        for p in ps:
            span = (p["start"], p["end"])
            right = any(l["entity"] == p["entity"] and overlaps(span, (l["start"], l["end"])) for l in labels)
            for key, val in (("entity", p["entity"]), ("lang", doc["lang"]), ("source", doc["source"])):
                c = prec[key][val]
                c[0] += 1
                c[1] += right
            if not right:
                on_neg = [n for n in doc.get("negatives", []) if overlaps(span, (n["start"], n["end"]))]
                if not on_neg:
                    elsewhere[p["entity"]] += 1
                    other_examples[p["entity"]].append((raw[p["start"]:p["end"]].decode(errors="replace"), doc["text"]))
        for n in doc.get("negatives", []):
            span = (n["start"], n["end"])
            entry = neg[n["kind"]]
            entry[0] += 1
            wrong = [p for p in ps if overlaps(span, (p["start"], p["end"]))
                     and not any(l["entity"] == p["entity"] and overlaps((p["start"], p["end"]), (l["start"], l["end"]))
                                 for l in labels)]
            if wrong:
                entry[1] += 1
                for p in wrong:
                    entry[2][p["entity"]] += 1
                neg_examples[n["kind"]].append((raw[n["start"]:n["end"]].decode(), [p["entity"] for p in wrong],
                                                doc["text"]))

    out = []
    w = out.append
    total_l = sum(c[0] for c in rec["entity"].values())
    total_f = sum(c[1] for c in rec["entity"].values())
    total_p = sum(c[0] for c in prec["entity"].values())
    total_r = sum(c[1] for c in prec["entity"].values())
    w(f"Held-out PII corpus `{args.corpus}`: {len(corpus)} texts, {total_l} labelled values, "
      f"{sum(v[0] for v in neg.values())} declared negatives.\n")
    w(f"Overall: recall {pct(total_f, total_l)}, precision {pct(total_r, total_p)} "
      f"({total_p} predictions, {total_p - total_r} false alarms).\n")

    w("### Per entity\n")
    w("| entity | labels | found | recall | exact span | predictions | right | precision | F1 |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for e in sorted(set(rec["entity"]) | set(prec["entity"])):
        l, f = rec["entity"][e]
        p, r = prec["entity"][e]
        R = f / l if l else 0.0
        P = r / p if p else 0.0
        f1 = 2 * P * R / (P + R) if P + R else 0.0
        w(f"| {e} | {l} | {f} | {pct(f, l)} | {pct(exact[e], f)} | {p} | {r} | {pct(r, p)} | {f1:.3f} |")

    w("\n### Recall per case (format of the value)\n")
    w("| entity | case | hard | labels | found | recall |")
    w("|---|---|:---:|---:|---:|---:|")
    for (e, case), (l, f) in sorted(rec["case"].items(), key=lambda kv: (kv[0][0], kv[1][1] / kv[1][0])):
        w(f"| {e} | {case} | {'' if case in PLAIN_CASES else 'yes'} | {l} | {f} | {pct(f, l)} |")

    if nested_missed:
        w("\nMissed values that lie inside another labelled value that was found (e.g. an e-mail address "
          "inside a URL reported as url_personal): "
          + ", ".join(f"{c} {n}" for c, n in sorted(nested_missed.items())) + ".")

    w("\n### Per language\n")
    ents = sorted(rec["entity"])
    w("| lang | labels | recall | precision | " + " | ".join(f"R {e}" for e in ents) + " |")
    w("|---|---:|---:|---:|" + "---:|" * len(ents))
    for lang in sorted(rec["lang"]):
        l, f = rec["lang"][lang]
        p, r = prec["lang"][lang]
        cells = [pct(*reversed(rec["lang_entity"][(lang, e)])) if (lang, e) in rec["lang_entity"] else "–" for e in ents]
        w(f"| {lang} | {l} | {pct(f, l)} | {pct(r, p)} | " + " | ".join(cells) + " |")

    w("\n### Per text family\n")
    w("| source | labels | recall | predictions | precision |")
    w("|---|---:|---:|---:|---:|")
    for s in sorted(rec["source"]):
        l, f = rec["source"][s]
        p, r = prec["source"][s]
        w(f"| {s} | {l} | {pct(f, l)} | {p} | {pct(r, p)} |")

    w("\n### False alarms on declared negatives\n")
    w("| negative kind | spans | flagged | share flagged | flagged as |")
    w("|---|---:|---:|---:|---|")
    for k, (n, fl, by) in sorted(neg.items(), key=lambda kv: -kv[1][1] / kv[1][0]):
        w(f"| {k} | {n} | {fl} | {pct(fl, n)} | {', '.join(f'{e} {c}' for e, c in sorted(by.items()))} |")
    w("\nFalse alarms outside declared negatives (on filler text, or overlapping only a label of "
      "another entity): " + (", ".join(f"{e} {c}" for e, c in sorted(elsewhere.items())) or "none") + ".")

    if args.misses:
        w("\n### Examples of misses per case\n")
        for case in sorted(misses):
            w(f"**{case}**\n")
            for value, got, text in misses[case][: args.misses]:
                extra = f" (predicted as {', '.join(got)})" if got else ""
                w(f"- `{value}`{extra} in: {json.dumps(text[:220], ensure_ascii=False)}")
            w("")
        w("\n### Examples of false alarms on negatives\n")
        for kind in sorted(neg_examples):
            w(f"**{kind}**\n")
            for value, got, text in neg_examples[kind][: args.misses]:
                w(f"- `{value}` flagged as {', '.join(got)} in: {json.dumps(text[:220], ensure_ascii=False)}")
            w("")
        w("\n### Examples of other false alarms\n")
        for e in sorted(other_examples):
            w(f"**{e}**\n")
            for value, text in other_examples[e][: args.misses]:
                w(f"- `{value}` in: {json.dumps(text[:220], ensure_ascii=False)}")
            w("")
    print("\n".join(out))


if __name__ == "__main__":
    main()
