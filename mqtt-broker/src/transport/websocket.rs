//! MQTT over WebSocket, the server side of RFC 6455, sans I/O: the opening handshake (an HTTP/1.1
//! upgrade request answered with `101 Switching Protocols` or an error status) and the frames that
//! carry the MQTT byte stream afterwards.
//!
//! MQTT 3.1.1 §6 adds four rules on top of RFC 6455: packets travel in binary frames only, and any
//! other data frame closes the connection [MQTT-6.0.0-1]; frames and packets need not line up, so
//! the frame payloads are one continuous byte stream to the MQTT decoder [MQTT-6.0.0-2]; the client
//! offers the subprotocol `mqtt` [MQTT-6.0.0-3] and the server answers with it [MQTT-6.0.0-4]. MQTT
//! 3.1 predates §6; its clients (mosquitto, paho and MQTT.js at level 3) offer `mqttv3.1`, which is
//! accepted too and answered as offered (`docs/mqtt-broker-choices.md`).
//!
//! Decoding is streaming: a data frame's payload is unmasked in place and handed on as it arrives,
//! so a frame of any length needs no buffer of its own, and the MQTT decoder's own size limit is the
//! only one. Control frames (ping, pong, close) are at most 125 bytes (RFC 6455 §5.5) and are handed
//! on whole. What the server sends is never masked and never fragmented (§5.1).
//!
//! This file does no I/O (`transport/stream.rs` wraps it around a socket) and knows no MQTT packet.

use std::fmt;

use ring::digest;

use crate::transport::base64;

/// The largest opening request accepted, headers included: browsers send well under 2 KiB.
pub(crate) const MAX_REQUEST: usize = 8 * 1024;

/// The GUID that RFC 6455 §1.3 appends to the client's key before hashing it.
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The subprotocols this server speaks, in order of preference.
const SUBPROTOCOLS: [&str; 2] = ["mqtt", "mqttv3.1"];

/// A well-formed upgrade request, accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Upgrade {
    /// The `101 Switching Protocols` response to send.
    pub(crate) response: Vec<u8>,
    /// The subprotocol chosen: `mqtt` whenever the client offered it [MQTT-6.0.0-4].
    pub(crate) subprotocol: &'static str,
    /// The length of the request; any bytes after it are already WebSocket frames.
    pub(crate) used: usize,
}

/// An opening request refused: the HTTP status to answer with and why, for the log and for the
/// response body, so that someone trying the port with `curl` or a browser learns what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// 400 for a request that is not a usable WebSocket upgrade, 426 for an unsupported version.
    pub(crate) status: u16,
    /// What was wrong with the request.
    pub(crate) why: String,
}

impl Refusal {
    fn bad(why: impl Into<String>) -> Self {
        Self {
            status: 400,
            why: why.into(),
        }
    }

    /// The complete HTTP response. A 426 names the version this server speaks (RFC 6455 §4.4).
    pub(crate) fn response(&self) -> Vec<u8> {
        let (reason, extra) = match self.status {
            426 => ("Upgrade Required", "Sec-WebSocket-Version: 13\r\n"),
            _ => ("Bad Request", ""),
        };
        let body = format!(
            "This is an MQTT over WebSocket endpoint (subprotocol mqtt): {}\n",
            self.why
        );
        format!(
            "HTTP/1.1 {} {reason}\r\n{extra}Content-Type: text/plain; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.status,
            body.len()
        )
        .into_bytes()
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}: {}", self.status, self.why)
    }
}

