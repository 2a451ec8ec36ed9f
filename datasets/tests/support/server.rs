//! A raw HTTP/1.1 server on 127.0.0.1 for the downloader tests: each accepted connection is
//! answered by the next scripted handler, which writes whatever bytes it likes (truncated bodies,
//! missing Content-Length, stalls).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// Writes the response to one connection.
pub type Handler = Box<dyn FnOnce(&mut TcpStream) + Send>;

/// A running server; `requests` records each request line.
pub struct Server {
    /// The bound address.
    pub addr: SocketAddr,
    /// The request lines received so far, e.g. `GET /datasets/mnist.npz HTTP/1.1`.
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts a server answering one connection per handler, in order.
    pub fn start(handlers: Vec<Handler>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        thread::spawn(move || {
            for handler in handlers {
                let Ok((mut stream, _)) = listener.accept() else {
                    return;
                };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut first = String::new();
                let _ = reader.read_line(&mut first);
                log.lock().unwrap().push(first.trim_end().to_string());
                loop {
                    let mut line = String::new();
                    match reader.read_line(&mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) if line == "\r\n" => break,
                        Ok(_) => {}
                    }
                }
                handler(&mut stream);
                let _ = stream.flush();
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
        });
        Server { addr, requests }
    }

    /// The base URL to give the downloader: `http://127.0.0.1:<port>/datasets`.
    pub fn base_url(&self) -> String {
        format!("http://{}/datasets", self.addr)
    }
}

/// A complete response with the given status line, headers and body.
pub fn respond(status: &str, content_length: bool, body: Vec<u8>) -> Handler {
    let status = status.to_string();
    Box::new(move |s| {
        let mut head = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
        if content_length {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let _ = s.write_all(head.as_bytes());
        let _ = s.write_all(&body);
    })
}

/// Announces `announced` bytes but sends only `body`, then closes.
pub fn cut_short(announced: usize, body: Vec<u8>) -> Handler {
    Box::new(move |s| {
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {announced}\r\n\r\n");
        let _ = s.write_all(head.as_bytes());
        let _ = s.write_all(&body);
    })
}

/// Sends the headers and `sent` bytes of `body`, then keeps the connection open and silent for
/// `stall`.
pub fn stall(body: Vec<u8>, sent: usize, stall: Duration) -> Handler {
    Box::new(move |s| {
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
        let _ = s.write_all(head.as_bytes());
        let _ = s.write_all(&body[..sent]);
        let _ = s.flush();
        thread::sleep(stall);
    })
}

/// Sends the whole body in `chunks` pieces with `pause` between them.
pub fn trickle(body: Vec<u8>, chunks: usize, pause: Duration) -> Handler {
    Box::new(move |s| {
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
        let _ = s.write_all(head.as_bytes());
        for piece in body.chunks(body.len().div_ceil(chunks)) {
            let _ = s.write_all(piece);
            let _ = s.flush();
            thread::sleep(pause);
        }
    })
}

/// An address on 127.0.0.1 where nothing listens (connection refused).
pub fn refused_base_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/datasets")
}
