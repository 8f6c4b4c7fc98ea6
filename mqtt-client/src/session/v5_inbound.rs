//! Packets from an MQTT 5.0 server: what each adds to its 3.1.1 counterpart (properties, Reason
//! Codes, topic aliases, server DISCONNECT, AUTH), read here and then handed to the same flows as
//! at 3.1.1 (`connack.rs`, `publishing.rs`, `receiving.rs`, `requests.rs`).
//!
//! Reason Codes become typed errors: a CONNACK refusal is [`Error::RefusedWithReason`], a PUBACK
//! or PUBREC failure [`Error::PublishRefused`] on that message's token, a server DISCONNECT
//! [`Error::ServerDisconnected`]; SUBACK codes are reported per filter.

use std::time::Instant;

use mqtt_codec::v5::{self, ReasonCode};
use mqtt_codec::{PacketId, QoS};

use super::publishing::Stage;
use super::wire::{Ack, owned_pairs, received_properties};
use super::{Session, State};
use crate::Error;
use crate::v5::ServerSettings;

impl Session {
    /// Handles one packet from a 5.0 server; see [`handle`](Self::handle), its 3.1.1 twin.
    ///
    /// When the server broke a rule, the session queues a DISCONNECT with the Reason Code that
    /// names the problem before returning the error [MQTT5-4.13.1-1]: the owner writes it, then
    /// closes the connection.
    pub fn handle_v5(&mut self, packet: v5::Packet<'_>, now: Instant) -> Result<(), Error> {
        self.last_received = now;
        let result = self.dispatch_v5(packet, now);
        if let Err(error) = &result
            && let Some(reason) = error.disconnect_reason()
            && matches!(self.state, State::Connected | State::AwaitingConnAck { .. })
        {
            self.send_disconnect(reason, now);
            self.state = State::Disconnected;
        }
        result
    }

    /// The server's bytes did not decode as a 5.0 packet: queue the DISCONNECT that says why
    /// (`reason`, from the codec: malformed packet, protocol error, packet too large)
    /// [MQTT5-4.13.1-1]. The owner then writes it and closes the connection.
    pub fn protocol_error(&mut self, reason: ReasonCode, now: Instant) {
        if self.is_v5() && matches!(self.state, State::Connected | State::AwaitingConnAck { .. }) {
            self.send_disconnect(reason, now);
            self.state = State::Disconnected;
        }
    }

    fn dispatch_v5(&mut self, packet: v5::Packet<'_>, now: Instant) -> Result<(), Error> {
        match (self.state, packet) {
            (State::AwaitingConnAck { .. }, v5::Packet::ConnAck(connack)) => {
                self.on_connack_v5(&connack, now)
            }
            (State::AwaitingConnAck { .. }, v5::Packet::Auth(auth)) => self.on_auth(&auth, now),
            (State::AwaitingConnAck { .. } | State::Connected, v5::Packet::Disconnect(packet)) => {
                // The connection ends either way; nothing is answered to a DISCONNECT.
                self.state = State::Disconnected;
                if packet.properties.session_expiry_interval().is_some() {
                    return Err(Error::violation(
                        format!(
                            "sent a Session Expiry Interval in its DISCONNECT ({})",
                            packet.reason
                        ),
                        "MQTT5-3.14.2-2",
                    ));
                }
                Err(Error::ServerDisconnected {
                    reason: packet.reason,
                    reason_string: packet.properties.reason_string().map(str::to_owned),
                    server_reference: packet.properties.server_reference().map(str::to_owned),
                })
            }
            (State::AwaitingConnAck { .. }, other) => Err(Error::violation(
                format!("sent {:?} before CONNACK", other.packet_type()),
                "MQTT5-3.2.0-1",
            )),
            (State::Connected, v5::Packet::ConnAck(_)) => {
                Err(Error::violation("sent a second CONNACK", "MQTT5-3.2.0-2"))
            }
            (State::Connected, v5::Packet::Publish(publish)) => self.on_publish_v5(&publish, now),
            (State::Connected, v5::Packet::PubAck(ack)) => {
                self.on_ack_v5(ack.packet_id, ack.reason, &ack.properties, Stage::PubAck);
                Ok(())
            }
            (State::Connected, v5::Packet::PubRec(ack)) => {
                if ack.reason.is_failure() {
                    self.on_ack_v5(ack.packet_id, ack.reason, &ack.properties, Stage::PubRec);
                    Ok(())
                } else {
                    self.on_pubrec(ack.packet_id, now) // [MQTT5-4.3.3-4]
                }
            }
            (State::Connected, v5::Packet::PubComp(ack)) => {
                // 0x92 (identifier not found) also ends the flow: the server has nothing left.
                self.on_ack(ack.packet_id, Stage::PubComp);
                Ok(())
            }
            (State::Connected, v5::Packet::PubRel(rel)) => {
                self.incoming_qos2.remove(&rel.packet_id);
                self.send_ack(Ack::PubComp, rel.packet_id, now)
            }
            (State::Connected, v5::Packet::SubAck(suback)) => {
                self.on_suback(suback.packet_id, suback.reason_codes.iter().collect())
            }
            (State::Connected, v5::Packet::UnsubAck(unsuback)) => {
                self.on_unsuback(
                    unsuback.packet_id,
                    Some(unsuback.reason_codes.iter().collect()),
                );
                Ok(())
            }
            (State::Connected, v5::Packet::PingResp) => {
                self.ping_sent = None;
                Ok(())
            }
            (State::Connected, v5::Packet::Auth(auth)) if self.reauthenticating => {
                self.on_reauth(&auth, now)
            }
            (State::Connected, v5::Packet::Auth(_)) => Err(Error::violation(
                "sent AUTH outside an authentication exchange we started",
                "MQTT5-4.12.0-2",
            )),
            (State::Connected, other) => Err(Error::violation(
                format!("sent {:?}, which only a client sends", other.packet_type()),
                "MQTT5 §2.1.2",
            )),
            (State::Disconnected | State::Closed, _) => Ok(()),
        }
    }

