//! Erlang-style processes for Rust programs run by
//! [lunatic-instrument](https://github.com/lunatic-instrument/lunatic-instrument)'s runtime:
//! spawn, messages, links, monitors, TCP and configurations. These are safe wrappers over the
//! runtime's `lunatic` host module (the C API is `include/lunatic.h`).
//!
//! Build your program for `wasm32-wasi` and run it with `lunatic-instrument run prog.wasm`
//! (or make that the cargo runner, see the repository's `examples/rust-echo`). Every process is a
//! fresh instance of the same module: it shares no memory with the others, only messages. A
//! call that waits (receive, accept, read, sleep) suspends only the calling process.
//!
//! ```no_run
//! use lunatic_instrument::{current, receive, spawn, start_data, Spawn};
//!
//! // A process body is a plain `fn(i64)`.
//! fn ponger(_: i64) {
//!     let message = receive();
//!     message.sender.send(2, b"pong").unwrap();
//! }
//!
//! fn greeter(_: i64) {
//!     // Data for a child travels as its first message.
//!     println!("hello, {}", String::from_utf8(start_data()).unwrap());
//! }
//!
//! fn main() -> Result<(), lunatic_instrument::Error> {
//!     let pong = spawn(ponger, 0)?;
//!     pong.send(1, b"ping")?;
//!     assert_eq!(receive().data, b"pong");
//!     Spawn::new(greeter).start_with(b"world")?;
//!     println!("I am process {}", current());
//!     Ok(())
//! }
//! ```
//!
//! Errors are [`Error`]s, one variant per `LUNATIC_E*` code; a denied or malformed call never
//! ends the process. A process ends when its function returns, when it calls [`exit`], traps
//! (a panic: wasm32-wasi aborts), is killed or goes past a limit of its [`Config`].

mod config;
mod error;
mod message;
mod process;
mod sys;
mod tcp;

pub use config::Config;
pub use error::{Error, Result};
pub use message::{receive, receive_tag, receive_tag_timeout, receive_timeout, send, Down, Message, Reason, TAG_DOWN, TAG_LINK_DOWN};
pub use process::{current, exit, sleep, spawn, spawn_link, start_data, trap_links, yield_now, Pid, Spawn, TAG_START};
#[doc(hidden)]
pub use process::run_table_entry;
pub use tcp::{Incoming, TcpListener, TcpStream};
