//! Shared harness of the binary-level tests: a data directory made by the real `steward init`,
//! the real `steward serve` spawned on 127.0.0.1:0 (address read from its stdout, stderr captured
//! to a file for log scanning, killed on drop), a tiny JSON client over ureq, and helpers for the
//! tenant / key / schema set-up every test needs.
//!
//! Every wait has a deadline; debug builds are slow, so the deadlines are generous.

#![allow(dead_code)]

pub mod routes;

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long `steward serve` may take to print its address (it replays WALs first).
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a stopped server may take to exit (graceful shutdown flushes every tenant).
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(90);
/// One HTTP exchange, end to end.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(60);

pub const ROLES: [&str; 4] = ["admin", "writer", "reader", "privacy_officer"];

/// The models directory the servers tests start use: `$STEWARD_MODELS`, else the repository's
/// `models/` (what `scripts/models.sh` fills).
pub fn models_root() -> PathBuf {
    match std::env::var_os("STEWARD_MODELS") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models"),
    }
}

pub fn steward_bin() -> &'static str {
    env!("CARGO_BIN_EXE_steward")
}

/// A data directory made by `steward init`, inside a temporary root that also holds the
/// server logs (outside the data directory, so scans of the data directory are exact).
pub struct Deployment {
    root: tempfile::TempDir,
    pub data: PathBuf,
    pub logs: PathBuf,
    pub operator_key: String,
    /// RUST_LOG for servers started from here (None: the binary's default, info).
    pub rust_log: Option<String>,
    /// Further environment of servers started from here (fault injection).
    pub env: Vec<(String, String)>,
    starts: usize,
}

/// Why `steward serve` did not come up.
#[derive(Debug)]
pub struct StartFailure {
    pub status: Option<ExitStatus>,
    pub stderr: String,
    pub stderr_path: PathBuf,
}

impl Deployment {
    pub fn init() -> Deployment {
        let root = tempfile::Builder::new()
            .prefix("steward-it-")
            .tempdir()
            .expect("temp dir");
        let data = root.path().join("data");
        let logs = root.path().join("logs");
        std::fs::create_dir_all(&logs).expect("logs dir");
        let out = Command::new(steward_bin())
            .args(["init", "--data"])
            .arg(&data)
            .arg("--json")
            .output()
            .expect("run steward init");
        assert!(
            out.status.success(),
            "steward init failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with('{'))
            .unwrap_or_else(|| panic!("no JSON from init: {stdout}"));
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("init printed {line:?}: {e}"));
        let operator_key = v["operator_key"].as_str().expect("operator_key").to_owned();
        assert!(!operator_key.is_empty());
        assert!(
            v["data_dir"].as_str().is_some(),
            "init --json names the data dir: {v}"
        );
        Deployment {
            root,
            data,
            logs,
            operator_key,
            rust_log: None,
            env: Vec::new(),
            starts: 0,
        }
    }

