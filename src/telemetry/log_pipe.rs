//! The pipe from log events to stdout: nothing that logs ever waits for stdout.
//!
//! In ECS stdout is a pipe to the container runtime's log driver. When its reader stops (the
//! awslogs driver in `blocking` mode while CloudWatch Logs throttles, FireLens back-pressure), a
//! `write` blocks; a request that waited for its log line would stop `/healthz` answering, and ECS
//! would replace the task. So events are queued in memory and one writer thread writes them, in
//! order, batching a burst into few `write` calls.
//!
//! The queue is bounded in bytes, and lines are of two kinds:
//! - **request lines** (each presign answer, see [`REQUESTS_TARGET`]; DEBUG and TRACE events; other
//!   crates' events) are dropped once [`MAX_QUEUED_REQUEST_BYTES`] wait, and counted;
//! - **kept lines** (checks, refreshes, failures, start and stop: a few per interval) are queued up
//!   to [`MAX_QUEUED_BYTES`], days of checks, and dropped only beyond it.
//!
//! After a write that follows drops, the writer reports how many lines it lost in one line of its
//! own (`log lines dropped`), and [`dropped_lines`] counts them all for the metrics.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// The target of the per-request lines (`presign issued`, `presign refused`): the lines that may be
/// dropped while stdout is not read. `RUST_LOG=sessionguard::requests=off` turns them off.
pub const REQUESTS_TARGET: &str = "sessionguard::requests";

/// Request lines that may wait for the writer: ~1,500 presign lines, a few seconds of full load.
/// Beyond it they are dropped rather than making a request wait.
pub const MAX_QUEUED_REQUEST_BYTES: usize = 512 * 1024;

/// All lines that may wait: room for days of check lines behind a stalled stdout (a check line
/// is ~500 bytes, one or two a minute), while the memory a stall costs stays bounded.
pub const MAX_QUEUED_BYTES: usize = 4 * 1024 * 1024;

/// How long the process waits at exit for queued lines to be written: a stalled stdout must not
/// keep a stopping task from exiting.
pub const FLUSH_AT_EXIT: Duration = Duration::from_secs(2);

/// Lines dropped since the process started, every kind: `sessionguard_log_lines_dropped_total`.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Lines dropped since the process started.
pub fn dropped_lines() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// Whether a line may be dropped when the writer is behind (see the module doc).
pub fn droppable(meta: &Metadata<'_>) -> bool {
    let target = meta.target();
    let ours = target == "sessionguard" || target.starts_with("sessionguard::");
    target == REQUESTS_TARGET || !ours || *meta.level() > Level::INFO
}

/// What is waiting for the writer thread.
#[derive(Default)]
struct Queue {
    /// Whole lines, oldest first, as they will be written: one buffer, no allocation per line.
    buf: Vec<u8>,
    /// Bytes of request lines among them.
    request_bytes: usize,
    /// Dropped since the last report line.
    unreported: u64,
    /// The writer holds a batch it has not finished writing.
    writing: bool,
    /// The writer sleeps on `wake`: only then does a push pay for waking it (a futex call).
    waiting: bool,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    /// Signalled when the writer has written everything (for the flush at exit).
    idle: Condvar,
}

impl Shared {
    fn push(&self, line: &[u8], droppable: bool) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let fits = q.buf.len() + line.len() <= MAX_QUEUED_BYTES
            && (!droppable || q.request_bytes + line.len() <= MAX_QUEUED_REQUEST_BYTES);
        if !fits || q.closed {
            q.unreported += 1;
            DROPPED.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if droppable {
            q.request_bytes += line.len();
        }
        q.buf.extend_from_slice(line);
        let waiting = q.waiting;
        drop(q);
        if waiting {
            self.wake.notify_one();
        }
    }
}

/// The writer half: a [`MakeWriter`] whose writers queue one whole line each.
#[derive(Clone)]
pub struct LogPipe {
    shared: Arc<Shared>,
}

/// Ends the writer thread when dropped, after writing what is queued for at most
/// [`FLUSH_AT_EXIT`].
pub struct PipeGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Starts the writer thread on `out`. `report(n)` is called on that thread after a write that
/// follows `n` drops; the daemon logs it (which queues one more line).
pub fn start<W>(out: W, report: impl Fn(u64) + Send + 'static) -> (LogPipe, PipeGuard)
where
    W: Write + Send + 'static,
{
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue::default()),
        wake: Condvar::new(),
        idle: Condvar::new(),
    });
    let writer = shared.clone();
    let thread = std::thread::Builder::new()
        .name("sessionguard-log".into())
        .spawn(move || write_lines(&writer, out, report))
        .expect("spawning the log writer thread");
    (
        LogPipe {
            shared: shared.clone(),
        },
        PipeGuard {
            shared,
            thread: Some(thread),
        },
    )
}

