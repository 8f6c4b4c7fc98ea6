//! Receiving application messages: PUBACK for QoS 1 [MQTT-4.3.2-2]; PUBREC, delivery once, and
//! PUBCOMP on PUBREL for QoS 2 [MQTT-4.3.3-2]. Acknowledgements go out in arrival order
//! [MQTT-4.6.0-2] [MQTT-4.6.0-3] because each is queued as its packet is handled.

use std::time::Instant;

use mqtt_codec::{Delivery, PacketId, PubAck, PubRec, Publish};

use super::{Event, Message, Session};
use crate::Error;

impl Session {
    pub(super) fn on_publish(&mut self, publish: Publish<'_>, now: Instant) -> Result<(), Error> {
        let deliver = match publish.delivery {
            Delivery::AtMostOnce => true,
            Delivery::AtLeastOnce { packet_id, .. } => {
                self.send(PubAck { packet_id }.into(), now)?; // [MQTT-4.3.2-2]
                true
            }
            Delivery::ExactlyOnce { packet_id, .. } => {
                // Delivered on first arrival only; a repeat before PUBREL gets PUBREC again and is
                // not delivered twice [MQTT-4.3.3-2].
                let first = self.incoming_qos2.insert(packet_id);
                self.send(PubRec { packet_id }.into(), now)?;
                first
            }
        };
        if deliver {
            self.events.push_back(Event::Message(Message {
                topic: publish.topic.as_str().to_owned(),
                payload: publish.payload.to_vec(),
                qos: publish.qos(),
                retain: publish.retain,
                dup: publish.delivery.dup(),
                packet_id: publish.delivery.packet_id().map(PacketId::get),
            }));
        }
        Ok(())
    }
}
