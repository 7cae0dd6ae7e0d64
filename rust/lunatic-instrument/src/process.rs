//! Processes: spawn a `fn(i64)`, links, monitors, kill, exit, sleep.

use std::fmt;
use std::time::Duration;

use crate::config::Config;
use crate::error::{check, check_unit, Result};
use crate::message;
use crate::sys;

/// `LUNATIC_SPAWN_LINK`.
const SPAWN_LINK: u32 = 1;

/// The tag of the message [`Spawn::start_with`] sends (reserved: do not use it for your own).
pub const TAG_START: i64 = i64::MAX;

/// A process identifier. Pids are never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pid(i32);

impl Pid {
    /// The pid with this number (from a message, a spawn argument...).
    pub fn from_raw(raw: i32) -> Pid {
        Pid(raw)
    }

    /// The pid's number, e.g. to pass it as a spawn argument.
    pub fn raw(self) -> i32 {
        self.0
    }

    /// Sends `data` (copied) with `tag` (> 0) to this process; see [`crate::send`].
    pub fn send(self, tag: i64, data: &[u8]) -> Result<()> {
        message::send(self, tag, data)
    }

    /// Ends the process ("killed": its links fire). [`crate::Error::NoProcess`] if it has ended.
    pub fn kill(self) -> Result<()> {
        check_unit(unsafe { sys::kill(self.0) })
    }

    /// Links the caller and this process both ways: when either crashes or is killed, the other
    /// is killed too, unless it [traps links](trap_links) (then it gets a
    /// [`TAG_LINK_DOWN`](crate::TAG_LINK_DOWN) message). A normal exit does not fire links.
    pub fn link(self) -> Result<()> {
        check_unit(unsafe { sys::link(self.0) })
    }

    /// Undoes [`Pid::link`].
    pub fn unlink(self) -> Result<()> {
        check_unit(unsafe { sys::unlink(self.0) })
    }

    /// When this process ends (for any reason), the caller gets a [`TAG_DOWN`](crate::TAG_DOWN)
    /// message; [`Message::down`](crate::Message::down) reads it.
    pub fn monitor(self) -> Result<()> {
        check_unit(unsafe { sys::monitor(self.0) })
    }

    /// Undoes [`Pid::monitor`].
    pub fn demonitor(self) -> Result<()> {
        check_unit(unsafe { sys::demonitor(self.0) })
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The calling process's pid.
pub fn current() -> Pid {
    Pid(unsafe { sys::self_pid() })
}

/// Ends the calling process with `code`: a normal exit, links do not fire.
pub fn exit(code: i32) -> ! {
    unsafe { sys::exit(code) }
}

/// `on`: a failing linked process sends a [`TAG_LINK_DOWN`](crate::TAG_LINK_DOWN) message
/// instead of killing the caller.
pub fn trap_links(on: bool) {
    unsafe { sys::trap_links(on as i32) };
}

/// Suspends the calling process for `duration` (in whole milliseconds); the others run.
pub fn sleep(duration: Duration) {
    let mut left = duration.as_millis();
    while left > 0 {
        let step = left.min(u32::MAX as u128);
        unsafe { sys::sleep_ms(step as u32) };
        left -= step;
    }
}

/// Lets the other runnable processes run once.
pub fn yield_now() {
    unsafe { sys::yield_now() };
}

/// Starts a process running `entry(arg)` in a fresh instance of this program (its own memory,
/// statics and heap), with the caller's configuration.
///
/// ```no_run
/// fn worker(n: i64) {
///     println!("worker {} running in process {}", n, lunatic_instrument::current());
/// }
///
/// let pid = lunatic_instrument::spawn(worker, 7).expect("spawning is allowed");
/// ```
pub fn spawn(entry: fn(i64), arg: i64) -> Result<Pid> {
    Spawn::new(entry).arg(arg).start()
}

/// [`spawn`], linked to the caller before the child runs.
pub fn spawn_link(entry: fn(i64), arg: i64) -> Result<Pid> {
    Spawn::new(entry).arg(arg).link().start()
}

/// How to spawn a process: its function, argument, link and configuration.
///
/// A child shares nothing with its parent: to hand it data, send it a message right after the
/// spawn ([`Spawn::start_with`]); the child takes it with [`start_data`].
///
/// ```no_run
/// use lunatic_instrument::{start_data, Config, Spawn};
///
/// fn greeter(_: i64) {
///     let name = String::from_utf8(start_data()).unwrap();
///     println!("hello, {}", name);
/// }
///
/// let config = Config::new()?;
/// config.deny_spawn()?;
/// config.set_max_memory(64)?;
/// let pid = Spawn::new(greeter).link().config(&config).start_with(b"world")?;
/// # Ok::<(), lunatic_instrument::Error>(())
/// ```
#[derive(Clone, Copy)]
pub struct Spawn<'a> {
    entry: Entry<'a>,
    arg: i64,
    link: bool,
    config: Option<&'a Config>,
}

/// What a spawned process runs.
#[derive(Clone, Copy)]
enum Entry<'a> {
    Function(fn(i64)),
    Export(&'a str),
}

impl<'a> Spawn<'a> {
    /// A process that will run `entry(0)`.
    pub fn new(entry: fn(i64)) -> Spawn<'a> {
        Spawn { entry: Entry::Function(entry), arg: 0, link: false, config: None }
    }

