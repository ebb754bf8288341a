//! Raw per-invocation records: what the engine measured of each invocation, as a plain struct
//! that a task fills in place (no allocation of its own) and hands over in batches.
//!
//! A record is written as one CSV line by [`write_csv_fields`]; [`CsvFile`] is the sink that
//! appends every record to one file, for callers of the engine that want just that.

use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use async_trait::async_trait;
use sebs_common::ErrorKind;

use super::reader::Reading;
use super::recorder::Recorder;
use super::runner::EngineSink;
use crate::trigger::RawInvocation;

/// Column names of the records file; units are in the names.
pub const HEADER: &str =
    "request_id,intended_s,client_begin,latency_us,service_us,lag_us,connect_us,\
first_byte_us,status,ok,is_cold,benchmark_us,container_id,provider_execution_us,provider_init_us,\
memory_kib,error\n";

/// Times of one invocation, as the engine measured them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Timing {
    /// Seconds from the run's start to the intended send time.
    pub intended_s: f64,
    /// Epoch seconds when the request was sent.
    pub client_begin: f64,
    /// µs from the intended send time to the whole reply (what a user of an open system waits).
    pub latency_us: u64,
    /// µs from the actual send to the whole reply.
    pub service_us: u64,
    /// µs the request left after its intended time.
    pub lag_us: u64,
    pub connect_us: u64,
    pub first_byte_us: u64,
}

/// One invocation as the engine recorded it.
#[derive(Clone, Debug, Default)]
pub struct Record {
    /// The invocation's number in its load: 0.. for closed loads, the share's own arrival
    /// number for open loads (see [`super::share`]). Unique within one run of the engine.
    pub sequence: u64,
    pub request_id: RequestId,
    pub timing: Timing,
    /// HTTP status, 0 when no reply arrived.
    pub status: u16,
    pub failure: Option<ErrorKind>,
    pub cold: bool,
    /// µs the wrapper measured around the handler (0 when unknown).
    pub benchmark_us: u64,
    pub container_id: ShortText,
    /// What the platform reported: run time, instance start time, peak memory (0 when unknown).
    pub execution_us: u64,
    pub init_us: u64,
    pub memory_kib: u64,
    /// The whole invocation (reply body and headers included), when outputs are kept. Boxed,
    /// so that records of runs that keep no replies stay small (a task buffers hundreds).
    pub raw: Option<Box<RawInvocation>>,
}

impl Record {
    /// The record of an invocation, from its reading (which borrows the raw reply).
    pub fn new(
        sequence: u64,
        request_id: RequestId,
        timing: Timing,
        status: u16,
        r: &Reading<'_>,
    ) -> Self {
        Record {
            sequence,
            request_id,
            timing,
            status,
            failure: r.failure,
            cold: r.cold,
            benchmark_us: r.benchmark_us,
            container_id: ShortText::new(r.container_id),
            execution_us: r.execution_us,
            init_us: r.init_us,
            memory_kib: r.memory_kib,
            raw: None,
        }
    }

    pub fn ok(&self) -> bool {
        self.failure.is_none()
    }
}

/// Writes the engine's columns of `r` (those of [`HEADER`]), without the line's end.
pub fn write_csv_fields(out: &mut impl Write, r: &Record) -> io::Result<()> {
    let t = &r.timing;
    let error = r.failure.map(|k| k.as_str()).unwrap_or("");
    // Container ids come from the function; keep the CSV well-formed whatever they hold.
    let container = r.container_id.as_str();
    let container = if container
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        container
    } else {
        "?"
    };
    write!(
        out,
        "{},{:.6},{:.6},{},{},{},{},{},{},{},{},{},{container},{},{},{},{error}",
        r.request_id,
        t.intended_s,
        t.client_begin,
        t.latency_us,
        t.service_us,
        t.lag_us,
        t.connect_us,
        t.first_byte_us,
        r.status,
        u8::from(r.ok()),
        u8::from(r.cold),
        r.benchmark_us,
        r.execution_us,
        r.init_us,
        r.memory_kib,
    )
}

/// A request id: 32 hex digits, like a uuid4 without dashes, made from a 128-bit number whose
/// low 48 bits are the invocation's sequence number. Fixed size: making one allocates nothing.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId([u8; 32]);

impl Default for RequestId {
    fn default() -> Self {
        RequestId([b'0'; 32])
    }
}

/// Bits of a request id that hold the sequence number.
pub const SEQUENCE_BITS: u32 = 48;

