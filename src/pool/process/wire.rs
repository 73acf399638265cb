//! The framing between a pool and its worker processes.
//!
//! Every message is one frame: a `u32` little-endian payload length, then the payload, whose
//! first byte is the message's tag. Integers inside are LEB128 varints, strings are a varint
//! length and UTF-8 bytes. The parent opens with [`ToWorker::Hello`] (magic and protocol
//! version); the worker answers [`FromWorker::Ready`] with its own version and pid, so two
//! builds that do not speak the same protocol refuse each other instead of misreading.
//!
//! A hand-written encoding rather than JSON: a no-op task is about 15 bytes each way, and
//! encoding it costs no allocation on the hot path.

use std::io::{self, BufRead, BufReader, Read};
use std::time::Duration;

use crate::pool::probe::{TaskId, WorkerId};
use crate::pool::task::{TaskSpec, Work};

/// Bumped whenever a frame's layout changes.
pub(crate) const VERSION: u16 = 1;
const MAGIC: &[u8; 4] = b"PSCP";
/// A frame larger than this is a protocol error, not an allocation to attempt.
const MAX_FRAME: usize = 1 << 30;
/// A frame up to this size is read into a buffer of its announced length; a larger one grows
/// as its bytes arrive.
const PREALLOCATED: usize = 1 << 20;

const HELLO: u8 = 1;
const JOB: u8 = 2;
const QUEUE_REPLY: u8 = 3;
const EXIT: u8 = 4;
const READY: u8 = 11;
const INIT_FAILED: u8 = 12;
const DONE: u8 = 13;
const QUEUE_PUT: u8 = 14;
const QUEUE_GET: u8 = 15;

/// What the parent tells a worker.
#[derive(Debug, PartialEq)]
pub(crate) enum ToWorker {
    /// The first frame: who the worker is and how fast its spin kernel is taken to run.
    Hello { version: u16, worker: WorkerId, spin_rate: u64, initializer: Option<TaskSpec> },
    /// Tasks to run back to back, in order.
    Job(Vec<(TaskId, TaskSpec)>),
    /// The answer to the worker's last queue request.
    QueueReply(Result<String, String>),
    /// Finish the tasks received so far, then exit.
    Exit,
}

/// What a worker tells the parent.
#[derive(Debug, PartialEq)]
pub(crate) enum FromWorker {
    /// The initializer (if any) ran; tasks may come.
    Ready { version: u16, pid: u32 },
    /// The initializer raised; the worker exits.
    InitFailed(String),
    /// A task ended: its output, or the message it raised.
    Done { task: TaskId, outcome: Result<Option<String>, String> },
    /// A task puts an item on a shared queue; a [`ToWorker::QueueReply`] follows.
    QueuePut { queue: String, item: String },
    /// A task takes an item from a shared queue; a [`ToWorker::QueueReply`] follows.
    QueueGet { queue: String },
}

/// Starts a frame with tag `tag` in `buf`; returns where its length goes.
fn open(buf: &mut Vec<u8>, tag: u8) -> usize {
    let at = buf.len();
    buf.extend_from_slice(&[0; 4]);
    buf.push(tag);
    at
}

/// Writes the length of the frame opened at `at`.
fn close(buf: &mut [u8], at: usize) {
    let len = u32::try_from(buf.len() - at - 4).expect("a frame under 4 GiB");
    buf[at..at + 4].copy_from_slice(&len.to_le_bytes());
}

