//! Hostile HTTP peers for the on-call and notification clients: tiny
//! servers on 127.0.0.1 (a std `TcpListener` and a thread a connection)
//! that never answer, page forever, or stream a huge body. Each is bounded
//! in connections, requests, bytes and time, and stops when dropped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How the peer behaves.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Reads the request and never answers.
    Hang,
    /// Answers every request 200 with this JSON body, for at most `limit`
    /// requests; after that it closes every connection.
    Repeat { body: String, limit: u64 },
    /// Answers 200 with `prefix`, then spaces, then `suffix`, `total` bytes
    /// in all, with no length announced (read until closed).
    Stream {
        prefix: String,
        suffix: String,
        total: u64,
    },
}

/// A running hostile peer.
pub struct Hostile {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    requests: Arc<AtomicU64>,
    written: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

/// Nothing a test does with a peer takes longer than this.
const LIFETIME: Duration = Duration::from_secs(240);
/// Connections served at most.
const CONNECTIONS: u64 = 2_000;

impl Hostile {
    /// Starts a peer that behaves as `behaviour`.
    pub fn start(behaviour: Behaviour) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicU64::new(0));
        let written = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, w, s) = (requests.clone(), written.clone(), stop.clone());
        std::thread::spawn(move || {
            let until = Instant::now() + LIFETIME;
            let mut connections = 0;
            while !s.load(Ordering::SeqCst) && Instant::now() < until && connections < CONNECTIONS {
                match listener.accept() {
                    Ok((stream, _)) => {
                        connections += 1;
                        let (b, r, w, s) = (behaviour.clone(), r.clone(), w.clone(), s.clone());
                        std::thread::spawn(move || serve(stream, &b, &r, &w, &s, until));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Hostile {
            url,
            requests,
            written,
            stop,
        }
    }

    /// Requests read so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    /// Body bytes the client took (written without error).
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::SeqCst)
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Reads one request's head (and ignores any body); false when the client
/// left or the peer is stopping.
fn read_head(stream: &mut TcpStream, stop: &AtomicBool) -> bool {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stop.load(Ordering::SeqCst) || head.len() > 64 * 1024 {
            return false;
        }
        match stream.read(&mut byte) {
            Ok(0) => return false,
            Ok(_) => head.push(byte[0]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return false,
        }
    }
    true
}

fn serve(
    mut stream: TcpStream,
    behaviour: &Behaviour,
    requests: &AtomicU64,
    written: &AtomicU64,
    stop: &AtomicBool,
    until: Instant,
) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    loop {
        if !read_head(&mut stream, stop) {
            return;
        }
        let n = requests.fetch_add(1, Ordering::SeqCst) + 1;
        match behaviour {
            Behaviour::Hang => {
                while !stop.load(Ordering::SeqCst) && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(20));
                }
                return;
            }
            Behaviour::Repeat { body, limit } => {
                if n > *limit {
                    return;
                }
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                if stream.write_all(answer.as_bytes()).is_err() {
                    return;
                }
            }
            Behaviour::Stream {
                prefix,
                suffix,
                total,
            } => {
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n";
                if stream.write_all(head.as_bytes()).is_err()
                    || stream.write_all(prefix.as_bytes()).is_err()
                {
                    return;
                }
                written.fetch_add(prefix.len() as u64, Ordering::SeqCst);
                let chunk = vec![b' '; 64 * 1024];
                let mut left = total.saturating_sub((prefix.len() + suffix.len()) as u64);
                while left > 0 && !stop.load(Ordering::SeqCst) {
                    let k = left.min(chunk.len() as u64) as usize;
                    if stream.write_all(&chunk[..k]).is_err() {
                        return;
                    }
                    written.fetch_add(k as u64, Ordering::SeqCst);
                    left -= k as u64;
                }
                if stream.write_all(suffix.as_bytes()).is_ok() {
                    written.fetch_add(suffix.len() as u64, Ordering::SeqCst);
                }
                return;
            }
        }
    }
}

/// A port on 127.0.0.1 where nothing listens (bound, then released).
pub fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
