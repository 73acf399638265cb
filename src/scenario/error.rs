//! Errors in scenario files, located by file, line and column.

use std::fmt;
use std::ops::Range;

/// One thing wrong with a scenario file: where it is, which field, and what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file (or built-in scenario) the error is in.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// The field, as a path: `pool.workers`, `step[2].op`, `tasks.job.duration`.
    pub field: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.field.is_empty() {
            write!(f, "`{}`: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// Every error found in one scenario file, in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioErrors(pub Vec<ScenarioError>);

impl fmt::Display for ScenarioErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioErrors {}

/// A scenario's text and name, for turning byte offsets into lines, columns and field paths.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Source<'a> {
    pub(crate) name: &'a str,
    pub(crate) text: &'a str,
}

impl Source<'_> {
    /// An error at `span` (byte offsets) about `field`.
    pub(crate) fn error(
        &self,
        span: Option<Range<usize>>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> ScenarioError {
        let (line, column) = span.map_or((1, 1), |s| self.line_col(s.start));
        ScenarioError { file: self.name.to_string(), line, column, field: field.into(), message: message.into() }
    }

    /// A TOML or type error, in the words of a scenario file.
    pub(crate) fn toml_error(&self, error: &toml::de::Error) -> ScenarioError {
        let span = error.span();
        let mut field = span.as_ref().map(|s| self.field_at(s.start)).unwrap_or_default();
        let mut message = error.message().trim().to_string();
        if let Some(rest) = message.strip_prefix("invalid type: ") {
            message = format!("wrong type: {rest}");
        }
        for (rust, plain) in [("expected i64", "expected an integer"), ("expected u64", "expected an integer")] {
            message = message.replace(rust, plain);
        }
        // A missing field is reported at its table: name the field itself.
        if let Some(name) = message.strip_prefix("missing field `").and_then(|m| m.split('`').next()) {
            let at_top = span.as_ref().is_none_or(|s| s.start == 0);
            field = if at_top || field.is_empty() { name.to_string() } else { format!("{field}.{name}") };
            message = format!("missing field `{name}`; it is required");
        }
        self.error(span, field, message)
    }

    /// 1-based line and column of a byte offset.
    pub(crate) fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(self.text, offset.min(self.text.len()));
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, before[line_start..].chars().count() + 1)
    }

    /// The field at a byte offset, guessed from the text: the key on that line, under the
    /// nearest table header above (`[[step]]` headers are counted to give the index).
    pub(crate) fn field_at(&self, offset: usize) -> String {
        let offset = floor_char_boundary(self.text, offset.min(self.text.len()));
        let line_start = self.text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.text[offset..].find('\n').map_or(self.text.len(), |i| offset + i);
        let line = &self.text[line_start..line_end];
        let key = match line.find('=') {
            Some(eq) if !line.trim_start().starts_with('[') => line[..eq].trim().trim_matches('"').to_string(),
            _ => String::new(),
        };
        let mut table = String::new();
        let mut steps = 0usize;
        for header in self.text[..line_start].lines() {
            let header = strip_comment(header).trim();
            if let Some(name) = header.strip_prefix("[[").and_then(|h| h.strip_suffix("]]")) {
                let name = name.trim();
                if name == "step" {
                    steps += 1;
                    table = format!("step[{}]", steps - 1);
                } else {
                    table = name.to_string();
                }
            } else if let Some(name) = header.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
                table = name.trim().to_string();
            }
        }
        if line.trim_start().starts_with('[') {
            let header = line.trim().trim_start_matches('[').trim_end_matches(']').trim();
            return if header == "step" { format!("step[{steps}]") } else { header.to_string() };
        }
        match (table.is_empty(), key.is_empty()) {
            (_, true) => table,
            (true, false) => key,
            (false, false) => format!("{table}.{key}"),
        }
    }
}

fn strip_comment(line: &str) -> &str {
    line.split('#').next().unwrap_or("")
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}