fn put_varint(buf: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        buf.push((n as u8) | 0x80);
        n >>= 7;
    }
    buf.push(n as u8);
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_varint(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

fn put_spec(buf: &mut Vec<u8>, spec: &TaskSpec) {
    match &spec.work {
        Work::Noop => buf.push(0),
        Work::Sleep => buf.push(1),
        Work::Spin => buf.push(2),
        Work::SumSquares { n } => {
            buf.push(3);
            put_varint(buf, *n);
        }
        Work::Fail { message } => {
            buf.push(4);
            put_str(buf, message);
        }
        Work::Crash => buf.push(5),
        Work::QueuePut { queue, item } => {
            buf.push(6);
            put_str(buf, queue);
            put_str(buf, item);
        }
        Work::QueueGet { queue } => {
            buf.push(7);
            put_str(buf, queue);
        }
        Work::Increment { counter, lock } => {
            buf.push(8);
            put_str(buf, counter);
            match lock {
                Some(lock) => {
                    buf.push(1);
                    put_str(buf, lock);
                }
                None => buf.push(0),
            }
        }
    }
    put_varint(buf, u64::try_from(spec.duration.as_nanos()).unwrap_or(u64::MAX));
    put_str(buf, &spec.label);
}

/// Appends the handshake frame.
pub(crate) fn encode_hello(buf: &mut Vec<u8>, worker: WorkerId, spin_rate: u64, initializer: Option<&TaskSpec>) {
    let at = open(buf, HELLO);
    buf.extend_from_slice(MAGIC);
    buf.extend_from_slice(&VERSION.to_le_bytes());
    put_varint(buf, worker as u64);
    put_varint(buf, spin_rate);
    match initializer {
        Some(spec) => {
            buf.push(1);
            put_spec(buf, spec);
        }
        None => buf.push(0),
    }
    close(buf, at);
}

/// Appends a job frame: the tasks, run back to back in this order.
pub(crate) fn encode_job<'a>(buf: &mut Vec<u8>, count: usize, tasks: impl Iterator<Item = (TaskId, &'a TaskSpec)>) {
    let at = open(buf, JOB);
    put_varint(buf, count as u64);
    for (task, spec) in tasks {
        put_varint(buf, task);
        put_spec(buf, spec);
    }
    close(buf, at);
}

/// Appends a reply to a queue request.
pub(crate) fn encode_queue_reply(buf: &mut Vec<u8>, reply: &Result<String, String>) {
    let at = open(buf, QUEUE_REPLY);
    match reply {
        Ok(item) => {
            buf.push(1);
            put_str(buf, item);
        }
        Err(msg) => {
            buf.push(0);
            put_str(buf, msg);
        }
    }
    close(buf, at);
}

/// Appends the frame that asks a worker to leave once its tasks are done.
pub(crate) fn encode_exit(buf: &mut Vec<u8>) {
    let at = open(buf, EXIT);
    close(buf, at);
}

/// Appends a worker's message.
pub(crate) fn encode_from_worker(buf: &mut Vec<u8>, msg: &FromWorker) {
    match msg {
        FromWorker::Ready { version, pid } => {
            let at = open(buf, READY);
            buf.extend_from_slice(&version.to_le_bytes());
            put_varint(buf, u64::from(*pid));
            close(buf, at);
        }
        FromWorker::InitFailed(msg) => {
            let at = open(buf, INIT_FAILED);
            put_str(buf, msg);
            close(buf, at);
        }
        FromWorker::Done { task, outcome } => {
            let at = open(buf, DONE);
            put_varint(buf, *task);
            match outcome {
                Ok(None) => buf.push(0),
                Ok(Some(output)) => {
                    buf.push(1);
                    put_str(buf, output);
                }
                Err(msg) => {
                    buf.push(2);
                    put_str(buf, msg);
                }
            }
            close(buf, at);
        }
        FromWorker::QueuePut { queue, item } => {
            let at = open(buf, QUEUE_PUT);
            put_str(buf, queue);
            put_str(buf, item);
            close(buf, at);
        }
        FromWorker::QueueGet { queue } => {
            let at = open(buf, QUEUE_GET);
            put_str(buf, queue);
            close(buf, at);
        }
    }
}

/// Reads one frame's payload into `frame`. `Ok(false)` at a clean end of stream (between
/// frames).
///
/// # Errors
/// The stream's own errors; `UnexpectedEof` in the middle of a frame; `InvalidData` for a
/// frame over the size limit.
pub(crate) fn read_frame<R: Read>(reader: &mut BufReader<R>, frame: &mut Vec<u8>) -> io::Result<bool> {
    if reader.fill_buf()?.is_empty() {
        return Ok(false);
    }
    let mut len = [0u8; 4];
    reader.read_exact(&mut len).map_err(|e| cut_short(e, 4))?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(invalid(format!("a frame of {len} bytes")));
    }
    frame.clear();
    if len <= PREALLOCATED {
        frame.resize(len, 0);
        reader.read_exact(frame).map_err(|e| cut_short(e, len))?;
    } else {
        // Grown as the bytes arrive: a garbage length does not allocate a gigabyte.
        reader.take(len as u64).read_to_end(frame)?;
        if frame.len() < len {
            return Err(cut_short(io::ErrorKind::UnexpectedEof.into(), len));
        }
    }
    Ok(true)
}

