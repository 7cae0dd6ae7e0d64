//! TCP: a listener and streams implementing [`std::io::Read`] and [`std::io::Write`]. Where a
//! process may listen or connect is set by its configuration (`--allow-listen`,
//! `--allow-connect` for the first one).

use std::io;
use std::mem;
use std::time::Duration;

use crate::error::{check, check_unit, Result};
use crate::message::timeout_ms;
use crate::process::Pid;
use crate::sys;

/// A listening socket; closed when dropped.
///
/// ```no_run
/// use std::io::{Read, Write};
/// use lunatic_instrument::TcpListener;
///
/// let listener = TcpListener::bind("127.0.0.1", 0)?;
/// println!("listening on port {}", listener.port());
/// for stream in listener.incoming() {
///     let mut stream = stream?;
///     let mut buffer = [0u8; 1024];
///     let n = stream.read(&mut buffer)?;
///     stream.write_all(&buffer[..n])?;
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct TcpListener {
    handle: i32,
    port: u16,
}

impl TcpListener {
    /// Listens on `host:port` (port 0: any free port, see [`TcpListener::port`]).
    /// [`crate::Error::Permission`] unless the configuration allows it.
    pub fn bind(host: &str, port: u16) -> Result<TcpListener> {
        let mut bound: u32 = 0;
        let handle = check(unsafe { sys::tcp_listen(host.as_ptr(), host.len(), port as u32, &mut bound) })?;
        Ok(TcpListener { handle, port: bound as u16 })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Waits for a connection.
    pub fn accept(&self) -> Result<TcpStream> {
        self.accept_within(None)
    }

    /// Waits at most `timeout` for a connection: [`crate::Error::TimedOut`] when none came.
    pub fn accept_timeout(&self, timeout: Duration) -> Result<TcpStream> {
        self.accept_within(Some(timeout))
    }

    fn accept_within(&self, timeout: Option<Duration>) -> Result<TcpStream> {
        check(unsafe { sys::tcp_accept(self.handle, timeout_ms(timeout)) }).map(TcpStream::from_raw)
    }

    /// The connections, as they come (never ends).
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        unsafe { sys::close(self.handle) };
    }
}

/// The iterator of [`TcpListener::incoming`].
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl<'a> Iterator for Incoming<'a> {
    type Item = io::Result<TcpStream>;

    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map_err(io::Error::from))
    }
}

/// A connection; closed when its last handle (see [`TcpStream::try_clone`]) is dropped.
///
/// Reads and writes wait without limit unless a timeout is set. To serve it from another
/// process, spawn that process with the stream's handle and [give](TcpStream::give) it:
///
/// ```no_run
/// use std::io::Write;
/// use lunatic_instrument::{spawn, TcpListener, TcpStream};
///
/// fn handle(socket: i64) {
///     let mut stream = TcpStream::from_raw(socket as i32);
///     stream.write_all(b"hello\n").unwrap();
/// }
///
/// let listener = TcpListener::bind("127.0.0.1", 0)?;
/// let stream = listener.accept()?;
/// let child = spawn(handle, stream.raw() as i64)?;
/// stream.give(child)?;
/// # Ok::<(), lunatic_instrument::Error>(())
/// ```
#[derive(Debug)]
pub struct TcpStream {
    handle: i32,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

impl TcpStream {
    /// Connects to `host:port`. [`crate::Error::Permission`] unless the configuration allows it.
    pub fn connect(host: &str, port: u16) -> Result<TcpStream> {
        TcpStream::connect_within(host, port, None)
    }

    /// [`TcpStream::connect`] waiting at most `timeout`.
    pub fn connect_timeout(host: &str, port: u16, timeout: Duration) -> Result<TcpStream> {
        TcpStream::connect_within(host, port, Some(timeout))
    }

    fn connect_within(host: &str, port: u16, timeout: Option<Duration>) -> Result<TcpStream> {
        check(unsafe { sys::tcp_connect(host.as_ptr(), host.len(), port as u32, timeout_ms(timeout)) }).map(TcpStream::from_raw)
    }

    /// The stream of a socket handle this process owns (e.g. given by its parent).
    pub fn from_raw(handle: i32) -> TcpStream {
        TcpStream { handle, read_timeout: None, write_timeout: None }
    }

    /// The socket handle (it stays owned by this stream).
    pub fn raw(&self) -> i32 {
        self.handle
    }

    /// The socket handle, no longer closed by this stream.
    pub fn into_raw(self) -> i32 {
        let handle = self.handle;
        mem::forget(self);
        handle
    }

    /// Gives the socket to process `to`, which owns it from now on under the same handle
    /// number ([`TcpStream::from_raw`]). On failure the stream is closed.
    pub fn give(self, to: Pid) -> Result<()> {
        check_unit(unsafe { sys::give(self.into_raw(), to.raw()) })
    }

    /// A second handle for the same connection, e.g. one for a reader process, one for writing.
    pub fn try_clone(&self) -> Result<TcpStream> {
        check(unsafe { sys::tcp_clone(self.handle) }).map(TcpStream::from_raw)
    }

    /// How long a read waits for data (`None`: without limit); then it fails with
    /// [`io::ErrorKind::TimedOut`].
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.read_timeout = timeout;
    }

    /// How long a write waits while the peer is slow (`None`: without limit).
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) {
        self.write_timeout = timeout;
    }
}

/// Reads what has arrived (at least one byte), or 0 at the end of the stream.
impl io::Read for TcpStream {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let read = unsafe { sys::tcp_read(self.handle, buffer.as_mut_ptr(), buffer.len(), timeout_ms(self.read_timeout)) };
        Ok(check(read)? as usize)
    }
}

/// Writes the whole buffer at once (the host copies it).
impl io::Write for TcpStream {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let written = unsafe { sys::tcp_write(self.handle, data.as_ptr(), data.len(), timeout_ms(self.write_timeout)) };
        Ok(check(written)? as usize)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        unsafe { sys::close(self.handle) };
    }
}
