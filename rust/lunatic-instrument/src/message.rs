//! Messages: tagged byte buffers between processes, selective receive, timeouts, and the
//! runtime's DOWN / LINK_DOWN notifications.

use std::convert::TryInto;
use std::time::Duration;

use crate::error::{check, check_unit, Error, Result};
use crate::process::Pid;
use crate::sys;

/// The tag of the message a monitored process sends when it ends (see [`Pid::monitor`]).
pub const TAG_DOWN: i64 = -1;
/// The tag of the message a failed linked process sends while the caller traps links.
pub const TAG_LINK_DOWN: i64 = -2;
/// As a receive filter: any tag.
const TAG_ANY: i64 = 0;

/// The first receive buffer; a larger message is taken once its size is known.
const FIRST_CAPACITY: usize = 256;

/// A received message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Its tag: > 0 for messages from processes, [`TAG_DOWN`] / [`TAG_LINK_DOWN`] for the runtime's.
    pub tag: i64,
    /// Who sent it (for DOWN / LINK_DOWN: the process that ended).
    pub sender: Pid,
    /// Its bytes.
    pub data: Vec<u8>,
}

/// How a process ended, from a DOWN or LINK_DOWN message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// It returned or exited with this code.
    Exited(i32),
    /// It trapped (a Rust panic, `unreachable`...) or went past a limit of its configuration.
    Crashed,
    /// It was killed, or a process linked to it failed.
    Killed,
}

/// The payload of a DOWN or LINK_DOWN message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Down {
    /// The process that ended.
    pub pid: Pid,
    /// How.
    pub reason: Reason,
}

impl Message {
    /// For a [`TAG_DOWN`] or [`TAG_LINK_DOWN`] message: which process ended and how.
    ///
    /// ```no_run
    /// use lunatic_instrument::{receive_tag, spawn, Reason, TAG_DOWN};
    ///
    /// fn crasher(_: i64) {
    ///     panic!("on purpose");
    /// }
    ///
    /// let child = spawn(crasher, 0)?;
    /// child.monitor()?;
    /// let down = receive_tag(TAG_DOWN).down().unwrap();
    /// assert_eq!((down.pid, down.reason), (child, Reason::Crashed));
    /// # Ok::<(), lunatic_instrument::Error>(())
    /// ```
    pub fn down(&self) -> Option<Down> {
        if (self.tag != TAG_DOWN && self.tag != TAG_LINK_DOWN) || self.data.len() != 12 {
            return None;
        }
        let word = |at: usize| i32::from_le_bytes(self.data[at..at + 4].try_into().unwrap());
        let reason = match word(4) {
            0 => Reason::Exited(word(8)),
            1 => Reason::Crashed,
            _ => Reason::Killed,
        };
        Some(Down { pid: Pid::from_raw(word(0)), reason })
    }
}

/// Sends `data` (copied) with `tag` (> 0) to `to`.
///
/// Errors: [`Error::NoProcess`], [`Error::MailboxFull`] (nothing was sent),
/// [`Error::Invalid`] (tag <= 0).
pub fn send(to: Pid, tag: i64, data: &[u8]) -> Result<()> {
    check_unit(unsafe { sys::send(to.raw(), tag, data.as_ptr(), data.len()) })
}

/// Waits for the oldest message of any tag.
pub fn receive() -> Message {
    wait_forever(TAG_ANY)
}

/// Waits for the oldest message with `tag`; the others stay queued, in order (selective receive).
///
/// ```no_run
/// use lunatic_instrument::{current, receive, receive_tag};
///
/// let me = current();
/// me.send(1, b"first")?;
/// me.send(2, b"second")?;
/// assert_eq!(receive_tag(2).data, b"second");
/// assert_eq!(receive().data, b"first");
/// # Ok::<(), lunatic_instrument::Error>(())
/// ```
pub fn receive_tag(tag: i64) -> Message {
    wait_forever(tag)
}

/// [`receive`] waiting at most `timeout` ([`Duration::ZERO`]: only checks):
/// [`Error::TimedOut`] when no message came.
pub fn receive_timeout(timeout: Duration) -> Result<Message> {
    receive_matching(TAG_ANY, timeout_ms(Some(timeout)))
}

/// [`receive_tag`] waiting at most `timeout`: [`Error::TimedOut`] when no such message came.
pub fn receive_tag_timeout(tag: i64, timeout: Duration) -> Result<Message> {
    receive_matching(tag, timeout_ms(Some(timeout)))
}

fn wait_forever(filter: i64) -> Message {
    match receive_matching(filter, timeout_ms(None)) {
        Ok(message) => message,
        Err(error) => panic!("lunatic receive without a timeout failed: {}", error),
    }
}

/// Receives into a buffer that fits: a message larger than the first guess stays queued and
/// its size is known, so the second try takes it at once.
fn receive_matching(filter: i64, timeout_ms: i32) -> Result<Message> {
    let mut buffer = vec![0u8; FIRST_CAPACITY];
    let mut info = sys::MessageInfo::default();
    let mut result = unsafe { sys::receive(buffer.as_mut_ptr(), buffer.len(), filter, timeout_ms, &mut info) };
    if result == -Error::MessageTooLarge.code() {
        buffer.resize(info.size as usize, 0);
        // Only the one message that did not fit can match now (same filter, it stays first).
        let exact = if filter == TAG_ANY { info.tag } else { filter };
        result = unsafe { sys::receive(buffer.as_mut_ptr(), buffer.len(), exact, 0, &mut info) };
    }
    let size = check(result)? as usize;
    buffer.truncate(size);
    Ok(Message { tag: info.tag, sender: Pid::from_raw(info.sender), data: buffer })
}

/// A timeout as the host takes it: -1 waits forever, longer ones are capped at ~24 days.
pub(crate) fn timeout_ms(timeout: Option<Duration>) -> i32 {
    match timeout {
        None => -1,
        Some(duration) => duration.as_millis().min(i32::MAX as u128) as i32,
    }
}
