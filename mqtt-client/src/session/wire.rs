//! Encoding what the session sends, at the connection's level: one method per kind of packet,
//! each building the 3.1.1 packet or the 5.0 one (with its properties) from the session's owned
//! state, so that the flows in the other files never ask which level they speak.
//!
//! At 5.0 every packet is measured before it is written and refused when larger than the server's
//! Maximum Packet Size [MQTT5-3.2.2-15]; PUBLISH is where topic aliases are chosen
//! [MQTT5-3.2.2-17] [MQTT5-3.3.2-9].

use std::time::Instant;

use mqtt_codec::v5::{self, Property, ReasonCode};
use mqtt_codec::{
    Connect, Delivery, List, Packet, PacketId, PubAck, PubComp, PubRec, PubRel, Publish, Subscribe,
    Subscription, TopicFilter, TopicName, Unsubscribe, Will,
};

use super::{Message, Session};
use crate::Error;
use crate::v5::{PublishProperties, SubscribeOptions, SubscribeProperties};

/// The four acknowledgements of the QoS flows, which share one layout. The shared prefix is the
/// point: these are the packet names of the specification.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ack {
    PubAck,
    PubRec,
    PubRel,
    PubComp,
}

impl Session {
    /// Whether this session speaks MQTT 5.0.
    pub(super) fn is_v5(&self) -> bool {
        self.options.v5.is_some()
    }

    /// CONNECT, with the will, the credentials and at 5.0 the CONNECT and will properties and the
    /// authenticator's first data.
    pub(super) fn send_connect(&mut self, now: Instant) -> Result<(), Error> {
        let options = &self.options;
        let keep_alive = u16::try_from(options.keep_alive.as_secs()).unwrap_or(u16::MAX);
        let Some(connect_properties) = &options.v5 else {
            let will = options.will.as_ref().and_then(|will| {
                Some(Will {
                    topic: TopicName::new(&will.topic).ok()?,
                    payload: &will.payload,
                    qos: will.qos,
                    retain: will.retain,
                })
            });
            let connect = Connect {
                level: options.level,
                clean_session: options.clean_session,
                keep_alive,
                client_id: &options.client_id,
                will,
                user_name: options.user_name.as_deref(),
                password: options.password.as_deref(),
                bridge: options.bridge,
            };
            Packet::from(connect).encode(options.level, &mut self.out)?;
            self.last_sent = now;
            return Ok(());
        };
        let auth_data = match &options.authenticator {
            Some(authenticator) => authenticator
                .0
                .initial_data()
                .map_err(Error::Authentication)?,
            None => None,
        };
        let mut properties = Vec::new();
        if let Some(expiry) = connect_properties.session_expiry_interval {
            properties.push(Property::SessionExpiryInterval(expiry));
        }
        if let Some(maximum) = connect_properties.receive_maximum {
            properties.push(Property::ReceiveMaximum(maximum));
        }
        if let Some(maximum) = connect_properties.maximum_packet_size {
            properties.push(Property::MaximumPacketSize(maximum));
        }
        if let Some(maximum) = connect_properties.topic_alias_maximum {
            properties.push(Property::TopicAliasMaximum(maximum));
        }
        if let Some(request) = connect_properties.request_response_information {
            properties.push(Property::RequestResponseInformation(u8::from(request)));
        }
        if let Some(request) = connect_properties.request_problem_information {
            properties.push(Property::RequestProblemInformation(u8::from(request)));
        }
        for (name, value) in &connect_properties.user_properties {
            properties.push(Property::UserProperty(name, value));
        }
        if let Some(authenticator) = &options.authenticator {
            properties.push(Property::AuthenticationMethod(authenticator.0.method()));
            if let Some(data) = &auth_data {
                properties.push(Property::AuthenticationData(data));
            }
        }
        let will_properties = message_properties(&options.will_properties, None, true);
        let will = options.will.as_ref().and_then(|will| {
            Some(v5::Will {
                properties: v5::Properties::from_slice(&will_properties),
                topic: TopicName::new(&will.topic).ok()?,
                payload: &will.payload,
                qos: will.qos,
                retain: will.retain,
            })
        });
        let connect = v5::Connect {
            // 5.0 renames Clean Session to Clean Start: the session's lifetime after the
            // connection is the Session Expiry Interval's business (V5-DIFF-4).
            clean_start: options.clean_session,
            keep_alive,
            properties: v5::Properties::from_slice(&properties),
            client_id: &options.client_id,
            will,
            user_name: options.user_name.as_deref(),
            password: options.password.as_deref(),
            bridge: options.bridge,
        };
        // CONNECT is not measured against a limit: the server has announced none yet.
        v5::Packet::from(connect).encode(&mut self.out)?;
        self.last_sent = now;
        Ok(())
    }