    /// A deployment whose data directory does not exist yet (a restore makes it), served with
    /// `operator_key` (the restored system catalog's).
    pub fn empty(operator_key: &str) -> Deployment {
        let root = tempfile::Builder::new()
            .prefix("steward-it-")
            .tempdir()
            .expect("temp dir");
        let logs = root.path().join("logs");
        std::fs::create_dir_all(&logs).expect("logs dir");
        Deployment {
            data: root.path().join("data"),
            root,
            logs,
            operator_key: operator_key.to_owned(),
            rust_log: None,
            env: Vec::new(),
            starts: 0,
        }
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// Starts `steward serve` and waits for its address; panics if it does not come up.
    pub fn start(&mut self, extra_args: &[&str]) -> Server {
        match self.try_start(extra_args) {
            Ok(server) => server,
            Err(failure) => panic!(
                "steward serve did not start ({:?}); stderr:\n{}",
                failure.status, failure.stderr
            ),
        }
    }

    /// Starts `steward serve`; `Err` when the process exits before printing its address.
    pub fn try_start(&mut self, extra_args: &[&str]) -> Result<Server, StartFailure> {
        self.starts += 1;
        let stderr_path = self.logs.join(format!("serve-{:03}.stderr", self.starts));
        let stderr_file = std::fs::File::create(&stderr_path).expect("stderr log file");
        let mut command = Command::new(steward_bin());
        command
            .args(["serve", "--data"])
            .arg(&self.data)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra_args)
            // The embedding and generation models (scripts/models.sh), unless a test names them.
            .env("STEWARD_MODELS", models_root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr_file));
        match &self.rust_log {
            Some(level) => {
                command.env("RUST_LOG", level);
            }
            None => {
                command.env_remove("RUST_LOG");
            }
        }
        command.env_remove("STEWARD_FAULT_PANIC");
        for (name, value) in &self.env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("spawn steward serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel::<String>();
        // Reads the address line, then drains stdout until the process closes it.
        let reader = std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let mut sent = false;
            while let Some(Ok(line)) = lines.next() {
                if !sent
                    && let Some(addr) = line.trim().strip_prefix("steward listening on http://")
                {
                    let _ = tx.send(addr.to_owned());
                    sent = true;
                }
            }
        });
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(addr) => {
                    let addr: SocketAddr = addr
                        .parse()
                        .unwrap_or_else(|e| panic!("bad address {addr:?}: {e}"));
                    return Ok(Server {
                        child: Some(child),
                        addr,
                        stderr_path,
                        _reader: Some(reader),
                    });
                }
                Err(mpsc::RecvTimeoutError::Timeout)
                | Err(mpsc::RecvTimeoutError::Disconnected) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        let _ = reader.join();
                        // The line may have raced with the exit.
                        if let Ok(addr) = rx.try_recv() {
                            panic!("steward serve printed {addr} and exited at once with {status}");
                        }
                        return Err(StartFailure {
                            status: Some(status),
                            stderr: read_log(&stderr_path),
                            stderr_path,
                        });
                    }
                    if Instant::now() > deadline {
                        let _ = child.kill();
                        let _ = child.wait();
                        return Err(StartFailure {
                            status: None,
                            stderr: read_log(&stderr_path),
                            stderr_path,
                        });
                    }
                }
            }
        }
    }

    /// Every server log captured so far.
    pub fn log_files(&self) -> Vec<PathBuf> {
        files_under(&self.logs)
    }
}

/// A running `steward serve`; SIGKILLed on drop if still running.
pub struct Server {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub stderr_path: PathBuf,
    _reader: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn api(&self) -> Api {
        Api::new(&self.base())
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// The server's log so far, without colour sequences.
    pub fn stderr(&self) -> String {
        read_log(&self.stderr_path)
    }

    /// SIGTERM, then waits (bounded) for the exit; returns the exit status.
    pub fn terminate(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
        let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        assert_eq!(
            rc,
            0,
            "kill(SIGTERM) failed: {}",
            std::io::Error::last_os_error()
        );
        match wait_with_deadline(&mut child, EXIT_TIMEOUT) {
            Some(status) => status,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "steward serve did not exit within {EXIT_TIMEOUT:?} of SIGTERM; stderr:\n{}",
                    read_log(&self.stderr_path)
                );
            }
        }
    }

    /// SIGKILL (a crash: nothing is flushed), then reaps the process.
    pub fn kill(mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().expect("SIGKILL");
        let _ = child.wait();
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn wait_with_deadline(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => return None,
        }
    }
}

pub fn read_lossy(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned()
}

/// A server log as text, without ANSI colour sequences (the binary colours its logs even when
/// stderr is a file).
pub fn read_log(path: &Path) -> String {
    strip_ansi(&read_lossy(path))
}

/// Removes ANSI CSI sequences (ESC [ ... final byte).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if ('\u{40}'..='\u{7e}').contains(&c) {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Every regular file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(t) if t.is_file() => out.push(path),
                _ => {}
            }
        }
    }
    out.sort();
    out
}