    /// A process that will run the exported function `name` of this program, which takes
    /// nothing, an `i32` or an `i64` (e.g. `#[export_name = "worker"] pub extern "C" fn worker(arg: i64)`).
    /// [`crate::Error::Invalid`] if there is no such export.
    pub fn export(name: &'a str) -> Spawn<'a> {
        Spawn { entry: Entry::Export(name), arg: 0, link: false, config: None }
    }

    /// The argument `entry` gets.
    pub fn arg(mut self, arg: i64) -> Spawn<'a> {
        self.arg = arg;
        self
    }

    /// Links the child to the caller before it runs (see [`Pid::link`]).
    pub fn link(mut self) -> Spawn<'a> {
        self.link = true;
        self
    }

    /// Runs the child under `config` instead of the caller's own configuration.
    pub fn config(mut self, config: &'a Config) -> Spawn<'a> {
        self.config = Some(config);
        self
    }

    /// Starts the process: its pid, or [`crate::Error::Permission`] (spawning denied),
    /// [`crate::Error::BadHandle`] (a closed configuration), [`crate::Error::Invalid`].
    pub fn start(self) -> Result<Pid> {
        let flags = if self.link { SPAWN_LINK } else { 0 };
        let config = self.config.map_or(0, |config| config.raw());
        let pid = match self.entry {
            // A function pointer is an index into the module's function table on wasm32.
            Entry::Function(entry) => unsafe { sys::spawn_fn(entry as usize as i32, self.arg, flags, config) },
            Entry::Export(name) => unsafe { sys::spawn(name.as_ptr(), name.len(), self.arg, flags, config) },
        };
        check(pid).map(Pid)
    }

    /// Starts the process and sends it `data` as its first message (tag [`TAG_START`]), which
    /// it takes with [`start_data`]. If the message cannot be sent, the child is killed and the
    /// error returned.
    pub fn start_with(self, data: &[u8]) -> Result<Pid> {
        let pid = self.start()?;
        if let Err(error) = pid.send(TAG_START, data) {
            let _ = pid.kill();
            return Err(error);
        }
        Ok(pid)
    }
}

/// In a process started by [`Spawn::start_with`]: the data its parent sent (waits for it).
pub fn start_data() -> Vec<u8> {
    message::receive_tag(TAG_START).data
}

/// How a process spawned by [`Spawn::start`] begins: the runtime calls this export of the
/// child's fresh instance with the table index of `entry` (docs/ABI.md). The runtime checked in
/// the parent that the index holds a `(i64) -> ()` function.
#[doc(hidden)]
#[export_name = "lunatic_run_table_entry"]
pub extern "C" fn run_table_entry(table_index: i32, arg: i64) {
    // SAFETY: the runtime starts a process here only for table indices whose function takes an
    // i64 and returns nothing, which is what a `fn(i64)` is on wasm32.
    let entry: fn(i64) = unsafe { std::mem::transmute(table_index as usize) };
    entry(arg);
}
