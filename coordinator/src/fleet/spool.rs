//! What a worker has to tell the coordinator and has not yet had acknowledged: its reports,
//! progress and shard ends, as encoded messages, oldest first.
//!
//! A worker keeps running its shards while it cannot reach the coordinator; their messages
//! wait here and go out in order once it is attached again. Memory is bounded: past `limit`
//! bytes, new messages are appended to a spill file (in `dir`) and read back in order when
//! memory frees up. A message stays until the coordinator acknowledges it (`ack`): when a stream
//! breaks, what was sent on it but not acknowledged goes out again first (`rewind`), and the
//! coordinator refuses whatever of it had arrived (reports count once per shard, attempt and
//! sequence).
//!
//! Bound: queued plus unacknowledged messages in memory hold at most `limit` bytes, plus one
//! message read back from the spill file; the spill file holds the rest and is deleted as soon
//! as it is read to its end.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// A worker's outgoing messages: unacknowledged, queued in memory, spilled to disk.
#[derive(Debug)]
pub struct Spool {
    /// Sent on the current stream, not yet acknowledged, oldest first.
    in_flight: VecDeque<Vec<u8>>,
    /// Not yet sent, oldest first; older than anything in `spill`.
    queue: VecDeque<Vec<u8>>,
    /// Bytes in `in_flight` and `queue`.
    memory: usize,
    limit: usize,
    dir: PathBuf,
    spill: Option<SpillFile>,
    /// Messages ever written to a spill file.
    spilled: u64,
}

impl Spool {
    /// A spool that keeps up to `limit` bytes in memory and spills the rest into a file in
    /// `dir` (created when first needed).
    pub fn new(dir: PathBuf, limit: usize) -> Self {
        Spool {
            in_flight: VecDeque::new(),
            queue: VecDeque::new(),
            memory: 0,
            limit,
            dir,
            spill: None,
            spilled: 0,
        }
    }

    /// Queues a message behind every other.
    pub fn push(&mut self, message: Vec<u8>) -> io::Result<()> {
        if self.spill.is_none() && self.memory + message.len() <= self.limit {
            self.memory += message.len();
            self.queue.push_back(message);
            return Ok(());
        }
        let spill = match &mut self.spill {
            Some(spill) => spill,
            None => self.spill.insert(SpillFile::create(&self.dir)?),
        };
        spill.append(&message)?;
        self.spilled += 1;
        Ok(())
    }

    /// Whether `take_next` has a message: one is queued in memory, or spilled and memory has
    /// room for it (else the worker waits for acknowledgements to free memory).
    pub fn ready(&self) -> bool {
        !self.queue.is_empty()
            || (self.spill.is_some() && (self.memory < self.limit || self.in_flight.is_empty()))
    }

    /// The oldest message not yet sent; hand it back with `sent` once it is on its way.
    pub fn take_next(&mut self) -> io::Result<Option<Vec<u8>>> {
        if let Some(message) = self.queue.pop_front() {
            self.memory -= message.len();
            return Ok(Some(message));
        }
        if !self.ready() {
            return Ok(None);
        }
        let Some(spill) = &mut self.spill else {
            return Ok(None);
        };
        let message = spill.read_next()?;
        if spill.unread == 0 {
            // Read to its end: the file goes, and later spills start a new one.
            self.spill = None;
        }
        Ok(Some(message))
    }

    /// `message` (from `take_next`) was sent: it is kept until acknowledged.
    pub fn sent(&mut self, message: Vec<u8>) {
        self.memory += message.len();
        self.in_flight.push_back(message);
    }

    /// The coordinator received the `count` oldest messages sent: forget them.
    pub fn ack(&mut self, count: usize) {
        for message in self.in_flight.drain(..count.min(self.in_flight.len())) {
            self.memory -= message.len();
        }
    }

    /// The stream broke: what was sent but not acknowledged goes out again, first.
    pub fn rewind(&mut self) {
        while let Some(message) = self.in_flight.pop_back() {
            self.queue.push_front(message);
        }
    }

    /// Messages not yet acknowledged, sent or not.
    pub fn len(&self) -> u64 {
        let spilled = self.spill.as_ref().map_or(0, |s| s.unread);
        (self.in_flight.len() + self.queue.len()) as u64 + spilled
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Messages sent on the current stream and not yet acknowledged.
    #[cfg(test)]
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Bytes held in memory.
    pub fn memory(&self) -> usize {
        self.memory
    }

    /// Messages ever written to a spill file.
    pub fn spilled(&self) -> u64 {
        self.spilled
    }

    /// The spill file being used, if any.
    #[cfg(test)]
    pub fn spill_path(&self) -> Option<&Path> {
        self.spill.as_ref().map(|s| s.path.as_path())
    }
}

/// Messages appended to a file as `u32` little-endian length and bytes, read back in order.
/// Deleted when dropped.
#[derive(Debug)]
struct SpillFile {
    path: PathBuf,
    writer: File,
    reader: BufReader<File>,
    /// Messages written and not yet read.
    unread: u64,
}

impl SpillFile {
    fn create(dir: &Path) -> io::Result<SpillFile> {
        std::fs::create_dir_all(dir).map_err(|e| with_path(e, dir))?;
        let file = tempfile::Builder::new()
            .prefix(&format!("spool-{}-", std::process::id()))
            .suffix(".spill")
            .tempfile_in(dir)
            .map_err(|e| with_path(e, dir))?;
        let (writer, path) = file.keep().map_err(|e| with_path(e.error, dir))?;
        let reader = OpenOptions::new()
            .read(true)
            .open(&path)
            .map_err(|e| with_path(e, &path))?;
        tracing::info!(file = %path.display(), "spool memory is full; spilling to disk");
        Ok(SpillFile {
            path,
            writer,
            reader: BufReader::with_capacity(1 << 16, reader),
            unread: 0,
        })
    }