    /// PUBACK, PUBREC, PUBREL or PUBCOMP for `packet_id`, with Reason Code 0x00 at 5.0 (which the
    /// encoder may shorten to the bare identifier, 5.0 §3.4.2.1).
    pub(super) fn send_ack(
        &mut self,
        ack: Ack,
        packet_id: PacketId,
        now: Instant,
    ) -> Result<(), Error> {
        if self.is_v5() {
            let packet = match ack {
                Ack::PubAck => v5::Packet::from(v5::PubAck::new(packet_id)),
                Ack::PubRec => v5::PubRec::new(packet_id).into(),
                Ack::PubRel => v5::PubRel::new(packet_id).into(),
                Ack::PubComp => v5::PubComp::new(packet_id).into(),
            };
            return self.send_v5(packet, now);
        }
        let packet = match ack {
            Ack::PubAck => Packet::from(PubAck { packet_id }),
            Ack::PubRec => PubRec { packet_id }.into(),
            Ack::PubRel => PubRel { packet_id }.into(),
            Ack::PubComp => PubComp { packet_id }.into(),
        };
        self.send(packet, now)
    }

    /// PINGREQ.
    pub(super) fn send_ping(&mut self, now: Instant) -> Result<(), Error> {
        if self.is_v5() {
            self.send_v5(v5::Packet::PingReq, now)
        } else {
            self.send(Packet::PingReq, now)
        }
    }

    /// DISCONNECT; at 5.0 with `reason` (5.0 §3.14.2.1), and for a normal disconnection the
    /// application's DISCONNECT properties.
    pub(super) fn send_disconnect(&mut self, reason: ReasonCode, now: Instant) {
        let result = if self.is_v5() {
            let mut list = Vec::new();
            let properties = &self.options.disconnect_properties;
            if reason == ReasonCode::NORMAL_DISCONNECTION {
                if let Some(expiry) = properties.session_expiry_interval {
                    list.push(Property::SessionExpiryInterval(expiry));
                }
                for (name, value) in &properties.user_properties {
                    list.push(Property::UserProperty(name, value));
                }
            }
            let disconnect = v5::Disconnect {
                reason,
                properties: v5::Properties::from_slice(&list),
            };
            let packet = v5::Packet::from(disconnect);
            // Written even past the server's limit: the connection is ending anyway.
            packet
                .encode(&mut self.out)
                .map(|_| self.last_sent = now)
                .map_err(Error::from)
        } else {
            self.send(Packet::Disconnect, now)
        };
        if let Err(error) = result {
            log::warn!("cannot send DISCONNECT: {error}");
        }
    }

    /// AUTH with `reason`, our method and `data` (5.0 §3.15).
    pub(super) fn send_auth(
        &mut self,
        reason: ReasonCode,
        data: &[u8],
        now: Instant,
    ) -> Result<(), Error> {
        let Some(authenticator) = self.options.authenticator.clone() else {
            return Err(Error::Authentication("no authenticator".into()));
        };
        let properties = [
            Property::AuthenticationMethod(authenticator.0.method()),
            Property::AuthenticationData(data),
        ];
        let auth = v5::Auth {
            reason,
            properties: v5::Properties::from_slice(&properties),
        };
        self.send_v5(auth.into(), now)
    }

