//! The invocation engine: drives closed and open loads through a trigger and records every
//! invocation into per-task HDR histograms and a raw record file.
//!
//! - [`schedule`]: arrival schedules (constant, Poisson, ramps, stages), split over tasks;
//! - [`runner`]: the tasks, the aggregator and the behind-schedule warning;
//! - [`recorder`]: per-task histograms and failure counts, merged, never averaged;
//! - [`records`]: raw per-invocation records, handed over in batches (and written as CSV);
//! - [`share`]: one engine's share of a schedule that several engines (a fleet) send together;
//! - [`seqset`]: sets of sequence numbers (what is done, what is left) as ranges;
//! - [`reader`]: what a reply says, read without allocating;
//! - [`hgrm`]: HdrHistogram's percentile text format and interval logs;
//! - [`timer`]: sub-millisecond deadlines for open-loop sends (tokio's round up to whole ms).

pub mod hgrm;
pub mod reader;
pub mod recorder;
pub mod records;
pub mod runner;
pub mod schedule;
pub mod seqset;
pub mod share;
pub mod timer;

pub use reader::{read_wrapper_reply, Reading, ReplyReader, WrapperReader};
