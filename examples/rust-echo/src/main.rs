//! A TCP echo server with one lunatic process per connection, in Rust.
//!
//! main listens on 127.0.0.1 (port argv[1], default 0 = any free port), prints the bound port
//! and spawns a process running `serve` for every accepted connection, giving it the socket.
//! A connection that sends a line starting with "CRASH" makes its own process panic: the other
//! connections keep being served. When spawning is denied (--no-spawn), the client is told so
//! and disconnected.

use std::io::{Read, Write};
use std::process;

use lunatic_instrument::{spawn, TcpListener, TcpStream};

const HOST: &str = "127.0.0.1";

/// One connection's process: echoes until the client closes.
fn serve(socket: i64) {
    let mut stream = TcpStream::from_raw(socket as i32);
    let mut buffer = [0u8; 16384];
    loop {
        let length = match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(length) => length,
        };
        if buffer[..length].starts_with(b"CRASH") {
            panic!("a client asked this connection's process to crash");
        }
        if stream.write_all(&buffer[..length]).is_err() {
            return;
        }
    }
}

/// Tells the client why it is not served; dropping the stream disconnects it.
fn refuse(mut stream: TcpStream, error: lunatic_instrument::Error) {
    let _ = writeln!(stream, "error: cannot spawn a handler ({})", error);
}

fn main() {
    let port: u16 = std::env::args().nth(1).and_then(|arg| arg.parse().ok()).unwrap_or(0);
    let listener = match TcpListener::bind(HOST, port) {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("rust-echo: cannot listen on {}:{} ({}): allow it with --allow-listen {}:{}", HOST, port, error, HOST, port);
            process::exit(1);
        }
    };
    println!("listening on {}:{}", HOST, listener.port());
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            Err(_) => continue,
        };
        match spawn(serve, stream.raw() as i64) {
            Ok(child) => {
                if let Err(error) = stream.give(child) {
                    eprintln!("rust-echo: cannot hand the connection over ({})", error);
                }
            }
            Err(error) => {
                eprintln!("rust-echo: cannot spawn a handler ({})", error);
                refuse(stream, error);
            }
        }
    }
}
