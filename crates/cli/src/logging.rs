//! Structured logs to stderr through tracing (RUST_LOG picks the level; default info).
//!
//! Libraries that print what a request sent at their debug level (the SQL parser and planner
//! print the statement, its identifiers and literals) are held at `info` unless RUST_LOG names
//! them itself: errors never echo values, and a log line is an error's second audience.

/// Targets held at `info` whatever the global level, unless RUST_LOG names them.
const QUIET_TARGETS: [&str; 3] = ["sqlparser", "datafusion", "cedar_policy"];

pub fn init(format: &str) {
    let spec = std::env::var("RUST_LOG").unwrap_or_default();
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    for target in QUIET_TARGETS {
        if !spec.contains(target)
            && let Ok(directive) = format!("{target}=info").parse()
        {
            filter = filter.add_directive(directive);
        }
    }
    // Colour only on a terminal: log files and pipes must stay greppable.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    if format == "json" {
        let _ = builder.json().try_init();
    } else {
        let _ = builder.try_init();
    }
}
