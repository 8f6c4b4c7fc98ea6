//! Receiving application messages: PUBACK for QoS 1 [MQTT-4.3.2-2]; PUBREC, delivery once, and
//! PUBCOMP on PUBREL for QoS 2 [MQTT-4.3.3-2]. Acknowledgements go out in arrival order
//! [MQTT-4.6.0-2] [MQTT-4.6.0-3] because each is queued as its packet is handled.

use std::time::Instant;

use mqtt_codec::{Delivery, PacketId};

use super::wire::Ack;
use super::{Event, Message, Session};
use crate::Error;
use crate::v5::PublishProperties;

impl Session {
    /// A PUBLISH from the server, at either level; at 5.0 its topic alias is already resolved
    /// (`v5_inbound.rs`) and `properties` hold what it carried.
    pub(super) fn on_publish(
        &mut self,
        topic: String,
        payload: &[u8],
        delivery: Delivery,
        retain: bool,
        properties: PublishProperties,
        now: Instant,
    ) -> Result<(), Error> {
        let deliver = match delivery {
            Delivery::AtMostOnce => true,
            Delivery::AtLeastOnce { packet_id, .. } => {
                self.send_ack(Ack::PubAck, packet_id, now)?; // [MQTT-4.3.2-2]
                true
            }
            Delivery::ExactlyOnce { packet_id, .. } => {
                // At 5.0 the server may leave no more QoS 2 messages unreleased than our Receive
                // Maximum; QoS 1 ones are acknowledged at once and never count [MQTT5-3.3.4-9].
                let receive_maximum = self
                    .options
                    .v5
                    .as_ref()
                    .map_or(u16::MAX, |v5| v5.receive_maximum.unwrap_or(u16::MAX));
                if !self.incoming_qos2.contains(&packet_id)
                    && self.incoming_qos2.len() >= usize::from(receive_maximum)
                    && self.is_v5()
                {
                    return Err(Error::violation(
                        format!(
                            "sent more than our Receive Maximum of {receive_maximum} unacknowledged QoS 2 messages"
                        ),
                        "MQTT5-3.3.4-9",
                    ));
                }
                // Delivered on first arrival only; a repeat before PUBREL gets PUBREC again and is
                // not delivered twice [MQTT-4.3.3-2].
                let first = self.incoming_qos2.insert(packet_id);
                self.send_ack(Ack::PubRec, packet_id, now)?;
                first
            }
        };
        if deliver {
            self.events.push_back(Event::Message(Message {
                topic,
                payload: payload.to_vec(),
                qos: delivery.qos(),
                retain,
                dup: delivery.dup(),
                packet_id: delivery.packet_id().map(PacketId::get),
                properties,
            }));
        }
        Ok(())
    }
}
