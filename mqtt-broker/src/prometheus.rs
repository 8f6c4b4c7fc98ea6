//! The metrics endpoint (`metrics_listener`): one thread serving `GET /metrics` over HTTP/1.x in
//! the Prometheus text exposition format (version 0.0.4), from the counters `$SYS` reports.
//!
//! mosquitto needs a separate exporter for this; here the broker answers the scrape itself. The
//! server is deliberately tiny: one request per connection (`Connection: close`), read with a 5 s
//! timeout and at most 8 KiB of request head, answered 404 for another path, 405 for another
//! method, 400 for a request that is not HTTP, 431 for a head that is too long. Requests are
//! served one at a time on one thread, so a slow or hostile scraper delays only other scrapes,
//! never a client. Not TLS, no authentication: bind it to a private address.
//!
//! This file formats figures; it counts nothing itself (`metrics.rs`, `routing/router.rs` do).

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::metrics::Metrics;
use crate::routing::router::Router;
use crate::sys::Memory;

/// The most a request's head (request line and headers) may take.
const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// How long a scraper has to send its request and read the answer.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// The running endpoint, stopped by [`MetricsServer::stop`].
#[derive(Debug)]
pub(crate) struct MetricsServer {
    /// Where it listens (with the port the system chose for port 0).
    pub(crate) address: SocketAddr,
    thread: JoinHandle<()>,
    stopping: Arc<AtomicBool>,
}

impl MetricsServer {
    /// Binds `address` and starts the thread.
    pub(crate) fn start(address: SocketAddr, router: Arc<Router>) -> io::Result<Self> {
        let listener = TcpListener::bind(address)?;
        let address = listener.local_addr()?;
        let stopping = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stopping);
        let started = Instant::now();
        let thread = thread::Builder::new()
            .name("metrics".into())
            .stack_size(256 * 1024)
            .spawn(move || {
                for stream in listener.incoming() {
                    if flag.load(Ordering::SeqCst) {
                        return;
                    }
                    if let Ok(stream) = stream {
                        serve(stream, &router, started);
                    }
                }
            })?;
        log::info!("metrics on http://{address}/metrics");
        Ok(Self {
            address,
            thread,
            stopping,
        })
    }

    /// Stops the thread: sets the flag, then wakes the accept with a connection of its own.
    pub(crate) fn stop(self) {
        self.stopping.store(true, Ordering::SeqCst);
        let mut target = self.address;
        if target.ip().is_unspecified() {
            target.set_ip(match target {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let _ = TcpStream::connect_timeout(&target, Duration::from_secs(1));
        let _ = self.thread.join();
    }
}

/// Answers one request on `stream`; any I/O error just ends it.
fn serve(mut stream: TcpStream, router: &Router, started: Instant) {
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let response = match read_head(&mut stream) {
        Ok(head) => respond(&head, || render(router, started.elapsed())),
        Err(HeadError::TooLong) => status(431, "Request Header Fields Too Large", ""),
        Err(HeadError::Io) => return,
    };
    let _ = stream.write_all(&response);
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

enum HeadError {
    TooLong,
    Io,
}

/// Reads up to the blank line that ends the request head.
fn read_head(stream: &mut TcpStream) -> Result<Vec<u8>, HeadError> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0; 1024];
    loop {
        let n = stream.read(&mut chunk).map_err(|_| HeadError::Io)?;
        if n == 0 {
            return Err(HeadError::Io);
        }
        head.extend_from_slice(&chunk[..n]);
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            head.truncate(end);
            return Ok(head);
        }
        if head.len() > MAX_REQUEST_HEAD {
            return Err(HeadError::TooLong);
        }
    }
}

/// The whole HTTP response to a request head; `body` renders the metrics only when they are asked
/// for.
fn respond(head: &[u8], body: impl FnOnce() -> String) -> Vec<u8> {
    let line = head.split(|&byte| byte == b'\r').next().unwrap_or(&[]);
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return status(400, "Bad Request", "");
    };
    if !version.starts_with("HTTP/1.") {
        return status(400, "Bad Request", "");
    }
    // A query string (`?name[]=...`, which some scrapers add) does not change the answer.
    let path = target.split('?').next().unwrap_or(target);
    if path != "/metrics" {
        return status(404, "Not Found", "");
    }
    match method {
        "GET" => {
            let body = body();
            let mut response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            response.extend_from_slice(body.as_bytes());
            response
        }
        _ => status(405, "Method Not Allowed", "Allow: GET\r\n"),
    }
}

