//! [`Local`]: a bridge's local side, an MQTT client of this very broker over an in-process duplex
//! (`transport/duplex.rs`), served by an ordinary reader thread (`connection/reader.rs`) like any network client.
//!
//! It speaks MQTT with `mqtt-codec` directly rather than through `mqtt-client`, because the bridge
//! must choose when to acknowledge: a message from this broker is acknowledged (PUBACK, or PUBREC for
//! QoS 2) only once the remote broker has acknowledged it, so a message this broker still holds is
//! never one that the remote might not have. The session is persistent (clean session 0, unless
//! `local_cleansession true`) and announced as a bridge (the top bit of the protocol level), so that the router does not send back
//! what the bridge publishes here.
//!
//! With `bridge_protocol_version mqttv50` it speaks 5.0 to this broker too, so that a message's 5.0
//! properties cross the bridge both ways (the remote side is 5.0 then). The bridge bit is a 3.1.1
//! convention; at 5.0 the local subscriptions carry No Local instead, so that what the bridge
//! publishes here is not sent back to it [MQTT5-3.8.3-3], and Retain As Published, so that retained
//! messages leave retained (5.0 §3.8.3.1).
//!
//! One reader thread decodes what the broker sends and hands it over a bounded channel; a full
//! channel blocks it, which fills the duplex, which blocks the broker's writer, whose own bounded
//! channel then makes the router queue QoS 1/2 messages and drop QoS 0 ones (counted), exactly as
//! for a slow network client.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use mqtt_codec::{
    Connect, Decoder, Delivery, List, Packet, PacketId, ProtocolLevel, PubAck, PubComp, PubRec,
    PubRel, Publish, QoS, Status, Subscribe, Subscription, TopicFilter, TopicName,
};

use mqtt_client::v5::PublishProperties;
use mqtt_codec::v5;

use super::config::BridgeConfig;
use crate::connection::{Connection, Context};
use crate::transport::duplex::{End, duplex};

/// Connection numbers for in-process connections, far above those of accepted sockets, so that the
/// two never collide (the router tells a connection from its successor by this number).
static NEXT_ID: AtomicU64 = AtomicU64::new(1 << 62);

/// What the broker sent to the bridge's local side.
#[derive(Debug)]
pub(crate) enum LocalEvent {
    /// A message for the remote broker; `packet_id` is `None` at QoS 0. `properties` are its 5.0
    /// properties (none at 3.1.1).
    Publish {
        packet_id: Option<PacketId>,
        qos: QoS,
        topic: String,
        payload: Vec<u8>,
        retain: bool,
        properties: PublishProperties,
    },
    /// The broker released a QoS 2 message the bridge had PUBREC'd: answer PUBCOMP.
    PubRel(PacketId),
    /// The broker received a QoS 2 message from the bridge: answer PUBREL.
    PubRec(PacketId),
    /// The answer to the bridge's SUBSCRIBE.
    SubAck,
    /// Anything else (CONNACK, PUBACK, PUBCOMP): nothing to do.
    Other,
    /// The connection ended.
    Closed,
}

/// The local side of one bridge connection.
pub(crate) struct Local {
    end: Arc<End>,
    /// What the broker sends, decoded.
    pub(crate) events: Receiver<LocalEvent>,
    /// What arrived while `connect` waited for the SUBACK: a resumed session's re-sent messages.
    pub(crate) early: Vec<LocalEvent>,
    reader: Option<JoinHandle<()>>,
    server: Option<JoinHandle<()>>,
    next_packet_id: PacketId,
    /// Whether this connection speaks MQTT 5.0 (`bridge_protocol_version mqttv50`).
    mqtt5: bool,
}

