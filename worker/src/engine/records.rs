//! Raw per-invocation records, streamed to one CSV file so that memory stays bounded however
//! long a run is.
//!
//! Each task formats its records into its own buffer (no allocation once the buffer has grown)
//! and appends the buffer to the shared file when it is nearly full, and when the task ends.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::reader::Reading;

/// Column names of the records file; units are in the names.
pub const HEADER: &str =
    "request_id,intended_s,client_begin,latency_us,service_us,lag_us,connect_us,\
first_byte_us,status,ok,is_cold,benchmark_us,container_id,provider_execution_us,provider_init_us,\
memory_kib,error\n";

const FLUSH_AT: usize = 60 * 1024;

/// The shared records file.
#[derive(Clone, Debug)]
pub struct RecordLog {
    file: Arc<Mutex<File>>,
}

impl RecordLog {
    pub fn create(path: &Path) -> io::Result<Self> {
        let mut file = File::create(path)?;
        file.write_all(HEADER.as_bytes())?;
        Ok(RecordLog {
            file: Arc::new(Mutex::new(file)),
        })
    }

    pub fn buffer(&self) -> RecordBuffer {
        RecordBuffer {
            log: self.clone(),
            buf: Vec::with_capacity(FLUSH_AT + 1024),
        }
    }
}

/// Times of one invocation, as the engine measured them.
#[derive(Clone, Copy, Debug, Default)]
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

/// One task's buffer in front of the records file.
#[derive(Debug)]
pub struct RecordBuffer {
    log: RecordLog,
    buf: Vec<u8>,
}

impl RecordBuffer {
    pub fn write(
        &mut self,
        request_id: &str,
        t: &Timing,
        status: u16,
        r: &Reading<'_>,
    ) -> io::Result<()> {
        let error = r.failure.map(|k| k.as_str()).unwrap_or("");
        // Container ids come from the function; keep the CSV well-formed whatever they hold.
        let container = if r
            .container_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            r.container_id
        } else {
            "?"
        };
        writeln!(
            self.buf,
            "{request_id},{:.6},{:.6},{},{},{},{},{},{status},{},{},{},{container},{},{},{},{error}",
            t.intended_s,
            t.client_begin,
            t.latency_us,
            t.service_us,
            t.lag_us,
            t.connect_us,
            t.first_byte_us,
            u8::from(r.failure.is_none()),
            u8::from(r.cold),
            r.benchmark_us,
            r.execution_us,
            r.init_us,
            r.memory_kib,
        )?;
        if self.buf.len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut file = self.log.file.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }
}

impl Drop for RecordBuffer {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            tracing::warn!(error = %e, "could not write the last invocation records");
        }
    }
}

/// Request ids `<run>-<task>-<seq>` formatted into a fixed buffer.
#[derive(Debug)]
pub struct RequestIds {
    buf: [u8; 40],
    len: usize,
    run: u32,
    task: u32,
    seq: u64,
}

impl RequestIds {
    pub fn new(run: u32, task: u32) -> Self {
        RequestIds {
            buf: [0; 40],
            len: 0,
            run,
            task,
            seq: 0,
        }
    }

    pub fn next_id(&mut self) -> &str {
        let mut cursor = io::Cursor::new(&mut self.buf[..]);
        // 8 + 1 + 4 + 1 + 12 hex digits: always fits the buffer.
        let _ = write!(
            cursor,
            "{:08x}-{:04x}-{:012x}",
            self.run, self.task, self.seq
        );
        self.len = cursor.position() as usize;
        self.seq += 1;
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_fixed_width() {
        let mut a = RequestIds::new(0xdead_beef, 3);
        let first = a.next_id().to_string();
        let second = a.next_id().to_string();
        assert_eq!(first, "deadbeef-0003-000000000000");
        assert_eq!(second, "deadbeef-0003-000000000001");
    }

    #[test]
    fn records_reach_the_file_in_order_per_task() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.csv");
        let log = RecordLog::create(&path).unwrap();
        let mut a = log.buffer();
        let mut b = log.buffer();
        let reading = Reading {
            cold: true,
            container_id: "abc",
            ..Default::default()
        };
        for i in 0..3000 {
            let t = Timing {
                latency_us: i,
                ..Default::default()
            };
            a.write("a", &t, 200, &reading).unwrap();
            b.write(
                "b",
                &t,
                200,
                &Reading {
                    container_id: "x,y",
                    ..reading
                },
            )
            .unwrap();
        }
        drop((a, b));
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], HEADER.trim_end());
        assert_eq!(lines.len(), 6001);
        let columns = HEADER.trim_end().split(',').count();
        assert!(
            lines.iter().all(|l| l.split(',').count() == columns),
            "a bad container id cannot break the CSV"
        );
        let a_latencies: Vec<u64> = lines[1..]
            .iter()
            .filter(|l| l.starts_with("a,"))
            .map(|l| l.split(',').nth(3).unwrap().parse().unwrap())
            .collect();
        assert_eq!(a_latencies, (0..3000).collect::<Vec<_>>());
    }
}
