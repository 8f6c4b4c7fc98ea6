//! SUBSCRIBE: a client asks for the messages that match one or more topic filters (3.1.1 §3.8).
//!
//! ```text
//! byte 1      0x82                 type 8, flags 0010 [MQTT-3.8.1-1]
//! byte 2..    Remaining Length
//! variable    packet identifier    two bytes, non-zero
//! payload     one or more of:      topic filter (string), requested QoS (one byte: 000000QQ)
//! ```

use super::filter_request;
use crate::list::sealed::Entry;
use crate::wire::{Reader, Sink};
use crate::{DecodeError, EncodeError, List, PacketId, ProtocolLevel, QoS, TopicFilter};

/// A SUBSCRIBE packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscribe<'a> {
    /// Echoed by the SUBACK [MQTT-3.8.4-2].
    pub packet_id: PacketId,
    /// At least one filter with its requested QoS [MQTT-3.8.3-3].
    pub filters: List<'a, Subscription<'a>>,
}

/// One entry of a SUBSCRIBE: a filter and the highest QoS the client wants on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subscription<'a> {
    /// Which topics [MQTT-3.8.3-1].
    pub filter: TopicFilter<'a>,
    /// The maximum QoS of messages delivered through this subscription [MQTT-3.8.4-6].
    pub qos: QoS,
}

impl<'a> Entry<'a> for Subscription<'a> {
    fn read(reader: &mut Reader<'a>, level: ProtocolLevel) -> Result<Self, DecodeError> {
        let filter = TopicFilter::new(reader.topic_string()?)?;
        let requested = reader.u8()?;
        // Reserved bits must be zero at 3.1.1 [MQTT-3.8.3-4]; 3.1 only refuses QoS 3 ([V31-DIFF-31]).
        if level.is_strict() && requested & 0b1111_1100 != 0 {
            return Err(DecodeError::InvalidRequestedQoS);
        }
        let qos = QoS::from_bits(requested & 0b11).map_err(|_| DecodeError::InvalidRequestedQoS)?;
        Ok(Self { filter, qos })
    }

    #[inline]
    fn encoded_len(&self) -> usize {
        2 + self.filter.as_str().len() + 1
    }

    #[inline]
    fn write(&self, sink: &mut impl Sink) {
        sink.put_prefixed(self.filter.as_str().as_bytes());
        sink.put_u8(self.qos.bits());
    }
}

impl<'a> Subscribe<'a> {
    #[inline]
    pub(crate) fn decode(body: &'a [u8], level: ProtocolLevel) -> Result<Self, DecodeError> {
        // The shared frame refuses a zero identifier [MQTT-2.3.1-1] and an empty list
        // [MQTT-3.8.3-3].
        let frame = filter_request::decode(body, level, |_| Ok(()))?;
        Ok(Self {
            packet_id: frame.packet_id,
            filters: frame.entries,
        })
    }

    #[inline]
    pub(crate) fn check(&self) -> Result<(), EncodeError> {
        filter_request::check(&self.filters) // [MQTT-3.8.3-3]
    }

    #[inline]
    pub(crate) fn body_len(&self) -> usize {
        filter_request::body_len(0, &self.filters)
    }

    #[inline]
    pub(crate) fn write_body(&self, sink: &mut impl Sink) {
        filter_request::write_body(sink, self.packet_id, |_| {}, &self.filters);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Packet;
    use crate::testing::{assert_decodes_to, assert_malformed, assert_vector};
    use ProtocolLevel::{Mqtt31, Mqtt311};

    fn subscription(filter: &str, qos: QoS) -> Subscription<'_> {
        Subscription {
            filter: TopicFilter::new(filter).expect("test filters are valid"),
            qos,
        }
    }

    #[test]
    fn two_filters() {
        let entries = [
            subscription("a/+", QoS::AtLeastOnce),
            subscription("#", QoS::ExactlyOnce),
        ];
        let packet = Packet::Subscribe(Subscribe {
            packet_id: PacketId::new(1).expect("non-zero"),
            filters: List::from_slice(&entries),
        });
        assert_vector(
            Mqtt311,
            "82 0c            SUBSCRIBE, flags 0010, remaining length 12
             00 01            packet identifier 1
             00 03 61 2f 2b   filter 'a/+'
             01               requested QoS 1
             00 01 23         filter '#'
             02               requested QoS 2",
            packet,
        );
        assert_vector(Mqtt31, "82 0c 00 01 00 03 61 2f 2b 01 00 01 23 02", packet);
    }

    #[test]
    fn flags_must_be_0010_mqtt_3_8_1_1() {
        assert_malformed(
            Mqtt311,
            "80 06 00 01 00 01 23 00",
            DecodeError::InvalidHeaderFlags,
        );
    }

    #[test]
    fn no_filter_is_a_protocol_violation_mqtt_3_8_3_3() {
        assert_malformed(Mqtt311, "82 02 00 01", DecodeError::NoTopicFilters);
        let packet = Packet::Subscribe(Subscribe {
            packet_id: PacketId::new(1).expect("non-zero"),
            filters: List::from_slice(&[]),
        });
        assert_eq!(
            packet.encode_to_slice(Mqtt311, &mut [0; 8]),
            Err(EncodeError::EmptyList)
        );
    }

    #[test]
    fn requested_qos_reserved_bits_and_qos_3_mqtt_3_8_3_4() {
        assert_malformed(
            Mqtt311,
            "82 06 00 01 00 01 23 03",
            DecodeError::InvalidRequestedQoS,
        );
        assert_malformed(
            Mqtt311,
            "82 06 00 01 00 01 23 04",
            DecodeError::InvalidRequestedQoS,
        );
        assert_malformed(
            Mqtt31,
            "82 06 00 01 00 01 23 03",
            DecodeError::InvalidRequestedQoS,
        );
        // [V31-DIFF-31]: at 3.1 the reserved bits are disregarded.
        let entries = [subscription("#", QoS::AtLeastOnce)];
        assert_decodes_to(
            Mqtt31,
            "82 06 00 01 00 01 23 fd",
            Packet::Subscribe(Subscribe {
                packet_id: PacketId::new(1).expect("non-zero"),
                filters: List::from_slice(&entries),
            }),
        );
    }

    #[test]
    fn filters_must_be_well_formed_mqtt_3_8_3_1() {
        assert_malformed(
            Mqtt311,
            "82 07 00 01 00 02 61 23 00",
            DecodeError::InvalidTopicFilter,
        );
        assert_malformed(Mqtt311, "82 05 00 01 00 00 00", DecodeError::EmptyTopic);
        assert_malformed(Mqtt311, "82 06 00 01 00 01 ff 00", DecodeError::InvalidUtf8);
    }

    #[test]
    fn missing_requested_qos_is_malformed() {
        assert_malformed(
            Mqtt311,
            "82 05 00 01 00 01 23",
            DecodeError::UnexpectedEndOfPacket,
        );
    }

    #[test]
    fn packet_id_zero_refused_mqtt_2_3_1_1() {
        assert_malformed(
            Mqtt311,
            "82 06 00 00 00 01 23 00",
            DecodeError::ZeroPacketId,
        );
    }
}