/// The stream ended inside a frame: the writer died in the middle of a message.
fn cut_short(error: io::Error, len: usize) -> io::Error {
    match error.kind() {
        io::ErrorKind::UnexpectedEof => {
            io::Error::new(io::ErrorKind::UnexpectedEof, format!("the stream ended inside a frame of {len} bytes"))
        }
        _ => error,
    }
}

/// True if a whole frame is already buffered, so [`read_frame`] will not block.
pub(crate) fn frame_buffered<R>(reader: &BufReader<R>) -> bool {
    let buffered = reader.buffer();
    buffered.len() >= 4 && {
        let len = u32::from_le_bytes([buffered[0], buffered[1], buffered[2], buffered[3]]) as usize;
        buffered.len() - 4 >= len
    }
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("poolscope worker protocol: {what}"))
}

/// Reads the fields of a payload.
struct Fields<'a> {
    bytes: &'a [u8],
}

impl<'a> Fields<'a> {
    fn u8(&mut self) -> io::Result<u8> {
        let (&first, rest) = self.bytes.split_first().ok_or_else(|| invalid("a truncated frame".into()))?;
        self.bytes = rest;
        Ok(first)
    }

    fn take(&mut self, n: usize) -> io::Result<&'a [u8]> {
        if self.bytes.len() < n {
            return Err(invalid("a truncated frame".into()));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn u16(&mut self) -> io::Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn varint(&mut self) -> io::Result<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            n |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(invalid("an overlong integer".into()))
    }

    fn string(&mut self) -> io::Result<String> {
        let len = usize::try_from(self.varint()?).map_err(|_| invalid("a huge string".into()))?;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| invalid("a string that is not UTF-8".into()))
    }

    fn spec(&mut self) -> io::Result<TaskSpec> {
        let work = match self.u8()? {
            0 => Work::Noop,
            1 => Work::Sleep,
            2 => Work::Spin,
            3 => Work::SumSquares { n: self.varint()? },
            4 => Work::Fail { message: self.string()? },
            5 => Work::Crash,
            6 => Work::QueuePut { queue: self.string()?, item: self.string()? },
            7 => Work::QueueGet { queue: self.string()? },
            8 => {
                let counter = self.string()?;
                let lock = match self.u8()? {
                    0 => None,
                    1 => Some(self.string()?),
                    other => return Err(invalid(format!("a lock marked {other}"))),
                };
                Work::Increment { counter, lock }
            }
            other => return Err(invalid(format!("unknown work {other}"))),
        };
        let duration = Duration::from_nanos(self.varint()?);
        let label = self.string()?;
        Ok(TaskSpec { work, duration, label })
    }

    fn end(&self) -> io::Result<()> {
        if self.bytes.is_empty() { Ok(()) } else { Err(invalid("trailing bytes in a frame".into())) }
    }
}

/// Decodes a frame the parent sent.
///
/// # Errors
/// `InvalidData` for anything malformed, including a handshake from another protocol.
pub(crate) fn decode_to_worker(payload: &[u8]) -> io::Result<ToWorker> {
    let mut f = Fields { bytes: payload };
    let msg = match f.u8()? {
        HELLO => {
            if f.take(4)? != MAGIC {
                return Err(invalid("not a poolscope handshake".into()));
            }
            let version = f.u16()?;
            if version != VERSION {
                // The rest may be laid out differently: stop here, the caller reports it.
                return Ok(ToWorker::Hello { version, worker: 0, spin_rate: 0, initializer: None });
            }
            let worker = usize::try_from(f.varint()?).map_err(|_| invalid("a huge worker id".into()))?;
            let spin_rate = f.varint()?;
            let initializer = match f.u8()? {
                0 => None,
                _ => Some(f.spec()?),
            };
            ToWorker::Hello { version, worker, spin_rate, initializer }
        }
        JOB => {
            let count = f.varint()?;
            let mut tasks = Vec::with_capacity(count.min(4096) as usize);
            for _ in 0..count {
                let task = f.varint()?;
                tasks.push((task, f.spec()?));
            }
            ToWorker::Job(tasks)
        }
        QUEUE_REPLY => match f.u8()? {
            0 => ToWorker::QueueReply(Err(f.string()?)),
            _ => ToWorker::QueueReply(Ok(f.string()?)),
        },
        EXIT => ToWorker::Exit,
        other => return Err(invalid(format!("unknown message {other} to a worker"))),
    };
    f.end()?;
    Ok(msg)
}

