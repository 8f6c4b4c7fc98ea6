//! Decodes MQTT packets from hex and prints them: a way to look inside a capture, and the smallest
//! complete use of the codec.
//!
//! ```text
//! cargo run -p mqtt-wire-codec --example decode -- 300c0005612f622f6368656c6c6f
//! cargo run -p mqtt-wire-codec --example decode -- --level 3 "10 11 00 06 4d 51 49 73 64 70 03 02 00 3c 00 03 63 69 64"
//! tcpdump -x ... | cargo run -p mqtt-wire-codec --example decode      # hex on standard input
//! ```
//!
//! Hex may contain spaces and newlines. Packets are decoded one after another, as a server reads them
//! from a stream; a trailing partial packet is reported as such.

use std::io::Read;
use std::process::ExitCode;

use mqtt_codec::{Decoder, ProtocolLevel, Status};

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let level = match args.iter().position(|arg| arg == "--level") {
        Some(at) => {
            let level = match args.get(at + 1).map(String::as_str) {
                Some("3") => ProtocolLevel::Mqtt31,
                Some("4") => ProtocolLevel::Mqtt311,
                other => {
                    eprintln!("--level takes 3 (MQTT 3.1) or 4 (MQTT 3.1.1), not {other:?}");
                    return ExitCode::from(2);
                }
            };
            args.drain(at..=at + 1);
            level
        }
        None => ProtocolLevel::Mqtt311,
    };
    let text = if args.is_empty() {
        let mut input = String::new();
        if let Err(error) = std::io::stdin().read_to_string(&mut input) {
            eprintln!("cannot read standard input: {error}");
            return ExitCode::from(2);
        }
        input
    } else {
        args.join(" ")
    };
    let bytes = match parse_hex(&text) {
        Ok(bytes) => bytes,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };

    let decoder = Decoder::new(level);
    let mut offset = 0;
    while offset < bytes.len() {
        match decoder.decode(&bytes[offset..]) {
            Ok(Status::Complete((packet, consumed))) => {
                println!("{offset:>6}  {consumed:>5} bytes  {packet:?}");
                offset += consumed;
            }
            Ok(Status::Partial) => {
                println!(
                    "{offset:>6}  partial: {} bytes of an incomplete packet",
                    bytes.len() - offset
                );
                break;
            }
            Err(error) => {
                println!("{offset:>6}  {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = text
        .bytes()
        .filter(|byte| !byte.is_ascii_whitespace())
        .collect();
    if !digits.len().is_multiple_of(2) {
        return Err("odd number of hex digits".to_owned());
    }
    digits
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).map_err(|_| "not hex".to_owned())?;
            u8::from_str_radix(pair, 16).map_err(|_| format!("not a hex byte: {pair:?}"))
        })
        .collect()
}