/// While lines keep coming, the writer looks for more every [`POLL`] instead of being woken for
/// each one: under presign load a wake-up per line (a futex call and a context switch on a small
/// task) costs more than formatting the line. After [`IDLE_POLLS`] empty looks it sleeps until a
/// line wakes it, so an idle daemon uses no CPU.
const POLL: Duration = Duration::from_millis(2);
const IDLE_POLLS: u32 = 10;

/// The writer thread: take everything queued, write it in one go, report drops, repeat. Two
/// buffers trade places, so neither side allocates once they have grown.
fn write_lines<W: Write>(shared: &Shared, mut out: W, report: impl Fn(u64)) {
    let mut batch = Vec::with_capacity(64 * 1024);
    let mut empty_looks = 0;
    loop {
        let unreported = {
            let mut q = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
            q.writing = false;
            if q.buf.is_empty() && !q.closed && empty_looks < IDLE_POLLS {
                shared.idle.notify_all();
                drop(q);
                empty_looks += 1;
                std::thread::sleep(POLL);
                continue;
            }
            while q.buf.is_empty() && !q.closed {
                shared.idle.notify_all();
                q.waiting = true;
                q = shared.wake.wait(q).unwrap_or_else(|e| e.into_inner());
                q.waiting = false;
            }
            if q.buf.is_empty() {
                shared.idle.notify_all();
                return;
            }
            empty_looks = 0;
            batch.clear();
            std::mem::swap(&mut batch, &mut q.buf);
            q.request_bytes = 0;
            q.writing = true;
            std::mem::take(&mut q.unreported)
        };
        // A reader that went away (EPIPE) loses the lines; the daemon goes on.
        let _ = out.write_all(&batch).and_then(|()| out.flush());
        if batch.capacity() > 1024 * 1024 {
            batch = Vec::with_capacity(64 * 1024);
        }
        if unreported > 0 {
            report(unreported);
        }
    }
}

