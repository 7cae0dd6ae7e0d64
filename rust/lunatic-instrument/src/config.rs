//! Configurations for children: permissions and limits, narrowed from the caller's own (a child
//! never gets more than its parent).

use crate::error::{check, check_unit, Result};
use crate::sys;

/// A configuration a child can be spawned under ([`crate::Spawn::config`]); closed when dropped.
/// It starts as a copy of the caller's permissions; each setter narrows it, and
/// [`crate::Error::Permission`] refuses one that would widen it.
///
/// ```no_run
/// use lunatic_instrument::{Config, Spawn};
///
/// fn sandboxed(_: i64) {}
///
/// let config = Config::new()?;
/// config.deny_spawn()?;
/// config.set_max_memory(32)?;           // 2 MiB
/// config.set_max_reductions(1_000_000)?;
/// config.set_mailbox(16)?;
/// config.set_connect("127.0.0.1:*")?;
/// config.set_listen("")?;               // no listening at all
/// Spawn::new(sandboxed).config(&config).start()?;
/// # Ok::<(), lunatic_instrument::Error>(())
/// ```
#[derive(Debug)]
pub struct Config {
    handle: i32,
}

impl Config {
    /// A copy of the caller's own permissions.
    pub fn new() -> Result<Config> {
        check(unsafe { sys::config_new() }).map(|handle| Config { handle })
    }

    /// The handle number.
    pub fn raw(&self) -> i32 {
        self.handle
    }

    /// The child may not spawn.
    pub fn deny_spawn(&self) -> Result<()> {
        check_unit(unsafe { sys::config_deny_spawn(self.handle) })
    }

    /// At most `pages` 64 KiB pages of memory.
    pub fn set_max_memory(&self, pages: u32) -> Result<()> {
        check_unit(unsafe { sys::config_set_max_memory(self.handle, pages) })
    }

    /// At most `reductions` reductions (about instructions) in the child's whole life.
    pub fn set_max_reductions(&self, reductions: u64) -> Result<()> {
        check_unit(unsafe { sys::config_set_max_reductions(self.handle, reductions) })
    }

    /// At most `capacity` messages waiting in the child's mailbox.
    pub fn set_mailbox(&self, capacity: u32) -> Result<()> {
        check_unit(unsafe { sys::config_set_mailbox(self.handle, capacity) })
    }

    /// Comma-separated `host:port` patterns the child may listen on (`"*"`: any host or port,
    /// port 0: a free port); `""` allows none.
    pub fn set_listen(&self, patterns: &str) -> Result<()> {
        check_unit(unsafe { sys::config_set_listen(self.handle, patterns.as_ptr(), patterns.len()) })
    }

    /// Comma-separated `host:port` patterns the child may connect to; `""` allows none.
    pub fn set_connect(&self, patterns: &str) -> Result<()> {
        check_unit(unsafe { sys::config_set_connect(self.handle, patterns.as_ptr(), patterns.len()) })
    }

    /// Comma-separated guest paths of the preopened directories the child keeps.
    pub fn set_dirs(&self, guest_paths: &str) -> Result<()> {
        check_unit(unsafe { sys::config_set_dirs(self.handle, guest_paths.as_ptr(), guest_paths.len()) })
    }
}

impl Drop for Config {
    fn drop(&mut self) {
        unsafe { sys::close(self.handle) };
    }
}
