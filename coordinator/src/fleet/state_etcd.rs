//! Runs, shards and accepted results in etcd, so that a coordinator killed mid-run and started
//! again with the same `--etcd` resumes its runs (`resume.rs`).
//!
//! Keys (values are `sebs-proto`'s `stored` encodings):
//! - `sebs/run/<run>`: the run (status, submission, job, start times);
//! - `sebs/shards/<run>/<shard, 10 digits>`: each shard's plan, attempt, done set and history;
//! - `sebs/batches/<run>/<index, 20 digits>`: the results accepted from each report. A batch
//!   larger than `CHUNK` is written as parts `<index>/<part, 6 digits>` first and then its head
//!   `<index>`, which names how many parts it has: a batch exists once its head does, so a
//!   coordinator killed between the two never reads half a batch.
//!
//! A run's shards and batches are deleted when it ends (its results went to its watchers and
//! to the coordinator's copy), and when it is prepared (again); the run's key stays, small, to
//! say how it ended.

use async_trait::async_trait;
use etcd_client::{Client, DeleteOptions, GetOptions, KvClient};
use sebs_proto::RunId;

use super::state::{RunState, RunStatus, ShardState, StateStore, StoreError, StoredBatch};

/// The most bytes one value holds: well under etcd's default request limit (1.5 MiB).
const CHUNK: usize = 512 * 1024;
/// The most bytes one read may return (values of up to `CHUNK`, a page of `PAGE` of them).
const MAX_REPLY: usize = 64 * 1024 * 1024;
/// Keys read at once.
const PAGE: i64 = 64;

/// A head's first byte: the batch follows whole, or the number of its parts (u32, LE) does.
const WHOLE: u8 = 0;
const PARTS: u8 = 1;

#[derive(Clone)]
pub struct EtcdStateStore {
    client: Client,
}

impl std::fmt::Debug for EtcdStateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStateStore").finish_non_exhaustive()
    }
}

fn run_key(run: RunId) -> String {
    format!("sebs/run/{run}")
}

fn shards_prefix(run: RunId) -> String {
    format!("sebs/shards/{run}/")
}

fn batches_prefix(run: RunId) -> String {
    format!("sebs/batches/{run}/")
}

fn error(e: etcd_client::Error) -> StoreError {
    StoreError(format!("etcd: {e}"))
}

impl EtcdStateStore {
    pub fn new(client: Client) -> Self {
        EtcdStateStore { client }
    }

    fn kv(&self) -> KvClient {
        self.client.kv_client().max_decoding_message_size(MAX_REPLY)
    }

    /// Every (key, value) under `prefix`, in key order, read a page at a time.
    async fn scan(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let mut kv = self.kv();
        let end = prefix_end(prefix);
        let mut from = prefix.as_bytes().to_vec();
        let mut out = Vec::new();
        loop {
            let options = GetOptions::new().with_range(end.clone()).with_limit(PAGE);
            let reply = kv.get(from.clone(), Some(options)).await.map_err(error)?;
            for pair in reply.kvs() {
                let key = String::from_utf8_lossy(pair.key()).into_owned();
                out.push((key, pair.value().to_vec()));
            }
            match reply.kvs().last() {
                Some(last) if reply.more() => {
                    from = last.key().to_vec();
                    from.push(0);
                }
                _ => return Ok(out),
            }
        }
    }
}

/// The first key after every key that starts with `prefix`.
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

#[async_trait]
impl StateStore for EtcdStateStore {
    async fn put_run(&self, run: &RunState) -> Result<(), StoreError> {
        let mut kv = self.kv();
        kv.put(run_key(run.run), run.encode(), None)
            .await
            .map_err(error)?;
        // Only a running run has shards and results: one being prepared (again) or over has
        // none.
        if run.status != RunStatus::Running {
            for prefix in [shards_prefix(run.run), batches_prefix(run.run)] {
                kv.delete(prefix, Some(DeleteOptions::new().with_prefix()))
                    .await
                    .map_err(error)?;
            }
        }
        Ok(())
    }

    async fn put_shard(&self, run: RunId, shard: &ShardState) -> Result<(), StoreError> {
        let key = format!("{}{:010}", shards_prefix(run), shard.shard.0);
        self.kv()
            .put(key, shard.encode(), None)
            .await
            .map_err(error)?;
        Ok(())
    }

