//! A reader that draws a progress bar on a terminal while a file is read.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// Wraps a reader of `total` bytes; every 200 ms it redraws `label [#####   ] 45 %` on
/// `sink` (standard error) and finishes the line at the end. Draws nothing when
/// `enabled` is false (output is not a terminal).
pub struct ProgressReader<R, W: Write> {
    inner: R,
    sink: W,
    label: String,
    total: u64,
    done: u64,
    enabled: bool,
    last_draw: Option<Instant>,
}

impl<R: Read, W: Write> ProgressReader<R, W> {
    /// A progress reader over `inner`.
    pub fn new(inner: R, sink: W, label: &str, total: u64, enabled: bool) -> Self {
        Self {
            inner,
            sink,
            label: label.to_owned(),
            total,
            done: 0,
            enabled,
            last_draw: None,
        }
    }

    fn draw(&mut self, finished: bool) {
        if !self.enabled {
            return;
        }
        let fraction = if self.total == 0 {
            1.0
        } else {
            self.done as f64 / self.total as f64
        };
        let filled = (fraction * 30.0).round() as usize;
        let _ = write!(
            self.sink,
            "\r{} [{}{}] {:>3.0} % of {:.1} MB",
            self.label,
            "#".repeat(filled.min(30)),
            " ".repeat(30 - filled.min(30)),
            fraction * 100.0,
            self.total as f64 / 1e6
        );
        if finished {
            let _ = writeln!(self.sink);
        }
        let _ = self.sink.flush();
    }
}

impl<R: Read, W: Write> Read for ProgressReader<R, W> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.done += read as u64;
        let due = self
            .last_draw
            .is_none_or(|t| t.elapsed() >= Duration::from_millis(200));
        if read == 0 {
            self.draw(true);
        } else if due {
            self.last_draw = Some(Instant::now());
            self.draw(false);
        }
        Ok(read)
    }
}