/// Byte offsets of every occurrence of `needle` in `haystack`.
pub fn find_all(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return Vec::new();
    }
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// HTTP

/// One HTTP answer: status, content type and the body (JSON, or the text as a JSON string).
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub content_type: String,
    pub text: String,
    pub body: Value,
    /// The `steward-read-guard` header: the purpose a route returning event data read under.
    pub read_guard: Option<String>,
}

impl Resp {
    /// Panics with the whole answer unless the status is `want`.
    pub fn expect(self, want: u16, what: &str) -> Resp {
        assert_eq!(
            self.status, want,
            "{what}: expected {want}, got {} {}",
            self.status, self.text
        );
        self
    }

    /// Asserts a problem+json answer with this status and code.
    pub fn expect_problem(self, want: u16, code: &str, what: &str) -> Resp {
        assert_eq!(
            self.status, want,
            "{what}: expected {want} {code}, got {} {}",
            self.status, self.text
        );
        assert_problem_shape(&self, what);
        assert_eq!(self.body["code"], code, "{what}: code of {}", self.text);
        self
    }
}

/// A problem answer: content type application/problem+json, a string `code`, status in the body.
pub fn assert_problem_shape(resp: &Resp, what: &str) {
    assert!(
        resp.content_type.starts_with("application/problem+json"),
        "{what}: problem content type, got {:?} ({} {})",
        resp.content_type,
        resp.status,
        resp.text
    );
    assert!(
        resp.body["code"].as_str().is_some_and(|c| !c.is_empty()),
        "{what}: problem has a code: {}",
        resp.text
    );
    assert_eq!(
        resp.body["status"], resp.status,
        "{what}: problem status field: {}",
        resp.text
    );
}

/// A tiny JSON client over ureq: statuses are answers, not errors.
#[derive(Clone)]
pub struct Api {
    agent: ureq::Agent,
    pub base: String,
}

impl Api {
    pub fn new(base: &str) -> Api {
        // No connection reuse: the server closes a connection after answering an error
        // before reading the request body, and a pooled connection can race that close
        // ("Peer disconnected" on the next request). Fresh connections make tests exact.
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(HTTP_TIMEOUT))
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            .build();
        Api {
            agent: config.into(),
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    pub fn get(&self, path: &str, key: Option<&str>) -> Resp {
        self.request("GET", path, key, None)
    }

    pub fn delete(&self, path: &str, key: Option<&str>) -> Resp {
        self.request("DELETE", path, key, None)
    }

    pub fn post(&self, path: &str, key: Option<&str>, body: &Value) -> Resp {
        self.request(
            "POST",
            path,
            key,
            Some(("application/json", body.to_string().into_bytes())),
        )
    }

    pub fn put(&self, path: &str, key: Option<&str>, body: &Value) -> Resp {
        self.request(
            "PUT",
            path,
            key,
            Some(("application/json", body.to_string().into_bytes())),
        )
    }

    /// Any method, optional (content type, bytes) body; panics on a transport error.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
    ) -> Resp {
        self.try_request(method, path, key, body)
            .unwrap_or_else(|e| panic!("{method} {path}: transport error {e}"))
    }

    /// Like [`Api::request`], but a transport error (connection refused or reset) is returned.
    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Resp, ureq::Error> {
        let authorization = key.map(|k| format!("Bearer {k}"));
        self.try_request_with_authorization(method, path, authorization.as_deref(), body)
    }

