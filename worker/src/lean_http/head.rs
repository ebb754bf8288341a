//! A reply's head: where it ends, what it says about its body and the connection, and its
//! headers, read with `httparse` from the connection's buffer.

use std::mem::MaybeUninit;

use http::HeaderName;
use sebs_common::{ErrorKind, InvocationError};

/// Headers a reply may have; more is a malformed reply.
const MAX_HEADERS: usize = 64;

/// How a reply's body ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Framing {
    Length(u64),
    Chunked,
    /// At the end of the connection.
    Close,
    None,
}

/// A reply's head, as far as framing and the connection go.
pub(super) struct Head {
    pub(super) status: u16,
    pub(super) framing: Framing,
    pub(super) keep_alive: bool,
}

/// How many header names a connection remembers.
const KNOWN_NAMES: usize = 32;

/// The header name spelled `bytes` (any case), from the names seen before when it is one.
pub(super) fn header_name(
    known: &mut Vec<HeaderName>,
    bytes: &[u8],
) -> Result<HeaderName, http::header::InvalidHeaderName> {
    if let Some(name) = known
        .iter()
        .find(|n| n.as_str().as_bytes().eq_ignore_ascii_case(bytes))
    {
        return Ok(name.clone());
    }
    let name = HeaderName::from_bytes(bytes)?;
    if known.len() < KNOWN_NAMES {
        known.push(name.clone());
    }
    Ok(name)
}

/// Parses a reply's head from `input`: `None` while incomplete, else its length and what it
/// says; header positions go to `spans`.
pub(super) fn parse_head(
    input: &[u8],
    spans: &mut Vec<[usize; 4]>,
    url: &str,
) -> Result<Option<(usize, Head)>, InvocationError> {
    // Left uninitialized: the parser writes the headers it finds (2 KiB not zeroed per reply).
    let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut reply = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut reply,
        input,
        &mut headers,
    );
    let len = match parsed {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(malformed(url, &e.to_string())),
    };
    let status = reply.code.unwrap_or(0);
    let http11 = reply.version == Some(1);
    let (mut length, mut chunked, mut close, mut keep) = (None::<u64>, false, false, false);
    let base = input.as_ptr() as usize;
    spans.clear();
    for h in reply.headers.iter() {
        let name = h.name.as_bytes();
        let ns = name.as_ptr() as usize - base;
        let vs = h.value.as_ptr() as usize - base;
        spans.push([ns, ns + name.len(), vs, vs + h.value.len()]);
        let value = trim(h.value);
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| {
                    malformed(
                        url,
                        &format!(
                            "invalid content-length `{}`",
                            String::from_utf8_lossy(value)
                        ),
                    )
                })?;
            if length.is_some_and(|m| m != n) {
                return Err(malformed(url, "conflicting content-length headers"));
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            // Chunked must be the last coding; anything else (gzip alone) ends at the close.
            chunked = value
                .rsplit(|&b| b == b',')
                .next()
                .is_some_and(|last| trim(last).eq_ignore_ascii_case(b"chunked"));
            if !chunked {
                close = true;
            }
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in value.split(|&b| b == b',').map(trim) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    let framing = if status == 204 || status == 304 || (100..200).contains(&status) {
        Framing::None
    } else if chunked {
        Framing::Chunked
    } else if close && length.is_none() {
        Framing::Close
    } else {
        length.map_or(Framing::Close, Framing::Length)
    };
    // After 101 Switching Protocols the connection no longer speaks HTTP/1.1.
    let keep_alive = !close && (http11 || keep) && framing != Framing::Close && status != 101;
    Ok(Some((
        len,
        Head {
            status,
            framing,
            keep_alive,
        },
    )))
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

pub(super) fn malformed(url: &str, what: &str) -> InvocationError {
    super::failure(
        ErrorKind::InvalidReply,
        format!("malformed HTTP reply from {url}: {what}"),
    )
}