impl Drop for PipeGuard {
    fn drop(&mut self) {
        let deadline = Instant::now() + FLUSH_AT_EXIT;
        let mut q = self.shared.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.closed = true;
        self.shared.wake.notify_all();
        while !q.buf.is_empty() || q.writing {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                // stdout is stalled: exit without the rest rather than hang the task's stop (the
                // thread is left blocked in its write, not joined).
                return;
            }
            q = self
                .shared
                .idle
                .wait_timeout(q, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        drop(q);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One event's line. The formatter writes a whole line in one `write` (tracing-subscriber formats
/// into its own buffer first), which goes straight into the queue; a line written in pieces is
/// gathered here and queued whole at its newline or when the writer is dropped.
pub struct Line {
    shared: Arc<Shared>,
    droppable: bool,
    pending: Vec<u8>,
}

impl Write for Line {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.pending.is_empty() && buf.ends_with(b"\n") {
            self.shared.push(buf, self.droppable);
        } else {
            self.pending.extend_from_slice(buf);
            if buf.ends_with(b"\n") {
                self.shared.push(&self.pending, self.droppable);
                self.pending.clear();
            }
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            self.shared.push(&self.pending, self.droppable);
        }
    }
}

impl<'a> MakeWriter<'a> for LogPipe {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line {
            shared: self.shared.clone(),
            droppable: true,
            pending: Vec::new(),
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Line {
        Line {
            shared: self.shared.clone(),
            droppable: droppable(meta),
            pending: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// A stdout whose reader has stopped: every write blocks until the test opens the gate.
    struct Stalled {
        gate: mpsc::Receiver<()>,
        out: Arc<Mutex<Vec<u8>>>,
        open: bool,
    }

    impl Write for Stalled {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if !self.open {
                let _ = self.gate.recv();
                self.open = true;
            }
            self.out.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn line(pipe: &LogPipe, droppable: bool, text: &str) {
        let mut w = Line {
            shared: pipe.shared.clone(),
            droppable,
            pending: Vec::new(),
        };
        writeln!(w, "{text}").unwrap();
    }

    /// With stdout stalled, request lines beyond their budget are dropped at once (the caller
    /// never waits) while kept lines still queue; once stdout drains, everything queued comes out
    /// in order, followed by one report of the drops.
    #[test]
    fn stalled_stdout_drops_request_lines_and_keeps_the_rest() {
        let (open, gate) = mpsc::channel();
        let out = Arc::new(Mutex::new(Vec::new()));
        let (reports_tx, reports) = mpsc::channel();
        let (pipe, guard) = start(
            Stalled {
                gate,
                out: out.clone(),
                open: false,
            },
            move |n| reports_tx.send(n).unwrap(),
        );
        // The first line is taken by the writer, which then blocks in `write`.
        line(&pipe, false, "first");
        while !pipe.shared.queue.lock().unwrap().buf.is_empty() {
            std::thread::yield_now();
        }
        let request = "r".repeat(1023);
        let started = Instant::now();
        for i in 0..2000 {
            line(&pipe, true, &request);
            if i % 100 == 0 {
                line(&pipe, false, &format!("check {i}"));
            }
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        let queued = MAX_QUEUED_REQUEST_BYTES / 1024;
        let before = dropped_lines();
        assert!(before >= (2000 - queued) as u64, "{before}");

        open.send(()).unwrap();
        let dropped = reports.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(dropped, (2000 - queued) as u64);
        drop(guard);
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "first");
        let checks: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| l.starts_with("check"))
            .collect();
        assert_eq!(checks.len(), 20, "every kept line is written");
        assert_eq!(checks[0], "check 0");
        assert_eq!(checks[19], "check 1900");
        assert_eq!(lines.iter().filter(|l| l.starts_with('r')).count(), queued);
    }

    /// Kept lines too stop queueing at the overall bound: the memory a stall costs is bounded.
    #[test]
    fn kept_lines_are_bounded() {
        let (_open, gate) = mpsc::channel::<()>();
        let (pipe, guard) = start(
            Stalled {
                gate,
                out: Arc::default(),
                open: false,
            },
            |_| {},
        );
        line(&pipe, false, "first");
        while !pipe.shared.queue.lock().unwrap().buf.is_empty() {
            std::thread::yield_now();
        }
        let big = "k".repeat(64 * 1024 - 1);
        for _ in 0..100 {
            line(&pipe, false, &big);
        }
        let q = pipe.shared.queue.lock().unwrap();
        assert!(q.buf.len() <= MAX_QUEUED_BYTES);
        let lines = q.buf.iter().filter(|b| **b == b'\n').count();
        assert_eq!(lines, MAX_QUEUED_BYTES / (64 * 1024));
        assert_eq!(q.unreported, 100 - lines as u64);
        drop(q);
        // The guard gives up on a stdout that never drains, within its bound.
        let started = Instant::now();
        drop(guard);
        assert!(started.elapsed() < FLUSH_AT_EXIT + Duration::from_secs(2));
    }

    /// Which events may be dropped: the per-request target, anything below INFO, other crates.
    #[test]
    fn which_lines_may_be_dropped() {
        use tracing::callsite::Identifier;
        use tracing::field::FieldSet;
        use tracing::metadata::Kind;
        struct Site;
        impl tracing::Callsite for Site {
            fn set_interest(&self, _: tracing::subscriber::Interest) {}
            fn metadata(&self) -> &Metadata<'_> {
                unreachable!()
            }
        }
        static SITE: Site = Site;
        let meta = |target: &'static str, level: Level| {
            Metadata::new(
                "event",
                target,
                level,
                None,
                None,
                None,
                FieldSet::new(&[], Identifier(&SITE)),
                Kind::EVENT,
            )
        };
        let cases = [
            (REQUESTS_TARGET, Level::INFO, true),
            (REQUESTS_TARGET, Level::WARN, true),
            ("sessionguard::tracked", Level::INFO, false),
            ("sessionguard::tracked", Level::ERROR, false),
            ("sessionguard", Level::WARN, false),
            ("sessionguard::tracked", Level::DEBUG, true),
            ("sessionguardx", Level::ERROR, true),
            ("hyper::proto", Level::ERROR, true),
            ("aws_config", Level::WARN, true),
        ];
        for (target, level, want) in cases {
            assert_eq!(droppable(&meta(target, level)), want, "{target} {level}");
        }
    }
}
