//! The event log writer: one JSON object per line (SPEC §5, `docs/event-log.md`).

use std::io::{self, BufWriter, Write};

use super::event::TraceEvent;

/// Writes [`TraceEvent`]s as JSON Lines.
#[derive(Debug)]
pub struct JsonlWriter<W: Write> {
    out: BufWriter<W>,
}

impl<W: Write> JsonlWriter<W> {
    /// A writer into `out` (buffered here).
    pub fn new(out: W) -> JsonlWriter<W> {
        JsonlWriter { out: BufWriter::new(out) }
    }

    /// Writes one event as one line.
    ///
    /// # Errors
    /// When the output fails (a full disk, a closed pipe).
    pub fn write(&mut self, event: &TraceEvent) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, event).map_err(io::Error::other)?;
        self.out.write_all(b"\n")
    }

    /// Flushes everything written.
    ///
    /// # Errors
    /// When the output fails.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        self.out.into_inner().map_err(|e| e.into_error())
    }
}

/// Reads an event log back (for tests and tools).
///
/// # Errors
/// The first line that is not an event, with its line number.
pub fn parse_jsonl(text: &str) -> Result<Vec<TraceEvent>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| serde_json::from_str(line).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}
