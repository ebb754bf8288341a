//! A lean HTTP/1.1 client for plain `http://` triggers: one kept-alive connection owned by
//! whoever invokes through it, the request's bytes rendered once per function, replies parsed
//! with `httparse`.
//!
//! It exists for speed: an engine task that owns its [`LeanConnection`] sends each request with
//! one `write` and reads its reply in the same task, with no pool lookup, no connection task, no
//! channel, and no allocation once its buffers have grown to the size of a reply. The reply's
//! body and header values are slices of the connection's read buffer, which is reclaimed for the
//! next reply once the caller has dropped them.
//!
//! What it understands of HTTP/1.1: `Content-Length`, `Transfer-Encoding: chunked` (trailers
//! skipped), bodies delimited by the server closing (HTTP/1.0 style), interim `1xx` replies,
//! `Connection: close` and HTTP/1.0's keep-alive rules. A reused connection that turns out
//! closed before any byte of a reply arrived (the server closed it while idle) is replaced and
//! the request sent again, once. `https://` and everything else go through hyper
//! ([`crate::HttpTrigger`] picks at construction).

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant, SystemTime};

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderName, HeaderValue};
use sebs_common::{ErrorKind, InvocationError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Sleep;

mod head;

use self::head::{header_name, malformed, parse_head, Framing, Head};
use crate::digits::decimal;
use crate::trigger::{epoch_seconds, signed_elapsed, InvocationRequest, RawInvocation};

/// Bytes a reply's head (status line and headers) may take.
const MAX_HEAD: usize = 64 * 1024;
/// Bytes a chunk-size line may take.
const MAX_CHUNK_LINE: usize = 4096;
/// What one read asks for at least, and the most a body grows by before its bytes arrive.
const READ_CHUNK: usize = 16 * 1024;
const BODY_STEP: usize = 1024 * 1024;

/// Where a function is and the bytes of its requests that never change.
#[derive(Debug)]
pub struct PlainHttp {
    host: String,
    port: u16,
    /// `host` when it is an IP address: connecting then needs no name lookup.
    ip: Option<IpAddr>,
    /// The URL, for messages.
    url: String,
    timeout: Duration,
    /// `POST path HTTP/1.1`, `host`, `content-type` and the extra headers, each line ended.
    head: Vec<u8>,
}

impl PlainHttp {
    pub fn new(
        url: &str,
        host: &str,
        port: u16,
        path: &str,
        authority: &str,
        headers: &[(HeaderName, HeaderValue)],
        timeout: Duration,
    ) -> Self {
        let mut head = Vec::with_capacity(256);
        for part in [
            "POST ",
            path,
            " HTTP/1.1\r\nhost: ",
            authority,
            "\r\ncontent-type: application/json\r\n",
        ] {
            head.extend_from_slice(part.as_bytes());
        }
        for (name, value) in headers {
            head.extend_from_slice(name.as_str().as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(value.as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        PlainHttp {
            host: host.to_string(),
            port,
            // `Uri::host` keeps an IPv6 address's brackets.
            ip: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .ok(),
            url: url.to_string(),
            timeout,
            head,
        }
    }

    /// One request's bytes into `out`: the fixed head, the request id, the length, the payload.
    fn render(&self, out: &mut Vec<u8>, request_id: &str, payload: &[u8]) {
        out.clear();
        out.extend_from_slice(&self.head);
        // The id goes out only when it is a valid header value (ids the engine makes are hex).
        if request_id
            .bytes()
            .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
        {
            out.extend_from_slice(b"x-request-id: ");
            out.extend_from_slice(request_id.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"content-length: ");
        let mut digits = [0u8; 20];
        out.extend_from_slice(decimal(payload.len() as u64, &mut digits));
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(payload);
    }

    async fn connect(&self) -> Result<TcpStream, InvocationError> {
        let stream = match self.ip {
            Some(ip) => TcpStream::connect(SocketAddr::new(ip, self.port)).await,
            None => TcpStream::connect((self.host.as_str(), self.port)).await,
        }
        .map_err(|e| {
            failure(
                ErrorKind::Connect,
                format!("cannot connect to {}:{}: {e}", self.host, self.port),
            )
        })?;
        stream.set_nodelay(true).ok();
        Ok(stream)
    }
}

fn failure(kind: ErrorKind, message: String) -> InvocationError {
    InvocationError { kind, message }
}

/// Why an exchange ended without a reply.
enum Broken {
    /// The connection ended (or was refused) before any byte of the reply: on a reused
    /// connection, the server most likely closed it while it was idle.
    BeforeReply(String),
    Failed(InvocationError),
}

/// One HTTP/1.1 connection to a function and the buffers of its exchanges.
#[derive(Debug)]
pub struct LeanConnection {
    target: Arc<PlainHttp>,
    stream: Option<TcpStream>,
    /// A duplicate of `stream`'s descriptor, made at the first [`LeanConnection::prepare`], for
    /// another thread to write a prepared request through; closed with `stream`.
    shared: Option<Arc<std::net::TcpStream>>,
    /// Bytes read and not yet consumed; replies' heads and bodies are split off it.
    input: BytesMut,
    /// The request being sent.
    output: Vec<u8>,
    /// A chunked body, reassembled.
    chunks: BytesMut,
    /// Where headers sit in a head being read: (name start, name end, value start, value end).
    spans: Vec<[usize; 4]>,
    /// Header names seen in replies: a name that is not one of HTTP's standard ones allocates
    /// when made, so it is made once per connection and cloned after.
    names: Vec<HeaderName>,
    raw: RawInvocation,
    /// The timeout's timer, kept across invocations (see [`within`]).
    timer: Option<Pin<Box<Sleep>>>,
    /// Turns the monotonic start of an invocation into epoch seconds without reading the wall
    /// clock each time.
    wall: WallClock,
}

/// A pairing of the monotonic and the wall clock, made again once it is a second old: an
/// invocation's epoch start is the pairing's epoch plus the monotonic time since it, one clock
/// read fewer per request than asking the wall clock (and two fewer than asking both). Within a
/// second the wall clock cannot be slewed by more than half a millisecond (NTP's limit is
/// 500 ppm), and a step of the wall clock shows up at the next pairing.
#[derive(Clone, Copy, Debug)]
struct WallClock {
    at: Instant,
    epoch_s: f64,
}

impl WallClock {
    const REFRESH: Duration = Duration::from_secs(1);

    fn now() -> Self {
        WallClock {
            at: Instant::now(),
            epoch_s: epoch_seconds(SystemTime::now()),
        }
    }

    /// Epoch seconds at `t`, pairing the clocks again first when `t` is a second past the last
    /// pairing or before it.
    fn epoch_at(&mut self, t: Instant) -> f64 {
        let fresh = t
            .checked_duration_since(self.at)
            .is_some_and(|since| since < Self::REFRESH);
        if !fresh {
            *self = WallClock::now();
        }
        self.epoch_s + signed_elapsed(self.at, t)
    }
}

impl LeanConnection {
    /// Connects on its first invocation.
    pub fn new(target: Arc<PlainHttp>) -> Self {
        LeanConnection {
            target,
            stream: None,
            shared: None,
            input: BytesMut::with_capacity(READ_CHUNK),
            output: Vec::with_capacity(1024),
            chunks: BytesMut::new(),
            spans: Vec::with_capacity(16),
            names: Vec::new(),
            raw: RawInvocation::default(),
            timer: None,
            wall: WallClock::now(),
        }
    }

    /// Whether a connection is open to be reused.
    pub fn is_open(&self) -> bool {
        self.stream.is_some()
    }

    /// Connects now unless a connection is already open, within the trigger's timeout, so that
    /// the first request does not pay for the handshake (open loops open theirs before their
    /// schedule starts, as wrk does). A failure leaves it closed: the first request connects
    /// again and records what went wrong.
    pub async fn open(&mut self) -> Result<(), InvocationError> {
        if self.stream.is_none() {
            let timeout = self.target.timeout;
            let stream = tokio::time::timeout(timeout, self.target.connect())
                .await
                .map_err(|_| {
                    failure(
                        ErrorKind::Timeout,
                        format!("cannot connect to {} within {timeout:?}", self.target.url),
                    )
                })??;
            self.stream = Some(stream);
            self.input.clear();
        }
        Ok(())
    }

    /// Closes the connection (both descriptors) and drops what was read from it.
    fn close(&mut self) {
        self.stream = None;
        self.shared = None;
        self.input.clear();
    }

    /// Sends one request and reads its reply. What is returned stays valid until the next call;
    /// drop any clone of its body and headers before then, so that the buffer can be reused.
    pub async fn invoke(&mut self, request: InvocationRequest<'_>) -> &RawInvocation {
        self.invoke_from(request, Instant::now()).await.0
    }

    /// Like [`LeanConnection::invoke`] for an invocation that began at `start` (a caller that
    /// has just read the clock passes what it read), also returning when it ended.
    pub async fn invoke_from(
        &mut self,
        request: InvocationRequest<'_>,
        start: Instant,
    ) -> (&RawInvocation, Instant) {
        self.target
            .render(&mut self.output, request.request_id, request.payload);
        self.complete(start, 0).await
    }

    /// Renders `request` for another thread to write, when a connection is open: the socket to
    /// write it to and the request's bytes. Hand the bytes back to
    /// [`LeanConnection::invoke_prepared`], which sends what was not written and reads the reply.
    /// `None` (no connection yet, or the descriptor could not be duplicated): use `invoke`.
    pub fn prepare(
        &mut self,
        request: InvocationRequest<'_>,
    ) -> Option<(Arc<std::net::TcpStream>, Vec<u8>)> {
        use std::os::fd::AsFd;
        let stream = self.stream.as_ref()?;
        if self.shared.is_none() {
            // The duplicate shares the descriptor's flags: it does not block either.
            let fd = stream.as_fd().try_clone_to_owned().ok()?;
            self.shared = Some(Arc::new(std::net::TcpStream::from(fd)));
        }
        let socket = self.shared.clone()?;
        self.target
            .render(&mut self.output, request.request_id, request.payload);
        Some((socket, std::mem::take(&mut self.output)))
    }

    /// Completes an invocation begun with [`LeanConnection::prepare`]: `bytes` are the prepared
    /// request, of which `sent` says when the first byte left and how many were written (`None`:
    /// nothing was, and it is sent now). Also returns when the invocation ended.
    pub async fn invoke_prepared(
        &mut self,
        bytes: Vec<u8>,
        sent: Option<(Instant, usize)>,
    ) -> (&RawInvocation, Instant) {
        self.output = bytes;
        let (start, written) = sent.unwrap_or_else(|| (Instant::now(), 0));
        self.complete(start, written.min(self.output.len())).await
    }

    /// Sends the rendered request from byte `written` on (the invocation began at `start`) and
    /// reads the reply, within the trigger's timeout; returns it and when it ended.
    async fn complete(&mut self, start: Instant, written: usize) -> (&RawInvocation, Instant) {
        // The last reply's body and header values hold parts of `input`: let go of them first.
        self.raw = RawInvocation {
            headers: std::mem::take(&mut self.raw.headers),
            client_begin: self.wall.epoch_at(start),
            ..Default::default()
        };
        self.raw.headers.clear();
        let timeout = self.target.timeout;
        // A timeout too long to add is as good as none: a year.
        let deadline = start
            .checked_add(timeout)
            .unwrap_or(start + Duration::from_secs(365 * 24 * 3600));
        let mut timer = self
            .timer
            .take()
            .unwrap_or_else(|| Box::pin(tokio::time::sleep_until(deadline.into())));
        let outcome = within(deadline, timer.as_mut(), self.exchange(start, written)).await;
        self.timer = Some(timer);
        let error = match outcome {
            Some(Ok(())) => None,
            Some(Err(e)) => Some(e),
            None => Some(failure(
                ErrorKind::Timeout,
                format!("no reply from {} within {timeout:?}", self.target.url),
            )),
        };
        if let Some(error) = error {
            // Whatever the connection was in the middle of, it cannot carry another request.
            self.close();
            self.raw.status = None;
            self.raw.headers.clear();
            self.raw.body = Bytes::new();
            self.raw.error = Some(error);
        }
        let end = Instant::now();
        let elapsed = end.saturating_duration_since(start);
        self.raw.client_us = elapsed.as_micros() as u64;
        self.raw.client_end = self.raw.client_begin + elapsed.as_secs_f64();
        (&self.raw, end)
    }

    /// Like [`LeanConnection::invoke`], handing the whole invocation over.
    pub async fn invoke_owned(&mut self, request: InvocationRequest<'_>) -> RawInvocation {
        self.invoke(request).await;
        std::mem::take(&mut self.raw)
    }

    /// Sends the rendered request (its first `written` bytes are out already) and reads the
    /// reply, connecting first if needed and once more if a reused connection turns out closed.
    async fn exchange(
        &mut self,
        start: Instant,
        mut written: usize,
    ) -> Result<(), InvocationError> {
        let mut reused = self.stream.is_some();
        loop {
            if self.stream.is_none() {
                self.stream = Some(self.target.connect().await?);
                self.input.clear();
                self.raw.http_startup = start.elapsed().as_secs_f64();
                written = 0;
            }
            match self.send_and_read_head(start, written).await {
                Ok(head) => return self.read_body(head).await,
                Err(Broken::BeforeReply(why)) if reused => {
                    tracing::debug!(url = %self.target.url, reason = %why, "kept-alive connection was closed; reconnecting");
                    self.close();
                    reused = false;
                    written = 0;
                }
                Err(Broken::BeforeReply(why)) => {
                    return Err(failure(
                        ErrorKind::Connect,
                        format!(
                            "{} closed the connection without a reply: {why}",
                            self.target.url
                        ),
                    ))
                }
                Err(Broken::Failed(e)) => return Err(e),
            }
        }
    }

    /// Sends the rendered request from byte `written` on and reads the reply's head; `start` is
    /// the invocation's.
    async fn send_and_read_head(&mut self, start: Instant, written: usize) -> Result<Head, Broken> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(Broken::BeforeReply("no connection".into()));
        };
        // On a kept-alive connection the request leaves as the invocation starts (rendering it
        // takes nanoseconds): one clock read fewer.
        let sent = if self.raw.http_startup > 0.0 {
            Instant::now()
        } else {
            start
        };
        if let Err(e) = stream.write_all(&self.output[written..]).await {
            return Err(match e.kind() {
                io::ErrorKind::BrokenPipe
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted => Broken::BeforeReply(e.to_string()),
                _ => Broken::Failed(failure(
                    ErrorKind::Connect,
                    format!("sending the request to {} failed: {e}", self.target.url),
                )),
            });
        }
        let mut first = true;
        loop {
            if !self.input.is_empty() {
                let parsed = parse_head(&self.input, &mut self.spans, &self.target.url);
                match parsed.map_err(Broken::Failed)? {
                    Some((len, head))
                        if (100..200).contains(&head.status) && head.status != 101 =>
                    {
                        // An interim reply (100 Continue, 103 Early Hints): the real one follows.
                        self.input.advance(len);
                        continue;
                    }
                    Some((len, head)) => {
                        self.keep_head(len).map_err(Broken::Failed)?;
                        return Ok(head);
                    }
                    None if self.input.len() > MAX_HEAD => {
                        return Err(Broken::Failed(malformed(
                            &self.target.url,
                            &format!("the reply's head is longer than {MAX_HEAD} bytes"),
                        )))
                    }
                    None => {}
                }
            }
            let nothing_yet = first && self.input.is_empty();
            match self.read_more().await {
                Ok(0) if nothing_yet => return Err(Broken::BeforeReply("end of stream".into())),
                Ok(0) => {
                    return Err(Broken::Failed(cut_short(
                        &self.target.url,
                        "in the reply's head",
                    )))
                }
                Ok(_) => {
                    if first {
                        self.raw.first_byte = sent.elapsed().as_secs_f64();
                        first = false;
                    }
                }
                Err((e, failed)) if nothing_yet && e == io::ErrorKind::ConnectionReset => {
                    return Err(Broken::BeforeReply(failed.message))
                }
                Err((_, failed)) => return Err(Broken::Failed(failed)),
            }
        }
    }

    /// Splits the head (`len` bytes) off the input and keeps its headers in the reply.
    fn keep_head(&mut self, len: usize) -> Result<(), InvocationError> {
        let head = self.input.split_to(len).freeze();
        for &[ns, ne, vs, ve] in &self.spans {
            let name = header_name(&mut self.names, &head[ns..ne]);
            let value = HeaderValue::from_maybe_shared(head.slice(vs..ve));
            match (name, value) {
                (Ok(name), Ok(value)) => {
                    self.raw.headers.append(name, value);
                }
                _ => {
                    return Err(malformed(
                        &self.target.url,
                        &format!(
                            "invalid header `{}`",
                            String::from_utf8_lossy(&head[ns..ne])
                        ),
                    ))
                }
            }
        }
        Ok(())
    }

    async fn read_body(&mut self, head: Head) -> Result<(), InvocationError> {
        self.raw.status = Some(head.status);
        let mut keep_alive = head.keep_alive;
        self.raw.body = match head.framing {
            Framing::None => Bytes::new(),
            Framing::Length(n) => {
                let n = usize::try_from(n)
                    .map_err(|_| malformed(&self.target.url, "content-length too large"))?;
                self.fill_to(n, "in the reply's body").await?;
                self.input.split_to(n).freeze()
            }
            Framing::Chunked => self.read_chunks().await?,
            Framing::Close => {
                while self.read_more().await.map_err(|(_, e)| e)? > 0 {}
                keep_alive = false;
                self.input.split().freeze()
            }
        };
        // Bytes beyond the reply were not asked for: the connection is out of step.
        if !keep_alive || !self.input.is_empty() {
            self.close();
        }
        Ok(())
    }

    /// Reads a chunked body into `chunks` and hands it over; trailers are skipped.
    async fn read_chunks(&mut self) -> Result<Bytes, InvocationError> {
        loop {
            let (used, size) = match httparse::parse_chunk_size(&self.input) {
                Ok(httparse::Status::Complete(parsed)) => parsed,
                Ok(httparse::Status::Partial) if self.input.len() > MAX_CHUNK_LINE => {
                    return Err(malformed(&self.target.url, "a chunk-size line is too long"))
                }
                Ok(httparse::Status::Partial) => {
                    self.read_some("in a chunked body").await?;
                    continue;
                }
                Err(_) => return Err(malformed(&self.target.url, "invalid chunk size")),
            };
            self.input.advance(used);
            if size == 0 {
                self.skip_trailers().await?;
                return Ok(self.chunks.split().freeze());
            }
            let size = usize::try_from(size)
                .map_err(|_| malformed(&self.target.url, "chunk too large"))?;
            self.fill_to(size + 2, "in a chunk").await?;
            if &self.input[size..size + 2] != b"\r\n" {
                return Err(malformed(
                    &self.target.url,
                    "a chunk does not end with CRLF",
                ));
            }
            self.chunks.extend_from_slice(&self.input[..size]);
            self.input.advance(size + 2);
        }
    }

    /// Skips trailer lines up to the empty line that ends a chunked body.
    async fn skip_trailers(&mut self) -> Result<(), InvocationError> {
        loop {
            match self.input.windows(2).position(|w| w == b"\r\n") {
                Some(0) => {
                    self.input.advance(2);
                    return Ok(());
                }
                Some(end) => self.input.advance(end + 2),
                None if self.input.len() > MAX_HEAD => {
                    return Err(malformed(&self.target.url, "trailers too long"))
                }
                None => self.read_some("in the trailers").await?,
            }
        }
    }

    /// Reads until `input` holds at least `n` bytes.
    async fn fill_to(&mut self, n: usize, context: &str) -> Result<(), InvocationError> {
        while self.input.len() < n {
            self.input.reserve((n - self.input.len()).min(BODY_STEP));
            self.read_some(context).await?;
        }
        Ok(())
    }

    /// Reads more; the end of the stream is an error (`context` says where it came).
    async fn read_some(&mut self, context: &str) -> Result<(), InvocationError> {
        match self.read_more().await.map_err(|(_, e)| e)? {
            0 => Err(cut_short(&self.target.url, context)),
            _ => Ok(()),
        }
    }

    /// Reads more into `input`; 0 at the end of the stream.
    async fn read_more(&mut self) -> Result<usize, (io::ErrorKind, InvocationError)> {
        let url = &self.target.url;
        let Some(stream) = self.stream.as_mut() else {
            let error = cut_short(url, "before the reply");
            return Err((io::ErrorKind::NotConnected, error));
        };
        self.input.reserve(READ_CHUNK);
        let read = stream.read_buf(&mut self.input).await;
        read.map_err(|e| (e.kind(), read_failed(url, &e)))
    }
}

/// Runs `work` until `deadline`: `None` if it had not finished by then.
///
/// Unlike `tokio::time::timeout`, which puts a timer into tokio's wheel and takes it out again
/// for every request, this keeps one timer per connection and moves it only when it fires: it
/// is still set to an earlier request's deadline, which comes before this one's (deadlines only
/// grow), so when it fires early it is set to `deadline` and waited on again. A connection that
/// sends a request a millisecond re-arms its timer once per timeout, not a thousand times a
/// second.
async fn within<T>(
    deadline: Instant,
    mut timer: Pin<&mut Sleep>,
    work: impl Future<Output = T>,
) -> Option<T> {
    let mut work = std::pin::pin!(work);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(done) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(done));
        }
        loop {
            match timer.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) if Instant::now() >= deadline => return Poll::Ready(None),
                Poll::Ready(()) => timer.as_mut().reset(deadline.into()),
            }
        }
    })
    .await
}

