//! A refusing proxy in front of the emulator, for a function binary or a test's client: every
//! request goes through to moto unchanged but those a [`Fault`] matches, which get its error:
//! IAM's `AccessDenied` (HTTP 403), as STS answers an `AssumeRole` that the role's trust policy
//! does not allow, or `LimitExceeded` (HTTP 409), as IAM answers a policy over its size limits.
//! moto lets any role be assumed and enforces no policy size: these are faults it cannot produce.

use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// An error the proxy answers instead of moto, for requests whose body holds every one of `when`.
#[derive(Clone, Debug)]
pub struct Fault {
    /// Substrings of the request body (form-encoded), all of which must appear.
    pub when: Vec<String>,
    status: &'static str,
    code: &'static str,
    message: String,
}

impl Fault {
    /// `AccessDenied`, HTTP 403.
    pub fn access_denied(when: &[&str]) -> Self {
        Self {
            when: when.iter().map(|w| (*w).to_owned()).collect(),
            status: "403 Forbidden",
            code: "AccessDenied",
            message:
                "User is not authorized to perform: sts:AssumeRole (refused by the test's proxy)"
                    .into(),
        }
    }

    /// `LimitExceeded`, HTTP 409: the policy does not fit (IAM's 2,048 characters of a user's
    /// inline policies, 10,240 of a role's).
    pub fn limit_exceeded(when: &[&str]) -> Self {
        Self {
            when: when.iter().map(|w| (*w).to_owned()).collect(),
            status: "409 Conflict",
            code: "LimitExceeded",
            message: "Maximum policy size of 2048 bytes exceeded (answered by the test's proxy)"
                .into(),
        }
    }

    fn answer(&self) -> Vec<u8> {
        let error = format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{}</Code><Message>{}</Message>\
             </Error><RequestId>refused</RequestId></ErrorResponse>",
            self.code, self.message
        );
        format!(
            "HTTP/1.1 {}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{error}",
            self.status,
            error.len()
        )
        .into_bytes()
    }
}

/// The proxy; stops when dropped.
pub struct Refusing {
    /// Its endpoint (`AWS_ENDPOINT_URL` for the binary).
    pub endpoint: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Refusing {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Refusing {
    /// Starts a proxy to moto on `upstream` (a loopback port) refusing, with `AccessDenied`,
    /// every request whose body holds one of `refused`.
    pub async fn start(upstream: u16, refused: Vec<String>) -> Self {
        let faults = refused
            .iter()
            .map(|r| Fault::access_denied(&[r.as_str()]))
            .collect();
        Self::with_faults(upstream, faults).await
    }

    /// Starts a proxy to moto on `upstream` answering the first of `faults` that matches.
    pub async fn with_faults(upstream: u16, faults: Vec<Fault>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("loopback");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let refused = Arc::new(faults);
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, upstream, refused.clone()));
            }
        });
        Self { endpoint, server }
    }
}

/// One client connection: request after request (HTTP/1.1 keep-alive), each forwarded on a
/// connection of its own.
async fn serve(stream: TcpStream, upstream: u16, refused: Arc<Vec<Fault>>) {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    loop {
        let Some((head, body)) = read_request(&mut read).await else {
            return;
        };
        let text = String::from_utf8_lossy(&body);
        let fault = refused
            .iter()
            .find(|f| f.when.iter().all(|w| text.contains(w.as_str())));
        let answer = if let Some(fault) = fault {
            fault.answer()
        } else {
            match forward(upstream, head.as_bytes(), &body).await {
                Ok(answer) => answer,
                Err(_) => return,
            }
        };
        if write.write_all(&answer).await.is_err() {
            return;
        }
    }
}

/// The next request of a keep-alive connection: its head (rewritten to ask for `Connection:
/// close`, one request per upstream connection) and its body; `None` when the client is gone.
pub(crate) async fn read_request(
    read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> Option<(String, Vec<u8>)> {
    let mut head = String::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        if read.read_line(&mut line).await.unwrap_or(0) == 0 {
            return None;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
        let end = line == "\r\n";
        // One request per upstream connection: the answer ends where the connection does.
        if !line.to_ascii_lowercase().starts_with("connection:") {
            if end {
                head.push_str("Connection: close\r\n");
            }
            head.push_str(&line);
        }
        if end {
            break;
        }
    }
    let mut body = vec![0; length];
    read.read_exact(&mut body).await.ok()?;
    Some((head, body))
}

/// Sends one request to moto and reads its whole answer (moto closes the connection after it).
pub(crate) async fn forward(upstream: u16, head: &[u8], body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut moto = TcpStream::connect(("127.0.0.1", upstream)).await?;
    moto.write_all(head).await?;
    moto.write_all(body).await?;
    let mut answer = Vec::new();
    moto.read_to_end(&mut answer).await?;
    // The client keeps its connection: the answer must not tell it to close.
    let text = String::from_utf8_lossy(&answer);
    if let Some(end) = text.find("\r\n\r\n") {
        let (head, rest) = answer.split_at(end);
        let head: String = String::from_utf8_lossy(head)
            .split("\r\n")
            .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
            .collect::<Vec<_>>()
            .join("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(rest);
        return Ok(out);
    }
    Ok(answer)
}
