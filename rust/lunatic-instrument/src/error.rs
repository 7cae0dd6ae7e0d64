//! Errors of the `lunatic` host module: one variant per `LUNATIC_E*` code of include/lunatic.h.

use std::fmt;
use std::io;

/// Why a lunatic call failed: the `LUNATIC_E*` code it returned, by name.
///
/// A denied or malformed call never ends the process: it returns one of these.
///
/// ```no_run
/// use lunatic_instrument::{Error, Pid};
///
/// match Pid::from_raw(12345).send(1, b"hello") {
///     Err(Error::NoProcess) => println!("it has ended"),
///     Err(other) => println!("{} (code {})", other, other.code()),
///     Ok(()) => println!("sent"),
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// `LUNATIC_EPERM`: the process's configuration does not allow it.
    Permission,
    /// `LUNATIC_EBADF`: no such handle for this process (stale, forged, foreign, wrong kind).
    BadHandle,
    /// `LUNATIC_ESRCH`: no such process (never existed or already ended).
    NoProcess,
    /// `LUNATIC_EFULL`: the receiver's mailbox is full; nothing was sent.
    MailboxFull,
    /// `LUNATIC_ETIMEDOUT`: the timeout elapsed.
    TimedOut,
    /// `LUNATIC_EINVAL`: a bad argument (not a spawnable function, tag <= 0, bad pattern...).
    Invalid,
    /// `LUNATIC_EMSGSIZE`: the message is larger than the buffer (it stays queued).
    MessageTooLarge,
    /// `LUNATIC_ECONNREFUSED`.
    ConnectionRefused,
    /// `LUNATIC_EADDRINUSE`.
    AddressInUse,
    /// `LUNATIC_ECLOSED`: the connection is closed or was reset.
    Closed,
    /// `LUNATIC_ENOMEM`: out of handles or memory.
    OutOfMemory,
    /// `LUNATIC_EIO`: another network failure.
    Io,
    /// A code this crate does not know (a newer runtime).
    Unknown(i32),
}

/// The result of a lunatic call.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The error of a code (positive, as `LUNATIC_E*`).
    pub fn from_code(code: i32) -> Error {
        match code {
            1 => Error::Permission,
            2 => Error::BadHandle,
            3 => Error::NoProcess,
            4 => Error::MailboxFull,
            5 => Error::TimedOut,
            6 => Error::Invalid,
            7 => Error::MessageTooLarge,
            8 => Error::ConnectionRefused,
            9 => Error::AddressInUse,
            10 => Error::Closed,
            11 => Error::OutOfMemory,
            12 => Error::Io,
            other => Error::Unknown(other),
        }
    }

    /// The `LUNATIC_E*` code (positive; calls return it negated).
    pub fn code(self) -> i32 {
        match self {
            Error::Permission => 1,
            Error::BadHandle => 2,
            Error::NoProcess => 3,
            Error::MailboxFull => 4,
            Error::TimedOut => 5,
            Error::Invalid => 6,
            Error::MessageTooLarge => 7,
            Error::ConnectionRefused => 8,
            Error::AddressInUse => 9,
            Error::Closed => 10,
            Error::OutOfMemory => 11,
            Error::Io => 12,
            Error::Unknown(code) => code,
        }
    }

    /// The C name of the code, e.g. `"LUNATIC_EPERM"`.
    pub fn name(self) -> &'static str {
        match self {
            Error::Permission => "LUNATIC_EPERM",
            Error::BadHandle => "LUNATIC_EBADF",
            Error::NoProcess => "LUNATIC_ESRCH",
            Error::MailboxFull => "LUNATIC_EFULL",
            Error::TimedOut => "LUNATIC_ETIMEDOUT",
            Error::Invalid => "LUNATIC_EINVAL",
            Error::MessageTooLarge => "LUNATIC_EMSGSIZE",
            Error::ConnectionRefused => "LUNATIC_ECONNREFUSED",
            Error::AddressInUse => "LUNATIC_EADDRINUSE",
            Error::Closed => "LUNATIC_ECLOSED",
            Error::OutOfMemory => "LUNATIC_ENOMEM",
            Error::Io => "LUNATIC_EIO",
            Error::Unknown(_) => "unknown lunatic error",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Error::Permission => "not allowed by the process's configuration",
            Error::BadHandle => "no such handle for this process",
            Error::NoProcess => "no such process",
            Error::MailboxFull => "the receiver's mailbox is full",
            Error::TimedOut => "timed out",
            Error::Invalid => "invalid argument",
            Error::MessageTooLarge => "the message is larger than the buffer",
            Error::ConnectionRefused => "connection refused",
            Error::AddressInUse => "address in use",
            Error::Closed => "the connection is closed",
            Error::OutOfMemory => "out of handles or memory",
            Error::Io => "network failure",
            Error::Unknown(_) => "unknown error",
        }
    }

    fn io_kind(self) -> io::ErrorKind {
        match self {
            Error::Permission => io::ErrorKind::PermissionDenied,
            Error::BadHandle | Error::Invalid => io::ErrorKind::InvalidInput,
            Error::TimedOut => io::ErrorKind::TimedOut,
            Error::ConnectionRefused => io::ErrorKind::ConnectionRefused,
            Error::AddressInUse => io::ErrorKind::AddrInUse,
            Error::Closed => io::ErrorKind::ConnectionReset,
            Error::OutOfMemory => io::ErrorKind::OutOfMemory,
            _ => io::ErrorKind::Other,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unknown(code) => write!(f, "unknown lunatic error {}", code),
            _ => write!(f, "{}: {}", self.name(), self.description()),
        }
    }
}

impl std::error::Error for Error {}

/// For [`std::io::Read`]/[`std::io::Write`]: the matching [`io::ErrorKind`], with this error inside.
impl From<Error> for io::Error {
    fn from(error: Error) -> io::Error {
        io::Error::new(error.io_kind(), error)
    }
}

/// A raw result: the non-negative value, or the error of the negated code.
pub(crate) fn check(result: i32) -> Result<i32> {
    if result >= 0 {
        Ok(result)
    } else {
        Err(Error::from_code(-result))
    }
}

/// For calls that return 0 on success.
pub(crate) fn check_unit(result: i32) -> Result<()> {
    check(result).map(|_| ())
}