    async fn put_batch(
        &self,
        run: RunId,
        index: u64,
        batch: &StoredBatch,
    ) -> Result<(), StoreError> {
        let head = format!("{}{index:020}", batches_prefix(run));
        let bytes = batch.encode();
        let mut kv = self.kv();
        let value = if bytes.len() <= CHUNK {
            let mut value = Vec::with_capacity(bytes.len() + 1);
            value.push(WHOLE);
            value.extend_from_slice(&bytes);
            value
        } else {
            let parts = bytes.chunks(CHUNK);
            let count = parts.len() as u32;
            for (i, part) in parts.enumerate() {
                kv.put(format!("{head}/{i:06}"), part, None)
                    .await
                    .map_err(error)?;
            }
            let mut value = vec![PARTS];
            value.extend_from_slice(&count.to_le_bytes());
            value
        };
        kv.put(head, value, None).await.map_err(error)?;
        Ok(())
    }

    async fn run(&self, run: RunId) -> Result<Option<RunState>, StoreError> {
        let reply = self.kv().get(run_key(run), None).await.map_err(error)?;
        reply
            .kvs()
            .first()
            .map(|kv| RunState::decode(kv.value()).map_err(|e| StoreError(e.to_string())))
            .transpose()
    }

    async fn shards(&self, run: RunId) -> Result<Vec<ShardState>, StoreError> {
        self.scan(&shards_prefix(run))
            .await?
            .into_iter()
            .map(|(key, value)| {
                ShardState::decode(&value).map_err(|e| StoreError(format!("{key}: {e}")))
            })
            .collect()
    }

    async fn batches(&self, run: RunId) -> Result<Vec<StoredBatch>, StoreError> {
        let prefix = batches_prefix(run);
        let pairs = self.scan(&prefix).await?;
        // Heads and their parts, in key order: a head sorts before its parts.
        let mut batches = Vec::new();
        let mut pending: Option<(String, u32, Vec<u8>)> = None;
        let finish = |pending: &mut Option<(String, u32, Vec<u8>)>,
                      batches: &mut Vec<StoredBatch>|
         -> Result<(), StoreError> {
            if let Some((key, missing, bytes)) = pending.take() {
                if missing > 0 {
                    return Err(StoreError(format!("{key}: {missing} part(s) missing")));
                }
                batches.push(
                    StoredBatch::decode(&bytes).map_err(|e| StoreError(format!("{key}: {e}")))?,
                );
            }
            Ok(())
        };
        for (key, value) in pairs {
            let name = &key[prefix.len()..];
            if let Some((head, _)) = name.split_once('/') {
                match &mut pending {
                    Some((k, missing, bytes)) if k.as_str() == head && *missing > 0 => {
                        bytes.extend_from_slice(&value);
                        *missing -= 1;
                    }
                    // Parts of a batch whose head was never written: a write cut short.
                    _ => {}
                }
                continue;
            }
            finish(&mut pending, &mut batches)?;
            match value.split_first() {
                Some((&WHOLE, bytes)) => pending = Some((name.to_string(), 0, bytes.to_vec())),
                Some((&PARTS, count)) if count.len() == 4 => {
                    let count = u32::from_le_bytes([count[0], count[1], count[2], count[3]]);
                    pending = Some((name.to_string(), count, Vec::new()));
                }
                _ => return Err(StoreError(format!("{key}: not a batch"))),
            }
        }
        finish(&mut pending, &mut batches)?;
        Ok(batches)
    }

    async fn runs(&self) -> Result<Vec<RunId>, StoreError> {
        let prefix = "sebs/run/";
        let options = GetOptions::new().with_prefix().with_keys_only();
        let reply = self.kv().get(prefix, Some(options)).await.map_err(error)?;
        Ok(reply
            .kvs()
            .iter()
            .filter_map(|kv| {
                let key = std::str::from_utf8(kv.key()).ok()?;
                key.strip_prefix(prefix)?.parse().ok()
            })
            .collect())
    }

    fn keeps_results(&self) -> bool {
        true
    }
}
