//! UNSUBSCRIBE: a client removes subscriptions, named by their exact filters (3.1.1 §3.10).
//!
//! ```text
//! byte 1      0xA2                 type 10, flags 0010 [MQTT-3.10.1-1]
//! byte 2..    Remaining Length
//! variable    packet identifier    two bytes, non-zero
//! payload     topic filters        one or more strings, back to back [MQTT-3.10.3-1]
//! ```

use super::filter_request;
use crate::list::sealed::Entry;
use crate::wire::{Reader, Sink};
use crate::{DecodeError, EncodeError, List, PacketId, ProtocolLevel, TopicFilter};

/// An UNSUBSCRIBE packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsubscribe<'a> {
    /// Echoed by the UNSUBACK [MQTT-3.10.4-4].
    pub packet_id: PacketId,
    /// At least one filter [MQTT-3.10.3-2], compared character by character with the client's
    /// subscriptions [MQTT-3.10.4-1].
    pub filters: List<'a, TopicFilter<'a>>,
}

impl<'a> Entry<'a> for TopicFilter<'a> {
    fn read(reader: &mut Reader<'a>, _level: ProtocolLevel) -> Result<Self, DecodeError> {
        Ok(TopicFilter::new(reader.topic_string()?)?)
    }

    #[inline]
    fn encoded_len(&self) -> usize {
        2 + self.as_str().len()
    }

    #[inline]
    fn write(&self, sink: &mut impl Sink) {
        sink.put_prefixed(self.as_str().as_bytes());
    }
}

impl<'a> Unsubscribe<'a> {
    #[inline]
    pub(crate) fn decode(body: &'a [u8], level: ProtocolLevel) -> Result<Self, DecodeError> {
        // The shared frame refuses a zero identifier [MQTT-2.3.1-1] and an empty list
        // [MQTT-3.10.3-2].
        let frame = filter_request::decode(body, level, |_| Ok(()))?;
        Ok(Self {
            packet_id: frame.packet_id,
            filters: frame.entries,
        })
    }

    #[inline]
    pub(crate) fn check(&self) -> Result<(), EncodeError> {
        filter_request::check(&self.filters) // [MQTT-3.10.3-2]
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
    use crate::testing::{assert_malformed, assert_vector};
    use ProtocolLevel::Mqtt311;

    #[test]
    fn two_filters() {
        let filters = [
            TopicFilter::new("a/b").expect("valid"),
            TopicFilter::new("c/#").expect("valid"),
        ];
        assert_vector(
            Mqtt311,
            "a2 0c            UNSUBSCRIBE, flags 0010, remaining length 12
             00 02            packet identifier 2
             00 03 61 2f 62   filter 'a/b'
             00 03 63 2f 23   filter 'c/#'",
            Packet::Unsubscribe(Unsubscribe {
                packet_id: PacketId::new(2).expect("non-zero"),
                filters: List::from_slice(&filters),
            }),
        );
    }

    #[test]
    fn flags_must_be_0010_mqtt_3_10_1_1() {
        assert_malformed(
            Mqtt311,
            "a0 05 00 01 00 01 23",
            DecodeError::InvalidHeaderFlags,
        );
    }

    #[test]
    fn no_filter_is_a_protocol_violation_mqtt_3_10_3_2() {
        assert_malformed(Mqtt311, "a2 02 00 01", DecodeError::NoTopicFilters);
    }

    #[test]
    fn filters_must_be_valid_strings_mqtt_3_10_3_1() {
        assert_malformed(Mqtt311, "a2 05 00 01 00 01 ff", DecodeError::InvalidUtf8);
        assert_malformed(
            Mqtt311,
            "a2 06 00 01 00 02 2b 2b",
            DecodeError::InvalidTopicFilter,
        );
    }
}
