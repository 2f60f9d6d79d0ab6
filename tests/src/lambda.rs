//! A local Lambda Runtime API: runs a function binary as Lambda would, hands it one event, and
//! returns its response or error with everything it logged. No Docker, no network beyond loopback.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// What one invocation returned.
#[derive(Debug)]
pub struct Invocation {
    /// The function's response, or the error object it reported (`errorType`, `errorMessage`).
    pub result: Result<Value, Value>,
    /// What the function wrote to stdout and stderr (its logs).
    pub logs: String,
}

/// The environment a function binary runs with against `moto`: the SDK pointed at the emulator,
/// the evidence bucket, and `extra` (e.g. `[("PROTECTED_PRINCIPALS", "...")]`).
pub fn environment(
    moto: &crate::Moto,
    extra: &[(&'static str, &str)],
) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE".into()),
        (
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
        ),
        ("EVIDENCE_BUCKET", crate::BUCKET.into()),
        // moto answers ListServiceSpecificCredentials with HTTP 500: two attempts, not six.
        ("AWS_MAX_ATTEMPTS", "2".into()),
        // moto has no CloudTrail event history: the hunt is tested through the CloudTrail double
        // (`trail.rs`), and is off unless a test turns it on.
        ("HUNT", "false".into()),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    env
}

/// The debug build of a workspace binary (`cargo build -p NAME` first).
pub fn binary(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::root().join("target"));
    let path = target.join("debug").join(name);
    assert!(
        path.exists(),
        "{} not found: build it with `cargo build -p {name}` (make test does)",
        path.display()
    );
    path
}

/// Runs `binary` under a local Runtime API with `env`, invokes it once with `event`, then stops it.
pub async fn invoke(binary: &Path, env: &[(&str, String)], event: &Value) -> Invocation {
    invoke_killed_when(binary, env, event, std::future::pending()).await
}

/// As [`invoke`], but the process is killed (as Lambda kills a function at its timeout, or a host
/// fails) the moment `kill` completes, if it has not answered by then.
pub async fn invoke_killed_when(
    binary: &Path,
    env: &[(&str, String)],
    event: &Value,
    kill: impl std::future::Future<Output = ()>,
) -> Invocation {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("loopback port");
    let api = listener.local_addr().expect("address").to_string();
    let mut child = tokio::process::Command::new(binary)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", &api)
        .env(
            "AWS_LAMBDA_FUNCTION_NAME",
            binary.file_name().unwrap_or_default(),
        )
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/local")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));

    let (done, mut results) = mpsc::channel(1);
    let pending = Arc::new(Mutex::new(Some(event.to_string())));
    let server = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, pending.clone(), done.clone()));
        }
    });
    let result = tokio::select! {
        result = results.recv() => result,
        _ = child.wait() => None,
        () = kill => None,
        _ = tokio::time::sleep(Duration::from_secs(120)) => None,
    };
    server.abort();
    let _ = child.start_kill();
    let output = child.wait_with_output().await.expect("function output");
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let result = result.unwrap_or_else(|| {
        Err(serde_json::json!({
            "errorType": "Runtime.ExitError",
            "errorMessage": format!("the function stopped before answering ({})", output.status),
        }))
    });
    Invocation { result, logs }
}

/// Serves one connection of the runtime client (HTTP/1.1, keep-alive).
async fn serve(
    stream: TcpStream,
    pending: Arc<Mutex<Option<String>>>,
    done: mpsc::Sender<Result<Value, Value>>,
) {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    loop {
        let mut request_line = String::new();
        if read.read_line(&mut request_line).await.unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0;
        loop {
            let mut header = String::new();
            if read.read_line(&mut header).await.unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if read.read_exact(&mut body).await.is_err() {
            return;
        }
        let path = request_line.split_whitespace().nth(1).unwrap_or_default();
        let response = if path.ends_with("/invocation/next") {
            let event = pending.lock().expect("lock").take();
            match event {
                Some(event) => format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                     Lambda-Runtime-Aws-Request-Id: 8476a536-e9f4-11e8-9739-2dfe598c3fcd\r\n\
                     Lambda-Runtime-Deadline-Ms: {}\r\n\
                     Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:111122223333:function:local\r\n\
                     Content-Length: {}\r\n\r\n{event}",
                    deadline_ms(),
                    event.len()
                ),
                // One event per run: a second poll waits until the function is stopped.
                None => std::future::pending().await,
            }
        } else {
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let result = if path.ends_with("/response") {
                Ok(body)
            } else {
                Err(body)
            };
            let _ = done.send(result).await;
            "HTTP/1.1 202 Accepted\r\nContent-Length: 16\r\n\r\n{\"status\":\"OK\"}\n".to_string()
        };
        if write.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn deadline_ms() -> u128 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (now + Duration::from_secs(60)).as_millis()
}
