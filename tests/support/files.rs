//! A static file server on 127.0.0.1 for the installer's tests: it serves one
//! folder over plain HTTP/1.1 (GET only, one request per connection), counts
//! the requests per path, and can be told to answer 404 for a path or to cut
//! a path's body short, as a dropped connection would.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

#[derive(Default)]
struct State {
    requests: HashMap<String, usize>,
    missing: HashSet<String>,
    truncated: HashSet<String>,
}

/// The server; it stops when dropped.
pub struct FileServer {
    port: u16,
    root: PathBuf,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl FileServer {
    /// Serves `root` on a free port of 127.0.0.1.
    pub fn serve(root: &Path) -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (dir, st, halt) = (root.to_path_buf(), state.clone(), stop.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if halt.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (dir, st) = (dir.clone(), st.clone());
                thread::spawn(move || answer(conn, &dir, &st));
            }
        });
        FileServer {
            port,
            root: root.to_path_buf(),
            state,
            stop,
        }
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The folder served.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// How many requests asked for `path` (e.g. `/SHA256SUMS`).
    pub fn requests(&self, path: &str) -> usize {
        let st = self.state.lock().unwrap();
        st.requests.get(path).copied().unwrap_or(0)
    }

    /// How many requests arrived in all.
    pub fn total_requests(&self) -> usize {
        self.state.lock().unwrap().requests.values().sum()
    }

    /// From now on, `path` answers 404 whether or not the file exists.
    pub fn not_found(&self, path: &str) {
        self.state.lock().unwrap().missing.insert(path.into());
    }

    /// From now on, `path` announces its full length but sends only half of
    /// it before closing the connection.
    pub fn truncate(&self, path: &str) {
        self.state.lock().unwrap().truncated.insert(path.into());
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn answer(conn: TcpStream, root: &Path, state: &Mutex<State>) {
    let mut reader = BufReader::new(match conn.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    });
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // The headers are read and ignored.
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {}
        }
    }
    let mut words = request_line.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("").to_string();
    let (missing, truncated) = {
        let mut st = state.lock().unwrap();
        *st.requests.entry(path.clone()).or_default() += 1;
        (st.missing.contains(&path), st.truncated.contains(&path))
    };
    let file = safe_join(root, &path);
    let body = match (method, missing, file) {
        ("GET", false, Some(f)) => std::fs::read(f).ok(),
        _ => None,
    };
    let mut conn = conn;
    let _ = match body {
        None => conn.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\nConnection: close\r\n\r\nnot found\n",
        ),
        Some(body) => {
            let sent = if truncated {
                &body[..body.len() / 2]
            } else {
                &body[..]
            };
            conn.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            )
            .and_then(|_| conn.write_all(sent))
        }
    };
    let _ = conn.flush();
    let _ = conn.shutdown(std::net::Shutdown::Both);
}

/// `root` joined with a URL path, refusing anything that would leave it.
fn safe_join(root: &Path, url_path: &str) -> Option<PathBuf> {
    let rel = Path::new(url_path.trim_start_matches('/'));
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    let p = root.join(rel);
    p.is_file().then_some(p)
}

/// Every entry below `dir`, sorted, one line each: path, kind, mode, and the
/// size and a checksum of the contents or the link target. Two snapshots are
/// equal when nothing below `dir` changed.
pub fn tree_snapshot(dir: &Path) -> Vec<String> {
    #[cfg(unix)]
    use std::os::unix::fs::PermissionsExt;
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            #[cfg(unix)]
            let mode = meta.permissions().mode() & 0o7777;
            #[cfg(not(unix))]
            let mode = u32::from(meta.permissions().readonly());
            if meta.file_type().is_symlink() {
                out.push(format!(
                    "link {rel} -> {}",
                    std::fs::read_link(&p).unwrap().display()
                ));
            } else if meta.is_dir() {
                out.push(format!("dir {rel} {mode:o}"));
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                out.push(format!(
                    "file {rel} {mode:o} {} bytes, checksum {:x}",
                    bytes.len(),
                    bytes
                        .iter()
                        .fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(*b))
                            .wrapping_mul(0x100000001b3))
                ));
            }
        }
    }
    out.sort();
    out
}