impl RequestId {
    /// `prefix` (its low [`SEQUENCE_BITS`] bits ignored) with `sequence` in the low bits.
    pub fn new(prefix: u128, sequence: u64) -> Self {
        let low = u128::from(sequence) & ((1u128 << SEQUENCE_BITS) - 1);
        let value = (prefix & !((1u128 << SEQUENCE_BITS) - 1)) | low;
        let mut digits = [b'0'; 32];
        for (i, d) in digits.iter_mut().enumerate() {
            let nibble = (value >> (4 * (31 - i))) & 0xf;
            *d = b"0123456789abcdef"[nibble as usize];
        }
        RequestId(digits)
    }

    /// Reads 32 lowercase hex digits back.
    pub fn parse(text: &str) -> Option<Self> {
        let bytes: [u8; 32] = text.as_bytes().try_into().ok()?;
        bytes
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
            .then_some(RequestId(bytes))
    }

    pub fn as_str(&self) -> &str {
        // Only hex digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({})", self.as_str())
    }
}

/// A short text kept inline (at most [`ShortText::CAPACITY`] bytes, cut at a character
/// boundary), so that recording a container id allocates nothing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ShortText {
    len: u8,
    bytes: [u8; ShortText::CAPACITY],
}

impl Default for ShortText {
    fn default() -> Self {
        ShortText {
            len: 0,
            bytes: [0; ShortText::CAPACITY],
        }
    }
}

impl ShortText {
    pub const CAPACITY: usize = 63;

    pub fn new(text: &str) -> Self {
        let mut end = text.len().min(Self::CAPACITY);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let mut bytes = [0; Self::CAPACITY];
        bytes[..end].copy_from_slice(&text.as_bytes()[..end]);
        ShortText {
            len: end as u8,
            bytes,
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for ShortText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// A sink that appends every record to one CSV file (with [`HEADER`]) and keeps nothing else.
#[derive(Debug)]
pub struct CsvFile {
    out: BufWriter<File>,
}

impl CsvFile {
    pub fn create(path: &Path) -> io::Result<Self> {
        let mut out = BufWriter::with_capacity(64 * 1024, File::create(path)?);
        out.write_all(HEADER.as_bytes())?;
        Ok(CsvFile { out })
    }
}

#[async_trait]
impl EngineSink for CsvFile {
    async fn flush(&mut self, records: &mut Vec<Record>, _delta: &mut Recorder) {
        let written = records.iter().try_for_each(|r| {
            write_csv_fields(&mut self.out, r)?;
            self.out.write_all(b"\n")
        });
        if let Err(e) = written.and_then(|_| self.out.flush()) {
            tracing::warn!(error = %e, "cannot write invocation records");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_32_hex_digits_ending_in_the_sequence() {
        let prefix = 0xdead_beef_0000_0001_0002_0000_0000_0000u128;
        let id = RequestId::new(prefix, 0x2a);
        assert_eq!(id.as_str(), "deadbeef00000001000200000000002a");
        assert_eq!(RequestId::parse(id.as_str()), Some(id));
        assert_ne!(RequestId::new(prefix, 1), RequestId::new(prefix, 2));
        assert!(RequestId::parse("xyz").is_none());
    }

    #[test]
    fn a_record_stays_small() {
        // Each of 64 tasks may hold two buffers of BATCH_RECORDS records: keep them few MB.
        let size = std::mem::size_of::<Record>();
        assert!(size <= 256, "a Record takes {size} bytes");
    }

    #[test]
    fn short_text_cuts_at_a_character_boundary() {
        assert_eq!(ShortText::new("abc").as_str(), "abc");
        let long = "é".repeat(40);
        let cut = ShortText::new(&long);
        assert_eq!(
            cut.as_str().len(),
            62,
            "31 two-byte characters fit in 63 bytes"
        );
        assert!(ShortText::default().is_empty());
    }

    #[test]
    fn a_record_is_one_csv_line_of_the_header_columns() {
        let reading = Reading {
            cold: true,
            container_id: "x,y",
            ..Default::default()
        };
        let r = Record::new(3, RequestId::new(7, 3), Timing::default(), 200, &reading);
        let mut line = Vec::new();
        write_csv_fields(&mut line, &r).unwrap();
        let line = String::from_utf8(line).unwrap();
        let columns = HEADER.trim_end().split(',').count();
        assert_eq!(line.split(',').count(), columns, "{line}");
        assert!(
            line.contains(",?,"),
            "a bad container id cannot break the CSV: {line}"
        );
    }
}
