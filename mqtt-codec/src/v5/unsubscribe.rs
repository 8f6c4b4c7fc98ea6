//! UNSUBSCRIBE at MQTT 5.0 (5.0 §3.10): the 3.1.1 packet with properties after the identifier.
//!
//! ```text
//! byte 1      0xA2                 type 10, flags 0010 [MQTT5-3.10.1-1]
//! byte 2..    Remaining Length
//! variable    packet identifier    two bytes, non-zero
//! header      properties           Property Length; User Property only
//! payload     one or more filters  strings [MQTT5-3.10.3-1]
//! ```

use super::Properties;
use super::properties::PropertyContext;
use crate::wire::{Reader, Sink};
use crate::{DecodeError, EncodeError, List, PacketId, PacketType, ProtocolLevel, TopicFilter};

/// An UNSUBSCRIBE packet at MQTT 5.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsubscribe<'a> {
    /// Echoed by the UNSUBACK [MQTT5-3.10.4-5].
    pub packet_id: PacketId,
    /// User Property.
    pub properties: Properties<'a>,
    /// At least one filter [MQTT5-3.10.3-2], compared character by character [MQTT5-3.10.4-1].
    pub filters: List<'a, TopicFilter<'a>>,
}

impl<'a> Unsubscribe<'a> {
    pub(crate) fn decode(body: &'a [u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(body);
        let packet_id = PacketId::from_wire(reader.u16()?)?;
        let properties = Properties::read(
            &mut reader,
            PropertyContext::Packet(PacketType::Unsubscribe),
        )?;
        let filters = List::decode(reader.rest(), ProtocolLevel::Mqtt311)?;
        if filters.is_empty() {
            return Err(DecodeError::NoTopicFilters); // [MQTT5-3.10.3-2]
        }
        Ok(Self {
            packet_id,
            properties,
            filters,
        })
    }

    pub(crate) fn check(&self) -> Result<(), EncodeError> {
        if self.filters.is_empty() {
            return Err(EncodeError::EmptyList);
        }
        self.properties
            .check(PropertyContext::Packet(PacketType::Unsubscribe))
    }

    pub(crate) fn body_len(&self) -> usize {
        2 + self.properties.encoded_len() + self.filters.encoded_len()
    }

    pub(crate) fn write_body(&self, sink: &mut impl Sink) {
        sink.put_u16(self.packet_id.get());
        self.properties.write(sink);
        self.filters.write(sink);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_malformed_v5, assert_vector_v5};
    use crate::v5::{Packet, Property};

    #[test]
    fn with_a_user_property() {
        let filters = [TopicFilter::new("a/#").expect("valid")];
        let properties = [Property::UserProperty("k", "v")];
        assert_vector_v5(
            "a2 0f                  UNSUBSCRIBE, remaining length 15
             00 02                  packet identifier 2
             07 26 00 01 6b 00 01 76   user property k=v
             00 03 61 2f 23         'a/#'",
            Packet::Unsubscribe(Unsubscribe {
                packet_id: PacketId::new(2).expect("non-zero"),
                properties: Properties::from_slice(&properties),
                filters: List::from_slice(&filters),
            }),
        );
    }

    #[test]
    fn refused() {
        assert_malformed_v5("a2 03 00 01 00", DecodeError::NoTopicFilters); // [MQTT5-3.10.3-2]
        assert_malformed_v5("a0 06 00 01 00 00 01 61", DecodeError::InvalidHeaderFlags); // [MQTT5-3.10.1-1]
        // A Subscription Identifier belongs to SUBSCRIBE.
        assert_malformed_v5(
            "a2 08 00 01 02 0b 01 00 01 61",
            DecodeError::PropertyNotAllowed,
        );
    }
}
