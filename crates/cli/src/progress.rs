//! Progress on a terminal for long writes and scans: a background ticker
//! that prints a row counter (and its rate) to stderr every quarter second
//! while a command runs, and nothing when stderr is not a terminal.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A running progress line; stops (and ends the line) when dropped.
pub struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// `label: 1,234,567 rows (456,789 rows/s)`.
pub fn line(label: &str, rows: u64, elapsed: Duration) -> String {
    let rate = rows as f64 / elapsed.as_secs_f64().max(1e-3);
    format!(
        "{label}: {} rows ({} rows/s)",
        grouped(rows),
        grouped(rate as u64)
    )
}

fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl Ticker {
    /// Starts a ticker over `counter` when stderr is a terminal.
    pub fn start(label: &str, counter: Arc<AtomicU64>) -> Option<Ticker> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (label, flag) = (label.to_string(), stop.clone());
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut shown = false;
            while !flag.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(250));
                let text = line(&label, counter.load(Ordering::Relaxed), started.elapsed());
                let _ = write!(std::io::stderr(), "\r\x1b[2K{text}");
                shown = true;
            }
            if shown {
                let text = line(&label, counter.load(Ordering::Relaxed), started.elapsed());
                let _ = writeln!(std::io::stderr(), "\r\x1b[2K{text}");
            }
        });
        Some(Ticker {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_group_digits_and_show_the_rate() {
        assert_eq!(
            line("writing", 1_234_567, Duration::from_secs(2)),
            "writing: 1,234,567 rows (617,283 rows/s)"
        );
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
    }
}
