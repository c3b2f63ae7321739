//! Connections with limits, over real sockets: header-read, idle and body timeouts, the cap on
//! open connections with its 503 refusal, and the descriptor budget.

use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};
use steward_engine::{Engine, EngineConfig};
use steward_server::limits::ConnectionLimits;

struct Running {
    _dir: tempfile::TempDir,
    addr: SocketAddr,
    writer: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn start(limits: ConnectionLimits) -> Running {
    let dir = tempfile::tempdir().unwrap();
    steward_engine::init(dir.path()).unwrap();
    let mut config = EngineConfig::new(dir.path());
    config.background = false;
    let engine = Engine::open(config).unwrap();
    engine.create_tenant("acme").unwrap();
    let schema =
        json!({"fields": {"track_id": {"type": "string", "class": "public", "required": true}}});
    engine.put_schema("acme", "play", &schema).unwrap();
    let (_, writer) = engine
        .create_key(
            "acme",
            steward_engine::NewKey::new("w", steward_access::Role::Writer),
        )
        .unwrap();
    let options = steward_server::ServerOptions {
        connections: limits,
        ..Default::default()
    };
    let state = steward_server::AppState::with_options(Arc::clone(&engine), options);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (bound_tx, bound_rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            bound_tx.send(listener.local_addr().unwrap()).unwrap();
            steward_server::serve(state, listener, async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
    });
    let addr = bound_rx.recv().unwrap();
    Running {
        _dir: dir,
        addr,
        writer,
        stop: Some(stop),
        thread: Some(thread),
    }
}

fn limits(header_ms: u64, idle_ms: u64, body_ms: u64, connections_max: usize) -> ConnectionLimits {
    ConnectionLimits {
        header_read_timeout: Duration::from_millis(header_ms),
        idle_timeout: Duration::from_millis(idle_ms),
        body_read_timeout: Duration::from_millis(body_ms),
        connections_max,
        fds_reserved: 64,
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// Reads until the server closes the connection; the bytes and how long it took. Fails when
/// the server keeps the connection open for 10 s.
fn read_to_close(stream: &mut TcpStream) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (bytes, started.elapsed()),
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return (bytes, started.elapsed());
            }
            Err(e) => panic!(
                "the server kept the connection open: {e} after {:?}; read {:?}",
                started.elapsed(),
                String::from_utf8_lossy(&bytes)
            ),
        }
    }
}

/// Reads one response with a content-length body; returns the head and the body.
fn read_response(stream: &mut TcpStream) -> (String, Vec<u8>) {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&bytes[..end]).to_string();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            while bytes.len() < end + 4 + length {
                let n = stream.read(&mut buf).unwrap();
                assert!(n > 0, "closed in the middle of a response");
                bytes.extend_from_slice(&buf[..n]);
            }
            return (head, bytes[end + 4..end + 4 + length].to_vec());
        }
        let n = stream.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "closed before a response: {:?}",
            String::from_utf8_lossy(&bytes)
        );
        bytes.extend_from_slice(&buf[..n]);
    }
}

fn status_of(head: &str) -> u16 {
    head.split(' ').nth(1).unwrap().parse().unwrap()
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n";

#[test]
fn a_connection_that_sends_nothing_or_an_unfinished_head_is_closed_after_the_header_timeout() {
    let server = start(limits(400, 5_000, 5_000, 64));
    // Nothing at all.
    let mut silent = connect(server.addr);
    let (_, took) = read_to_close(&mut silent);
    assert!(took < Duration::from_secs(3), "closed after {took:?}");
    // A head trickled and never finished (slowloris): the timeout counts from its first byte.
    let mut slow = connect(server.addr);
    slow.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
        .unwrap();
    let started = Instant::now();
    for _ in 0..4 {
        std::thread::sleep(Duration::from_millis(150));
        if slow.write_all(b"x-pad: 1\r\n").is_err() {
            break;
        }
    }
    let (bytes, _) = read_to_close(&mut slow);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "closed after {:?}",
        started.elapsed()
    );
    assert!(
        bytes.is_empty(),
        "a timed-out head is closed without an answer: {:?}",
        String::from_utf8_lossy(&bytes)
    );
}

#[test]
fn an_idle_keep_alive_connection_lives_for_the_idle_timeout_and_no_longer() {
    let server = start(limits(300, 1_500, 5_000, 64));
    let mut stream = connect(server.addr);
    stream.write_all(HEALTHZ).unwrap();
    let (head, _) = read_response(&mut stream);
    assert_eq!(status_of(&head), 200);
    // Idle for longer than the header timeout, shorter than the idle timeout: still served.
    std::thread::sleep(Duration::from_millis(700));
    stream.write_all(HEALTHZ).unwrap();
    let (head, _) = read_response(&mut stream);
    assert_eq!(
        status_of(&head),
        200,
        "an idle connection is kept for the idle timeout"
    );
    let (_, took) = read_to_close(&mut stream);
    assert!(
        took >= Duration::from_millis(1_200) && took < Duration::from_secs(4),
        "closed after {took:?}"
    );
}

