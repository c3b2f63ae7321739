//! `steward-bench`: whole-system durable-ingest benchmarks (in-process and over HTTP NDJSON),
//! HTTP ingest with authorization and audit on against off (`http-guard`), erasure, and SQL
//! analytics queries against DuckDB on the same rows (`sql`), ingest while heavy queries run
//! (`contention`), timeline page latency (`timeline`), and request/answer load against any
//! HTTP JSON endpoint (`serve-load`: recommendations, Steward against a Python peer).
//!
//! Each subcommand prints one JSON line on stdout (progress goes to stderr), so
//! `bench/ingest.sh` can collect, compare and take medians. Micro benchmarks of the parts
//! (WAL append, sealing, pseudonyms, validation, batch encoding) are Criterion benches in
//! `benches/`: `cargo bench -p steward-bench`.

mod contention;
mod erasure;
mod http;
mod http_guard;
mod inproc;
mod serve_load;
mod soak;
mod sql;
mod stats;
mod timeline;

use clap::{Parser, Subcommand};
use std::fmt::Display;
use std::process::ExitCode;

/// The same allocator as the `steward` binary, so in-process numbers match the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "steward-bench",
    about = "Steward durable-ingest benchmarks; one JSON line per run"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Ingest generated events through the engine API (W writer threads, batches of B).
    Inproc(inproc::InprocArgs),
    /// POST an NDJSON file to a running server (C connections, B events per request).
    Http(http::HttpArgs),
    /// HTTP ingest with authorization and audit on and off, served in this process, alternating.
    HttpGuard(http_guard::HttpGuardArgs),
    /// Erasure: shred latency, purge of a heavy subject, a batch of subjects.
    Erasure(erasure::ErasureArgs),
    /// SQL: five analytics queries through steward-query, and the same rows as Parquet for DuckDB.
    Sql(sql::SqlArgs),
    /// HTTP ingest and /healthz latency while heavy SQL queries run on the same server.
    Contention(contention::ContentionArgs),
    /// Timeline page latency of one subject over HTTP (first page, and the whole walk).
    Timeline(timeline::TimelineArgs),
    /// POST JSON request bodies (an NDJSON file, cycled) to any HTTP endpoint: closed loop, or
    /// open loop at `--rate` with latency from the due time (serving: Steward against a peer).
    ServeLoad(serve_load::ServeLoadArgs),
    /// Mixed traffic (ingest, timelines, SQL, recommendations, consent changes, erasures) at a
    /// fixed rate against a server it starts; RSS sampled; acknowledged events read back.
    Soak(soak::SoakArgs),
}

/// Why a run failed; printed on stderr, exit status 1.
#[derive(Debug)]
pub struct Failed(pub String);

impl Failed {
    pub fn io(what: impl Display) -> impl FnOnce(std::io::Error) -> Failed {
        move |e| Failed(format!("{what}: {e}"))
    }

    pub fn engine(what: &'static str) -> impl FnOnce(steward_engine::EngineError) -> Failed {
        move |e| Failed(format!("{what}: {e}"))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inproc(args) => inproc::run(args),
        Command::Http(args) => http::run(args),
        Command::HttpGuard(args) => http_guard::run(args),
        Command::Erasure(args) => erasure::run(args),
        Command::Sql(args) => sql::run(args),
        Command::Contention(args) => contention::run(args),
        Command::Timeline(args) => timeline::run(args),
        Command::ServeLoad(args) => serve_load::run(args),
        Command::Soak(args) => soak::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failed(message)) => {
            eprintln!("steward-bench: FAILED: {message}");
            ExitCode::FAILURE
        }
    }
}
