//! Listeners and TLS: `listener`, `port`, `bind_address`, `protocol`, `http_dir`, the per-listener TLS
//! directives (`certfile`, `keyfile`, `cafile`, `capath`, `crlfile`, `require_certificate`,
//! `use_identity_as_username`, `use_subject_as_username`, `ciphers`, `ciphers_tls1.3`,
//! `tls_version`) and `metrics_listener` (ours: the Prometheus endpoint, `prometheus.rs`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::super::{Parser, PendingListener, boolean, number, resolve};
use crate::transport::tls::{self, TlsVersion};

pub(in crate::config) fn directive(
    parser: &mut Parser,
    name: &str,
    value: &str,
) -> Option<Result<(), String>> {
    let result = match name {
        "listener" => parse_listener(value).map(|address| {
            let place = parser.place.clone();
            parser.listeners.push(PendingListener::new(place, address));
        }),
        "port" => number(name, value, 0..=65_535).map(|port| {
            parser.default_port = Some(port as u16);
        }),
        "bind_address" => resolve(value, 0).map(|address| {
            parser.default_address = Some(address.ip());
        }),
        // `<address>:<port>` (the README's form) or, like `listener`, `<port> [<address>]`.
        "metrics_listener" => value
            .parse::<SocketAddr>()
            .or_else(|_| parse_listener(value))
            .map(|address| parser.config.metrics_listener = Some(address)),
        "protocol"
        | "http_dir"
        | "certfile"
        | "keyfile"
        | "cafile"
        | "capath"
        | "crlfile"
        | "require_certificate"
        | "use_identity_as_username"
        | "use_subject_as_username"
        | "ciphers"
        | "ciphers_tls1.3"
        | "tls_version" => {
            let place = parser.place.clone();
            match parser.listeners.last_mut() {
                None => Err(format!(
                    "`{name}` belongs to a listener: put it after a `listener` line"
                )),
                Some(listener) => listener_directive(listener, place, name, value),
            }
        }
        _ => return None,
    };
    Some(result)
}

/// A directive of the listener above it.
fn listener_directive(
    listener: &mut PendingListener,
    place: super::super::Place,
    name: &str,
    value: &str,
) -> Result<(), String> {
    match name {
        "protocol" => {
            listener.websocket = match value {
                "mqtt" => false,
                "websockets" => true,
                _ => {
                    return Err(format!(
                        "`protocol` is `mqtt` or `websockets`, not `{value}`"
                    ));
                }
            };
            return Ok(());
        }
        "http_dir" => {
            listener.http_dir = Some((place, value.into()));
            return Ok(());
        }
        _ => {}
    }
    listener.any_tls = true;
    match name {
        "certfile" => listener.certfile = Some(value.into()),
        "keyfile" => listener.keyfile = Some(value.into()),
        "cafile" => listener.cafile = Some(value.into()),
        "capath" => listener.capath = Some(value.into()),
        "crlfile" => listener.crlfile = Some(value.into()),
        "require_certificate" => listener.require_certificate = boolean(name, value)?,
        "use_identity_as_username" => listener.use_identity_as_username = boolean(name, value)?,
        "use_subject_as_username" => listener.use_subject_as_username = boolean(name, value)?,
        "ciphers" => {
            tls::tls12_suites(value)?;
            listener.ciphers = Some(value.into());
        }
        "ciphers_tls1.3" => {
            tls::tls13_suites(value)?;
            listener.ciphers_tls13 = Some(value.into());
        }
        _ => listener.tls_version = Some(TlsVersion::parse(value)?),
    }
    Ok(())
}

/// `listener <port> [<address>]`.
fn parse_listener(value: &str) -> Result<SocketAddr, String> {
    let mut words = value.split_whitespace();
    let port = number("listener", words.next().unwrap_or(""), 0..=65_535)? as u16;
    let address = words.next();
    if words.next().is_some() {
        return Err("`listener` takes a port and an optional address".into());
    }
    match address {
        None => Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)),
        Some(host) => resolve(host, port),
    }
}
