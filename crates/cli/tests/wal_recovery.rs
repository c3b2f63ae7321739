//! WAL recovery at the binary level. Events are ingested with a long flush interval and the
//! server is SIGKILLed, so they live only in the WAL (DATA/tenants/<t>/wal/*.wal, layout in
//! crates/wal/format.md). Then:
//!
//! (a) garbage appended to the last WAL file, and later the last file cut in the middle of its
//!     last frame: the server starts, logs a torn-tail warning naming the file, truncates it, and
//!     every acknowledged event before the torn frame is readable (the torn frame's are not, and
//!     can be sent again as new events);
//! (b) one byte flipped inside an early frame's payload of a file with later frames: the server
//!     starts, that tenant answers 503 `tenant_unavailable` and `/readyz` names it, the log names
//!     the WAL file and the frame's byte offset, and the file is left as found;
//! (c) one bit flipped in the last (complete) frame of the last file: the same refusal, the log
//!     naming the lsns at stake, never a torn tail dropped with a warning; with the bytes
//!     restored, the server starts and everything is there (corruption is refused, not
//!     "repaired" by throwing data away).

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

const TENANT: &str = "walrus";
const USER: &str = "wal-user@example.org";
/// No flush during the test: every event stays in the WAL.
const SERVE_ARGS: [&str; 2] = ["--flush-interval-ms", "600000"];

fn request_events(request: usize) -> Vec<Value> {
    (0..3)
        .map(|i| {
            let n = request * 3 + i;
            play_event(
                &format!("w-{request:02}-{i}"),
                USER,
                &time_at(n as i64 * 1_000_000),
                &format!("w{n}@mail.example"),
                &format!("track-{n}"),
                n as i64,
            )
        })
        .collect()
}

/// The opened timeline of USER as a map by event id.
fn visible(server: &Server, keys: &TenantKeys, subject: &str) -> BTreeMap<String, Value> {
    let (events, _) = timeline_all(&server.api(), &keys.privacy_officer, TENANT, subject, 1000);
    let map: BTreeMap<String, Value> = events
        .iter()
        .map(|e| (e["event_id"].as_str().unwrap().to_owned(), e.clone()))
        .collect();
    assert_eq!(map.len(), events.len(), "no event twice");
    map
}

fn assert_requests_visible(
    map: &BTreeMap<String, Value>,
    requests: impl IntoIterator<Item = usize>,
    what: &str,
) {
    for r in requests {
        for e in request_events(r) {
            let got = map
                .get(e["event_id"].as_str().unwrap())
                .unwrap_or_else(|| panic!("{what}: acknowledged {} missing", e["event_id"]));
            assert_eq!(
                got["properties"]["email"], e["properties"]["email"],
                "{what}: {}",
                e["event_id"]
            );
            assert_eq!(got["properties"]["track_id"], e["properties"]["track_id"]);
        }
    }
}

/// The server runs, the damaged tenant answers 503 `tenant_unavailable`, `/readyz` names it,
/// and the log names the WAL file and the bad frame's offset.
fn assert_tenant_refused(server: &Server, keys: &TenantKeys, name: &str, offset: usize) {
    let api = server.api();
    api.post(
        &format!("/v1/tenants/{TENANT}/events"),
        Some(&keys.writer),
        &Value::Array(request_events(20)),
    )
    .expect_problem(
        503,
        "tenant_unavailable",
        "ingest into a tenant with a corrupted WAL",
    );
    let ready = api
        .get("/readyz", None)
        .expect(200, "ready for other tenants");
    assert_eq!(
        ready.body["unavailable_tenants"][0], TENANT,
        "{}",
        ready.text
    );
    let log = strip_ansi(&server.stderr());
    assert!(
        log.contains(name),
        "the log names the WAL file {name}:\n{log}"
    );
    assert!(
        log.contains(&format!("offset {offset}")) || log.contains(&format!("offset={offset}")),
        "the log gives the byte offset {offset} of the bad frame:\n{log}"
    );
}

fn last_wal(data: &std::path::Path) -> PathBuf {
    wal_files(data, TENANT).pop().expect("a WAL file")
}