impl Local {
    /// Connects to the broker as the bridge's `local_clientid` (persistent session unless
    /// `local_cleansession`; bridge bit at 3.1.1, No Local at 5.0), subscribes to
    /// `filters`, and returns once the subscriptions are in place (SUBACK), so that what is published
    /// from then on is carried.
    pub(crate) fn connect(
        context: &Arc<Context>,
        config: &BridgeConfig,
        filters: &[(String, QoS)],
    ) -> Result<Self, String> {
        let (ours, theirs) = duplex();
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let peer = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
        let connection = Connection::internal(Arc::clone(context), theirs, peer, id);
        let server = thread::Builder::new()
            .name(format!("bridge-local-{id}"))
            .spawn(move || connection.run())
            .map_err(|error| format!("cannot start a thread: {error}"))?;
        let end = Arc::new(ours);
        let (tx, events) = crossbeam_channel::bounded(1024);
        let reader_end = Arc::clone(&end);
        let mqtt5 = config.mqtt5;
        let reader = thread::Builder::new()
            .name(format!("bridge-read-{id}"))
            .spawn(move || {
                let decoder = Decoder::new(ProtocolLevel::Mqtt311);
                let decoder5 = v5::Decoder::new();
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 16 * 1024];
                loop {
                    let count = match reader_end.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(count) => count,
                    };
                    buffer.extend_from_slice(&chunk[..count]);
                    let mut consumed = 0;
                    loop {
                        let decoded = if mqtt5 {
                            decoder5
                                .decode(&buffer[consumed..])
                                .map(|status| match status {
                                    Status::Complete((packet, used)) => {
                                        Status::Complete((event5(&packet), used))
                                    }
                                    Status::Partial => Status::Partial,
                                })
                        } else {
                            decoder
                                .decode(&buffer[consumed..])
                                .map(|status| match status {
                                    Status::Complete((packet, used)) => {
                                        Status::Complete((event(&packet), used))
                                    }
                                    Status::Partial => Status::Partial,
                                })
                        };
                        match decoded {
                            Ok(Status::Complete((event, used))) => {
                                consumed += used;
                                if tx.send(event).is_err() {
                                    return;
                                }
                            }
                            Ok(Status::Partial) => break,
                            Err(error) => {
                                log::error!("bridge: malformed packet from this broker: {error}");
                                let _ = tx.send(LocalEvent::Closed);
                                return;
                            }
                        }
                    }
                    buffer.drain(..consumed);
                }
                let _ = tx.send(LocalEvent::Closed);
            })
            .map_err(|error| format!("cannot start a thread: {error}"))?;
        let mut local = Self {
            end,
            events,
            early: Vec::new(),
            reader: Some(reader),
            server: Some(server),
            next_packet_id: PacketId::MIN,
            mqtt5,
        };
        if mqtt5 {
            // A persistent session here never expires, as a 3.1.1 one does not [MQTT5-3.1.2-23].
            let expiry = if config.local_clean_session {
                0
            } else {
                u32::MAX
            };
            let properties = [v5::Property::SessionExpiryInterval(expiry)];
            local.send5(v5::Packet::Connect(v5::Connect {
                clean_start: config.local_clean_session,
                keep_alive: 0,
                properties: v5::Properties::from_slice(&properties),
                client_id: &config.local_clientid,
                will: None,
                user_name: config.local_username.as_deref(),
                password: config.local_password.as_deref().map(str::as_bytes),
                bridge: false,
            }))?;
        } else {
            local.send(Packet::Connect(Connect {
                level: ProtocolLevel::Mqtt311,
                // `local_cleansession true` gives up queueing for an absent remote (mosquitto.conf(5)).
                clean_session: config.local_clean_session,
                keep_alive: 0,
                client_id: &config.local_clientid,
                will: None,
                user_name: config.local_username.as_deref(),
                password: config.local_password.as_deref().map(str::as_bytes),
                bridge: true,
            }))?;
        }
        // CONNACK is the first packet the broker sends [MQTT-3.2.0-1].
        match local.events.recv_timeout(Duration::from_secs(10)) {
            Ok(LocalEvent::Other) => {}
            _ => return Err("this broker did not accept the bridge's local connection".into()),
        }
        let entries: Vec<Subscription<'_>> = filters
            .iter()
            .filter_map(|(filter, qos)| {
                Some(Subscription {
                    filter: TopicFilter::new(filter).ok()?,
                    qos: *qos,
                })
            })
            .collect();
        if !entries.is_empty() {
            let packet_id = local.packet_id();
            if mqtt5 {
                let entries: Vec<v5::Subscription<'_>> = entries
                    .iter()
                    .map(|entry| v5::Subscription {
                        filter: entry.filter,
                        options: v5::SubscriptionOptions {
                            qos: entry.qos,
                            no_local: true,
                            retain_as_published: true,
                            retain_handling: v5::RetainHandling::SendOnSubscribe,
                        },
                    })
                    .collect();
                local.send5(v5::Packet::Subscribe(v5::Subscribe {
                    packet_id,
                    properties: v5::Properties::EMPTY,
                    filters: List::from_slice(&entries),
                }))?;
            } else {
                local.send(Packet::Subscribe(Subscribe {
                    packet_id,
                    filters: List::from_slice(&entries),
                }))?;
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match local.events.recv_deadline(deadline) {
                    Ok(LocalEvent::SubAck) => break,
                    Ok(LocalEvent::Closed) | Err(_) => {
                        return Err("this broker did not answer the bridge's SUBSCRIBE".into());
                    }
                    Ok(event) => local.early.push(event),
                }
            }
        }
        Ok(local)
    }

    /// Publishes a message from the remote broker here, with its 5.0 `properties` at 5.0.
    pub(crate) fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
        properties: &PublishProperties,
    ) -> Result<(), String> {
        let topic = TopicName::new(topic).map_err(|error| error.to_string())?;
        let packet_id = self.packet_id();
        let delivery = Delivery::new(qos, packet_id, false);
        if self.mqtt5 {
            let properties = forwarded(properties);
            return self.send5(v5::Packet::Publish(v5::Publish {
                topic: Some(topic),
                payload,
                delivery,
                retain,
                properties: v5::Properties::from_slice(&properties),
            }));
        }
        self.send(Packet::Publish(Publish {
            topic,
            payload,
            delivery,
            retain,
        }))
    }

    /// Acknowledges a message of this broker's, once the remote broker has: PUBACK at QoS 1, PUBREC
    /// at QoS 2.
    pub(crate) fn acknowledge(&self, packet_id: PacketId, qos: QoS) -> Result<(), String> {
        if self.mqtt5 {
            return match qos {
                QoS::AtMostOnce => Ok(()),
                QoS::AtLeastOnce => self.send5(v5::Packet::PubAck(v5::PubAck::new(packet_id))),
                QoS::ExactlyOnce => self.send5(v5::Packet::PubRec(v5::PubRec::new(packet_id))),
            };
        }
        match qos {
            QoS::AtMostOnce => Ok(()),
            QoS::AtLeastOnce => self.send(Packet::PubAck(PubAck { packet_id })),
            QoS::ExactlyOnce => self.send(Packet::PubRec(PubRec { packet_id })),
        }
    }

    /// PUBCOMP for a PUBREL of this broker's.
    pub(crate) fn complete(&self, packet_id: PacketId) -> Result<(), String> {
        if self.mqtt5 {
            return self.send5(v5::Packet::PubComp(v5::PubComp::new(packet_id)));
        }
        self.send(Packet::PubComp(PubComp { packet_id }))
    }

    /// PUBREL for a PUBREC of this broker's.
    pub(crate) fn release(&self, packet_id: PacketId) -> Result<(), String> {
        if self.mqtt5 {
            return self.send5(v5::Packet::PubRel(v5::PubRel::new(packet_id)));
        }
        self.send(Packet::PubRel(PubRel { packet_id }))
    }

    /// Ends the connection without DISCONNECT (the session stays, with whatever is unacknowledged)
    /// and waits for both threads, which the shutdown of the duplex wakes wherever they block.
    pub(crate) fn close(mut self) {
        self.end.shutdown();
        for thread in [self.reader.take(), self.server.take()]
            .into_iter()
            .flatten()
        {
            let _ = thread.join();
        }
    }

    fn packet_id(&mut self) -> PacketId {
        let id = self.next_packet_id;
        self.next_packet_id = id.next();
        id
    }

    fn send(&self, packet: Packet<'_>) -> Result<(), String> {
        let mut bytes = Vec::new();
        packet
            .encode(ProtocolLevel::Mqtt311, &mut bytes)
            .map_err(|error| format!("cannot encode: {error}"))?;
        self.end
            .write_all(&bytes)
            .map_err(|error| format!("local connection lost: {error}"))
    }
}