fn status(code: u16, reason: &str, extra: &str) -> Vec<u8> {
    let body = format!("{code} {reason}\n");
    format!(
        "HTTP/1.1 {code} {reason}\r\n{extra}Content-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// One metric: (name, help, counter or gauge, value).
type Figure = (&'static str, &'static str, &'static str, u64);

/// The figures, named after the `$SYS` topics they mirror.
fn figures(router: &Router, uptime: Duration) -> Vec<Figure> {
    let m = &router.metrics;
    let (connected, total, subscriptions, retained) = router.counts();
    let (stored, stored_bytes, inflight) = router.stored();
    let read = Metrics::read;
    let mut figures = vec![
        (
            "mqtt_broker_uptime_seconds",
            "Seconds since the broker started.",
            "gauge",
            uptime.as_secs(),
        ),
        (
            "mqtt_broker_clients_connected",
            "Clients connected now.",
            "gauge",
            connected,
        ),
        (
            "mqtt_broker_clients_disconnected",
            "Sessions kept for clients not connected now.",
            "gauge",
            total.saturating_sub(connected),
        ),
        (
            "mqtt_broker_messages_inflight",
            "Outgoing QoS 1/2 messages awaiting their acknowledgement.",
            "gauge",
            inflight,
        ),
        (
            "mqtt_broker_clients_total",
            "Sessions known, connected or not.",
            "gauge",
            total,
        ),
        (
            "mqtt_broker_clients_maximum",
            "The most clients connected at once.",
            "gauge",
            read(&m.clients_maximum),
        ),
        (
            "mqtt_broker_connections_total",
            "Connections accepted with CONNACK 0.",
            "counter",
            read(&m.connections),
        ),
        (
            "mqtt_broker_messages_received_total",
            "Packets received, of every type.",
            "counter",
            read(&m.messages_received),
        ),
        (
            "mqtt_broker_messages_sent_total",
            "Packets sent, of every type.",
            "counter",
            read(&m.messages_sent),
        ),
        (
            "mqtt_broker_publish_received_total",
            "PUBLISH packets received.",
            "counter",
            read(&m.publish_received),
        ),
        (
            "mqtt_broker_publish_sent_total",
            "PUBLISH packets sent.",
            "counter",
            read(&m.publish_sent),
        ),
        (
            "mqtt_broker_publish_dropped_total",
            "Deliveries dropped: a full queue or writer channel, or a message over message_size_limit.",
            "counter",
            read(&m.publish_dropped),
        ),
        (
            "mqtt_broker_publish_refused_total",
            "QoS 1/2 PUBLISH refused because an offline session's queue was full.",
            "counter",
            read(&m.publish_refused),
        ),
        (
            "mqtt_broker_publish_denied_total",
            "PUBLISH acknowledged but dropped by the ACL or max_topic_levels.",
            "counter",
            read(&m.publish_denied),
        ),
        (
            "mqtt_broker_bytes_received_total",
            "Bytes read from client sockets.",
            "counter",
            read(&m.bytes_received),
        ),
        (
            "mqtt_broker_bytes_sent_total",
            "Bytes written to client sockets.",
            "counter",
            read(&m.bytes_sent),
        ),
        (
            "mqtt_broker_sockets_total",
            "Sockets accepted, before CONNECT.",
            "counter",
            read(&m.sockets),
        ),
        (
            "mqtt_broker_publish_bytes_received_total",
            "Payload bytes of the PUBLISH packets received.",
            "counter",
            read(&m.publish_bytes_received),
        ),
        (
            "mqtt_broker_publish_bytes_sent_total",
            "Payload bytes of the PUBLISH packets sent.",
            "counter",
            read(&m.publish_bytes_sent),
        ),
        (
            "mqtt_broker_stored_messages",
            "Messages held: retained, queued or in flight.",
            "gauge",
            stored,
        ),
        (
            "mqtt_broker_stored_bytes",
            "Payload bytes of the messages held.",
            "gauge",
            stored_bytes,
        ),
        (
            "mqtt_broker_subscriptions",
            "Subscriptions, shared ones included.",
            "gauge",
            subscriptions,
        ),
        (
            "mqtt_broker_shared_subscriptions",
            "Shared-subscription memberships.",
            "gauge",
            router.shared_count(),
        ),
        (
            "mqtt_broker_retained_messages",
            "Retained messages held.",
            "gauge",
            retained,
        ),
    ];
    if let Some(memory) = Memory::of_this_process() {
        figures.push((
            "mqtt_broker_resident_memory_bytes",
            "Resident memory of the broker process (VmRSS), as $SYS/broker/heap/current.",
            "gauge",
            memory.resident,
        ));
        figures.push((
            "mqtt_broker_resident_memory_peak_bytes",
            "High-water mark of resident memory (VmHWM), as $SYS/broker/heap/maximum.",
            "gauge",
            memory.peak,
        ));
    }
    figures
}

/// The exposition: for each figure its HELP and TYPE lines, then its sample.
fn render(router: &Router, uptime: Duration) -> String {
    let mut out = String::with_capacity(4096);
    for (name, help, kind, value) in figures(router, uptime) {
        // `write!` to a String cannot fail.
        let _ = write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(request: &str) -> String {
        String::from_utf8(respond(request.as_bytes(), || "x 1\n".into())).expect("utf8")
    }

    #[test]
    fn only_get_metrics_is_served() {
        assert!(answer("GET /metrics HTTP/1.1\r\nHost: a").starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(answer("GET /metrics?x=1 HTTP/1.0").starts_with("HTTP/1.1 200 "));
        assert!(answer("GET / HTTP/1.1").starts_with("HTTP/1.1 404 "));
        let post = answer("POST /metrics HTTP/1.1");
        assert!(
            post.starts_with("HTTP/1.1 405 ") && post.contains("Allow: GET\r\n"),
            "{post}"
        );
        assert!(answer("GET /metrics").starts_with("HTTP/1.1 400 "));
        assert!(answer("\u{0}\u{1}garbage").starts_with("HTTP/1.1 400 "));
        assert!(answer("GET /metrics SMTP/1.0").starts_with("HTTP/1.1 400 "));
    }

    #[test]
    fn the_body_has_its_length_and_content_type() {
        let ok = answer("GET /metrics HTTP/1.1");
        assert!(ok.contains("Content-Type: text/plain; version=0.0.4"));
        assert!(ok.contains("Content-Length: 4\r\n"));
        assert!(ok.ends_with("\r\n\r\nx 1\n"));
    }
}
