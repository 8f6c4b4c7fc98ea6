//! CONNECT (§5.4.4): a client opening a connection through a gateway.
//!
//! ```text
//! Length | MsgType 0x04 | Flags | ProtocolId 0x01 | Duration (2) | ClientId (1 to 23 characters)
//! ```
//!
//! Of the flags only Will and CleanSession are used [SN-5.4.4-1]; the others are ignored when read
//! and written as 0. Duration is the keep-alive period in seconds, as in MQTT [SN-5.4.4-2]. The will
//! itself does not travel in CONNECT: the gateway asks for it with WILLTOPICREQ and WILLMSGREQ (§6.2).

use crate::wire::{Reader, Writer};
use crate::{ClientId, DecodeError, Flags};

/// The only ProtocolId: MQTT-SN 1.2 [SN-5.3.8-1].
pub const PROTOCOL_ID: u8 = 0x01;

/// CONNECT: a client's request to connect [SN-5.4.4-1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Connect<'a> {
    /// Asks the gateway to prompt for a will topic and will message [SN-5.3.4-4].
    pub will: bool,
    /// Asks for a clean session, which in MQTT-SN also clears the stored will [SN-5.3.4-5].
    pub clean_session: bool,
    /// The keep-alive period in seconds [SN-5.4.4-2].
    pub duration: u16,
    /// The client's identifier [SN-5.3.1-1].
    pub client_id: ClientId<'a>,
}

impl<'a> Connect<'a> {
    #[inline]
    pub(crate) fn decode(mut r: Reader<'a>) -> Result<Self, DecodeError> {
        let flags = Flags::from_u8(r.u8()?);
        // [SN-5.3.8-1] Every other ProtocolId is reserved.
        if r.u8()? != PROTOCOL_ID {
            return Err(DecodeError::UnsupportedProtocolId);
        }
        let duration = r.u16()?;
        Ok(Self {
            will: flags.will(),
            clean_session: flags.clean_session(),
            duration,
            client_id: ClientId::from_bytes(r.rest())?,
        })
    }

    #[inline]
    pub(crate) const fn body_len(&self) -> usize {
        4 + self.client_id.as_str().len()
    }

    #[inline]
    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        let flags = Flags::default()
            .with_will(self.will)
            .with_clean_session(self.clean_session);
        w.u8(flags.to_u8());
        w.u8(PROTOCOL_ID);
        w.u16(self.duration);
        w.bytes(self.client_id.as_str().as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check, check_decode, hex, refuse};
    use crate::{Message, MsgType};

    fn connect(will: bool, clean_session: bool) -> Message<'static> {
        Message::Connect(Connect {
            will,
            clean_session,
            duration: 60,
            client_id: ClientId::new("sensor-1").unwrap_or_else(|e| panic!("{e}")),
        })
    }

    #[test]
    fn connect_vector() {
        // [SN-5.4.4-1] [SN-5.4.4-2] [SN-5.3.4-4] [SN-5.3.4-5]
        // Length 14 | CONNECT | Flags Will+CleanSession | ProtocolId 1 | Duration 60 | "sensor-1".
        check(
            "0e | 04 | 0c | 01 | 00 3c | 73 65 6e 73 6f 72 2d 31",
            &connect(true, true),
        );
        check(
            "0e | 04 | 00 | 01 | 00 3c | 73 65 6e 73 6f 72 2d 31",
            &connect(false, false),
        );
    }

    #[test]
    fn connect_ignores_the_flags_it_does_not_use() {
        // [SN-5.4.4-1] DUP, QoS, Retain and TopicIdType are not used: read past, written as 0.
        check_decode(
            &hex("0e 04 f7 01 00 3c 73 65 6e 73 6f 72 2d 31"),
            &connect(false, true),
        );
    }

    #[test]
    fn connect_with_another_protocol_id_is_refused() {
        // [SN-5.3.8-1]
        refuse("07 04 04 02 00 3c 61", DecodeError::UnsupportedProtocolId);
    }

    #[test]
    fn connect_client_id_must_be_1_to_23_characters_of_utf8() {
        // [SN-5.3.1-1]
        refuse("06 04 04 01 00 3c", DecodeError::ClientIdLength);
        refuse(
            "1e 04 04 01 00 3c 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61",
            DecodeError::ClientIdLength,
        );
        refuse("07 04 04 01 00 3c ff", DecodeError::InvalidUtf8);
        refuse("05 04 04 01 00", DecodeError::BodyLength(MsgType::Connect));
    }
}
