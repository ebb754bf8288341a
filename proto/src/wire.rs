//! A worker's messages as bytes, outside a gRPC stream: the same protobuf encoding the stream
//! uses, for a worker that keeps its reports on disk while it cannot reach the coordinator, and
//! for measuring what decoding costs.

use prost::Message;

use crate::convert::fleet::{from_worker_from_pb, from_worker_to_pb};
use crate::fleet::FromWorker;
use crate::generated::sebs::fleet::v1 as pb;

/// Bytes that are not a worker message.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("not a protobuf worker message: {0}")]
    Decode(#[from] prost::DecodeError),
    #[error(transparent)]
    Convert(#[from] crate::convert::ConvertError),
}

/// Appends `message`'s protobuf encoding to `buf`.
pub fn encode_from_worker(message: &FromWorker, buf: &mut Vec<u8>) {
    let pb = from_worker_to_pb(message);
    buf.reserve(pb.encoded_len());
    // Encoding into a Vec only fails when it cannot grow, which aborts first.
    let _ = pb.encode(buf);
}

/// The message `bytes` encode (the whole slice is one message).
pub fn decode_from_worker(bytes: &[u8]) -> Result<FromWorker, WireError> {
    let pb = pb::WorkerMessage::decode(bytes)?;
    Ok(from_worker_from_pb(pb)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{ShardDone, ShardKey};
    use crate::ids::{Attempt, RunId, ShardId};

    #[test]
    fn a_message_survives_its_bytes() {
        let done = ShardDone {
            key: ShardKey {
                run: RunId(7),
                shard: ShardId(3),
                attempt: Attempt(1),
            },
            sent: 42,
            error: Some("boom".into()),
        };
        let mut buf = Vec::new();
        encode_from_worker(&FromWorker::Done(done.clone()), &mut buf);
        match decode_from_worker(&buf).unwrap() {
            FromWorker::Done(back) => assert_eq!(back, done),
            other => panic!("{other:?}"),
        }
        assert!(decode_from_worker(&[0xff, 0xff]).is_err());
    }
}
