//! A bounded stable-Rust run of the `sql_plan` fuzz target (the same per-input check as
//! `fuzz/fuzz_targets/sql_plan.rs`, which needs nightly and cargo-fuzz): SQL built from a
//! seeded grammar of the demo views' columns, functions, operators, literals and clauses, and
//! seeded mutations of it, through the whole planner and bounded execution for
//! `STEWARD_FUZZ_SECONDS` (default 5). Prints the figures; fails on a panic or overflow.

#[path = "../../../fuzz/harness/sql_plan.rs"]
mod harness;

use harness::sql_plan;

#[path = "../../../fuzz/harness/smoke.rs"]
mod smoke;

use smoke::{Rng, mutate};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const COLUMNS: [&str; 8] = [
    "event_id",
    "type",
    "subject",
    "time",
    "track_id",
    "ms_played",
    "email",
    "*",
];
const TABLES: [&str; 4] = ["play", "events", "subjects", "nope"];
const LITERALS: [&str; 14] = [
    "1",
    "0",
    "-1",
    "2147483647",
    "9223372036854775807",
    "1e308",
    "'x'",
    "''",
    "'é'",
    "NULL",
    "true",
    "INTERVAL '0 minutes'",
    "TIMESTAMP '2026-11-22 10:00:00'",
    "'2026-13-45'",
];
const FUNCTIONS: [&str; 24] = [
    "repeat",
    "lpad",
    "rpad",
    "replace",
    "regexp_replace",
    "concat",
    "concat_ws",
    "overlay",
    "translate",
    "chr",
    "make_date",
    "to_timestamp",
    "date_bin",
    "date_trunc",
    "length",
    "upper",
    "substr",
    "abs",
    "coalesce",
    "count",
    "sum",
    "max",
    "string_agg",
    "array_agg",
];
const OPERATORS: [&str; 14] = [
    "+",
    "-",
    "*",
    "/",
    "%",
    "||",
    "=",
    "<>",
    "<",
    ">=",
    " AND ",
    " OR ",
    " LIKE ",
    " IS DISTINCT FROM ",
];

fn expr(rng: &mut Rng, depth: usize) -> String {
    if depth == 0 || rng.below(4) == 0 {
        return if rng.below(2) == 0 {
            rng.pick(&COLUMNS[..7]).to_owned()
        } else {
            rng.pick(&LITERALS).to_owned()
        };
    }
    match rng.below(8) {
        0..=2 => {
            let f = rng.pick(&FUNCTIONS);
            let args: Vec<String> = (0..rng.below(4)).map(|_| expr(rng, depth - 1)).collect();
            format!("{f}({})", args.join(", "))
        }
        3 | 4 => format!(
            "{} {} {}",
            expr(rng, depth - 1),
            rng.pick(&OPERATORS),
            expr(rng, depth - 1)
        ),
        5 => format!("({})", expr(rng, depth - 1)),
        6 => format!(
            "CASE WHEN {} THEN {} ELSE {} END",
            expr(rng, depth - 1),
            expr(rng, depth - 1),
            expr(rng, depth - 1)
        ),
        _ => format!(
            "CAST({} AS {})",
            expr(rng, depth - 1),
            rng.pick(&[
                "INT",
                "BIGINT",
                "TINYINT",
                "DOUBLE",
                "VARCHAR",
                "DATE",
                "TIMESTAMP"
            ])
        ),
    }
}

fn statement(rng: &mut Rng) -> String {
    let mut sql = format!(
        "SELECT {}",
        (0..1 + rng.below(3))
            .map(|_| expr(rng, 4))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if rng.below(5) != 0 {
        sql += &format!(" FROM {}", rng.pick(&TABLES));
        if rng.below(3) == 0 {
            sql += &format!(" JOIN {} USING (subject)", rng.pick(&TABLES));
        }
    }
    if rng.below(2) == 0 {
        sql += &format!(" WHERE {}", expr(rng, 3));
    }
    if rng.below(3) == 0 {
        sql += &format!(" GROUP BY {}", rng.pick(&COLUMNS[..7]));
    }
    if rng.below(3) == 0 {
        sql += &format!(
            " ORDER BY 1 LIMIT {}",
            rng.pick(&["0", "1", "10", "-1", "99999999999"])
        );
    }
    match rng.below(12) {
        0 => format!("{sql} UNION ALL {}", statement(rng)),
        1 => format!("SELECT * FROM ({sql}) AS s"),
        2 => format!("EXPLAIN {sql}"),
        3 => format!("{sql}; DROP TABLE play"),
        4 => format!("SELECT {} AS n", vec!["1"; 900 + rng.below(200)].join("+")),
        5 => format!(
            "SELECT {}1{}",
            "(".repeat(25 + rng.below(15)),
            ")".repeat(25 + rng.below(15))
        ),
        _ => sql,
    }
}

#[test]
fn sql_plan_smoke() {
    let seconds = std::env::var("STEWARD_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let seed = std::env::var("STEWARD_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_5041);
    let mut rng = Rng(seed | 1);
    let (started, mut execs, mut outcomes) = (Instant::now(), 0u64, BTreeMap::<&str, u64>::new());
    while started.elapsed() < Duration::from_secs(seconds) {
        let sql = statement(&mut rng);
        let input = if rng.below(3) == 0 {
            mutate(&mut rng, &sql, 16, b"()'\",;+-*/ x0\\$")
        } else {
            sql.into_bytes()
        };
        *outcomes.entry(sql_plan(&input)).or_default() += 1;
        execs += 1;
    }
    eprintln!(
        "sql_plan smoke: seed {seed}, {execs} inputs in {:.1} s, 0 crashes; outcomes {outcomes:?}",
        started.elapsed().as_secs_f64()
    );
    assert!(execs > 0);
}