/// Reads the opening request at the start of `input`: `Ok(None)` while its end (an empty line) has
/// not arrived, the accepted upgrade, or the refusal to answer with.
///
/// The checks are those of RFC 6455 §4.2.1: a `GET` of HTTP/1.1 or later with a `Host`, `Upgrade:
/// websocket`, a `Connection` that includes `Upgrade`, a `Sec-WebSocket-Key` that is 16 bytes in
/// base64, `Sec-WebSocket-Version: 13`; and, for MQTT, a subprotocol this server speaks. The path is
/// not looked at: MQTT 3.1.1 §6 gives it no meaning, and clients use `/mqtt`,
/// `/ws` or `/` depending on the broker they were written for.
pub(crate) fn handshake(input: &[u8]) -> Result<Option<Upgrade>, Refusal> {
    let Some(end) = input.windows(4).position(|window| window == b"\r\n\r\n") else {
        if input.len() > MAX_REQUEST {
            return Err(Refusal::bad(format!(
                "the request headers are over {MAX_REQUEST} bytes"
            )));
        }
        return Ok(None);
    };
    let used = end + 4;
    let text = std::str::from_utf8(&input[..end])
        .map_err(|_| Refusal::bad("the request is not UTF-8 text"))?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut words = request_line.split(' ');
    let (Some(method), Some(_target), Some(version), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Err(Refusal::bad(format!(
            "`{request_line}` is not an HTTP request line"
        )));
    };
    if method != "GET" {
        return Err(Refusal::bad(format!(
            "a WebSocket upgrade is a GET, not {method}"
        )));
    }
    if version != "HTTP/1.1" {
        return Err(Refusal::bad(format!(
            "a WebSocket upgrade needs HTTP/1.1, not {version}"
        )));
    }
    let mut headers = Headers::default();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(Refusal::bad(format!("`{line}` is not a header field")));
        };
        headers.add(name.trim(), value.trim());
    }
    if headers.host.is_none() {
        return Err(Refusal::bad("no Host header"));
    }
    if !headers.upgrade.iter().any(|token| token == "websocket") {
        return Err(Refusal::bad(
            "not a WebSocket upgrade (no `Upgrade: websocket` header)",
        ));
    }
    if !headers.connection.iter().any(|token| token == "upgrade") {
        return Err(Refusal::bad("no `Connection: Upgrade` header"));
    }
    if headers.version.as_deref() != Some("13") {
        return Err(Refusal {
            status: 426,
            why: format!(
                "WebSocket version {} is not supported, only 13",
                headers.version.as_deref().unwrap_or("(none)")
            ),
        });
    }
    let Some(key) = headers.key else {
        return Err(Refusal::bad("no Sec-WebSocket-Key header"));
    };
    if base64::decode(&key).is_none_or(|nonce| nonce.len() != 16) {
        return Err(Refusal::bad(
            "Sec-WebSocket-Key is not 16 bytes in base64 (RFC 6455 §4.1)",
        ));
    }
    // The client MUST offer `mqtt` [MQTT-6.0.0-3]; a 3.1 client offers `mqttv3.1`. Without either
    // the client does not expect MQTT here, and would fail the connection on our answer anyway.
    let Some(subprotocol) = SUBPROTOCOLS
        .into_iter()
        .find(|ours| headers.protocols.iter().any(|offered| offered == ours))
    else {
        return Err(Refusal::bad(if headers.protocols.is_empty() {
            "no Sec-WebSocket-Protocol header: offer `mqtt` [MQTT-6.0.0-3]".to_owned()
        } else {
            format!(
                "subprotocols {:?} offered; this server speaks `mqtt` and `mqttv3.1`",
                headers.protocols
            )
        }));
    };
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: {subprotocol}\r\n\r\n",
        accept_key(&key)
    )
    .into_bytes();
    Ok(Some(Upgrade {
        response,
        subprotocol,
        used,
    }))
}

/// The `Sec-WebSocket-Accept` value for a client's key (RFC 6455 §4.2.2): base64 of the SHA-1 of the
/// key followed by the GUID. SHA-1 is weak, but here it only proves that the server read the request;
/// nothing secret depends on it.
fn accept_key(key: &str) -> String {
    let mut context = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    context.update(key.as_bytes());
    context.update(ACCEPT_GUID.as_bytes());
    base64::encode(context.finish().as_ref())
}