    fn on_connack_v5(&mut self, connack: &v5::ConnAck<'_>, now: Instant) -> Result<(), Error> {
        let properties = &connack.properties;
        if connack.reason.is_failure() {
            // A refusal closes the connection [MQTT5-4.13.2-1]; nothing is sent back.
            self.state = State::Disconnected;
            return Err(Error::RefusedWithReason {
                reason: connack.reason,
                reason_string: properties.reason_string().map(str::to_owned),
                server_reference: properties.server_reference().map(str::to_owned),
            });
        }
        if let Some(authenticator) = &self.options.authenticator {
            let method = properties.authentication_method();
            if method.is_some_and(|method| method != authenticator.0.method()) {
                return Err(Error::Authentication(format!(
                    "the server accepted with another method, {method:?}"
                )));
            }
            authenticator
                .0
                .finish(properties.authentication_data())
                .map_err(Error::Authentication)?;
        }
        self.server = ServerSettings {
            receive_maximum: properties.receive_maximum().unwrap_or(u16::MAX),
            maximum_packet_size: properties.maximum_packet_size(),
            topic_alias_maximum: properties.topic_alias_maximum().unwrap_or(0),
            maximum_qos: match properties.maximum_qos() {
                Some(0) => QoS::AtMostOnce,
                Some(1) => QoS::AtLeastOnce,
                _ => QoS::ExactlyOnce,
            },
            retain_available: properties.retain_available() != Some(0),
            assigned_client_identifier: properties.assigned_client_identifier().map(str::to_owned),
            server_keep_alive: properties.server_keep_alive(),
            session_expiry_interval: properties.session_expiry_interval(),
            response_information: properties.response_information().map(str::to_owned),
            server_reference: properties.server_reference().map(str::to_owned),
            wildcard_subscription_available: properties.wildcard_subscription_available()
                != Some(0),
            subscription_identifier_available: properties.subscription_identifier_available()
                != Some(0),
            shared_subscription_available: properties.shared_subscription_available() != Some(0),
            reason_string: properties.reason_string().map(str::to_owned),
            user_properties: owned_pairs(properties),
        };
        self.accepted(connack.session_present, now)
    }

    /// The server continues an enhanced-authentication exchange [MQTT5-4.12.0-2]: the
    /// authenticator answers its data with ours.
    fn on_auth(&mut self, auth: &v5::Auth<'_>, now: Instant) -> Result<(), Error> {
        let Some(authenticator) = self.options.authenticator.clone() else {
            return Err(Error::violation(
                "sent AUTH to a client that gave no Authentication Method",
                "MQTT5-4.12.0-6",
            ));
        };
        if auth.reason != ReasonCode::CONTINUE_AUTHENTICATION {
            return Err(Error::violation(
                format!("sent AUTH with {} during CONNECT", auth.reason),
                "MQTT5-4.12.0-2",
            ));
        }
        if auth.properties.authentication_method() != Some(authenticator.0.method()) {
            return Err(Error::violation(
                "sent AUTH with another Authentication Method",
                "MQTT5-4.12.0-5",
            ));
        }
        let answer = authenticator
            .0
            .challenge(auth.properties.authentication_data())
            .map_err(Error::Authentication)?;
        self.send_auth(ReasonCode::CONTINUE_AUTHENTICATION, &answer, now)
    }

