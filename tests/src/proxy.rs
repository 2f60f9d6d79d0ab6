//! A refusing proxy in front of the emulator, for a function binary: every request goes through to
//! moto unchanged but those whose body contains one of the `refused` strings, which get IAM's
//! `AccessDenied` (HTTP 403), as STS answers an `AssumeRole` that the role's trust policy does not
//! allow. moto lets any role be assumed; this is the one fault it cannot produce.

use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

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
    /// Starts a proxy to moto on `upstream` (a loopback port) refusing `refused`.
    pub async fn start(upstream: u16, refused: Vec<String>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("loopback");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let refused = Arc::new(refused);
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
async fn serve(stream: TcpStream, upstream: u16, refused: Arc<Vec<String>>) {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    loop {
        let Some((head, body)) = read_request(&mut read).await else {
            return;
        };
        let text = String::from_utf8_lossy(&body);
        let answer = if refused.iter().any(|r| text.contains(r.as_str())) {
            let error = "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>\
                         <Message>User is not authorized to perform: sts:AssumeRole (refused by \
                         the test's proxy)</Message></Error><RequestId>refused</RequestId>\
                         </ErrorResponse>";
            format!(
                "HTTP/1.1 403 Forbidden\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{error}",
                error.len()
            )
            .into_bytes()
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
