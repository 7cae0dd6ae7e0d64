//! Rust benchmark driver: builds a 2 MB text, counts what a regular expression captures in it
//! (the regex crate's compiler and lazy DFA), then writes and reads back the result as JSON
//! (serde_json), and prints it.
use regex::Regex;
use std::collections::BTreeMap;

fn main() {
    let words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"];
    let mut text = String::new();
    let mut seed: u32 = 12345;
    for i in 0..60000 {
        seed = seed.wrapping_mul(1103515245).wrapping_add(12345);
        let word = words[(seed >> 16) as usize % words.len()];
        text.push_str(&format!("{}-{}@host{}.example.org {} ", word, i, seed % 97, seed % 1000));
    }
    let address = Regex::new(r"([a-z]+)-(\d+)@host(\d+)\.example\.org").unwrap();
    let mut counts = BTreeMap::new();
    let mut hosts: u64 = 0;
    for found in address.captures_iter(&text) {
        *counts.entry(found[1].to_string()).or_insert(0u64) += 1;
        hosts += found[3].parse::<u64>().unwrap();
    }
    let document = serde_json::json!({ "counts": counts, "hosts": hosts, "length": text.len() });
    let written = serde_json::to_string_pretty(&document).unwrap();
    let read: serde_json::Value = serde_json::from_str(&written).unwrap();
    println!("{}", read);
}