    /// PUBLISH of `message` with `packet_id` (ignored at QoS 0). At 5.0 it carries the message's
    /// properties and, when the server allows aliases, a Topic Alias: the first PUBLISH to a topic
    /// on a connection sets the alias with the full name, later ones send an empty name and the
    /// alias alone. Aliases are never carried to the next connection [MQTT5-3.3.2-7], and never
    /// exceed the server's Topic Alias Maximum [MQTT5-3.3.2-9]; a topic met after they run out is
    /// sent in full.
    pub(super) fn send_publish(
        &mut self,
        message: &Message,
        packet_id: PacketId,
        dup: bool,
        now: Instant,
    ) -> Result<(), Error> {
        let topic = TopicName::new(&message.topic)?;
        let delivery = Delivery::new(message.qos, packet_id, dup);
        if !self.is_v5() {
            let publish = Publish {
                topic,
                payload: &message.payload,
                delivery,
                retain: message.retain,
            };
            return self.send(publish.into(), now);
        }
        let (alias, name) = match self.aliases_out.get(&message.topic) {
            Some(&alias) => (Some(alias), None),
            None => {
                let next = u16::try_from(self.aliases_out.len() + 1).unwrap_or(u16::MAX);
                if next <= self.server.topic_alias_maximum {
                    (Some(next), Some(topic))
                } else {
                    (None, Some(topic))
                }
            }
        };
        let properties = message_properties(&message.properties, alias, false);
        let publish = v5::Publish {
            topic: name,
            payload: &message.payload,
            delivery,
            retain: message.retain,
            properties: v5::Properties::from_slice(&properties),
        };
        self.send_v5(publish.into(), now)?;
        // Remembered only once sent: a PUBLISH refused as too large set no alias.
        if let (Some(alias), Some(_)) = (alias, name) {
            self.aliases_out.insert(message.topic.clone(), alias);
        }
        Ok(())
    }

    /// SUBSCRIBE of `filters`, with their options and at 5.0 the request's properties.
    pub(super) fn send_subscribe(
        &mut self,
        packet_id: PacketId,
        filters: &[(String, SubscribeOptions)],
        properties: &SubscribeProperties,
        now: Instant,
    ) -> Result<(), Error> {
        if !self.is_v5() {
            let entries: Vec<Subscription<'_>> = filters
                .iter()
                .filter_map(|(filter, options)| {
                    Some(Subscription {
                        filter: TopicFilter::new(filter).ok()?,
                        qos: options.qos,
                    })
                })
                .collect();
            let packet = Packet::from(Subscribe {
                packet_id,
                filters: List::from_slice(&entries),
            });
            return self.send(packet, now);
        }
        let entries: Vec<v5::Subscription<'_>> = filters
            .iter()
            .filter_map(|(filter, options)| {
                Some(v5::Subscription {
                    filter: TopicFilter::new(filter).ok()?,
                    options: v5::SubscriptionOptions {
                        qos: options.qos,
                        no_local: options.no_local,
                        retain_as_published: options.retain_as_published,
                        retain_handling: options.retain_handling,
                    },
                })
            })
            .collect();
        let mut list = Vec::new();
        if let Some(id) = properties.subscription_identifier {
            list.push(Property::SubscriptionIdentifier(id));
        }
        for (name, value) in &properties.user_properties {
            list.push(Property::UserProperty(name, value));
        }
        let packet = v5::Packet::from(v5::Subscribe {
            packet_id,
            properties: v5::Properties::from_slice(&list),
            filters: List::from_slice(&entries),
        });
        self.send_v5(packet, now)
    }