/// Decodes a frame a worker sent.
///
/// # Errors
/// `InvalidData` for anything malformed.
pub(crate) fn decode_from_worker(payload: &[u8]) -> io::Result<FromWorker> {
    let mut f = Fields { bytes: payload };
    let msg = match f.u8()? {
        READY => {
            let version = f.u16()?;
            let pid = u32::try_from(f.varint()?).map_err(|_| invalid("a huge pid".into()))?;
            FromWorker::Ready { version, pid }
        }
        INIT_FAILED => FromWorker::InitFailed(f.string()?),
        DONE => {
            let task = f.varint()?;
            let outcome = match f.u8()? {
                0 => Ok(None),
                1 => Ok(Some(f.string()?)),
                _ => Err(f.string()?),
            };
            FromWorker::Done { task, outcome }
        }
        QUEUE_PUT => FromWorker::QueuePut { queue: f.string()?, item: f.string()? },
        QUEUE_GET => FromWorker::QueueGet { queue: f.string()? },
        other => return Err(invalid(format!("unknown message {other} from a worker"))),
    };
    f.end()?;
    Ok(msg)
}

/// True for tasks that end the moment they start: a worker may be handed several of them at
/// once (pipelining) without anything on screen looking different.
pub(crate) fn is_quick(spec: &TaskSpec) -> bool {
    spec.duration.is_zero() && matches!(spec.work, Work::Noop | Work::Fail { .. })
}