/// The header fields the handshake looks at. Names are matched without regard to case; list-valued
/// fields may be repeated and are read as one comma-separated list (RFC 9110 §5.3).
#[derive(Debug, Default)]
struct Headers {
    host: Option<String>,
    /// Tokens of `Upgrade`, lower-cased.
    upgrade: Vec<String>,
    /// Tokens of `Connection`, lower-cased.
    connection: Vec<String>,
    key: Option<String>,
    version: Option<String>,
    /// Subprotocols offered, as sent (they are case-sensitive).
    protocols: Vec<String>,
}

impl Headers {
    fn add(&mut self, name: &str, value: &str) {
        let list = |value: &str| {
            value
                .split(',')
                .map(str::trim)
                .filter(|token| !token.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        match name.to_ascii_lowercase().as_str() {
            "host" => self.host = Some(value.to_owned()),
            "upgrade" => self.upgrade.extend(list(&value.to_ascii_lowercase())),
            "connection" => self.connection.extend(list(&value.to_ascii_lowercase())),
            "sec-websocket-key" => self.key = Some(value.to_owned()),
            "sec-websocket-version" => self.version = Some(value.to_owned()),
            "sec-websocket-protocol" => self.protocols.extend(list(value)),
            _ => {}
        }
    }
}

/// Frame opcodes (RFC 6455 §5.2).
mod opcode {
    pub(super) const CONTINUATION: u8 = 0x0;
    pub(super) const TEXT: u8 = 0x1;
    pub(super) const BINARY: u8 = 0x2;
    pub(super) const CLOSE: u8 = 0x8;
    pub(super) const PING: u8 = 0x9;
    pub(super) const PONG: u8 = 0xA;
}

/// Close status codes this server sends (RFC 6455 §7.4.1).
pub(crate) mod close_code {
    /// The connection has done its job.
    pub(crate) const NORMAL: u16 = 1000;
    /// The peer broke the WebSocket protocol.
    pub(crate) const PROTOCOL_ERROR: u16 = 1002;
    /// The peer sent a kind of data this endpoint does not take (a text frame, for MQTT).
    pub(crate) const UNSUPPORTED_DATA: u16 = 1003;
}

/// What the next bytes from the client held.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    /// Part or all of a binary frame's payload, unmasked: the next bytes of the MQTT stream. May be
    /// empty (a frame header alone, or an empty frame).
    Data(&'a [u8]),
    /// A ping, with its payload, to be answered by a pong carrying the same payload (§5.5.2).
    Ping(&'a [u8]),
    /// A pong: nothing to do (§5.5.3).
    Pong,
    /// The client's close, with its status code if it gave one; answered with a close (§5.5.1).
    Close(Option<u16>),
}

/// A client that broke RFC 6455 or MQTT's use of it; the connection is closed with [`close_code`].
///
/// [`close_code`]: FrameError::close_code
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// A frame from the client without a mask (§5.1: the server must close the connection).
    Unmasked,
    /// RSV bits set, but no extension was negotiated (§5.2).
    ReservedBits,
    /// A text frame: MQTT packets travel in binary frames only [MQTT-6.0.0-1].
    Text,
    /// An opcode RFC 6455 reserves (§5.2).
    UnknownOpcode(u8),
    /// A continuation frame with no fragmented message to continue, or a new data frame before the
    /// last fragmented one ended (§5.4).
    Fragmentation,
    /// A control frame that is fragmented or longer than 125 bytes (§5.5).
    BadControlFrame,
    /// A 64-bit length with its most significant bit set (§5.2), or a close frame with a one-byte
    /// body (§5.5.1).
    BadLength,
}

impl FrameError {
    /// The close status code the server answers this error with.
    pub(crate) fn close_code(self) -> u16 {
        match self {
            Self::Text => close_code::UNSUPPORTED_DATA,
            _ => close_code::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unmasked => f.write_str("unmasked frame from a client (RFC 6455 §5.1)"),
            Self::ReservedBits => f.write_str("reserved bits set, no extension negotiated (§5.2)"),
            Self::Text => {
                f.write_str("text frame; MQTT travels in binary frames only [MQTT-6.0.0-1]")
            }
            Self::UnknownOpcode(code) => write!(f, "reserved opcode {code:#x} (§5.2)"),
            Self::Fragmentation => f.write_str("continuation frame out of sequence (§5.4)"),
            Self::BadControlFrame => {
                f.write_str("control frame fragmented or over 125 bytes (§5.5)")
            }
            Self::BadLength => f.write_str("impossible frame length (§5.2, §5.5.1)"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Decodes the client's frames, one call at a time, carrying what it learned between calls.
#[derive(Debug, Default)]
pub(crate) struct FrameDecoder {
    /// Inside a binary frame's payload: the bytes still to come and the mask, with the payload
    /// offset so far (the mask key repeats every four bytes, §5.3).
    payload: Option<Payload>,
    /// Whether a fragmented binary message is open (its last frame had FIN clear).
    fragmented: bool,
}

#[derive(Debug)]
struct Payload {
    left: u64,
    mask: [u8; 4],
    offset: usize,
}

impl FrameDecoder {
    /// Decodes what `input` starts with, unmasking in place. Answers `Ok(None)` when more bytes are
    /// needed, else the frame (or part of a data frame's payload, at most `max` bytes of it) and how
    /// many bytes of `input` it used. `max` should be at least 1 for progress.
    pub(crate) fn decode<'a>(
        &mut self,
        input: &'a mut [u8],
        max: usize,
    ) -> Result<Option<(Frame<'a>, usize)>, FrameError> {
        if let Some(payload) = &mut self.payload {
            let count = input.len().min(max).min(clamp(payload.left));
            if count == 0 && payload.left > 0 {
                return Ok(None);
            }
            let data = &mut input[..count];
            unmask(data, payload.mask, payload.offset);
            payload.offset += count;
            payload.left -= count as u64;
            if payload.left == 0 {
                self.payload = None;
            }
            return Ok(Some((Frame::Data(data), count)));
        }
        let Some(header) = Header::parse(input)? else {
            return Ok(None);
        };
        match header.opcode {
            opcode::TEXT => return Err(FrameError::Text),
            opcode::BINARY if self.fragmented => return Err(FrameError::Fragmentation),
            opcode::CONTINUATION if !self.fragmented => return Err(FrameError::Fragmentation),
            opcode::BINARY | opcode::CONTINUATION => {
                self.fragmented = !header.fin;
                self.payload = (header.length > 0).then_some(Payload {
                    left: header.length,
                    mask: header.mask,
                    offset: 0,
                });
                // Hand the header on as empty data; the payload follows on the next call.
                return Ok(Some((Frame::Data(&[]), header.size)));
            }
            opcode::CLOSE | opcode::PING | opcode::PONG => {}
            other => return Err(FrameError::UnknownOpcode(other)),
        }
        if !header.fin || header.length > 125 {
            return Err(FrameError::BadControlFrame);
        }
        let end = header.size + header.length as usize;
        if input.len() < end {
            return Ok(None);
        }
        let body = &mut input[header.size..end];
        unmask(body, header.mask, 0);
        let frame = match header.opcode {
            opcode::PING => Frame::Ping(body),
            opcode::PONG => Frame::Pong,
            _ => match *body {
                [] => Frame::Close(None),
                [_] => return Err(FrameError::BadLength),
                [high, low, ..] => Frame::Close(Some(u16::from_be_bytes([high, low]))),
            },
        };
        Ok(Some((frame, end)))
    }
}

/// A frame header (RFC 6455 §5.2).
struct Header {
    fin: bool,
    opcode: u8,
    length: u64,
    mask: [u8; 4],
    /// The header's own length: 6, 8 or 14 bytes for a masked frame.
    size: usize,
}

impl Header {
    fn parse(input: &[u8]) -> Result<Option<Self>, FrameError> {
        let [first, second, ..] = *input else {
            return Ok(None);
        };
        if first & 0x70 != 0 {
            return Err(FrameError::ReservedBits);
        }
        if second & 0x80 == 0 {
            return Err(FrameError::Unmasked);
        }
        let (length, at) = match second & 0x7F {
            126 => match input.get(2..4) {
                Some(bytes) => (u64::from(u16::from_be_bytes([bytes[0], bytes[1]])), 4),
                None => return Ok(None),
            },
            127 => match input.get(2..10) {
                Some(bytes) => {
                    let mut be = [0u8; 8];
                    be.copy_from_slice(bytes);
                    let length = u64::from_be_bytes(be);
                    if length >> 63 != 0 {
                        return Err(FrameError::BadLength);
                    }
                    (length, 10)
                }
                None => return Ok(None),
            },
            short => (u64::from(short), 2),
        };
        let Some(mask) = input.get(at..at + 4) else {
            return Ok(None);
        };
        Ok(Some(Self {
            fin: first & 0x80 != 0,
            opcode: first & 0x0F,
            length,
            mask: [mask[0], mask[1], mask[2], mask[3]],
            size: at + 4,
        }))
    }
}

/// XORs `data` with the mask key, `offset` being the position of `data[0]` in the payload (§5.3).
///
/// The key is rotated once to line up with `data[0]`, then applied four bytes at a time, which the
/// compiler vectorises: 16 GB/s against 2.3 GB/s for an index modulo 4 per byte (release build,
/// 4 KiB reads, measured when this was written).
fn unmask(data: &mut [u8], mut mask: [u8; 4], offset: usize) {
    mask.rotate_left(offset % 4);
    let mut words = data.chunks_exact_mut(4);
    for word in &mut words {
        for (byte, key) in word.iter_mut().zip(mask) {
            *byte ^= key;
        }
    }
    for (byte, key) in words.into_remainder().iter_mut().zip(mask) {
        *byte ^= key;
    }
}

fn clamp(left: u64) -> usize {
    usize::try_from(left).unwrap_or(usize::MAX)
}

/// Appends the header of an unfragmented, unmasked binary frame of `length` bytes (§5.2).
pub(crate) fn binary_header(length: usize, out: &mut Vec<u8>) {
    header(opcode::BINARY, length, out);
}

/// A complete pong frame echoing a ping's payload (§5.5.3).
pub(crate) fn pong(payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(2 + payload.len());
    header(opcode::PONG, payload.len(), &mut frame);
    frame.extend_from_slice(payload);
    frame
}

/// A complete close frame with a status code (§5.5.1).
pub(crate) fn close(code: u16) -> Vec<u8> {
    let mut frame = Vec::with_capacity(4);
    header(opcode::CLOSE, 2, &mut frame);
    frame.extend_from_slice(&code.to_be_bytes());
    frame
}

fn header(opcode: u8, length: usize, out: &mut Vec<u8>) {
    out.push(0x80 | opcode); // FIN: the server never fragments
    match length {
        0..=125 => out.push(length as u8),
        126..=0xFFFF => {
            out.push(126);
            out.extend_from_slice(&(length as u16).to_be_bytes());
        }
        _ => {
            out.push(127);
            out.extend_from_slice(&(length as u64).to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request of RFC 6455 §1.2, with the subprotocols an MQTT.js client offers.
    const REQUEST: &str = "GET /mqtt HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
        Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Origin: http://example.com\r\nSec-WebSocket-Protocol: mqtt\r\nSec-WebSocket-Version: 13\r\n\r\n";

    fn refused(request: &str) -> Refusal {
        match handshake(request.as_bytes()) {
            Err(refusal) => refusal,
            other => panic!("expected a refusal for {request:?}, got {other:?}"),
        }
    }

    #[test]
    fn the_rfc_example_key_gets_the_rfc_example_accept_value() {
        // RFC 6455 §1.3 works this example through.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn a_good_request_is_answered_101_with_the_mqtt_subprotocol_mqtt_6_0_0_4() {
        let mut input = REQUEST.as_bytes().to_vec();
        input.extend_from_slice(b"\x82"); // the first frame may follow at once
        let upgrade = handshake(&input).expect("accepted").expect("complete");
        assert_eq!(upgrade.used, REQUEST.len());
        assert_eq!(upgrade.subprotocol, "mqtt");
        let response = String::from_utf8(upgrade.response).expect("text");
        assert!(response.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(response.contains("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(response.contains("\r\nSec-WebSocket-Protocol: mqtt\r\n"));
        assert!(response.ends_with("\r\n\r\n"));
    }

    #[test]
    fn every_prefix_of_the_request_asks_for_more() {
        for end in 0..REQUEST.len() {
            assert_eq!(handshake(&REQUEST.as_bytes()[..end]), Ok(None), "{end}");
        }
    }

    #[test]
    fn mqtt_is_preferred_and_mqttv3_1_accepted_mqtt_6_0_0_4() {
        let offer = |protocols: &str| {
            let request = REQUEST.replace(
                "Sec-WebSocket-Protocol: mqtt\r\n",
                &format!("Sec-WebSocket-Protocol: {protocols}\r\n"),
            );
            handshake(request.as_bytes()).map(|upgrade| upgrade.map(|up| up.subprotocol))
        };
        assert_eq!(offer("mqttv3.1, mqtt"), Ok(Some("mqtt")));
        assert_eq!(offer("mqttv3.1"), Ok(Some("mqttv3.1")));
        assert_eq!(
            offer("chat\r\nSec-WebSocket-Protocol: mqtt"),
            Ok(Some("mqtt"))
        );
        assert_eq!(offer("MQTT").map_err(|refusal| refusal.status), Err(400));
    }

    #[test]
    fn bad_requests_are_refused_with_a_reason() {
        for (from, to, status) in [
            ("GET /mqtt HTTP/1.1", "POST /mqtt HTTP/1.1", 400),
            ("GET /mqtt HTTP/1.1", "GET /mqtt HTTP/1.0", 400),
            ("GET /mqtt HTTP/1.1", "GET /mqtt", 400),
            ("Host: server.example.com\r\n", "", 400),
            ("Upgrade: websocket\r\n", "", 400),
            ("keep-alive, Upgrade", "keep-alive", 400),
            ("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ=", 400),
            ("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "", 400),
            ("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8", 426),
            ("Sec-WebSocket-Protocol: mqtt\r\n", "", 400),
            (
                "Sec-WebSocket-Protocol: mqtt",
                "Sec-WebSocket-Protocol: chat",
                400,
            ),
            ("Origin: http://example.com", "no colon here", 400),
        ] {
            let refusal = refused(&REQUEST.replace(from, to));
            assert_eq!(refusal.status, status, "{to}: {refusal}");
            let response = String::from_utf8(refusal.response()).expect("text");
            assert!(response.starts_with(&format!("HTTP/1.1 {status} ")));
            assert!(response.contains(&refusal.why), "{response}");
        }
        assert!(
            refused("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                .why
                .contains("Upgrade")
        );
        assert!(
            refused(&"x".repeat(MAX_REQUEST + 1))
                .why
                .contains("over 8192 bytes")
        );
    }

    /// A client frame: FIN and opcode, masked with `mask`.
    fn client_frame(first: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
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
        frame.extend_from_slice(&mask);
        frame.extend(
            payload
                .iter()
                .enumerate()
                .map(|(index, byte)| byte ^ mask[index % 4]),
        );
        frame
    }

    /// Decodes `input` fed `step` bytes at a time (keeping what was not used, as `transport/stream.rs`
    /// does), taking at most `max` data bytes per call; returns the data and the control frames.
    fn run(input: &[u8], step: usize, max: usize) -> Result<(Vec<u8>, Vec<String>), FrameError> {
        let mut decoder = FrameDecoder::default();
        let (mut data, mut control) = (Vec::new(), Vec::new());
        let mut buffer = Vec::new();
        for chunk in input.chunks(step) {
            buffer.extend_from_slice(chunk);
            while let Some((frame, used)) = decoder.decode(&mut buffer, max)? {
                match frame {
                    Frame::Data(bytes) => data.extend_from_slice(bytes),
                    other => control.push(format!("{other:?}")),
                }
                buffer.drain(..used);
            }
        }
        assert!(buffer.is_empty(), "left over: {buffer:?}");
        Ok((data, control))
    }

    #[test]
    fn payloads_are_one_stream_whatever_the_framing_mqtt_6_0_0_2() {
        let payload: Vec<u8> = (0..70_000u32).map(|n| (n % 251) as u8).collect();
        let mut input = client_frame(0x82, &payload[..10], [1, 2, 3, 4]);
        input.extend(client_frame(0x02, &payload[10..300], [9, 8, 7, 6]));
        input.extend(client_frame(0x89, b"hi", [5, 5, 5, 5])); // a ping between fragments
        input.extend(client_frame(0x80, &payload[300..], [0xAA, 0, 0xFF, 3]));
        input.extend(client_frame(0x82, &[], [1, 1, 1, 1]));
        for step in [1, 3, 7, 4096, input.len()] {
            for max in [1, 5, 4096] {
                let (data, control) = run(&input, step, max).expect("valid frames");
                assert_eq!(data, payload, "step {step} max {max}");
                assert_eq!(control, ["Ping([104, 105])"]);
            }
        }
    }

    #[test]
    fn control_frames_are_read_whole() {
        let mut input = client_frame(0x8A, b"pong", [1, 2, 3, 4]);
        input.extend(client_frame(0x88, &1000u16.to_be_bytes(), [7, 7, 7, 7]));
        input.extend(client_frame(0x88, &[], [7, 7, 7, 7]));
        let (data, control) = run(&input, 1, 10).expect("valid frames");
        assert!(data.is_empty());
        assert_eq!(control, ["Pong", "Close(Some(1000))", "Close(None)"]);
    }

    #[test]
    fn protocol_errors_are_named_and_map_to_close_codes() {
        let mask = [1, 2, 3, 4];
        let unmasked = vec![0x82, 0x01, 0x10];
        for (input, error, code) in [
            (client_frame(0x81, b"{}", mask), FrameError::Text, 1003),
            (unmasked, FrameError::Unmasked, 1002),
            (
                client_frame(0xC2, b"x", mask),
                FrameError::ReservedBits,
                1002,
            ),
            (
                client_frame(0x83, b"x", mask),
                FrameError::UnknownOpcode(3),
                1002,
            ),
            (
                client_frame(0x80, b"x", mask),
                FrameError::Fragmentation,
                1002,
            ),
            (
                [
                    client_frame(0x02, b"x", mask),
                    client_frame(0x82, b"y", mask),
                ]
                .concat(),
                FrameError::Fragmentation,
                1002,
            ),
            (
                client_frame(0x09, b"x", mask),
                FrameError::BadControlFrame,
                1002,
            ),
            (
                client_frame(0x89, &[0; 126], mask),
                FrameError::BadControlFrame,
                1002,
            ),
            (client_frame(0x88, b"x", mask), FrameError::BadLength, 1002),
            (
                [&[0x82, 0xFF, 0x80][..], &[0; 11]].concat(),
                FrameError::BadLength,
                1002,
            ),
        ] {
            assert_eq!(run(&input, 1, 4096), Err(error), "{input:?}");
            assert_eq!(error.close_code(), code);
        }
    }

    #[test]
    fn server_frames_are_unmasked_with_the_shortest_length() {
        let mut out = Vec::new();
        binary_header(5, &mut out);
        assert_eq!(out, [0x82, 5]);
        out.clear();
        binary_header(126, &mut out);
        assert_eq!(out, [0x82, 126, 0, 126]);
        out.clear();
        binary_header(65_536, &mut out);
        assert_eq!(out, [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!(pong(b"ab"), [0x8A, 2, b'a', b'b']);
        assert_eq!(close(1003), [0x88, 2, 0x03, 0xEB]);
    }
}
