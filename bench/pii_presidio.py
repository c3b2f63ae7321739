#!/usr/bin/env python3
"""Scores presidio-analyzer's pattern recognizers on the PII corpus from `pii_corpus`.

Usage: bench/.venv/bin/python bench/pii_presidio.py CORPUS.ndjson [--threshold 0.0] [--errors N]

Same rules as `crates/privacy/examples/pii_eval.rs`: a prediction is right if a label of
the same entity overlaps it (character offsets `cstart`/`cend`), a label is found if a
prediction of the same entity overlaps it. Prints one JSON line.

What runs: the eight recognizers below, called directly as
`rec.analyze(text, entities=[...], nlp_artifacts=None)`, so no spaCy model is loaded or
needed; their results go through `EntityRecognizer.remove_duplicates` as AnalyzerEngine
does. Without NLP artifacts Presidio's context enhancement does not run; it only raises
scores, so at the default threshold of 0 (AnalyzerEngine's default) it would not change
which spans are reported. Entity mapping: EMAIL_ADDRESS -> email, PHONE_NUMBER -> phone,
CREDIT_CARD -> credit_card, IBAN_CODE -> iban, IP_ADDRESS -> ip_address, US_SSN -> us_ssn,
URL -> url_personal (Presidio reports every URL; it has no notion of a personal one),
DATE_TIME -> date_of_birth (Presidio's DateRecognizer finds dates, not dates of birth).

Throughput: one timed pass of all eight recognizers over every text (analysis only, no
I/O or JSON), the same pass whose results are scored.
"""

import argparse
import json
import sys
import time

import tldextract
from presidio_analyzer import EntityRecognizer
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    DateRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    PhoneRecognizer,
    UrlRecognizer,
    UsSsnRecognizer,
)

# EmailRecognizer validates top-level domains with tldextract, which would try to download
# the public suffix list on first use; the machine has no network, so use the snapshot
# bundled with tldextract from the start (the same list, without the failed request).
tldextract.extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

ENTITY_MAP = {
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
    "CREDIT_CARD": "credit_card",
    "IBAN_CODE": "iban",
    "IP_ADDRESS": "ip_address",
    "US_SSN": "us_ssn",
    "URL": "url_personal",
    "DATE_TIME": "date_of_birth",
}
OURS = sorted(set(ENTITY_MAP.values()))


def recognizers():
    return [
        EmailRecognizer(),
        PhoneRecognizer(),
        CreditCardRecognizer(),
        IbanRecognizer(),
        IpRecognizer(),
        UsSsnRecognizer(),
        UrlRecognizer(),
        DateRecognizer(),
    ]


def analyze(recs, text):
    results = []
    for rec in recs:
        results.extend(rec.analyze(text, entities=rec.supported_entities, nlp_artifacts=None))
    return EntityRecognizer.remove_duplicates(results)


def overlaps(a, b):
    return a[0] < b[1] and b[0] < a[1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus")
    parser.add_argument("--threshold", type=float, default=0.0)
    parser.add_argument("--errors", type=int, default=0)
    args = parser.parse_args()

    docs = []
    with open(args.corpus, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                labels = [(l["entity"], l["cstart"], l["cend"]) for l in d["labels"]]
                docs.append((d["text"], labels))

    recs = recognizers()
    analyze(recs, "warm up: jane@example.com 4111 1111 1111 1111")

    started = time.perf_counter()
    predictions = [analyze(recs, text) for text, _ in docs]
    seconds = time.perf_counter() - started

    counts = {e: {"predicted": 0, "right": 0, "labelled": 0, "found": 0} for e in OURS}
    shown = {}

    def report(kind, entity, text, s, e):
        n = shown.get((kind, entity), 0)
        if n < args.errors:
            shown[(kind, entity)] = n + 1
            print(f"{kind} {entity}: {text[s:e]!r} in {text!r}", file=sys.stderr)

    for (text, labels), results in zip(docs, predictions):
        found = [
            (ENTITY_MAP[r.entity_type], r.start, r.end)
            for r in results
            if r.entity_type in ENTITY_MAP and r.score >= args.threshold
        ]
        for entity, s, e in found:
            c = counts[entity]
            c["predicted"] += 1
            if any(le == entity and overlaps((ls, lt), (s, e)) for le, ls, lt in labels):
                c["right"] += 1
            else:
                report("FALSE", entity, text, s, e)
        for entity, s, e in labels:
            c = counts[entity]
            c["labelled"] += 1
            if any(fe == entity and overlaps((s, e), (fs, ft)) for fe, fs, ft in found):
                c["found"] += 1
            else:
                report("MISS", entity, text, s, e)

    entities = {}
    for e, c in counts.items():
        p = c["right"] / c["predicted"] if c["predicted"] else 0.0
        r = c["found"] / c["labelled"] if c["labelled"] else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        entities[e] = {
            "labels": c["labelled"],
            "predictions": c["predicted"],
            "precision": round(p, 4),
            "recall": round(r, 4),
            "f1": round(f1, 4),
        }
    total_bytes = sum(len(text.encode("utf-8")) for text, _ in docs)
    print(
        json.dumps(
            {
                "tool": "presidio",
                "threshold": args.threshold,
                "texts": len(docs),
                "bytes": total_bytes,
                "seconds": seconds,
                "mb_per_s": total_bytes / 1e6 / seconds,
                "texts_per_s": len(docs) / seconds,
                "entities": entities,
            }
        )
    )


if __name__ == "__main__":
    main()
