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
use crate::packet::filter_request;
use crate::wire::Sink;
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
        // The shared frame refuses a zero identifier [MQTT5-2.2.1-3] and an empty list
        // [MQTT5-3.10.3-2]; the entries are bare filters, read the same at every level.
        let frame = filter_request::decode(body, ProtocolLevel::Mqtt311, |reader| {
            Properties::read(reader, PropertyContext::Packet(PacketType::Unsubscribe))
        })?;
        Ok(Self {
            packet_id: frame.packet_id,
            properties: frame.header,
            filters: frame.entries,
        })
    }

    pub(crate) fn check(&self) -> Result<(), EncodeError> {
        filter_request::check(&self.filters)?; // [MQTT5-3.10.3-2]
        self.properties
            .check(PropertyContext::Packet(PacketType::Unsubscribe))
    }

    pub(crate) fn body_len(&self) -> usize {
        filter_request::body_len(self.properties.encoded_len(), &self.filters)
    }

    pub(crate) fn write_body(&self, sink: &mut impl Sink) {
        let properties = &self.properties;
        filter_request::write_body(sink, self.packet_id, |s| properties.write(s), &self.filters);
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