impl Local {
    fn send5(&self, packet: v5::Packet<'_>) -> Result<(), String> {
        let mut bytes = Vec::new();
        packet
            .encode(&mut bytes)
            .map_err(|error| format!("cannot encode: {error}"))?;
        self.end
            .write_all(&bytes)
            .map_err(|error| format!("local connection lost: {error}"))
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        self.end.shutdown();
    }
}

fn event(packet: &Packet<'_>) -> LocalEvent {
    match packet {
        Packet::Publish(publish) => LocalEvent::Publish {
            packet_id: publish.delivery.packet_id(),
            qos: publish.qos(),
            topic: publish.topic.as_str().to_owned(),
            payload: publish.payload.to_vec(),
            retain: publish.retain,
            properties: PublishProperties::default(),
        },
        Packet::PubRel(rel) => LocalEvent::PubRel(rel.packet_id),
        Packet::PubRec(rec) => LocalEvent::PubRec(rec.packet_id),
        Packet::SubAck(_) => LocalEvent::SubAck,
        _ => LocalEvent::Other,
    }
}

/// What a 5.0 packet from this broker means to the bridge.
fn event5(packet: &v5::Packet<'_>) -> LocalEvent {
    match packet {
        // The bridge announces no Topic Alias Maximum, so every PUBLISH names its topic
        // [MQTT5-3.3.2-9]; one that does not is a broken broker, and the connection ends.
        v5::Packet::Publish(publish) => match publish.topic {
            Some(topic) => LocalEvent::Publish {
                packet_id: publish.delivery.packet_id(),
                qos: publish.qos(),
                topic: topic.as_str().to_owned(),
                payload: publish.payload.to_vec(),
                retain: publish.retain,
                properties: owned(&publish.properties),
            },
            None => LocalEvent::Closed,
        },
        v5::Packet::PubRel(rel) => LocalEvent::PubRel(rel.packet_id),
        v5::Packet::PubRec(rec) => LocalEvent::PubRec(rec.packet_id),
        v5::Packet::SubAck(_) => LocalEvent::SubAck,
        v5::Packet::Disconnect(_) => LocalEvent::Closed,
        _ => LocalEvent::Other,
    }
}