    /// Starts a re-authentication on the connection (5.0 §4.12.1): AUTH 0x19 with the same
    /// Authentication Method as the connection's [MQTT5-4.12.1-1] and the authenticator's first
    /// data. The server answers with AUTH 0x18 challenges, which the authenticator answers, and
    /// AUTH 0x00 when it is done; a refusal is its DISCONNECT. Packets keep flowing meanwhile.
    pub fn reauthenticate(&mut self, now: Instant) -> Result<(), Error> {
        let Some(authenticator) = self.options.authenticator.clone() else {
            return Err(Error::InvalidOptions(
                "re-authentication needs an authenticator".into(),
            ));
        };
        if self.state != State::Connected {
            return Err(Error::NotConnected);
        }
        if self.reauthenticating {
            return Ok(());
        }
        let data = authenticator
            .0
            .initial_data()
            .map_err(Error::Authentication)?
            .unwrap_or_default();
        self.send_auth(ReasonCode::RE_AUTHENTICATE, &data, now)?;
        self.reauthenticating = true;
        Ok(())
    }

    /// The server's AUTH during a re-authentication we started.
    fn on_reauth(&mut self, auth: &v5::Auth<'_>, now: Instant) -> Result<(), Error> {
        let Some(authenticator) = self.options.authenticator.clone() else {
            return Err(Error::Authentication("no authenticator".into()));
        };
        if auth.properties.authentication_method() != Some(authenticator.0.method()) {
            return Err(Error::violation(
                "sent AUTH with another Authentication Method",
                "MQTT5-4.12.0-5",
            ));
        }
        let data = auth.properties.authentication_data();
        match auth.reason {
            ReasonCode::CONTINUE_AUTHENTICATION => {
                let answer = authenticator
                    .0
                    .challenge(data)
                    .map_err(Error::Authentication)?;
                self.send_auth(ReasonCode::CONTINUE_AUTHENTICATION, &answer, now)
            }
            ReasonCode::SUCCESS => {
                self.reauthenticating = false;
                // Our authenticator refusing the server's proof ends the connection
                // [MQTT5-4.12.1-2].
                authenticator.0.finish(data).map_err(Error::Authentication)
            }
            other => Err(Error::violation(
                format!("answered a re-authentication with AUTH {other}"),
                "MQTT5-3.15.2-1",
            )),
        }
    }

    /// PUBACK (or a failed PUBREC): success completes the flow, 0x80 and above fails its token.
    fn on_ack_v5(
        &mut self,
        packet_id: PacketId,
        reason: ReasonCode,
        properties: &v5::Properties<'_>,
        stage: Stage,
    ) {
        if reason.is_failure() {
            let error = Error::PublishRefused {
                reason,
                reason_string: properties.reason_string().map(str::to_owned),
            };
            self.on_refused(packet_id, stage, error);
        } else {
            // 0x10 (no matching subscribers) is a success too.
            self.on_ack(packet_id, stage);
        }
    }

    /// A 5.0 PUBLISH: resolves its topic alias, then delivers it as at 3.1.1. The server may use
    /// aliases 1 to our Topic Alias Maximum only [MQTT5-3.1.2-26] [MQTT5-3.3.2-8]; an alias it set
    /// earlier on this connection stands for its topic when the name is empty.
    fn on_publish_v5(&mut self, publish: &v5::Publish<'_>, now: Instant) -> Result<(), Error> {
        let alias = publish.properties.topic_alias();
        let topic = match (publish.topic, alias) {
            (_, Some(alias)) if alias == 0 || alias > self.topic_alias_maximum() => {
                return Err(Error::violation(
                    format!(
                        "sent Topic Alias {alias}, outside 1 to our maximum of {}",
                        self.topic_alias_maximum()
                    ),
                    if alias == 0 {
                        "MQTT5-3.3.2-8"
                    } else {
                        "MQTT5-3.1.2-26"
                    },
                ));
            }
            (Some(topic), Some(alias)) => {
                let topic = topic.as_str().to_owned();
                self.aliases_in.insert(alias, topic.clone());
                topic
            }
            (Some(topic), None) => topic.as_str().to_owned(),
            (None, Some(alias)) => match self.aliases_in.get(&alias) {
                Some(topic) => topic.clone(),
                None => {
                    return Err(Error::violation(
                        format!("sent an empty topic with Topic Alias {alias}, never set"),
                        "MQTT5 §3.3.2.3.4",
                    ));
                }
            },
            (None, None) => {
                return Err(Error::violation(
                    "sent an empty topic without a Topic Alias",
                    "MQTT5-3.3.2-1",
                ));
            }
        };
        self.on_publish(
            topic,
            publish.payload,
            publish.delivery,
            publish.retain,
            received_properties(&publish.properties),
            now,
        )
    }

    /// The Topic Alias Maximum we sent in CONNECT (0: the server may use none).
    fn topic_alias_maximum(&self) -> u16 {
        self.options
            .v5
            .as_ref()
            .and_then(|v5| v5.topic_alias_maximum)
            .unwrap_or(0)
    }
}