    fn append(&mut self, message: &[u8]) -> io::Result<()> {
        let len = u32::try_from(message.len()).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, "a message of 4 GiB or more")
        })?;
        let mut frame = Vec::with_capacity(4 + message.len());
        frame.extend_from_slice(&len.to_le_bytes());
        frame.extend_from_slice(message);
        self.writer
            .write_all(&frame)
            .map_err(|e| with_path(e, &self.path))?;
        self.unread += 1;
        Ok(())
    }

    fn read_next(&mut self) -> io::Result<Vec<u8>> {
        let mut len = [0u8; 4];
        self.reader
            .read_exact(&mut len)
            .map_err(|e| with_path(e, &self.path))?;
        let mut message = vec![0u8; u32::from_le_bytes(len) as usize];
        self.reader
            .read_exact(&mut message)
            .map_err(|e| with_path(e, &self.path))?;
        self.unread -= 1;
        Ok(message)
    }
}

impl Drop for SpillFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("spool {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(n: u32) -> Vec<u8> {
        // Sizes vary so that memory fills unevenly.
        let mut m = n.to_le_bytes().to_vec();
        m.resize(4 + (n % 97) as usize, n as u8);
        m
    }

    fn number(m: &[u8]) -> u32 {
        u32::from_le_bytes([m[0], m[1], m[2], m[3]])
    }

    /// A worker's view: what it sent on the current stream, and what the coordinator
    /// acknowledged (delivered, in order).
    #[derive(Default)]
    struct Link {
        sent: VecDeque<u32>,
        delivered: Vec<u32>,
    }

    impl Link {
        fn send(&mut self, spool: &mut Spool) {
            let m = spool.take_next().unwrap().unwrap();
            self.sent.push_back(number(&m));
            spool.sent(m);
        }

        fn ack(&mut self, spool: &mut Spool, count: usize) {
            spool.ack(count);
            self.delivered.extend(self.sent.drain(..count));
        }

        fn broken(&mut self, spool: &mut Spool) {
            spool.rewind();
            self.sent.clear();
        }

        /// Sends everything, acknowledged eight at a time.
        fn drain(&mut self, spool: &mut Spool) {
            while spool.ready() {
                self.send(spool);
                if spool.in_flight() >= 8 {
                    self.ack(spool, 8);
                }
            }
            self.ack(spool, spool.in_flight());
        }
    }

    #[test]
    fn memory_stays_bounded_and_order_survives_the_spill_file() {
        let dir = tempfile::tempdir().unwrap();
        let limit = 4096;
        let mut spool = Spool::new(dir.path().to_path_buf(), limit);
        let mut link = Link::default();
        let mut next = 0u32;
        // Long partitions (everything spills) between short deliveries, many times over.
        for round in 0..20u32 {
            for _ in 0..1000 + round * 37 {
                spool.push(message(next)).unwrap();
                next += 1;
                assert!(
                    spool.memory() <= limit,
                    "{} bytes in memory",
                    spool.memory()
                );
            }
            assert!(spool.spill_path().is_some_and(|p| p.exists()));
            // Part of it goes out, then the stream breaks before all of that is acknowledged.
            for _ in 0..50 {
                link.send(&mut spool);
                assert!(spool.memory() <= limit + 4 + 97, "one message over at most");
            }
            link.ack(&mut spool, 20);
            link.broken(&mut spool);
            assert_eq!(spool.len(), u64::from(next) - link.delivered.len() as u64);
            if round % 2 == 0 {
                link.drain(&mut spool);
                assert!(spool.is_empty());
                assert!(
                    spool.spill_path().is_none(),
                    "the spill file goes once read"
                );
            }
        }
        link.drain(&mut spool);
        assert_eq!(
            link.delivered,
            (0..next).collect::<Vec<_>>(),
            "every message once, in order"
        );
        assert!(spool.spilled() > 10_000, "{}", spool.spilled());
        assert_eq!(spool.memory(), 0);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "no spill file is left behind"
        );
    }

    #[test]
    fn a_broken_stream_sends_its_unacknowledged_messages_again_first() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::new(dir.path().to_path_buf(), 1 << 20);
        for n in 0..5 {
            spool.push(message(n)).unwrap();
        }
        for _ in 0..3 {
            let m = spool.take_next().unwrap().unwrap();
            spool.sent(m);
        }
        spool.ack(1);
        spool.rewind();
        spool.push(message(5)).unwrap();
        let mut order = Vec::new();
        while let Some(m) = spool.take_next().unwrap() {
            order.push(number(&m));
        }
        assert_eq!(order, [1, 2, 3, 4, 5]);
    }

    #[test]
    fn a_spill_that_cannot_be_written_says_where() {
        let file = tempfile::NamedTempFile::new().unwrap();
        // A file where the spool's folder should be.
        let mut spool = Spool::new(file.path().join("spool"), 0);
        let e = spool.push(message(1)).unwrap_err();
        assert!(e.to_string().contains("spool"), "{e}");
    }
}
