//! The raw imports of the `lunatic` host module, as include/lunatic.h declares them. Every
//! call returns a non-negative result or a negated error code (see [`crate::Error`]).

/// `lunatic_message_t`: what `receive` tells about the message it copied (or could not).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct MessageInfo {
    pub tag: i64,
    pub sender: i32,
    pub size: u32,
}

#[link(wasm_import_module = "lunatic")]
extern "C" {
    pub fn spawn(entry: *const u8, entry_len: usize, arg: i64, flags: u32, config: i32) -> i32;
    pub fn spawn_fn(table_index: i32, arg: i64, flags: u32, config: i32) -> i32;
    #[link_name = "self"]
    pub fn self_pid() -> i32;
    pub fn exit(code: i32) -> !;
    pub fn kill(pid: i32) -> i32;
    pub fn link(pid: i32) -> i32;
    pub fn unlink(pid: i32) -> i32;
    pub fn trap_links(on: i32) -> i32;
    pub fn monitor(pid: i32) -> i32;
    pub fn demonitor(pid: i32) -> i32;
    pub fn sleep_ms(ms: u32) -> i32;
    pub fn yield_now() -> i32;

    pub fn send(pid: i32, tag: i64, data: *const u8, len: usize) -> i32;
    pub fn receive(buffer: *mut u8, capacity: usize, tag_filter: i64, timeout_ms: i32, info: *mut MessageInfo) -> i32;

    pub fn tcp_listen(host: *const u8, host_len: usize, port: u32, bound_port: *mut u32) -> i32;
    pub fn tcp_accept(listener: i32, timeout_ms: i32) -> i32;
    pub fn tcp_connect(host: *const u8, host_len: usize, port: u32, timeout_ms: i32) -> i32;
    pub fn tcp_read(socket: i32, buffer: *mut u8, capacity: usize, timeout_ms: i32) -> i32;
    pub fn tcp_write(socket: i32, data: *const u8, len: usize, timeout_ms: i32) -> i32;
    pub fn tcp_clone(socket: i32) -> i32;

    pub fn close(handle: i32) -> i32;
    pub fn give(handle: i32, pid: i32) -> i32;

    pub fn config_new() -> i32;
    pub fn config_deny_spawn(config: i32) -> i32;
    pub fn config_set_max_memory(config: i32, pages: u32) -> i32;
    pub fn config_set_max_reductions(config: i32, reductions: u64) -> i32;
    pub fn config_set_mailbox(config: i32, capacity: u32) -> i32;
    pub fn config_set_listen(config: i32, patterns: *const u8, len: usize) -> i32;
    pub fn config_set_connect(config: i32, patterns: *const u8, len: usize) -> i32;
    pub fn config_set_dirs(config: i32, guest_paths: *const u8, len: usize) -> i32;
}
