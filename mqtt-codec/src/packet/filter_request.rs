//! The frame SUBSCRIBE and UNSUBSCRIBE share at every level: a non-zero packet identifier, at 5.0
//! the properties, then one or more entries running to the end of the body (3.1.1 §3.8 and §3.10,
//! 5.0 §3.8 and §3.10).
//!
//! The four packet files keep what differs between them: the entry (a filter with a requested QoS,
//! a filter with options, a bare filter), which properties are allowed, and the rules on each entry.
//! This file holds what is the same, so a zero identifier, an empty list and a list that does not
//! fill the body are refused in one place for all four.
//!
//! It does not know which packet it frames: each caller cites the rule it relies on.

use crate::list::sealed::Entry;
use crate::wire::{Reader, Sink};
use crate::{DecodeError, EncodeError, List, PacketId, ProtocolLevel};

/// A decoded frame: the identifier, what the caller read between it and the entries (nothing at
/// 3.1.1, the properties at 5.0), and the entries.
pub(crate) struct Frame<'a, H, E> {
    pub(crate) packet_id: PacketId,
    pub(crate) header: H,
    pub(crate) entries: List<'a, E>,
}

/// Decodes a complete body: the identifier, then `header`, then the entries. A zero identifier is
/// `ZeroPacketId`, no entry at all `NoTopicFilters`; entries are read at `level`.
pub(crate) fn decode<'a, H, E: Entry<'a>>(
    body: &'a [u8],
    level: ProtocolLevel,
    header: impl FnOnce(&mut Reader<'a>) -> Result<H, DecodeError>,
) -> Result<Frame<'a, H, E>, DecodeError> {
    let mut reader = Reader::new(body);
    let packet_id = PacketId::from_wire(reader.u16()?)?;
    let header = header(&mut reader)?;
    let entries = List::decode(reader.rest(), level)?;
    if entries.is_empty() {
        return Err(DecodeError::NoTopicFilters);
    }
    Ok(Frame {
        packet_id,
        header,
        entries,
    })
}

/// Refuses to encode an empty list, which the decoder would refuse.
pub(crate) fn check<'a, E: Entry<'a>>(entries: &List<'a, E>) -> Result<(), EncodeError> {
    if entries.is_empty() {
        return Err(EncodeError::EmptyList);
    }
    Ok(())
}

/// The body's length: the identifier, `header_len` bytes of header, the entries.
pub(crate) fn body_len<'a, E: Entry<'a>>(header_len: usize, entries: &List<'a, E>) -> usize {
    2 + header_len + entries.encoded_len()
}

/// Writes the body: the identifier, then `header`, then the entries.
pub(crate) fn write_body<'a, S: Sink, E: Entry<'a>>(
    sink: &mut S,
    packet_id: PacketId,
    header: impl FnOnce(&mut S),
    entries: &List<'a, E>,
) {
    sink.put_u16(packet_id.get());
    header(sink);
    entries.write(sink);
}

#[cfg(test)]
mod tests {
    //! The frame through all four packets that use it: what it refuses, it refuses for each.
    use crate::DecodeError;
    use crate::ProtocolLevel::Mqtt311;
    use crate::testing::{assert_malformed, assert_malformed_v5};

    #[test]
    fn a_zero_identifier_is_refused_in_all_four_mqtt_2_3_1_1_mqtt5_2_2_1_3() {
        assert_malformed(
            Mqtt311,
            "82 06 00 00 00 01 23 00",
            DecodeError::ZeroPacketId,
        );
        assert_malformed(Mqtt311, "a2 05 00 00 00 01 23", DecodeError::ZeroPacketId);
        assert_malformed_v5("82 07 00 00 00 00 01 23 00", DecodeError::ZeroPacketId);
        assert_malformed_v5("a2 06 00 00 00 00 01 23", DecodeError::ZeroPacketId);
    }

    #[test]
    fn an_empty_list_is_refused_in_all_four_mqtt_3_8_3_3_mqtt_3_10_3_2() {
        assert_malformed(Mqtt311, "82 02 00 01", DecodeError::NoTopicFilters);
        assert_malformed(Mqtt311, "a2 02 00 01", DecodeError::NoTopicFilters);
        // [MQTT5-3.8.3-2] [MQTT5-3.10.3-2]
        assert_malformed_v5("82 03 00 01 00", DecodeError::NoTopicFilters);
        assert_malformed_v5("a2 03 00 01 00", DecodeError::NoTopicFilters);
    }

    #[test]
    fn an_entry_cut_short_is_malformed_not_dropped() {
        // The filter says two bytes and one follows: the list must fill the body exactly.
        assert_malformed(
            Mqtt311,
            "a2 05 00 01 00 02 23",
            DecodeError::UnexpectedEndOfPacket,
        );
        assert_malformed_v5(
            "a2 06 00 01 00 00 02 23",
            DecodeError::UnexpectedEndOfPacket,
        );
    }
}