#[test]
fn torn_tails_are_cut_and_corruption_is_refused() {
    let started = Instant::now();
    let mut deployment = Deployment::init();
    let server = deployment.start(&SERVE_ARGS);
    let api = server.api();
    let keys = tenant_with_keys(&api, &deployment.operator_key, TENANT);
    put_schema(&api, &keys.admin, TENANT, "play", &play_schema());
    let subject = resolve(&api, &keys.reader, TENANT, USER);
    // Sequential requests: one WAL frame each.
    for r in 0..6 {
        assert_eq!(
            ingest(&api, &keys.writer, TENANT, &request_events(r))["accepted"],
            3
        );
    }
    server.kill();

    // --- (a1) garbage after the last frame
    let wal = last_wal(&deployment.data);
    let clean = std::fs::read(&wal).unwrap();
    let frames = wal_frames(&clean);
    assert_eq!(
        frames.len(),
        6,
        "six requests, six frames in {}",
        wal.display()
    );
    assert_eq!(
        frames.last().map(|f| f.offset + f.len),
        Some(clean.len()),
        "the frames fill the file"
    );
    let mut garbage: Vec<u8> = random_hex(100).into_bytes();
    garbage.splice(0..0, [0x46, 0x4C, 0x41]); // "FLA": almost a frame magic
    let mut torn = clean.clone();
    torn.extend_from_slice(&garbage);
    std::fs::write(&wal, &torn).unwrap();
    let server = deployment.start(&SERVE_ARGS);
    let log = server.stderr();
    let name = wal.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        log.to_lowercase().contains("torn") && log.contains(&name),
        "a torn-tail warning naming {name}:\n{log}"
    );
    assert_eq!(
        std::fs::read(&wal).unwrap(),
        clean,
        "the garbage was cut off, nothing else"
    );
    let map = visible(&server, &keys, &subject);
    assert_eq!(map.len(), 18);
    assert_requests_visible(&map, 0..6, "after garbage");

    // --- (a1b) a zero-filled tail (a file extended but never written)
    server.kill();
    let mut zeros = clean.clone();
    zeros.extend_from_slice(&[0u8; 4096]);
    std::fs::write(&wal, &zeros).unwrap();
    let server = deployment.start(&SERVE_ARGS);
    assert!(
        server.stderr().to_lowercase().contains("torn"),
        "a torn-tail warning:\n{}",
        server.stderr()
    );
    assert_eq!(
        std::fs::read(&wal).unwrap(),
        clean,
        "the zeros were cut off, nothing else"
    );
    assert_requests_visible(
        &visible(&server, &keys, &subject),
        0..6,
        "after a zero tail",
    );

    // --- (a1c) a half-created next file (a crash while starting a new WAL file)
    server.kill();
    let last = *frames.last().unwrap();
    let next_lsn = last.first_lsn + last.records as u64;
    let half = wal.with_file_name(format!("{next_lsn:020}.wal"));
    std::fs::write(&half, b"STWAL\0\0\x01\x01\0\0").unwrap();
    let server = deployment.start(&SERVE_ARGS);
    assert!(
        !half.exists(),
        "a half-created last file is removed at start"
    );
    assert_eq!(std::fs::read(&wal).unwrap(), clean);
    let map = visible(&server, &keys, &subject);
    assert_eq!(map.len(), 18);
    assert_requests_visible(&map, 0..6, "after a half-created file");

    // --- (a2) the last file cut in the middle of its last frame
    let api = server.api();
    for r in 6..9 {
        assert_eq!(
            ingest(&api, &keys.writer, TENANT, &request_events(r))["accepted"],
            3
        );
    }
    server.kill();
    let wal = last_wal(&deployment.data);
    let bytes = std::fs::read(&wal).unwrap();
    let frames = wal_frames(&bytes);
    assert!(frames.len() >= 2, "{frames:?}");
    let last = *frames.last().unwrap();
    assert_eq!(last.offset + last.len, bytes.len());
    assert_eq!(last.records, 1, "one request, one record");
    std::fs::write(&wal, &bytes[..last.offset + last.len / 2]).unwrap();
    let server = deployment.start(&SERVE_ARGS);
    let log = server.stderr();
    let name = wal.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        log.to_lowercase().contains("torn") && log.contains(&name),
        "a torn-tail warning naming {name}:\n{log}"
    );
    assert!(
        log.contains(&format!("offset={}", last.offset))
            || log.contains(&format!("offset {}", last.offset)),
        "the warning gives the torn frame's offset {}:\n{log}",
        last.offset
    );
    assert_eq!(
        std::fs::metadata(&wal).unwrap().len() as usize,
        last.offset,
        "truncated at the torn frame"
    );
    let map = visible(&server, &keys, &subject);
    assert_requests_visible(&map, 0..8, "after a torn frame");
    for e in request_events(8) {
        assert!(
            !map.contains_key(e["event_id"].as_str().unwrap()),
            "the torn frame's event {} must be gone",
            e["event_id"]
        );
    }
    assert_eq!(map.len(), 24);
    // The torn frame's ids were never stored, so sending them again stores them.
    let report = ingest(&server.api(), &keys.writer, TENANT, &request_events(8));
    assert_eq!(
        (report["accepted"].as_u64(), report["duplicates"].as_u64()),
        (Some(3), Some(0)),
        "{report}"
    );
    assert_eq!(
        ingest(&server.api(), &keys.writer, TENANT, &request_events(9))["accepted"],
        3
    );
    server.kill();

    // --- (b) a flipped byte inside an early frame of a file with later frames
    let files = wal_files(&deployment.data, TENANT);
    let (wal, bytes, frames) = files
        .iter()
        .map(|f| {
            let b = std::fs::read(f).unwrap();
            let fr = wal_frames(&b);
            (f.clone(), b, fr)
        })
        .max_by_key(|(_, _, fr)| fr.len())
        .unwrap();
    assert!(frames.len() >= 3, "{frames:?}");
    let victim = frames[1];
    // Inside the record payload: past the 24-byte frame header and the 4-byte record length.
    let at = victim.offset + 28 + (victim.len - 28) / 2;
    let mut flipped = bytes.clone();
    flipped[at] ^= 0x20;
    std::fs::write(&wal, &flipped).unwrap();
    let server = deployment.start(&SERVE_ARGS);
    let name = wal.file_name().unwrap().to_string_lossy().into_owned();
    assert_tenant_refused(&server, &keys, &name, victim.offset);
    assert!(server.terminate().success());
    assert_eq!(
        std::fs::read(&wal).unwrap(),
        flipped,
        "a refused tenant leaves the WAL as it found it"
    );

    // --- (c) one bit flipped in the last frame of the last file: a frame written whole (its
    // length fits the file) was acknowledged; it is not a torn write and is not dropped.
    std::fs::write(&wal, &bytes).unwrap();
    let files = wal_files(&deployment.data, TENANT);
    let last_file = files.last().unwrap().clone();
    let last_bytes = std::fs::read(&last_file).unwrap();
    let last_frames = wal_frames(&last_bytes);
    let last = *last_frames.last().unwrap();
    assert_eq!(last.offset + last.len, last_bytes.len());
    let mut flipped_last = last_bytes.clone();
    flipped_last[last.offset + 28 + (last.len - 28) / 2] ^= 0x04;
    std::fs::write(&last_file, &flipped_last).unwrap();
    let server = deployment.start(&SERVE_ARGS);
    let name = last_file
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_tenant_refused(&server, &keys, &name, last.offset);
    let log = strip_ansi(&server.stderr());
    assert!(
        log.contains(&format!(
            "lsns {}..={}",
            last.first_lsn,
            last.first_lsn + u64::from(last.records) - 1
        )),
        "the log names the lsns at stake:\n{log}"
    );
    assert!(server.terminate().success());
    assert_eq!(
        std::fs::read(&last_file).unwrap(),
        flipped_last,
        "the damaged last frame is kept"
    );
    std::fs::write(&last_file, &last_bytes).unwrap();

    // Restored, everything is back.
    std::fs::write(&wal, &bytes).unwrap();
    let server = deployment.start(&SERVE_ARGS);
    let map = visible(&server, &keys, &subject);
    assert_requests_visible(&map, 0..10, "after restoring the byte");
    assert_eq!(map.len(), 30);
    let status = server.terminate();
    assert!(status.success(), "graceful stop: {status}");
    let server = deployment.start(&SERVE_ARGS);
    assert_eq!(
        visible(&server, &keys, &subject).len(),
        30,
        "after a flush at shutdown"
    );
    assert!(server.terminate().success());
    eprintln!("wal_recovery took {:?}", started.elapsed());
}