#[test]
fn a_trickling_body_is_answered_408_and_the_connection_closed() {
    let server = start(limits(2_000, 10_000, 500, 64));
    let mut stream = connect(server.addr);
    let head = format!(
        "POST /v1/tenants/acme/events HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n",
        server.writer
    );
    stream.write_all(head.as_bytes()).unwrap();
    let started = Instant::now();
    stream.write_all(b"[{\"event_id\":").unwrap();
    // A byte every 100 ms: the body keeps the server waiting well past 500 ms in total.
    let mut answer = Vec::new();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 4096];
    while started.elapsed() < Duration::from_secs(8) {
        let _ = stream.write_all(b" ");
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&answer).to_string();
    assert!(
        text.starts_with("HTTP/1.1 408"),
        "expected 408, got {text:?} after {:?}",
        started.elapsed()
    );
    assert!(
        text.to_ascii_lowercase()
            .contains("content-type: application/problem+json"),
        "{text}"
    );
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
    let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
    let problem: Value = serde_json::from_str(body).unwrap();
    assert_eq!(problem["code"], "body_timeout");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "answered after {:?}",
        started.elapsed()
    );
}

#[test]
fn a_body_that_keeps_coming_is_not_cut_off() {
    // 200 KB at 64 KiB a piece with pauses below the timeout: complete, so not a 408.
    let server = start(limits(2_000, 10_000, 700, 64));
    let events: Vec<Value> = (0..2_000)
        .map(|i| json!({"event_id": format!("e-{i}"), "type": "play", "subject": "u-1", "time": "2026-11-22T10:00:00Z", "properties": {"track_id": format!("track-{i:060}")}}))
        .collect();
    let body = serde_json::to_vec(&events).unwrap();
    assert!(body.len() > 150_000);
    let mut stream = connect(server.addr);
    let head = format!(
        "POST /v1/tenants/acme/events HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        server.writer,
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    for piece in body.chunks(64 * 1024) {
        stream.write_all(piece).unwrap();
        std::thread::sleep(Duration::from_millis(400));
    }
    let (head, body) = read_response(&mut stream);
    assert_eq!(
        status_of(&head),
        200,
        "{head} {}",
        String::from_utf8_lossy(&body)
    );
}

#[test]
fn connections_over_the_cap_get_503_with_retry_after_and_a_freed_slot_is_reused() {
    let server = start(limits(5_000, 10_000, 5_000, 2));
    let mut held: Vec<TcpStream> = (0..2).map(|_| connect(server.addr)).collect();
    for stream in &mut held {
        stream.write_all(HEALTHZ).unwrap();
        let (head, _) = read_response(stream);
        assert_eq!(status_of(&head), 200);
    }
    let mut third = connect(server.addr);
    let _ = third.write_all(HEALTHZ);
    let (bytes, _) = read_to_close(&mut third);
    let text = String::from_utf8_lossy(&bytes).to_string();
    assert!(text.starts_with("HTTP/1.1 503"), "{text:?}");
    let lower = text.to_ascii_lowercase();
    assert!(
        lower.contains("retry-after: 1")
            && lower.contains("content-type: application/problem+json"),
        "{text}"
    );
    let problem: Value = serde_json::from_str(&text[text.find("\r\n\r\n").unwrap() + 4..]).unwrap();
    assert_eq!(problem["code"], "too_many_connections");
    assert_eq!(problem["status"], 503);

    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut next = connect(server.addr);
        let _ = next.write_all(HEALTHZ);
        let (head, _) = read_response(&mut next);
        if status_of(&head) == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the freed slot was never reused");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_descriptor_budget_keeps_the_reserve_free() {
    let limits = ConnectionLimits {
        connections_max: 4_096,
        fds_reserved: 1_024,
        ..ConnectionLimits::default()
    };
    // Plenty: the configured cap.
    let plenty = steward_server::fd_budget(&limits, Some(1 << 20), 100);
    assert_eq!(
        (plenty.connections_max, plenty.reserve_short),
        (4_096, false)
    );
    // Tight: open + reserve + refusals + connections fit the soft limit exactly.
    let tight = steward_server::fd_budget(&limits, Some(2_000), 100);
    assert_eq!(
        tight.connections_max,
        2_000 - 100 - 1_024 - steward_server::limits::REFUSALS_IN_FLIGHT_MAX
    );
    assert!(!tight.reserve_short);
    // Too low for the reserve: a quarter of what is free, and said so.
    let short = steward_server::fd_budget(&limits, Some(1_024), 24);
    assert_eq!((short.connections_max, short.reserve_short), (250, true));
    // Unknown limit: the configuration alone.
    assert_eq!(
        steward_server::fd_budget(&limits, None, 10).connections_max,
        4_096
    );
}

#[cfg(target_os = "linux")]
#[test]
fn the_soft_descriptor_limit_is_raised_to_the_hard_one() {
    let soft = steward_server::raise_fd_limit().unwrap();
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (now_soft, hard) = (fields[3], fields[4]);
    assert_eq!(now_soft, hard, "{line}");
    if hard != "unlimited" {
        assert_eq!(soft, hard.parse::<u64>().unwrap());
    }
}