    /// Like [`Api::try_request`] with the whole Authorization header value (or none).
    pub fn try_request_with_authorization(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Resp, ureq::Error> {
        let mut builder = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(value) = authorization {
            builder = builder.header("Authorization", value);
        }
        let response = match body {
            Some((content_type, bytes)) => {
                let request = builder
                    .header("Content-Type", content_type)
                    .body(bytes)
                    .expect("request");
                self.agent.run(request)
            }
            None => self.agent.run(builder.body(()).expect("request")),
        };
        let mut response = response?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let read_guard = response
            .headers()
            .get("steward-read-guard")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        // Binary answers (Parquet, Arrow) come back as lossy text: tests of those read bytes.
        let text = String::from_utf8_lossy(
            &response
                .body_mut()
                .with_config()
                .limit(256 << 20)
                .read_to_vec()?,
        )
        .into_owned();
        let body = serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone()));
        Ok(Resp {
            status,
            content_type,
            text,
            body,
            read_guard,
        })
    }
}

/// Sends a request over a raw TCP connection, writing the body from another thread and reading the
/// answer whatever happens to the write (a server may answer 413 before the body is all sent).
pub fn raw_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Resp {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(HTTP_TIMEOUT))
        .expect("read timeout");
    stream
        .set_write_timeout(Some(HTTP_TIMEOUT))
        .expect("write timeout");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut writer = stream.try_clone().expect("clone stream");
    let write = std::thread::spawn(move || {
        let _ = writer.write_all(head.as_bytes());
        let _ = writer.write_all(&body);
        let _ = writer.flush();
    });
    let mut raw = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                raw.extend_from_slice(&buf[..n]);
                if response_complete(&raw) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = write.join();
    parse_response(&raw).unwrap_or_else(|| {
        panic!(
            "no complete HTTP response to {method} {path}: {:?}",
            String::from_utf8_lossy(&raw)
        )
    })
}

fn header_end(raw: &[u8]) -> Option<usize> {
    find_all(raw, b"\r\n\r\n").first().map(|i| i + 4)
}

fn content_length(head: &str) -> Option<usize> {
    head.lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(n, _)| n.trim().eq_ignore_ascii_case("content-length"))
                .map(|(_, v)| v.trim().to_owned())
        })
        .and_then(|v| v.parse().ok())
}

fn response_complete(raw: &[u8]) -> bool {
    let Some(end) = header_end(raw) else {
        return false;
    };
    let head = String::from_utf8_lossy(&raw[..end]);
    content_length(&head).is_some_and(|n| raw.len() >= end + n)
}

fn parse_response(raw: &[u8]) -> Option<Resp> {
    let end = header_end(raw)?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let status: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
    let content_type = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(n, _)| n.trim().eq_ignore_ascii_case("content-type"))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_default();
    let body_bytes = match content_length(&head) {
        Some(n) => raw.get(end..end + n)?,
        None => &raw[end..],
    };
    let text = String::from_utf8_lossy(body_bytes).into_owned();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone()));
    Some(Resp {
        status,
        content_type,
        text,
        body,
        read_guard: None,
    })
}

// ---------------------------------------------------------------------------------------------
// Set-up helpers

/// A tenant and one key per role.
#[derive(Clone, Debug)]
pub struct TenantKeys {
    pub id: String,
    pub admin: String,
    pub writer: String,
    pub reader: String,
    pub privacy_officer: String,
    /// Key ids, by role name.
    pub key_ids: Vec<(String, String)>,
}

impl TenantKeys {
    pub fn key(&self, role: &str) -> &str {
        match role {
            "admin" => &self.admin,
            "writer" => &self.writer,
            "reader" => &self.reader,
            "privacy_officer" => &self.privacy_officer,
            other => panic!("unknown role {other}"),
        }
    }

    pub fn path(&self, rest: &str) -> String {
        format!("/v1/tenants/{}{rest}", self.id)
    }
}

/// Creates a tenant with the operator key; returns its first admin key (from the answer).
pub fn create_tenant(api: &Api, operator_key: &str, id: &str) -> Value {
    let resp = api
        .post("/v1/tenants", Some(operator_key), &json!({"id": id}))
        .expect(201, "create tenant");
    assert_eq!(resp.body["id"], id, "tenant answer: {}", resp.text);
    resp.body
}