fn cut_short(url: &str, context: &str) -> InvocationError {
    failure(
        ErrorKind::Connect,
        format!("{url} closed the connection {context} before the reply was complete"),
    )
}

fn read_failed(url: &str, e: &io::Error) -> InvocationError {
    failure(
        ErrorKind::Connect,
        format!("reading the reply from {url} failed: {e}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wall_clock_pairing_gives_epoch_seconds_of_earlier_and_later_instants() {
        let mut wall = WallClock::now();
        let paired = wall.at;
        let now = epoch_seconds(SystemTime::now());
        // Within a second of the pairing: no new pairing, the offset added.
        let later = paired + Duration::from_millis(300);
        assert!((wall.epoch_at(later) - (wall.epoch_s + 0.3)).abs() < 1e-6);
        assert_eq!(wall.at, paired);
        assert!((wall.epoch_at(paired) - now).abs() < 0.05);
        // Before the pairing, or a second after it: paired again, and still the right time.
        let before = paired
            .checked_sub(Duration::from_millis(200))
            .unwrap_or(paired);
        let expected = now - paired.duration_since(before).as_secs_f64();
        assert!((wall.epoch_at(before) - expected).abs() < 0.05);
        assert!(
            wall.at > paired,
            "an instant before the pairing pairs again"
        );
        let again = wall.at;
        let much_later = again + Duration::from_secs(2);
        let got = wall.epoch_at(much_later);
        assert!(wall.at > again);
        assert!(
            (got - (wall.epoch_s + much_later.duration_since(wall.at).as_secs_f64())).abs() < 1e-6
        );
    }
}
