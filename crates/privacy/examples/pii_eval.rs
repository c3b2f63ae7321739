//! Scores `pii::scan` on a labelled corpus from `pii_corpus`: precision, recall and F1 per entity, and throughput.
//!
//! Usage: `cargo run --release -p steward-privacy --example pii_eval -- CORPUS.ndjson [--errors N] [--passes 3]`
//!
//! A prediction is right if a label of the same entity overlaps it; a label is found if a
//! prediction of the same entity overlaps it (the same rule as `bench/pii_presidio.py`).
//! Throughput is the best of three passes (`--passes`) over all texts, scanning only (no
//! I/O, no JSON).
//! Prints one JSON line; with `--errors N`, also up to N misses and false alarms per
//! entity on stderr. With `--predictions FILE`, also writes one JSON line per text to FILE:
//! `{"i": n, "predictions": [{"entity", "start", "end"}]}` (n: the text's 0-based index
//! among the corpus's non-blank lines; start/end: byte offsets).

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::{Value, json};
use steward_privacy::pii::{self, PiiEntity};

struct Labelled {
    text: String,
    labels: Vec<(String, usize, usize)>,
}

#[derive(Default)]
struct Counts {
    predicted: usize,
    predicted_right: usize,
    labelled: usize,
    labelled_found: usize,
}

fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

fn load(path: &str) -> Result<Vec<Labelled>, String> {
    let data = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut out = Vec::new();
    for (n, line) in data
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: Value = serde_json::from_str(line).map_err(|e| format!("{path}:{}: {e}", n + 1))?;
        let text = v["text"]
            .as_str()
            .ok_or(format!("{path}:{}: no text", n + 1))?
            .to_owned();
        let labels = v["labels"]
            .as_array()
            .map(|ls| {
                ls.iter()
                    .filter_map(|l| {
                        let entity = l["entity"].as_str()?.to_owned();
                        Some((
                            entity,
                            l["start"].as_u64()? as usize,
                            l["end"].as_u64()? as usize,
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push(Labelled { text, labels });
    }
    Ok(out)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: pii_eval CORPUS.ndjson [--errors N] [--passes N] [--predictions FILE]");
        std::process::exit(2);
    };
    let option = |name: &str, default: usize| -> usize {
        args.iter()
            .position(|a| a == name)
            .and_then(|k| args.get(k + 1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(default)
    };
    let show_errors = option("--errors", 0);
    let passes = option("--passes", 3).max(1);
    let predictions_path = args
        .iter()
        .position(|a| a == "--predictions")
        .and_then(|k| args.get(k + 1))
        .cloned();
    let corpus = match load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };

    let mut counts: BTreeMap<&'static str, Counts> = PiiEntity::ALL
        .iter()
        .map(|e| (e.as_str(), Counts::default()))
        .collect();
    let mut shown: BTreeMap<(&'static str, bool), usize> = BTreeMap::new();
    let mut predictions = String::new();
    for (i, doc) in corpus.iter().enumerate() {
        let found = pii::scan(&doc.text);
        if predictions_path.is_some() {
            let spans: Vec<Value> = found
                .iter()
                .map(|f| json!({"entity": f.entity.as_str(), "start": f.start, "end": f.end}))
                .collect();
            predictions.push_str(&json!({"i": i, "predictions": spans}).to_string());
            predictions.push('\n');
        }
        for f in &found {
            let c = counts.entry(f.entity.as_str()).or_default();
            c.predicted += 1;
            let right = doc
                .labels
                .iter()
                .any(|(e, s, t)| e == f.entity.as_str() && overlaps((*s, *t), (f.start, f.end)));
            if right {
                c.predicted_right += 1;
            } else {
                report(
                    &mut shown,
                    show_errors,
                    f.entity.as_str(),
                    false,
                    &doc.text,
                    f.start,
                    f.end,
                );
            }
        }
        for (entity, s, t) in &doc.labels {
            let Some(c) = counts
                .iter_mut()
                .find(|(k, _)| **k == entity.as_str())
                .map(|(_, c)| c)
            else {
                continue;
            };
            c.labelled += 1;
            if found
                .iter()
                .any(|f| f.entity.as_str() == entity && overlaps((*s, *t), (f.start, f.end)))
            {
                c.labelled_found += 1;
            } else {
                let name = PiiEntity::parse(entity).map_or("?", PiiEntity::as_str);
                report(&mut shown, show_errors, name, true, &doc.text, *s, *t);
            }
        }
    }

    if let Some(p) = &predictions_path {
        std::fs::write(p, &predictions).unwrap_or_else(|e| {
            eprintln!("{p}: {e}");
            std::process::exit(1);
        });
    }

    let bytes: usize = corpus.iter().map(|d| d.text.len()).sum();
    let mut best = f64::INFINITY;
    let mut sink = 0usize;
    for _ in 0..passes {
        let started = Instant::now();
        for doc in &corpus {
            sink += pii::scan(&doc.text).len();
        }
        best = best.min(started.elapsed().as_secs_f64());
    }
    std::hint::black_box(sink);

    let entities: serde_json::Map<String, Value> = counts
        .iter()
        .map(|(name, c)| {
            let precision = ratio(c.predicted_right, c.predicted);
            let recall = ratio(c.labelled_found, c.labelled);
            let f1 = if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            let v = json!({
                "labels": c.labelled, "predictions": c.predicted,
                "precision": round(precision), "recall": round(recall), "f1": round(f1),
            });
            ((*name).to_owned(), v)
        })
        .collect();
    let out = json!({
        "tool": "steward",
        "texts": corpus.len(),
        "bytes": bytes,
        "seconds": best,
        "mb_per_s": bytes as f64 / 1e6 / best,
        "texts_per_s": corpus.len() as f64 / best,
        "entities": entities,
    });
    println!("{out}");
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

fn round(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn report(
    shown: &mut BTreeMap<(&'static str, bool), usize>,
    max: usize,
    entity: &'static str,
    miss: bool,
    text: &str,
    s: usize,
    e: usize,
) {
    let n = shown.entry((entity, miss)).or_default();
    if *n >= max {
        return;
    }
    *n += 1;
    let what = if miss { "MISS" } else { "FALSE" };
    eprintln!(
        "{what} {entity}: {:?} in {text:?}",
        text.get(s..e).unwrap_or("?")
    );
}