/// Creates a key of `role` with `by` (an admin key or the operator key); returns (id, secret).
pub fn create_key(
    api: &Api,
    by: &str,
    tenant: &str,
    role: &str,
    expires_at: Option<&str>,
) -> (String, String) {
    let mut body = json!({"name": format!("test-{role}"), "role": role});
    if let Some(at) = expires_at {
        body["expires_at"] = json!(at);
    }
    let resp = api
        .post(&format!("/v1/tenants/{tenant}/keys"), Some(by), &body)
        .expect(201, "create key");
    assert_eq!(resp.body["role"], role, "key answer: {}", resp.text);
    let id = resp.body["id"].as_str().expect("key id").to_owned();
    let secret = resp.body["secret"].as_str().expect("key secret").to_owned();
    (id, secret)
}

/// Creates a key from a whole request body (purposes, rate limit...); returns (id, secret).
pub fn create_key_with(api: &Api, by: &str, tenant: &str, body: Value) -> (String, String) {
    let resp = api
        .post(&format!("/v1/tenants/{tenant}/keys"), Some(by), &body)
        .expect(201, "create key");
    (
        resp.body["id"].as_str().expect("key id").to_owned(),
        resp.body["secret"].as_str().expect("key secret").to_owned(),
    )
}

/// A tenant with a fresh key of every role, each created over the API.
pub fn tenant_with_keys(api: &Api, operator_key: &str, id: &str) -> TenantKeys {
    let created = create_tenant(api, operator_key, id);
    // The first admin key comes with the tenant; the others are made by the operator and the admin.
    let first_admin = created["admin_key"]["secret"].as_str().map(str::to_owned);
    let maker = first_admin
        .clone()
        .unwrap_or_else(|| operator_key.to_owned());
    let mut keys = Vec::new();
    for role in ROLES {
        keys.push((role.to_owned(), create_key(api, &maker, id, role, None)));
    }
    let secret = |role: &str| {
        keys.iter()
            .find(|(r, _)| r == role)
            .map(|(_, (_, s))| s.clone())
            .expect("role")
    };
    TenantKeys {
        id: id.to_owned(),
        admin: secret("admin"),
        writer: secret("writer"),
        reader: secret("reader"),
        privacy_officer: secret("privacy_officer"),
        key_ids: keys
            .iter()
            .map(|(r, (i, _))| (r.clone(), i.clone()))
            .collect(),
    }
}

/// The "play" schema of the tests: email and name personal, track_id public and required,
/// ms_played an int of at least 0.
pub fn play_schema() -> Value {
    json!({"fields": {
        "email": {"type": "string", "class": "personal"},
        "name": {"type": "string", "class": "personal"},
        "track_id": {"type": "string", "class": "public", "required": true},
        "ms_played": {"type": "int", "class": "public", "min": 0},
    }})
}

pub fn put_schema(
    api: &Api,
    admin_key: &str,
    tenant: &str,
    event_type: &str,
    document: &Value,
) -> Value {
    api.put(
        &format!("/v1/tenants/{tenant}/schemas/{event_type}"),
        Some(admin_key),
        document,
    )
    .expect(200, "put schema")
    .body
}

/// Resolves an external id to its pseudonym (64 hex digits).
pub fn resolve(api: &Api, key: &str, tenant: &str, external_id: &str) -> String {
    let resp = api
        .post(
            &format!("/v1/tenants/{tenant}/subjects/resolve"),
            Some(key),
            &json!({"external_id": external_id}),
        )
        .expect(200, "resolve");
    let subject = resp.body["subject"].as_str().expect("subject").to_owned();
    assert_eq!(subject.len(), 64, "pseudonym is 64 hex digits: {subject}");
    assert!(subject.bytes().all(|b| b.is_ascii_hexdigit()));
    subject
}

/// Ingests a JSON array; returns the answer body (status 200 asserted).
pub fn ingest(api: &Api, key: &str, tenant: &str, events: &[Value]) -> Value {
    api.post(
        &format!("/v1/tenants/{tenant}/events"),
        Some(key),
        &Value::Array(events.to_vec()),
    )
    .expect(200, "ingest")
    .body
}