/// The properties of a message that cross the bridge, owned. Topic Alias belongs to one hop and
/// Subscription Identifiers to one delivery, so neither is kept [MQTT5-3.3.2-7] [MQTT5-3.3.4-6].
pub(crate) fn owned(properties: &v5::Properties<'_>) -> PublishProperties {
    PublishProperties {
        payload_format_indicator: properties.payload_format_indicator(),
        message_expiry_interval: properties.message_expiry_interval(),
        content_type: properties.content_type().map(str::to_owned),
        response_topic: properties.response_topic().map(str::to_owned),
        correlation_data: properties.correlation_data().map(<[u8]>::to_vec),
        user_properties: properties
            .user_properties()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect(),
        ..PublishProperties::default()
    }
}

/// `properties` as the codec's list, for a PUBLISH to this broker: only what is forwarded
/// unchanged (the remaining Message Expiry Interval included, as the remote sent it
/// [MQTT5-3.3.2-6]).
pub(crate) fn forwarded(properties: &PublishProperties) -> Vec<v5::Property<'_>> {
    let mut list = Vec::new();
    if let Some(indicator) = properties.payload_format_indicator {
        list.push(v5::Property::PayloadFormatIndicator(indicator));
    }
    if let Some(expiry) = properties.message_expiry_interval {
        list.push(v5::Property::MessageExpiryInterval(expiry));
    }
    if let Some(content_type) = &properties.content_type {
        list.push(v5::Property::ContentType(content_type));
    }
    if let Some(topic) = &properties.response_topic {
        list.push(v5::Property::ResponseTopic(topic));
    }
    if let Some(data) = &properties.correlation_data {
        list.push(v5::Property::CorrelationData(data));
    }
    for (name, value) in &properties.user_properties {
        list.push(v5::Property::UserProperty(name, value));
    }
    list
}
