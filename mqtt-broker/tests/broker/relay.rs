//! A plain-TCP front for the broker's TLS and WebSocket listeners: each connection accepted on
//! the front is carried to the broker over TLS (rustls, trusting the test CA) or inside WebSocket
//! binary frames (RFC 6455, masked as a client must), byte for byte in both directions. Tests
//! written against raw TCP sockets, such as the overload tests, then run unchanged over the other
//! transports, with the broker's real TLS and WebSocket code in the path.
//!
//! Each direction has its own thread, and neither holds a lock while it blocks on a socket: when
//! the broker stops reading a publisher (back-pressure), the direction towards the broker blocks,
//! and the acknowledgements coming back still flow.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

use crate::websocket::{ServerFrame, parse_server_frame, upgrade_request};

/// How the front reaches the broker.
#[derive(Clone)]
pub(crate) enum Upstream {
    /// TLS to `localhost`, with this client configuration.
    Tls(Arc<rustls::ClientConfig>),
    /// WebSocket (`ws://`), subprotocol `mqtt`.
    WebSocket,
}

/// Starts a front for the broker listener at `broker`; answers the front's address. The front
/// serves for as long as the test process runs.
pub(crate) fn front(broker: SocketAddr, upstream: Upstream) -> SocketAddr {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).expect("binds");
    let address = listener.local_addr().expect("address");
    thread::spawn(move || {
        for accepted in listener.incoming() {
            let Ok(client) = accepted else { break };
            let upstream = upstream.clone();
            thread::spawn(move || match upstream {
                Upstream::Tls(config) => over_tls(client, broker, config),
                Upstream::WebSocket => over_websocket(client, broker),
            });
        }
    });
    address
}

/// Carries `client` to the broker over TLS.
fn over_tls(client: TcpStream, broker: SocketAddr, config: Arc<rustls::ClientConfig>) {
    let Ok(mut tcp) = TcpStream::connect(broker) else {
        return;
    };
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("a server name");
    let mut connection = rustls::ClientConnection::new(config, name).expect("a TLS client");
    while connection.is_handshaking() {
        if connection.complete_io(&mut tcp).is_err() {
            return;
        }
    }
    let connection = Arc::new(Mutex::new(connection));
    let (mut from_client, mut to_client) = (client.try_clone().expect("clone"), client);
    let (mut to_broker, mut from_broker) = (tcp.try_clone().expect("clone"), tcp);
    let sealing = Arc::clone(&connection);
    let up = thread::spawn(move || {
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let count = match from_client.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(count) => count,
            };
            // Encrypted under the lock, written without it.
            let mut records = Vec::new();
            {
                let mut tls = sealing.lock().expect("lock");
                let mut rest = &chunk[..count];
                while !rest.is_empty() {
                    match tls.writer().write(rest) {
                        Ok(0) | Err(_) => return,
                        Ok(written) => rest = &rest[written..],
                    }
                    while tls.wants_write() {
                        if tls.write_tls(&mut records).is_err() {
                            return;
                        }
                    }
                }
            }
            if to_broker.write_all(&records).is_err() {
                break;
            }
        }
        let _ = to_broker.shutdown(Shutdown::Write);
    });
    let mut raw = vec![0u8; 64 * 1024];
    let mut plain = vec![0u8; 64 * 1024];
    'down: loop {
        let count = match from_broker.read(&mut raw) {
            Ok(0) | Err(_) => break,
            Ok(count) => count,
        };
        let mut opened = Vec::new();
        {
            let mut tls = connection.lock().expect("lock");
            let mut records = &raw[..count];
            // Plaintext is taken out after each step: rustls holds only so much of it.
            while !records.is_empty() {
                if tls.read_tls(&mut records).is_err() || tls.process_new_packets().is_err() {
                    break 'down;
                }
                loop {
                    match tls.reader().read(&mut plain) {
                        Ok(0) => break,
                        Ok(read) => opened.extend_from_slice(&plain[..read]),
                        Err(error) if error.kind() == ErrorKind::WouldBlock => break,
                        Err(_) => break 'down,
                    }
                }
            }
        }
        if to_client.write_all(&opened).is_err() {
            break;
        }
    }
    let _ = to_client.shutdown(Shutdown::Both);
    let _ = up.join();
}

/// Carries `client` to the broker inside WebSocket binary frames.
fn over_websocket(client: TcpStream, broker: SocketAddr) {
    let Ok(mut tcp) = TcpStream::connect(broker) else {
        return;
    };
    if tcp.write_all(upgrade_request("mqtt").as_bytes()).is_err() {
        return;
    }
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match tcp.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101 "),
        "the upgrade is accepted"
    );
    let (mut from_client, mut to_client) = (client.try_clone().expect("clone"), client);
    let (mut to_broker, mut from_broker) = (tcp.try_clone().expect("clone"), tcp);
    let up = thread::spawn(move || {
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let count = match from_client.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(count) => count,
            };
            if to_broker
                .write_all(&masked_frame(0x82, &chunk[..count]))
                .is_err()
            {
                break;
            }
        }
        let _ = to_broker.write_all(&masked_frame(0x88, &[]));
        let _ = to_broker.shutdown(Shutdown::Write);
    });
    let mut raw = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    'down: loop {
        while let Some((frame, used)) = parse_server_frame(&raw) {
            raw.drain(..used);
            match frame {
                ServerFrame::Binary(payload) => {
                    if to_client.write_all(&payload).is_err() {
                        break 'down;
                    }
                }
                ServerFrame::Pong(_) => {}
                ServerFrame::Close(_) => break 'down,
            }
        }
        match from_broker.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(count) => raw.extend_from_slice(&chunk[..count]),
        }
    }
    let _ = to_client.shutdown(Shutdown::Both);
    let _ = up.join();
}

/// One client frame: `first` (FIN and opcode), masked with a fixed key (RFC 6455 §5.3).
fn masked_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    const MASK: [u8; 4] = [0x1F, 0x2E, 0x3D, 0x4C];
    let mut frame = vec![first];
    match payload.len() {
        0..=125 => frame.push(0x80 | payload.len() as u8),
        126..=0xFFFF => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        }
        _ => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(payload.len() as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&MASK);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    frame
}
