//! The five packets that carry nothing but a packet identifier: PUBACK, PUBREC, PUBREL, PUBCOMP and
//! UNSUBACK (3.1.1 §3.4 to §3.7 and §3.11).
//!
//! ```text
//! byte 1   type << 4 | flags    0x40 PUBACK, 0x50 PUBREC, 0x62 PUBREL, 0x70 PUBCOMP, 0xB0 UNSUBACK
//! byte 2   0x02                 Remaining Length
//! byte 3-4 packet identifier    the identifier of the packet acknowledged
//! ```
//!
//! They share one file because they share one layout; keeping five copies of it in five files would
//! hide the one thing that tells them apart, their first byte. Each still is its own type, so a PUBREC
//! cannot be passed where a PUBACK is expected.

use crate::wire::{Reader, Sink};
use crate::{DecodeError, PacketId};

macro_rules! identifier_only_packet {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name {
            /// The identifier of the packet this one answers.
            pub packet_id: PacketId,
        }

        impl $name {
            #[inline]
            pub(crate) fn decode(body: &[u8]) -> Result<Self, DecodeError> {
                decode_packet_id(body).map(|packet_id| Self { packet_id })
            }

            #[inline]
            pub(crate) fn write_body(&self, sink: &mut impl Sink) {
                sink.put_u16(self.packet_id.get());
            }
        }
    };
}

identifier_only_packet! {
    /// PUBACK: the receiver's answer to a QoS 1 PUBLISH, echoing its identifier [MQTT-2.3.1-6]
    /// [MQTT-4.3.2-2].
    PubAck
}

identifier_only_packet! {
    /// PUBREC: the receiver's first answer to a QoS 2 PUBLISH [MQTT-4.3.3-2].
    PubRec
}

identifier_only_packet! {
    /// PUBREL: the sender's answer to PUBREC, releasing the identifier [MQTT-4.3.3-1]. Its fixed-header
    /// flags are 0010 [MQTT-3.6.1-1].
    PubRel
}

identifier_only_packet! {
    /// PUBCOMP: the receiver's answer to PUBREL, completing QoS 2 [MQTT-4.3.3-2].
    PubComp
}

identifier_only_packet! {
    /// UNSUBACK: the server's answer to UNSUBSCRIBE, sent even when nothing was unsubscribed
    /// [MQTT-3.10.4-4] [MQTT-3.10.4-5].
    UnsubAck
}

/// A body that is exactly one non-zero packet identifier [MQTT-2.3.1-1].
fn decode_packet_id(body: &[u8]) -> Result<PacketId, DecodeError> {
    let mut reader = Reader::new(body);
    let packet_id = PacketId::from_wire(reader.u16()?)?;
    reader.finish()?;
    Ok(packet_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_decodes_to, assert_malformed, assert_vector};
    use crate::{Packet, ProtocolLevel};
    use ProtocolLevel::{Mqtt31, Mqtt311};

    fn id(value: u16) -> PacketId {
        PacketId::new(value).expect("test ids are non-zero")
    }

    #[test]
    fn each_type_by_its_first_byte() {
        let cases = [
            (
                "40 02 00 01   PUBACK, identifier 1",
                Packet::PubAck(PubAck { packet_id: id(1) }),
            ),
            (
                "50 02 01 00   PUBREC, identifier 256",
                Packet::PubRec(PubRec { packet_id: id(256) }),
            ),
            (
                "62 02 ff ff   PUBREL, identifier 65535",
                Packet::PubRel(PubRel {
                    packet_id: id(65535),
                }),
            ),
            (
                "70 02 00 07   PUBCOMP, identifier 7",
                Packet::PubComp(PubComp { packet_id: id(7) }),
            ),
            (
                "b0 02 00 2a   UNSUBACK, identifier 42",
                Packet::UnsubAck(UnsubAck { packet_id: id(42) }),
            ),
        ];
        for (hex, packet) in cases {
            assert_vector(Mqtt311, hex, packet);
            assert_vector(Mqtt31, hex, packet);
        }
    }

    #[test]
    fn pubrel_flags_must_be_0010_mqtt_3_6_1_1() {
        assert_malformed(Mqtt311, "60 02 00 01", DecodeError::InvalidHeaderFlags);
        assert_malformed(Mqtt311, "6a 02 00 01", DecodeError::InvalidHeaderFlags);
        // A 3.1 PUBREL re-sent with DUP ([V31-DIFF-27]).
        assert_decodes_to(
            Mqtt31,
            "6a 02 00 01",
            Packet::PubRel(PubRel { packet_id: id(1) }),
        );
    }

    #[test]
    fn reserved_flags_refused_mqtt_2_2_2_2() {
        for hex in ["41 02 00 01", "52 02 00 01", "78 02 00 01", "b4 02 00 01"] {
            assert_malformed(Mqtt311, hex, DecodeError::InvalidHeaderFlags);
        }
    }

    #[test]
    fn identifier_zero_refused_mqtt_2_3_1_1() {
        assert_malformed(Mqtt311, "40 02 00 00", DecodeError::ZeroPacketId);
    }

    #[test]
    fn wrong_length_is_malformed() {
        assert_malformed(Mqtt311, "40 01 00", DecodeError::UnexpectedEndOfPacket);
        assert_malformed(Mqtt311, "40 03 00 01 00", DecodeError::TrailingBytes);
    }
}