/// Ingests events as an NDJSON body.
pub fn ingest_ndjson(api: &Api, key: &str, tenant: &str, events: &[Value]) -> Value {
    let body = ndjson(events);
    api.request(
        "POST",
        &format!("/v1/tenants/{tenant}/events"),
        Some(key),
        Some(("application/x-ndjson", body)),
    )
    .expect(200, "ingest ndjson")
    .body
}

pub fn ndjson(events: &[Value]) -> Vec<u8> {
    let mut body = Vec::new();
    for e in events {
        body.extend_from_slice(e.to_string().as_bytes());
        body.push(b'\n');
    }
    body
}

/// Every event of a subject's timeline read for purpose `legal` (what privacy officers and
/// admins read everything for), following cursors; `limit` per page.
pub fn timeline_all(
    api: &Api,
    key: &str,
    tenant: &str,
    subject: &str,
    limit: usize,
) -> (Vec<Value>, Value) {
    timeline_for(api, key, tenant, subject, limit, "legal")
}

/// A subject's timeline read for `analytics`: public fields and identifiers only (readers).
pub fn timeline_masked(
    api: &Api,
    key: &str,
    tenant: &str,
    subject: &str,
    limit: usize,
) -> (Vec<Value>, Value) {
    timeline_for(api, key, tenant, subject, limit, "analytics")
}

/// Every event of a subject's timeline for `purpose`, following cursors; `limit` per page.
/// Panics after too many pages (a cursor that does not advance).
pub fn timeline_for(
    api: &Api,
    key: &str,
    tenant: &str,
    subject: &str,
    limit: usize,
    purpose: &str,
) -> (Vec<Value>, Value) {
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    let mut first_page = Value::Null;
    for _ in 0..100_000 {
        let mut path = format!(
            "/v1/tenants/{tenant}/subjects/{subject}/events?purpose={purpose}&limit={limit}"
        );
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = api.get(&path, Some(key)).expect(200, "timeline page").body;
        events.extend(
            page["events"]
                .as_array()
                .expect("events array")
                .iter()
                .cloned(),
        );
        let next = page["next_cursor"].as_str().map(str::to_owned);
        if first_page.is_null() {
            first_page = page;
        }
        match next {
            Some(c) => {
                assert_ne!(Some(&c), cursor.as_ref(), "cursor must advance");
                cursor = Some(c);
            }
            None => return (events, first_page),
        }
    }
    panic!("timeline paging did not end");
}

/// An event of the "play" schema.
pub fn play_event(
    event_id: &str,
    subject: &str,
    time: &str,
    email: &str,
    track_id: &str,
    ms_played: i64,
) -> Value {
    json!({
        "event_id": event_id,
        "type": "play",
        "subject": subject,
        "time": time,
        "properties": {"email": email, "track_id": track_id, "ms_played": ms_played},
    })
}

