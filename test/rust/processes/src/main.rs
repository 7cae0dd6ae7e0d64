//! Exercises the lunatic-instrument crate in one run: every line printed is a result main
//! received or observed, checked exactly by test/rust-crate.test.ts.

use std::convert::TryInto;
use std::io::{Read, Write};
use std::time::Duration;

use lunatic_instrument::{
    current, exit, receive, receive_tag, receive_tag_timeout, receive_timeout, sleep, spawn, spawn_link, start_data, trap_links, Config, Error, Pid,
    Spawn, TcpListener, TcpStream, TAG_DOWN, TAG_LINK_DOWN,
};

const PING: i64 = 1;
const PONG: i64 = 2;
const RESULT: i64 = 3;
const ROUNDS: i64 = 1000;

fn pid_bytes(pid: Pid) -> [u8; 4] {
    pid.raw().to_le_bytes()
}

fn pid_of(data: &[u8]) -> Pid {
    Pid::from_raw(i32::from_le_bytes(data[..4].try_into().unwrap()))
}

/// Doubles its argument and sends it to the parent named in its start data.
fn doubler(arg: i64) {
    let parent = pid_of(&start_data());
    parent.send(RESULT, &(arg * 2).to_le_bytes()).unwrap();
}

#[export_name = "named_worker"]
pub extern "C" fn named_worker(arg: i64) {
    Pid::from_raw(arg as i32).send(RESULT, b"named").unwrap();
}

/// Answers every ping with a pong carrying the next number, until a ping of 0.
fn ponger(_: i64) {
    loop {
        let ping = receive_tag(PING);
        let n = i64::from_le_bytes(ping.data[..].try_into().unwrap());
        if n == 0 {
            return;
        }
        ping.sender.send(PONG, &(n + 1).to_le_bytes()).unwrap();
    }
}

fn crasher(_: i64) {
    panic!("this process crashes on purpose");
}

fn exits_with(code: i64) {
    exit(code as i32);
}

fn idle(_: i64) {
    sleep(Duration::from_secs(60));
}

fn try_spawn(parent: i64) {
    let code = match spawn(idle, 0) {
        Ok(_) => 0,
        Err(error) => error.code(),
    };
    Pid::from_raw(parent as i32).send(RESULT, &code.to_le_bytes()).unwrap();
}

/// An echo handler for the socket it was given.
fn echo_connection(socket: i64) {
    let mut stream = TcpStream::from_raw(socket as i32);
    let mut buffer = [0u8; 4096];
    loop {
        let n = stream.read(&mut buffer).unwrap();
        if n == 0 {
            return;
        }
        stream.write_all(&buffer[..n]).unwrap();
    }
}

/// Listens on a free port, tells its parent which, and serves one process per connection.
fn echo_server(parent: i64) {
    let listener = TcpListener::bind("127.0.0.1", 0).unwrap();
    Pid::from_raw(parent as i32).send(RESULT, &listener.port().to_le_bytes()).unwrap();
    for stream in listener.incoming() {
        let stream = stream.unwrap();
        let handler = spawn(echo_connection, stream.raw() as i64).unwrap();
        stream.give(handler).unwrap();
    }
}

fn down_of(tag: i64) -> String {
    let down = receive_tag_timeout(tag, Duration::from_secs(5)).expect("a notification").down().unwrap();
    format!("{:?}", down.reason)
}

fn main() {
    let me = current();

    let child = Spawn::new(doubler).arg(21).start_with(&pid_bytes(me)).unwrap();
    let result = receive_tag(RESULT);
    println!("spawn by function: {} from the child: {}", i64::from_le_bytes(result.data[..].try_into().unwrap()), result.sender == child);

    Spawn::export("named_worker").arg(me.raw() as i64).start().unwrap();
    println!("spawn by export: {}", String::from_utf8(receive_tag(RESULT).data).unwrap());

    let pong = spawn(ponger, 0).unwrap();
    let mut n: i64 = 1;
    for _ in 0..ROUNDS {
        pong.send(PING, &n.to_le_bytes()).unwrap();
        n = i64::from_le_bytes(receive_tag(PONG).data[..].try_into().unwrap());
    }
    pong.send(PING, &0i64.to_le_bytes()).unwrap();
    println!("ping-pong: {} rounds, last {}", ROUNDS, n);

    let crashing = spawn(crasher, 0).unwrap();
    crashing.monitor().unwrap();
    println!("monitor: {}", down_of(TAG_DOWN));
    let exiting = spawn(exits_with, 7).unwrap();
    exiting.monitor().unwrap();
    println!("monitor: {}", down_of(TAG_DOWN));
    let killed = spawn(idle, 0).unwrap();
    killed.monitor().unwrap();
    killed.kill().unwrap();
    println!("monitor: {}", down_of(TAG_DOWN));

    trap_links(true);
    let linked = spawn_link(crasher, 0).unwrap();
    let down = receive_tag_timeout(TAG_LINK_DOWN, Duration::from_secs(5)).unwrap();
    println!("link: {:?} from the child: {}", down.down().unwrap().reason, down.sender == linked);
    trap_links(false);

    me.send(10, b"ten").unwrap();
    me.send(11, &vec![b'x'; 10_000]).unwrap();
    me.send(12, b"twelve").unwrap();
    let big = receive_tag(11);
    let first = receive();
    let second = receive_timeout(Duration::ZERO).unwrap();
    println!("selective: {} bytes, then {}, {}", big.data.len(), String::from_utf8(first.data).unwrap(), String::from_utf8(second.data).unwrap());
    println!("timeout: {}", receive_timeout(Duration::from_millis(20)).unwrap_err());

    println!("send to an ended process: {:?}", crashing.send(1, b"x").unwrap_err());
    println!("tag 0: {:?}", me.send(0, b"x").unwrap_err());
    let config = Config::new().unwrap();
    config.deny_spawn().unwrap();
    config.set_mailbox(2).unwrap();
    println!("widening: {:?}", config.set_mailbox(3).unwrap_err());
    Spawn::new(try_spawn).arg(me.raw() as i64).config(&config).start().unwrap();
    let code = i32::from_le_bytes(receive_tag(RESULT).data[..].try_into().unwrap());
    println!("denied spawn: {}", Error::from_code(code));

    spawn(echo_server, me.raw() as i64).unwrap();
    let port = u16::from_le_bytes(receive_tag(RESULT).data[..].try_into().unwrap());
    let mut stream = TcpStream::connect("127.0.0.1", port).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reply = Vec::new();
    for line in ["hello over tcp\n", "and again\n"].iter() {
        stream.write_all(line.as_bytes()).unwrap();
        let mut buffer = [0u8; 64];
        let n = stream.read(&mut buffer).unwrap();
        reply.extend_from_slice(&buffer[..n]);
    }
    print!("tcp echo: {}", String::from_utf8(reply).unwrap());
    println!("no permission: {:?}", TcpStream::connect("10.1.2.3", 80).unwrap_err());
    println!("done");
    // The echo server still runs: ending main ends the program.
    exit(0);
}
