//! SUBACK: the server's answer to SUBSCRIBE, one return code per filter (3.1.1 §3.9, 3.1 §3.9).
//!
//! ```text
//! byte 1      0x90                 type 9, flags 0000
//! byte 2..    Remaining Length
//! variable    packet identifier    the SUBSCRIBE's [MQTT-3.8.4-2]
//! payload     return codes         one byte each, in filter order [MQTT-3.9.3-1]:
//!                                  0x00, 0x01, 0x02 granted QoS; 0x80 failure (3.1.1 only)
//! ```

use crate::list::sealed::Entry;
use crate::wire::{Reader, Sink};
use crate::{DecodeError, EncodeError, List, PacketId, ProtocolLevel, QoS};

/// A SUBACK packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubAck<'a> {
    /// The identifier of the SUBSCRIBE answered [MQTT-3.8.4-2].
    pub packet_id: PacketId,
    /// One code per filter of the SUBSCRIBE, in the same order [MQTT-3.8.4-5] [MQTT-3.9.3-1].
    pub return_codes: List<'a, SubAckReturnCode>,
}

/// The outcome of one subscription request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubAckReturnCode {
    /// Subscribed, with this maximum QoS (possibly lower than requested) [MQTT-3.8.4-6].
    Granted(QoS),
    /// 0x80: the subscription was refused [MQTT-3.8.4-5]. MQTT 3.1 has no such code ([V31-DIFF-34]),
    /// though a 3.1 client is right to read one as a failure.
    Failure,
}

const FAILURE: u8 = 0x80;

impl Entry<'_> for SubAckReturnCode {
    fn read(reader: &mut Reader<'_>, _level: ProtocolLevel) -> Result<Self, DecodeError> {
        match reader.u8()? {
            FAILURE => Ok(Self::Failure),
            byte => QoS::from_bits(byte)
                .map(Self::Granted)
                .map_err(|_| DecodeError::InvalidSubAckReturnCode), // [MQTT-3.9.3-2]
        }
    }

    #[inline]
    fn encoded_len(&self) -> usize {
        1
    }

    #[inline]
    fn write(&self, sink: &mut impl Sink) {
        sink.put_u8(match self {
            Self::Granted(qos) => qos.bits(),
            Self::Failure => FAILURE,
        });
    }
}

impl<'a> SubAck<'a> {
    #[inline]
    pub(crate) fn decode(body: &'a [u8], level: ProtocolLevel) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(body);
        let packet_id = PacketId::from_wire(reader.u16()?)?;
        let return_codes = List::decode(reader.rest(), level)?;
        if return_codes.is_empty() {
            return Err(DecodeError::NoReturnCodes);
        }
        Ok(Self {
            packet_id,
            return_codes,
        })
    }

    #[inline]
    pub(crate) fn check(&self, level: ProtocolLevel) -> Result<(), EncodeError> {
        if self.return_codes.is_empty() {
            return Err(EncodeError::EmptyList);
        }
        let has_failure = self
            .return_codes
            .iter()
            .any(|code| code == SubAckReturnCode::Failure);
        if !level.is_strict() && has_failure {
            return Err(EncodeError::SubAckFailureInMqtt31); // [V31-DIFF-34]
        }
        Ok(())
    }

    #[inline]
    pub(crate) fn body_len(&self) -> usize {
        2 + self.return_codes.encoded_len()
    }

    #[inline]
    pub(crate) fn write_body(&self, sink: &mut impl Sink) {
        sink.put_u16(self.packet_id.get());
        self.return_codes.write(sink);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Packet;
    use crate::testing::{assert_malformed, assert_vector};
    use ProtocolLevel::{Mqtt31, Mqtt311};

    fn suback(codes: &[SubAckReturnCode]) -> Packet<'_> {
        Packet::SubAck(SubAck {
            packet_id: PacketId::new(10).expect("non-zero"),
            return_codes: List::from_slice(codes),
        })
    }

    #[test]
    fn every_code_in_order_mqtt_3_9_3_1() {
        let codes = [
            SubAckReturnCode::Granted(QoS::AtMostOnce),
            SubAckReturnCode::Granted(QoS::AtLeastOnce),
            SubAckReturnCode::Granted(QoS::ExactlyOnce),
            SubAckReturnCode::Failure,
        ];
        assert_vector(
            Mqtt311,
            "90 06         SUBACK, remaining length 6
             00 0a         packet identifier 10
             00 01 02 80   granted 0, 1, 2, then failure",
            suback(&codes),
        );
    }

    #[test]
    fn reserved_codes_refused_mqtt_3_9_3_2() {
        for code in ["03", "81", "40", "ff"] {
            let hex = alloc::format!("90 03 00 0a {code}");
            assert_malformed(Mqtt311, &hex, DecodeError::InvalidSubAckReturnCode);
        }
    }

    #[test]
    fn failure_is_never_sent_to_3_1_clients() {
        let codes = [SubAckReturnCode::Failure];
        assert_eq!(
            suback(&codes).encode_to_slice(Mqtt31, &mut [0; 8]),
            Err(EncodeError::SubAckFailureInMqtt31)
        );
        assert_vector(
            Mqtt31,
            "90 03 00 0a 01",
            suback(&[SubAckReturnCode::Granted(QoS::AtLeastOnce)]),
        );
    }

    #[test]
    fn a_3_1_client_reads_0x80_as_failure() {
        assert_vector(
            Mqtt311,
            "90 03 00 0a 80",
            suback(&[SubAckReturnCode::Failure]),
        );
        let decoded = crate::Decoder::new(Mqtt31).decode(&[0x90, 0x03, 0x00, 0x0a, 0x80]);
        assert!(matches!(
            decoded,
            Ok(crate::Status::Complete((Packet::SubAck(_), 5)))
        ));
    }

    #[test]
    fn no_return_code_is_malformed() {
        assert_malformed(Mqtt311, "90 02 00 0a", DecodeError::NoReturnCodes);
    }
}