/// RFC 3339 time `seconds` after 2026-11-22T00:00:00Z, with microseconds.
pub fn time_at(micros: i64) -> String {
    let base = chrono::DateTime::parse_from_rfc3339("2026-11-22T00:00:00Z")
        .expect("base")
        .with_timezone(&chrono::Utc);
    (base + chrono::Duration::microseconds(micros))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Microseconds since the epoch of an RFC 3339 time (to compare times regardless of format).
pub fn micros_of(time: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(time)
        .unwrap_or_else(|e| panic!("time {time:?}: {e}"))
        .timestamp_micros()
}

/// Fresh random hex (for unique ids and canaries).
pub fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// WAL files of a tenant, oldest first.
pub fn wal_files(data: &Path, tenant: &str) -> Vec<PathBuf> {
    let dir = data.join("tenants").join(tenant).join("wal");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .collect();
    files.sort();
    files
}

/// One WAL frame's position in its file (see crates/wal/format.md).
#[derive(Clone, Copy, Debug)]
pub struct FrameSpan {
    pub offset: usize,
    /// Whole frame, header included.
    pub len: usize,
    pub first_lsn: u64,
    pub records: u32,
}

pub const WAL_FILE_HEADER_BYTES: usize = 32;
pub const WAL_FRAME_MAGIC: u32 = 0x5741_4C46;

/// Parses the frames of a WAL file (stops at the first frame that does not parse).
pub fn wal_frames(bytes: &[u8]) -> Vec<FrameSpan> {
    let mut out = Vec::new();
    let mut at = WAL_FILE_HEADER_BYTES;
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
    while at + 24 <= bytes.len() {
        if u32_at(at) != WAL_FRAME_MAGIC {
            break;
        }
        let body = u32_at(at + 4) as usize;
        let len = 12 + body;
        if at + len > bytes.len() {
            break;
        }
        let first_lsn = u64::from_le_bytes(bytes[at + 12..at + 20].try_into().unwrap());
        let records = u32_at(at + 20);
        out.push(FrameSpan {
            offset: at,
            len,
            first_lsn,
            records,
        });
        at += len;
    }
    out
}

/// Polls an erasure request until it is done (a minute at most) and returns it.
pub fn wait_erasure_done(api: &Api, keys: &TenantKeys, id: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let r = api
            .get(
                &keys.path(&format!("/erasures/{id}")),
                Some(&keys.privacy_officer),
            )
            .expect(200, "erasure state")
            .body;
        if r["state"] == "done" {
            return r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "erasure not done in time: {r}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until a model version is ready (a failed or cancelled one fails the test).
pub fn wait_model_ready(api: &Api, keys: &TenantKeys, name: &str, version: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let b = api
            .get(
                &keys.path(&format!("/models/{name}/versions/{version}")),
                Some(&keys.reader),
            )
            .expect(200, "model version")
            .body;
        match b["state"].as_str() {
            Some("ready") => return,
            Some("queued" | "training" | "evaluating") => {}
            other => panic!("{name} v{version}: {other:?} {b}"),
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{name} v{version} never ready"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An experiment named `name` over the model `model` against a control, outcome `play`.
pub fn start_experiment(api: &Api, keys: &TenantKeys, name: &str, model: &str) -> Value {
    api.post(
        &keys.path("/experiments"),
        Some(&keys.admin),
        &experiment_body(name, model),
    )
    .expect(201, "experiment")
    .body
}

/// An index named `name` over the play events' track ids (purpose personalization).
pub fn create_index(api: &Api, keys: &TenantKeys, name: &str) -> Value {
    api.post(
        &keys.path("/indexes"),
        Some(&keys.admin),
        &serde_json::json!({"name": name, "source": {"event_type": "play", "field": "track_id"}}),
    )
    .expect(201, "index")
    .body
}

pub fn experiment_body(name: &str, model: &str) -> Value {
    serde_json::json!({"name": name, "arms": [{"name": "control", "control": true}, {"name": "model", "model": model}], "outcome": {"event_type": "play", "window": "1h"}})
}

/// Runs `steward forensics scan` on the deployment's (stopped) data directory, with the server
/// logs too when `with_logs`; returns every hit. Fails on anything but exit 0 (none) or 1 (hits).
pub fn forensics_scan(deployment: &Deployment, needles: &[&str], with_logs: bool) -> Vec<Value> {
    let mut command = Command::new(steward_bin());
    command
        .args(["forensics", "scan", "--data"])
        .arg(&deployment.data);
    for n in needles {
        command.args(["--needle", n]);
    }
    if with_logs {
        for log in deployment.log_files() {
            command.arg("--also").arg(log);
        }
    }
    let out = command.output().expect("run forensics scan");
    let hits: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON hit"))
        .collect();
    assert_eq!(
        out.status.code(),
        Some(if hits.is_empty() { 0 } else { 1 }),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    hits
}
