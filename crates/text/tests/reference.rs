//! The Rust embedder against the reference: `python/tests/embed_reference.py`, a NumPy forward
//! pass of all-MiniLM-L6-v2 over the same weights (checked against sentence-transformers
//! itself by bench/embed.sh), on its 200 varied texts (short, long past 128 and 256 tokens,
//! unicode, punctuation, numbers, empty-ish). Every text must reach cosine ≥ 0.999, embedded
//! in one batch (sorted and padded) and the first ones one at a time (no padding), which must
//! agree with the batch too.
//!
//! Needs the model files (`bash scripts/models.sh`) and python/.venv (`bash python/setup.sh`):
//! skipped with a printed reason without them, a failure when `CI` or `STEWARD_TEST_PEERS` is
//! set (scripts/test.sh sets the latter and runs both).

mod common;

use std::process::Command;

use serde_json::Value;
use steward_text::{EMBED_MODEL_DIR, Embedder};

const COSINE_MIN: f64 = 0.999;

fn cosine(a: &[f32], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * y).sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|y| y * y).sum::<f64>().sqrt();
    dot / (na * nb)
}

#[test]
fn embeddings_match_the_numpy_reference() {
    let models = common::models_dir();
    let Some(dir) = common::require(models.join(EMBED_MODEL_DIR), "bash scripts/models.sh") else {
        return;
    };
    let Some(python) = common::require(
        common::root().join("python/.venv/bin/python"),
        "bash python/setup.sh",
    ) else {
        return;
    };

    let out = Command::new(python)
        .arg(common::root().join("python/tests/embed_reference.py"))
        .arg("--models")
        .arg(&models)
        .output()
        .expect("start python");
    assert!(
        out.status.success(),
        "embed_reference.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reference: Value = serde_json::from_slice(&out.stdout).expect("reference JSON");
    let texts: Vec<&str> = reference["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let expected: Vec<Vec<f64>> = reference["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(texts.len(), 200);
    assert_eq!(expected.len(), texts.len());

    let embedder = Embedder::load(&dir).expect("load embedder");
    assert_eq!(embedder.dim(), 384);
    assert_eq!(embedder.model_name(), "all-MiniLM-L6-v2");
    let got = embedder.embed(&texts).expect("embed");
    assert_eq!(got.len(), texts.len());

    let mut worst = (f64::INFINITY, 0);
    let mut failures = Vec::new();
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(g.len(), 384);
        let norm: f32 = g.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "text {i}: norm {norm}");
        let c = cosine(g, e);
        if c < worst.0 {
            worst = (c, i);
        }
        if c.is_nan() || c < COSINE_MIN {
            failures.push((i, c, texts[i]));
        }
    }
    eprintln!(
        "cosine to the NumPy reference over {} texts: worst {:.6} (text {})",
        texts.len(),
        worst.0,
        worst.1
    );
    assert!(failures.is_empty(), "below {COSINE_MIN}: {failures:#?}");

    // One at a time (no padding) agrees with the batch.
    for (i, text) in texts.iter().enumerate().step_by(10) {
        let single = embedder.embed(&[text]).expect("embed one");
        let batch: Vec<f64> = got[i].iter().map(|&x| f64::from(x)).collect();
        let c = cosine(&single[0], &batch);
        assert!(c > 0.99999, "text {i}: alone vs in a batch cosine {c}");
    }
}
