//! The HTTP listener. `axum::serve` does not expose hyper's header read timeout, so connections
//! are served the way it serves them underneath: hyper's HTTP/1 connection builder (with a Tokio
//! timer, which enables `header_read_timeout`) over `hyper_util`'s `TowerToHyperService`, each
//! connection watched by `hyper_util`'s `GracefulShutdown` for the same graceful shutdown.
//!
//! - Header read timeout: a request line and headers not complete within it close the
//!   connection without an answer (slowloris). Hyper starts the timer whenever the connection
//!   waits for a request, so it also closes idle keep-alive connections.
//! - Body read timeout: the body must arrive within it of the headers, else 408
//!   `REQUEST_TIMEOUT` ([`aos_api::extract::with_body_deadline`]).
//! - At most `max_connections` connections; the accept loop waits for a slot.
//! - Requests hyper cannot parse (URI over 64 KiB, headers too large, a malformed request line)
//!   get hyper's own bodyless 400/414/431, rewritten into the JSON error envelope on the way out
//!   by [`EnvelopeIo`].

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How long clients may take and how many may connect at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerLimits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub max_connections: usize,
}

/// How long shutdown waits for requests in flight (long polls last up to 30 s).
const DRAIN: Duration = Duration::from_secs(35);

pub async fn serve_http(listener: tokio::net::TcpListener, app: axum::Router, limits: ListenerLimits, shutdown: impl Future<Output = ()>) {
    let body_timeout = limits.body_timeout;
    let app = app.layer(axum::middleware::from_fn(move |req: axum::extract::Request, next: axum::middleware::Next| async move {
        next.run(aos_api::extract::with_body_deadline(req, body_timeout)).await
    }));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).keep_alive(true);
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    if !matches!(e.kind(), io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionRefused) {
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let conn = http.serve_connection(TokioIo::new(EnvelopeIo::new(stream)), TowerToHyperService::new(app.clone()));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection closed with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN) => tracing::warn!("connections still open after {DRAIN:?}; stopping anyway"),
    }
}

/// A connection's socket whose writes pass through unchanged, except the bodyless answers
/// hyper writes by itself when it cannot parse a request (it never hands those requests to
/// the application): those are replaced by the same status with the JSON error envelope.
pub struct EnvelopeIo<T> {
    inner: T,
    /// A replacement answer still to be written, and how much of it has been.
    pending: Vec<u8>,
    written: usize,
}

impl<T> EnvelopeIo<T> {
    pub fn new(inner: T) -> Self {
        Self { inner, pending: Vec::new(), written: 0 }
    }
}

impl<T: AsyncWrite + Unpin> EnvelopeIo<T> {
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        Poll::Ready(Ok(()))
    }

    /// Takes `head` as written if it is one of hyper's own error answers.
    fn replace(&mut self, cx: &mut Context<'_>, head: &[u8]) -> Option<io::Result<usize>> {
        let answer = enveloped(head)?;
        self.pending = answer;
        self.written = 0;
        match self.drain(cx) {
            Poll::Ready(Err(e)) => Some(Err(e)),
            // The rest goes out with the flush hyper does next.
            _ => Some(Ok(head.len())),
        }
    }
}

/// The enveloped replacement of hyper's answer to an unparsable request, or `None` for any
/// other write. Hyper's answer is a lone head (`HTTP/1.1 400|414|431 ...`, `content-length: 0`);
/// every answer of the application to those statuses has a JSON body, so none is mistaken.
pub fn enveloped(head: &[u8]) -> Option<Vec<u8>> {
    // Cheap refusals first: this sees every write of every response.
    if head.len() > 512 || !head.starts_with(b"HTTP/1.1 4") {
        return None;
    }
    let text = std::str::from_utf8(head).ok()?;
    let (code, message) = match text.get(..13)? {
        "HTTP/1.1 400 " => ("INVALID_REQUEST", "the request line or a header could not be parsed"),
        "HTTP/1.1 414 " => ("URI_TOO_LONG", "the request target is longer than the server reads (64 KiB)"),
        "HTTP/1.1 431 " => ("HEADERS_TOO_LARGE", "the request's headers are too large or too many"),
        _ => return None,
    };
    let lines: Vec<&str> = text.strip_suffix("\r\n\r\n")?.split("\r\n").collect();
    if !lines.iter().any(|l| l.eq_ignore_ascii_case("content-length: 0")) {
        return None;
    }
    let body = serde_json::json!({"error": {"code": code, "message": message, "details": {}}}).to_string();
    let mut out = String::with_capacity(text.len() + body.len() + 100);
    for line in lines.iter().filter(|l| {
        let name = l.split(':').next().unwrap_or("").to_ascii_lowercase();
        !matches!(name.as_str(), "content-length" | "content-type" | "connection")
    }) {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str(&format!("content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len()));
    Some(out.into_bytes())
}

impl<T: AsyncRead + Unpin> AsyncRead for EnvelopeIo<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for EnvelopeIo<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        if let Some(result) = this.replace(cx, buf) {
            return Poll::Ready(result);
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        let mut parts = bufs.iter().filter(|b| !b.is_empty());
        if let (Some(only), None) = (parts.next(), parts.next()) {
            if let Some(result) = this.replace(cx, only) {
                return Poll::Ready(result);
            }
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::enveloped;

    #[test]
    fn only_hyper_s_own_bodyless_error_heads_are_replaced() {
        let head = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: Thu, 01 Jan 2026 00:00:00 GMT\r\n\r\n";
        let out = String::from_utf8(enveloped(head).expect("replaced")).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("HTTP/1.1 414 URI Too Long\r\n") && head.contains("\r\ndate: ") && head.contains("connection: close"),
            "{head}"
        );
        assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"]["code"], "URI_TOO_LONG");
        let out = enveloped(b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n").expect("replaced");
        assert!(String::from_utf8(out).unwrap().contains(r#""code":"HEADERS_TOO_LARGE""#));
        // The application's answers have bodies; other statuses and partial writes pass.
        assert!(enveloped(b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 80\r\n\r\n").is_none());
        assert!(enveloped(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(enveloped(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n").is_none());
        assert!(enveloped(b"{\"error\": 1}").is_none());
    }
}