/// Reads `stream` frame by frame, as the pool reads a worker's stdout, and decodes each
/// frame both as a worker's message and as the parent's; every message decoded encodes back
/// to one that decodes the same. The frames read, or the error that stopped the stream.
///
/// For the fuzzer and its corpus test: whatever the bytes, an error, never a panic.
///
/// # Errors
/// A frame cut short or over the size limit.
///
/// # Panics
/// When a decoded message does not survive a round trip.
#[doc(hidden)]
pub fn decode_stream(stream: &[u8]) -> io::Result<usize> {
    let mut reader = BufReader::new(stream);
    let mut frame = Vec::new();
    let mut frames = 0;
    let mut again = Vec::new();
    while read_frame(&mut reader, &mut frame)? {
        frames += 1;
        if let Ok(msg) = decode_from_worker(&frame) {
            again.clear();
            encode_from_worker(&mut again, &msg);
            assert_eq!(decode_from_worker(&again[4..]).ok().as_ref(), Some(&msg), "{frame:?}");
        }
        if let Ok(msg) = decode_to_worker(&frame) {
            again.clear();
            match &msg {
                ToWorker::Hello { version, .. } if *version != VERSION => continue,
                ToWorker::Hello { worker, spin_rate, initializer, .. } => {
                    encode_hello(&mut again, *worker, *spin_rate, initializer.as_ref());
                }
                ToWorker::Job(tasks) => encode_job(&mut again, tasks.len(), tasks.iter().map(|(id, spec)| (*id, spec))),
                ToWorker::QueueReply(reply) => encode_queue_reply(&mut again, reply),
                ToWorker::Exit => encode_exit(&mut again),
            }
            assert_eq!(decode_to_worker(&again[4..]).ok().as_ref(), Some(&msg), "{frame:?}");
        }
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(buf: &[u8]) -> Vec<Vec<u8>> {
        let mut reader = BufReader::new(buf);
        let mut frame = Vec::new();
        let mut out = Vec::new();
        while read_frame(&mut reader, &mut frame).unwrap() {
            out.push(frame.clone());
        }
        out
    }

    #[test]
    fn every_message_round_trips() {
        let specs = vec![
            (0, TaskSpec::new(Work::Noop, Duration::ZERO, "a")),
            (1, TaskSpec::new(Work::Spin, Duration::from_millis(5), "b")),
            (300, TaskSpec::new(Work::SumSquares { n: 1 << 40 }, Duration::ZERO, "c")),
            (u64::MAX, TaskSpec::new(Work::Fail { message: "é".into() }, Duration::from_secs(3), "d")),
            (4, TaskSpec::new(Work::QueuePut { queue: "q".into(), item: "x".into() }, Duration::ZERO, "")),
            (5, TaskSpec::new(Work::QueueGet { queue: "q".into() }, Duration::ZERO, "f")),
            (6, TaskSpec::new(Work::Crash, Duration::ZERO, "g")),
            (7, TaskSpec::new(Work::Sleep, Duration::from_nanos(1), "h")),
            (8, TaskSpec::new(Work::Increment { counter: "n".into(), lock: None }, Duration::ZERO, "i")),
            (9, TaskSpec::new(Work::Increment { counter: "n".into(), lock: Some("l".into()) }, Duration::ZERO, "j")),
        ];
        let mut buf = Vec::new();
        encode_hello(&mut buf, 7, 123_456, Some(&specs[1].1));
        encode_job(&mut buf, specs.len(), specs.iter().map(|(id, spec)| (*id, spec)));
        encode_queue_reply(&mut buf, &Ok("item".into()));
        encode_queue_reply(&mut buf, &Err("closed".into()));
        encode_exit(&mut buf);
        let decoded: Vec<ToWorker> = frames(&buf).iter().map(|f| decode_to_worker(f).unwrap()).collect();
        assert_eq!(
            decoded,
            [
                ToWorker::Hello {
                    version: VERSION,
                    worker: 7,
                    spin_rate: 123_456,
                    initializer: Some(specs[1].1.clone())
                },
                ToWorker::Job(specs),
                ToWorker::QueueReply(Ok("item".into())),
                ToWorker::QueueReply(Err("closed".into())),
                ToWorker::Exit,
            ]
        );

        let messages = vec![
            FromWorker::Ready { version: VERSION, pid: 4_000_000 },
            FromWorker::InitFailed("no".into()),
            FromWorker::Done { task: 1, outcome: Ok(None) },
            FromWorker::Done { task: 2, outcome: Ok(Some("42".into())) },
            FromWorker::Done { task: 3, outcome: Err("boom".into()) },
            FromWorker::QueuePut { queue: "q".into(), item: "i".into() },
            FromWorker::QueueGet { queue: "q".into() },
        ];
        let mut buf = Vec::new();
        for msg in &messages {
            encode_from_worker(&mut buf, msg);
        }
        let decoded: Vec<FromWorker> = frames(&buf).iter().map(|f| decode_from_worker(f).unwrap()).collect();
        assert_eq!(decoded, messages);
    }

    #[test]
    fn a_noop_task_is_small() {
        let mut buf = Vec::new();
        let spec = TaskSpec::new(Work::Noop, Duration::ZERO, "t1");
        encode_job(&mut buf, 1, std::iter::once((1000, &spec)));
        assert!(buf.len() <= 16, "{} bytes", buf.len());
    }

    #[test]
    fn malformed_frames_are_errors_not_panics() {
        assert!(decode_to_worker(&[]).is_err());
        assert!(decode_to_worker(&[HELLO, b'X', b'Y', b'Z', b'W']).is_err());
        assert!(decode_to_worker(&[JOB, 1, 0]).is_err());
        assert!(decode_from_worker(&[DONE, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(decode_from_worker(&[99]).is_err());
        let mut reader = BufReader::new(&[5u8, 0, 0, 0, 1][..]);
        assert!(read_frame(&mut reader, &mut Vec::new()).is_err());
    }

    #[test]
    fn a_future_version_is_reported_not_misread() {
        let mut buf = Vec::new();
        let at = open(&mut buf, HELLO);
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&(VERSION + 1).to_le_bytes());
        buf.extend_from_slice(b"whatever follows");
        close(&mut buf, at);
        let frame = &frames(&buf)[0];
        assert!(matches!(decode_to_worker(frame), Ok(ToWorker::Hello { version, .. }) if version == VERSION + 1));
    }
}
