//! How much the broker takes on: queues, windows, sizes, time-outs and counts
//! (`max_inflight_messages`, `max_queued_messages`, `max_queued_bytes`, `queue_full_drop`,
//! `write_timeout`, `message_size_limit`, `max_packet_size`, `max_keepalive`, `max_topic_alias`,
//! `response_information`, `memory_limit`, `check_retain_source`, `retain_available`,
//! `wildcard_subscriptions`, `subscription_identifiers`, `shared_subscriptions` (these three are
//! this broker's own: mosquitto always offers the features), `sys_interval`, `connect_timeout`, `max_connections`, `max_subscriptions_per_client`,
//! `max_topic_levels`, `set_tcp_nodelay`).

use super::super::{PROTOCOL_MAX, Parser, boolean, number, seconds};

pub(in crate::config) fn directive(
    parser: &mut Parser,
    name: &str,
    value: &str,
) -> Option<Result<(), String>> {
    let config = &mut parser.config;
    let result = match name {
        "max_inflight_messages" => {
            number(name, value, 0..=65_535).map(|n| config.max_inflight_messages = n)
        }
        "max_inflight_bytes" => {
            number(name, value, 0..=usize::MAX).map(|n| config.max_inflight_bytes = n)
        }
        "max_queued_messages" => {
            number(name, value, 0..=usize::MAX).map(|n| config.max_queued_messages = n)
        }
        "max_queued_bytes" => {
            number(name, value, 0..=usize::MAX).map(|n| config.max_queued_bytes = n)
        }
        "queue_full_drop" => boolean(name, value).map(|on| config.queue_full_drop = on),
        "write_timeout" => seconds(name, value, 1..=3_600).map(|d| config.write_timeout = d),
        "message_size_limit" => {
            number(name, value, 0..=PROTOCOL_MAX).map(|n| config.message_size_limit = n)
        }
        // mosquitto's range: 20 bytes (the smallest useful CONNECT) to the protocol's largest
        // packet; 0 is its default, no limit.
        "max_packet_size" => number(name, value, 0..=PROTOCOL_MAX + 5).and_then(|n| {
            if n != 0 && n < 20 {
                Err(format!(
                    "`max_packet_size` must be 0 or at least 20 bytes, not `{value}`"
                ))
            } else {
                config.max_packet_size = n;
                Ok(())
            }
        }),
        // mosquitto refuses 0 here: a cap of zero seconds would mean no keep-alive at all.
        "max_keepalive" => {
            number(name, value, 10..=65_535).map(|n| config.max_keepalive = n as u16)
        }
        "max_topic_alias" => {
            number(name, value, 0..=65_535).map(|n| config.max_topic_alias = n as u16)
        }
        // EMQX's option: the string a 5.0 client that asks for Response Information is given.
        "response_information" => {
            if value.is_empty() || value.len() > usize::from(u16::MAX) {
                Err("`response_information` needs a string of 1 to 65 535 bytes".into())
            } else {
                config.response_information = Some(value.to_owned());
                Ok(())
            }
        }
        "memory_limit" => {
            number(name, value, 0..=usize::MAX).map(|n| config.memory_limit = n as u64)
        }
        "retain_available" => boolean(name, value).map(|on| config.retain_available = on),
        "wildcard_subscriptions" => {
            boolean(name, value).map(|on| config.wildcard_subscriptions = on)
        }
        "subscription_identifiers" => {
            boolean(name, value).map(|on| config.subscription_identifiers = on)
        }
        "shared_subscriptions" => boolean(name, value).map(|on| config.shared_subscriptions = on),
        "upgrade_outgoing_qos" => boolean(name, value).map(|on| config.upgrade_outgoing_qos = on),
        "check_retain_source" => boolean(name, value).map(|on| config.check_retain_source = on),
        "sys_interval" => seconds(name, value, 0..=86_400).map(|d| config.sys_interval = d),
        "connect_timeout" => seconds(name, value, 1..=3_600).map(|d| config.connect_timeout = d),
        "max_connections" => {
            if value == "-1" {
                config.max_connections = None;
                Ok(())
            } else {
                number(name, value, 1..=usize::MAX).map(|n| config.max_connections = Some(n))
            }
        }
        "max_subscriptions_per_client" => {
            number(name, value, 0..=usize::MAX).map(|n| config.max_subscriptions_per_client = n)
        }
        "max_topic_levels" => number(name, value, 0..=65_535).map(|n| config.max_topic_levels = n),
        // Accepted only at the value this broker always has: Nagle's algorithm is always off.
        "set_tcp_nodelay" => {
            if value == "true" {
                Ok(())
            } else {
                Err("`set_tcp_nodelay` can only be `true` in this broker (see the README)".into())
            }
        }
        _ => return None,
    };
    Some(result)
}