    /// UNSUBSCRIBE of `filters`, at 5.0 with `user_properties`.
    pub(super) fn send_unsubscribe(
        &mut self,
        packet_id: PacketId,
        filters: &[String],
        user_properties: &[(String, String)],
        now: Instant,
    ) -> Result<(), Error> {
        let entries: Vec<TopicFilter<'_>> = filters
            .iter()
            .filter_map(|filter| TopicFilter::new(filter).ok())
            .collect();
        if self.is_v5() {
            let list: Vec<Property<'_>> = user_properties
                .iter()
                .map(|(name, value)| Property::UserProperty(name, value))
                .collect();
            let packet = v5::Packet::from(v5::Unsubscribe {
                packet_id,
                properties: v5::Properties::from_slice(&list),
                filters: List::from_slice(&entries),
            });
            return self.send_v5(packet, now);
        }
        let packet = Packet::from(Unsubscribe {
            packet_id,
            filters: List::from_slice(&entries),
        });
        self.send(packet, now)
    }

    /// Encodes a 3.1 / 3.1.1 packet.
    fn send(&mut self, packet: Packet<'_>, now: Instant) -> Result<(), Error> {
        packet.encode(self.options.level, &mut self.out)?;
        log::debug!(
            "{} sending {:?}",
            self.options.client_id,
            packet.packet_type()
        );
        self.last_sent = now;
        Ok(())
    }

    /// Encodes a 5.0 packet, unless it is larger than the server accepts [MQTT5-3.2.2-15].
    fn send_v5(&mut self, packet: v5::Packet<'_>, now: Instant) -> Result<(), Error> {
        if let Some(maximum) = self.server.maximum_packet_size {
            let size = packet.encoded_len();
            if u32::try_from(size).map_or(true, |size| size > maximum) {
                return Err(Error::ExceedsServerLimit {
                    what: format!(
                        "a {:?} of {size} bytes, over the server's Maximum Packet Size of {maximum}",
                        packet.packet_type()
                    ),
                    rule: "MQTT5-3.2.2-15",
                });
            }
        }
        packet.encode(&mut self.out)?;
        log::debug!(
            "{} sending {:?}",
            self.options.client_id,
            packet.packet_type()
        );
        self.last_sent = now;
        Ok(())
    }
}

/// The codec's properties for a message's (or a will's) owned ones, borrowing them. Subscription
/// identifiers and the received alias are never sent by a client [MQTT5-3.3.4-6]; `alias` is the
/// one the session chose.
fn message_properties(
    properties: &PublishProperties,
    alias: Option<u16>,
    will: bool,
) -> Vec<Property<'_>> {
    let mut list = Vec::new();
    if let Some(indicator) = properties.payload_format_indicator {
        list.push(Property::PayloadFormatIndicator(indicator));
    }
    if let Some(expiry) = properties.message_expiry_interval {
        list.push(Property::MessageExpiryInterval(expiry));
    }
    if let Some(content_type) = &properties.content_type {
        list.push(Property::ContentType(content_type));
    }
    if let Some(topic) = &properties.response_topic {
        list.push(Property::ResponseTopic(topic));
    }
    if let Some(data) = &properties.correlation_data {
        list.push(Property::CorrelationData(data));
    }
    if will && let Some(delay) = properties.will_delay_interval {
        list.push(Property::WillDelayInterval(delay));
    }
    if let Some(alias) = alias {
        list.push(Property::TopicAlias(alias));
    }
    for (name, value) in &properties.user_properties {
        list.push(Property::UserProperty(name, value));
    }
    list
}

/// The owned properties of a received PUBLISH.
pub(super) fn received_properties(properties: &v5::Properties<'_>) -> PublishProperties {
    PublishProperties {
        payload_format_indicator: properties.payload_format_indicator(),
        message_expiry_interval: properties.message_expiry_interval(),
        content_type: properties.content_type().map(str::to_owned),
        response_topic: properties.response_topic().map(str::to_owned),
        correlation_data: properties.correlation_data().map(<[u8]>::to_vec),
        user_properties: owned_pairs(properties),
        subscription_identifiers: properties.subscription_identifiers().collect(),
        topic_alias: properties.topic_alias(),
        will_delay_interval: None,
    }
}

/// The user properties of a decoded property set, owned.
pub(super) fn owned_pairs(properties: &v5::Properties<'_>) -> Vec<(String, String)> {
    properties
        .user_properties()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}
