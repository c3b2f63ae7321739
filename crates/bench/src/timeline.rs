//! `steward-bench timeline`: page latency of a subject's timeline over HTTP. The first page
//! is read `--repeat` times; then the whole timeline is walked page by page with the cursor
//! (every page timed, every event counted once). One JSON line: first-page and walking-page
//! percentiles, pages and events read.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::Failed;
use crate::stats::{Latencies, round3};

#[derive(clap::Args, Debug)]
pub struct TimelineArgs {
    #[arg(long)]
    pub url: String,
    #[arg(long, default_value = "bench")]
    pub tenant: String,
    /// A key that reads timelines (reader).
    #[arg(long)]
    pub key: String,
    /// The subject's external id (resolved to its pseudonym first).
    #[arg(long)]
    pub external_id: String,
    #[arg(long, default_value = "analytics")]
    pub purpose: String,
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Times the first page is read.
    #[arg(long, default_value_t = 50)]
    pub repeat: usize,
    /// At most this many pages are walked.
    #[arg(long, default_value_t = 2000)]
    pub pages_max: usize,
}

pub fn run(args: TimelineArgs) -> Result<(), Failed> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into();
    let base = args.url.trim_end_matches('/').to_owned();
    let auth = format!("Bearer {}", args.key);
    let resolved: Value = agent
        .post(&format!(
            "{base}/v1/tenants/{}/subjects/resolve",
            args.tenant
        ))
        .header("Authorization", &auth)
        .header("Content-Type", "application/json")
        .send(
            serde_json::json!({"external_id": args.external_id})
                .to_string()
                .as_bytes(),
        )
        .map_err(|e| Failed(format!("resolve: {e}")))?
        .body_mut()
        .read_json()
        .map_err(|e| Failed(format!("resolve: {e}")))?;
    let subject = resolved["subject"]
        .as_str()
        .ok_or_else(|| Failed(format!("resolve answered {resolved}")))?
        .to_owned();
    let page = |cursor: Option<&str>| -> Result<(Duration, usize, Option<String>), Failed> {
        let mut url = format!(
            "{base}/v1/tenants/{}/subjects/{subject}/events?purpose={}&limit={}",
            args.tenant, args.purpose, args.limit
        );
        if let Some(c) = cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let started = Instant::now();
        let mut response = agent
            .get(&url)
            .header("Authorization", &auth)
            .call()
            .map_err(|e| Failed(format!("page: {e}")))?;
        let status = response.status().as_u16();
        let body: Value = response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_json()
            .map_err(|e| Failed(format!("page: {e}")))?;
        let took = started.elapsed();
        if status != 200 {
            return Err(Failed(format!("page: {status} {body}")));
        }
        let events = body["events"].as_array().map_or(0, Vec::len);
        Ok((
            took,
            events,
            body["next_cursor"].as_str().map(str::to_owned),
        ))
    };
    let mut first = Latencies::with_capacity(args.repeat);
    for _ in 0..args.repeat {
        first.record(page(None)?.0);
    }
    let mut walking = Latencies::with_capacity(args.pages_max);
    let (mut cursor, mut events, mut pages) = (None::<String>, 0usize, 0usize);
    let walk_started = Instant::now();
    loop {
        let (took, n, next) = page(cursor.as_deref())?;
        walking.record(took);
        events += n;
        pages += 1;
        match next {
            Some(c) if pages < args.pages_max => cursor = Some(c),
            _ => break,
        }
    }
    let line = serde_json::json!({
        "bench": "timeline",
        "limit": args.limit,
        "first_page_p50_ms": round3(first.percentile(50.0)),
        "first_page_p99_ms": round3(first.percentile(99.0)),
        "page_p50_ms": round3(walking.percentile(50.0)),
        "page_p99_ms": round3(walking.percentile(99.0)),
        "pages": pages,
        "events": events,
        "walk_seconds": round3(walk_started.elapsed().as_secs_f64()),
    });
    println!("{line}");
    Ok(())
}
