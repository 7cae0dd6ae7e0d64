//! The cargo example's program: prints, sleeps with std::thread::sleep (a blocking poll_oneoff)
//! and echoes one line of stdin (a blocking fd_read). Under lunatic-instrument both waits
//! suspend only this process. The "slept" line reports whether the sleep really waited, so a
//! test can check it without timing anything itself.
use std::io::{self, BufRead};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

const SLEEP: Duration = Duration::from_millis(20);

fn main() -> ExitCode {
    println!("hello from Rust");
    let start = Instant::now();
    thread::sleep(SLEEP);
    let waited = if start.elapsed() >= SLEEP { "yes" } else { "no" };
    println!("slept at least {} ms: {}", SLEEP.as_millis(), waited);

    let mut line = String::new();
    match io::stdin().lock().read_line(&mut line) {
        Ok(n) if n > 0 => {
            println!("you said: {}", line.trim_end_matches('\n'));
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("rust-hello: no input on stdin");
            ExitCode::FAILURE
        }
    }
}
