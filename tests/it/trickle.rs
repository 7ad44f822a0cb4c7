//! Clients that trickle a request at one byte a second, as slowloris does, each on its own
//! thread: what each sent before the daemon answered or closed, and what it got.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// The pace: one byte a second.
const PACE: Duration = Duration::from_secs(1);

/// What one trickling client saw.
#[derive(Debug)]
pub struct Trickled {
    /// Bytes trickled after `head` before the daemon answered or closed: at one a second, about
    /// the seconds it held the connection.
    pub bytes: usize,
    /// The answer, empty when the daemon closed without one.
    pub answer: String,
}

/// `clients` clients on `addr`, each sending `head` at once, then one byte of `trickle` a second
/// until the daemon answers or closes. [`Trickling::done`] counts those that have finished.
pub struct Trickling {
    threads: Vec<JoinHandle<Trickled>>,
    finished: Arc<AtomicUsize>,
}

impl Trickling {
    pub fn start(addr: SocketAddr, clients: usize, head: &str, trickle: &str) -> Trickling {
        let finished = Arc::new(AtomicUsize::new(0));
        let threads = (0..clients)
            .map(|_| {
                let (head, trickle) = (head.to_string(), trickle.as_bytes().to_vec());
                let finished = finished.clone();
                std::thread::spawn(move || {
                    let seen = one(addr, head.as_bytes(), &trickle);
                    finished.fetch_add(1, Ordering::SeqCst);
                    seen
                })
            })
            .collect();
        Trickling { threads, finished }
    }

    /// How many clients have been answered or closed.
    pub fn done(&self) -> usize {
        self.finished.load(Ordering::SeqCst)
    }

    /// Whether every client has been answered or closed.
    pub fn all_done(&self) -> bool {
        self.done() == self.threads.len()
    }

    /// What each client saw, once all are done.
    pub fn results(self) -> Vec<Trickled> {
        self.threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect()
    }
}

fn one(addr: SocketAddr, head: &[u8], trickle: &[u8]) -> Trickled {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PACE)).unwrap();
    let mut answer = Vec::new();
    let mut bytes = 0;
    if stream.write_all(head).is_err() {
        return Trickled {
            bytes,
            answer: String::new(),
        };
    }
    let mut buf = [0u8; 4096];
    loop {
        // Waiting for an answer is the pace: the read gives up after a second.
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                // The rest of the answer, until the daemon closes.
                stream.set_read_timeout(Some(PACE * 5)).unwrap();
                let _ = stream.read_to_end(&mut answer);
                break;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
        let Some(byte) = trickle.get(bytes) else {
            break;
        };
        if stream.write_all(std::slice::from_ref(byte)).is_err() {
            break;
        }
        bytes += 1;
    }
    Trickled {
        bytes,
        answer: String::from_utf8_lossy(&answer).into_owned(),
    }
}
