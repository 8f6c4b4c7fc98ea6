//! [`Properties`]: the MQTT 5.0 property set that ends the variable header of most packets and
//! starts the Will (5.0 §2.2.2, Table 2-4), and [`Property`], one identifier with its value.
//!
//! ```text
//! property length   Variable Byte Integer: the bytes that follow, not counting itself
//! properties        identifier (Variable Byte Integer), then a value of the identifier's type:
//!                   byte, two- or four-byte integer, Variable Byte Integer, UTF-8 string,
//!                   UTF-8 string pair, or binary data
//! ```
//!
//! A decoded set borrows the raw property bytes of the packet and is checked once, when the packet is
//! decoded: every identifier must be one Table 2-4 defines *for this packet*, its value must be of the
//! identifier's type (else the packet is malformed, 5.0 §2.2.2.2), it may appear at most once unless
//! the specification says it may repeat, and where the text limits its value (Receive Maximum not 0,
//! a Byte that is 0 or 1, ...) the value must be in range (else a Protocol Error). Iterating parses
//! the bytes again, lazily; that cannot fail (the same reasoning as `List`, see `list.rs`). Typed
//! accessors ([`Properties::topic_alias`], ...) look one property up.
//!
//! A set to encode is a slice of [`Property`] values built by the caller; the encoder checks it
//! against the same rules, so that it never writes what a decoder must refuse.
//!
//! This module knows nothing of what the properties *mean* to a session (the Topic Alias mapping, the
//! Receive Maximum quota, ...): that is the broker's and the client's business.

use core::fmt;

use crate::wire::{Reader, Sink, var_int_len};
use crate::{DecodeError, EncodeError, PacketType, TopicName};

/// Where a property set sits: one of the thirteen packets that carry one, or the Will in CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PropertyContext {
    /// The properties of a packet of this type.
    Packet(PacketType),
    /// The Will Properties in the CONNECT payload (5.0 §3.1.3.2).
    Will,
}

impl PropertyContext {
    /// One bit per context, for the "Packet / Will Properties" column of Table 2-4.
    const fn bit(self) -> u16 {
        match self {
            Self::Packet(packet_type) => 1 << (packet_type as u16),
            Self::Will => 1 << 0,
        }
    }
}

/// One property: an identifier of Table 2-4 with its value. String and binary values borrow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Property<'a> {
    /// 0x01 Payload Format Indicator: 0 unspecified bytes, 1 UTF-8 (5.0 §3.3.2.3.2).
    PayloadFormatIndicator(u8),
    /// 0x02 Message Expiry Interval, seconds (5.0 §3.3.2.3.3).
    MessageExpiryInterval(u32),
    /// 0x03 Content Type [MQTT5-3.3.2-19].
    ContentType(&'a str),
    /// 0x08 Response Topic: a topic name, without wildcards [MQTT5-3.3.2-13] [MQTT5-3.3.2-14].
    ResponseTopic(&'a str),
    /// 0x09 Correlation Data (5.0 §3.3.2.3.6).
    CorrelationData(&'a [u8]),
    /// 0x0B Subscription Identifier, 1 to 268 435 455 (5.0 §3.8.2.1.2).
    SubscriptionIdentifier(u32),
    /// 0x11 Session Expiry Interval, seconds (5.0 §3.1.2.11.2).
    SessionExpiryInterval(u32),
    /// 0x12 Assigned Client Identifier (5.0 §3.2.2.3.7).
    AssignedClientIdentifier(&'a str),
    /// 0x13 Server Keep Alive, seconds [MQTT5-3.2.2-21].
    ServerKeepAlive(u16),
    /// 0x15 Authentication Method (5.0 §4.12).
    AuthenticationMethod(&'a str),
    /// 0x16 Authentication Data (5.0 §4.12).
    AuthenticationData(&'a [u8]),
    /// 0x17 Request Problem Information, 0 or 1 [MQTT5-3.1.2-29].
    RequestProblemInformation(u8),
    /// 0x18 Will Delay Interval, seconds (5.0 §3.1.3.2.2).
    WillDelayInterval(u32),
    /// 0x19 Request Response Information, 0 or 1 (5.0 §3.1.2.11.6).
    RequestResponseInformation(u8),
    /// 0x1A Response Information (5.0 §3.2.2.3.15).
    ResponseInformation(&'a str),
    /// 0x1C Server Reference (5.0 §4.11).
    ServerReference(&'a str),
    /// 0x1F Reason String: for humans, not to be parsed.
    ReasonString(&'a str),
    /// 0x21 Receive Maximum, not 0 (5.0 §3.1.2.11.3, §3.2.2.3.3).
    ReceiveMaximum(u16),
    /// 0x22 Topic Alias Maximum (5.0 §3.1.2.11.5, §3.2.2.3.8).
    TopicAliasMaximum(u16),
    /// 0x23 Topic Alias, not 0 [MQTT5-3.3.2-8].
    TopicAlias(u16),
    /// 0x24 Maximum QoS, 0 or 1 [MQTT5-3.2.2-9].
    MaximumQoS(u8),
    /// 0x25 Retain Available, 0 or 1 [MQTT5-3.2.2-14].
    RetainAvailable(u8),
    /// 0x26 User Property: a name and a value, may repeat, order kept [MQTT5-3.3.2-18].
    UserProperty(&'a str, &'a str),
    /// 0x27 Maximum Packet Size, bytes, not 0 (5.0 §3.1.2.11.4, §3.2.2.3.6).
    MaximumPacketSize(u32),
    /// 0x28 Wildcard Subscription Available, 0 or 1.
    WildcardSubscriptionAvailable(u8),
    /// 0x29 Subscription Identifier Available, 0 or 1.
    SubscriptionIdentifierAvailable(u8),
    /// 0x2A Shared Subscription Available, 0 or 1.
    SharedSubscriptionAvailable(u8),
}

/// What Table 2-4 and the property's own section say about one identifier.
struct Spec {
    /// The contexts it may appear in (bits of [`PropertyContext::bit`]).
    allowed: u16,
    /// Where it may appear more than once: User Property everywhere, Subscription Identifier in a
    /// PUBLISH (one per matching subscription, [MQTT5-3.3.4-4]) but once in SUBSCRIBE.
    repeatable: u16,
}

macro_rules! contexts {
    ($($context:ident),*) => {
        0 $(| contexts!(@one $context))*
    };
    (@one Will) => { PropertyContext::Will.bit() };
    (@one $packet:ident) => { PropertyContext::Packet(PacketType::$packet).bit() };
}

const ALL: u16 = contexts!(
    Connect,
    ConnAck,
    Publish,
    Will,
    PubAck,
    PubRec,
    PubRel,
    PubComp,
    Subscribe,
    SubAck,
    Unsubscribe,
    UnsubAck,
    Disconnect,
    Auth
);

/// Table 2-4's last column, by identifier; `None` for an identifier 5.0 does not define. The types
/// of the values are in [`Property::read`].
const fn spec(id: u32) -> Option<Spec> {
    let allowed = match id {
        0x01 | 0x02 | 0x03 | 0x08 | 0x09 => contexts!(Publish, Will),
        0x0B => contexts!(Publish, Subscribe),
        0x11 => contexts!(Connect, ConnAck, Disconnect),
        0x12 | 0x13 | 0x1A => contexts!(ConnAck),
        0x15 | 0x16 => contexts!(Connect, ConnAck, Auth),
        0x17 | 0x19 => contexts!(Connect),
        0x18 => contexts!(Will),
        0x1C => contexts!(ConnAck, Disconnect),
        0x1F => contexts!(
            ConnAck, PubAck, PubRec, PubRel, PubComp, SubAck, UnsubAck, Disconnect, Auth
        ),
        0x21 | 0x22 | 0x27 => contexts!(Connect, ConnAck),
        0x23 => contexts!(Publish),
        0x24 | 0x25 | 0x28 | 0x29 | 0x2A => contexts!(ConnAck),
        0x26 => ALL,
        _ => return None,
    };
    let repeatable = match id {
        0x26 => ALL,
        0x0B => contexts!(Publish),
        _ => 0,
    };
    Some(Spec {
        allowed,
        repeatable,
    })
}

/// Why a property set breaks the rules; decoding and encoding report it in their own error types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Violation {
    /// Not defined for this packet (Malformed, 5.0 §2.2.2.2).
    NotAllowed,
    /// Included more than once where it may not be (a Protocol Error, each property's section).
    Duplicate,
    /// A value the property's section calls a Protocol Error.
    Value,
    /// Subscription Identifier 0 (5.0 §3.8.2.1.2).
    ZeroSubscriptionIdentifier,
    /// Topic Alias 0 [MQTT5-3.3.2-8].
    ZeroTopicAlias,
}

impl From<Violation> for DecodeError {
    fn from(violation: Violation) -> Self {
        match violation {
            Violation::NotAllowed => Self::PropertyNotAllowed,
            Violation::Duplicate => Self::DuplicateProperty,
            Violation::Value => Self::InvalidPropertyValue,
            Violation::ZeroSubscriptionIdentifier => Self::ZeroSubscriptionIdentifier,
            Violation::ZeroTopicAlias => Self::ZeroTopicAlias,
        }
    }
}

impl<'a> Property<'a> {
    /// The identifier (Table 2-4).
    pub const fn id(&self) -> u8 {
        match self {
            Self::PayloadFormatIndicator(_) => 0x01,
            Self::MessageExpiryInterval(_) => 0x02,
            Self::ContentType(_) => 0x03,
            Self::ResponseTopic(_) => 0x08,
            Self::CorrelationData(_) => 0x09,
            Self::SubscriptionIdentifier(_) => 0x0B,
            Self::SessionExpiryInterval(_) => 0x11,
            Self::AssignedClientIdentifier(_) => 0x12,
            Self::ServerKeepAlive(_) => 0x13,
            Self::AuthenticationMethod(_) => 0x15,
            Self::AuthenticationData(_) => 0x16,
            Self::RequestProblemInformation(_) => 0x17,
            Self::WillDelayInterval(_) => 0x18,
            Self::RequestResponseInformation(_) => 0x19,
            Self::ResponseInformation(_) => 0x1A,
            Self::ServerReference(_) => 0x1C,
            Self::ReasonString(_) => 0x1F,
            Self::ReceiveMaximum(_) => 0x21,
            Self::TopicAliasMaximum(_) => 0x22,
            Self::TopicAlias(_) => 0x23,
            Self::MaximumQoS(_) => 0x24,
            Self::RetainAvailable(_) => 0x25,
            Self::UserProperty(..) => 0x26,
            Self::MaximumPacketSize(_) => 0x27,
            Self::WildcardSubscriptionAvailable(_) => 0x28,
            Self::SubscriptionIdentifierAvailable(_) => 0x29,
            Self::SharedSubscriptionAvailable(_) => 0x2A,
        }
    }

    /// Reads one property: its identifier, then a value of the identifier's type (Table 2-4). An
    /// identifier 5.0 does not define, or a value that is not of its type (a string that is not UTF-8,
    /// a pair missing its value, a Variable Byte Integer longer than needed), is malformed (5.0
    /// §2.2.2.2, [MQTT5-1.5.4-1] [MQTT5-1.5.4-2] [MQTT5-1.5.7-1] [MQTT5-1.5.5-1]).
    ///
    /// `string` reads each string value. Iterating passes [`Reader::string`]; the decoder's check
    /// passes [`Reader::checked_string`], which validates the string without making a `&str` (an
    /// empty one stands in for it), since checking the set needs only the numbers and the Response
    /// Topic, which is always read whole.
    #[inline]
    fn read(
        reader: &mut Reader<'a>,
        string: impl Fn(&mut Reader<'a>) -> Result<&'a str, DecodeError>,
    ) -> Result<Self, DecodeError> {
        Ok(match reader.var_int()? {
            0x01 => Self::PayloadFormatIndicator(reader.u8()?),
            0x02 => Self::MessageExpiryInterval(reader.u32()?),
            0x03 => Self::ContentType(string(reader)?),
            0x08 => Self::ResponseTopic(reader.string()?),
            0x09 => Self::CorrelationData(reader.binary()?),
            0x0B => Self::SubscriptionIdentifier(reader.var_int()?),
            0x11 => Self::SessionExpiryInterval(reader.u32()?),
            0x12 => Self::AssignedClientIdentifier(string(reader)?),
            0x13 => Self::ServerKeepAlive(reader.u16()?),
            0x15 => Self::AuthenticationMethod(string(reader)?),
            0x16 => Self::AuthenticationData(reader.binary()?),
            0x17 => Self::RequestProblemInformation(reader.u8()?),
            0x18 => Self::WillDelayInterval(reader.u32()?),
            0x19 => Self::RequestResponseInformation(reader.u8()?),
            0x1A => Self::ResponseInformation(string(reader)?),
            0x1C => Self::ServerReference(string(reader)?),
            0x1F => Self::ReasonString(string(reader)?),
            0x21 => Self::ReceiveMaximum(reader.u16()?),
            0x22 => Self::TopicAliasMaximum(reader.u16()?),
            0x23 => Self::TopicAlias(reader.u16()?),
            0x24 => Self::MaximumQoS(reader.u8()?),
            0x25 => Self::RetainAvailable(reader.u8()?),
            0x26 => Self::UserProperty(string(reader)?, string(reader)?),
            0x27 => Self::MaximumPacketSize(reader.u32()?),
            0x28 => Self::WildcardSubscriptionAvailable(reader.u8()?),
            0x29 => Self::SubscriptionIdentifierAvailable(reader.u8()?),
            0x2A => Self::SharedSubscriptionAvailable(reader.u8()?),
            _ => return Err(DecodeError::PropertyNotAllowed),
        })
    }

    /// Checks the rules of the property's own section on its value.
    #[inline]
    fn check_value(&self) -> Result<(), Violation> {
        let zero_or_one = |value: u8| {
            if value <= 1 {
                Ok(())
            } else {
                Err(Violation::Value)
            }
        };
        match *self {
            // The text defines only 0 and 1 for the Payload Format Indicator (5.0 §3.3.2.3.2); any
            // other value is refused as a Protocol Error, as for the other 0-or-1 bytes.
            Self::PayloadFormatIndicator(value)
            | Self::RequestProblemInformation(value)
            | Self::RequestResponseInformation(value)
            | Self::MaximumQoS(value)
            | Self::RetainAvailable(value)
            | Self::WildcardSubscriptionAvailable(value)
            | Self::SubscriptionIdentifierAvailable(value)
            | Self::SharedSubscriptionAvailable(value) => zero_or_one(value),
            Self::ReceiveMaximum(0) | Self::MaximumPacketSize(0) => Err(Violation::Value),
            Self::SubscriptionIdentifier(0) => Err(Violation::ZeroSubscriptionIdentifier),
            Self::SubscriptionIdentifier(id) if id > crate::wire::MAX_VAR_INT => {
                Err(Violation::Value)
            }
            Self::TopicAlias(0) => Err(Violation::ZeroTopicAlias), // [MQTT5-3.3.2-8]
            // A topic name: not empty, no wildcards [MQTT5-3.3.2-14] [MQTT5-4.7.3-1].
            Self::ResponseTopic(topic) if TopicName::new(topic).is_err() => Err(Violation::Value),
            _ => Ok(()),
        }
    }

    /// The bytes `write` produces.
    #[inline]
    pub const fn encoded_len(&self) -> usize {
        1 + match *self {
            Self::PayloadFormatIndicator(_)
            | Self::RequestProblemInformation(_)
            | Self::RequestResponseInformation(_)
            | Self::MaximumQoS(_)
            | Self::RetainAvailable(_)
            | Self::WildcardSubscriptionAvailable(_)
            | Self::SubscriptionIdentifierAvailable(_)
            | Self::SharedSubscriptionAvailable(_) => 1,
            Self::ServerKeepAlive(_)
            | Self::ReceiveMaximum(_)
            | Self::TopicAliasMaximum(_)
            | Self::TopicAlias(_) => 2,
            Self::MessageExpiryInterval(_)
            | Self::SessionExpiryInterval(_)
            | Self::WillDelayInterval(_)
            | Self::MaximumPacketSize(_) => 4,
            Self::SubscriptionIdentifier(id) => var_int_len(id),
            Self::ContentType(text)
            | Self::ResponseTopic(text)
            | Self::AssignedClientIdentifier(text)
            | Self::AuthenticationMethod(text)
            | Self::ResponseInformation(text)
            | Self::ServerReference(text)
            | Self::ReasonString(text) => 2 + text.len(),
            Self::CorrelationData(bytes) | Self::AuthenticationData(bytes) => 2 + bytes.len(),
            Self::UserProperty(name, value) => 4 + name.len() + value.len(),
        }
    }

    /// Whether every string and binary value fits its two-byte length.
    #[inline]
    fn fits(&self) -> bool {
        let fits = |len: usize| len <= usize::from(u16::MAX);
        match *self {
            Self::ContentType(text)
            | Self::ResponseTopic(text)
            | Self::AssignedClientIdentifier(text)
            | Self::AuthenticationMethod(text)
            | Self::ResponseInformation(text)
            | Self::ServerReference(text)
            | Self::ReasonString(text) => fits(text.len()),
            Self::CorrelationData(bytes) | Self::AuthenticationData(bytes) => fits(bytes.len()),
            Self::UserProperty(name, value) => fits(name.len()) && fits(value.len()),
            _ => true,
        }
    }

    #[inline]
    fn write(&self, sink: &mut impl Sink) {
        // Every identifier of 5.0 is below 128, so it is one Variable Byte Integer byte.
        sink.put_u8(self.id());
        match *self {
            Self::PayloadFormatIndicator(value)
            | Self::RequestProblemInformation(value)
            | Self::RequestResponseInformation(value)
            | Self::MaximumQoS(value)
            | Self::RetainAvailable(value)
            | Self::WildcardSubscriptionAvailable(value)
            | Self::SubscriptionIdentifierAvailable(value)
            | Self::SharedSubscriptionAvailable(value) => sink.put_u8(value),
            Self::ServerKeepAlive(value)
            | Self::ReceiveMaximum(value)
            | Self::TopicAliasMaximum(value)
            | Self::TopicAlias(value) => sink.put_u16(value),
            Self::MessageExpiryInterval(value)
            | Self::SessionExpiryInterval(value)
            | Self::WillDelayInterval(value)
            | Self::MaximumPacketSize(value) => sink.put_u32(value),
            Self::SubscriptionIdentifier(id) => sink.put_var_int(id),
            Self::ContentType(text)
            | Self::ResponseTopic(text)
            | Self::AssignedClientIdentifier(text)
            | Self::AuthenticationMethod(text)
            | Self::ResponseInformation(text)
            | Self::ServerReference(text)
            | Self::ReasonString(text) => sink.put_prefixed(text.as_bytes()),
            Self::CorrelationData(bytes) | Self::AuthenticationData(bytes) => {
                sink.put_prefixed(bytes);
            }
            Self::UserProperty(name, value) => {
                sink.put_prefixed(name.as_bytes());
                sink.put_prefixed(value.as_bytes());
            }
        }
    }
}

/// The identifiers seen so far in one set, for the "at most once" rules.
#[derive(Default)]
struct Seen(u64);

impl Seen {
    /// Checks one more property of a set in `context`.
    #[inline]
    fn check(
        &mut self,
        property: &Property<'_>,
        context: PropertyContext,
    ) -> Result<(), Violation> {
        let id = property.id();
        let Some(spec) = spec(u32::from(id)) else {
            return Err(Violation::NotAllowed);
        };
        if spec.allowed & context.bit() == 0 {
            return Err(Violation::NotAllowed);
        }
        let bit = 1u64 << id;
        if self.0 & bit != 0 && spec.repeatable & context.bit() == 0 {
            return Err(Violation::Duplicate);
        }
        self.0 |= bit;
        property.check_value()
    }
}

/// A property set, borrowed from a decoded packet or from the caller. The default is the empty set.
#[derive(Clone, Copy)]
pub struct Properties<'a> {
    repr: Repr<'a>,
}

#[derive(Clone, Copy)]
enum Repr<'a> {
    /// The property bytes of a decoded packet (after the Property Length), all validated.
    Wire(&'a [u8]),
    /// Properties given by the caller, with the bytes they take (without the Property Length),
    /// summed once when the set is made: the encoder needs it for the Remaining Length, the
    /// Property Length and its limit check.
    Slice(&'a [Property<'a>], usize),
}

impl Default for Properties<'_> {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl<'a> Properties<'a> {
    /// No properties: a Property Length of zero on the wire [MQTT5-2.2.2-1].
    pub const EMPTY: Self = Self {
        repr: Repr::Wire(&[]),
    };

    /// A set of the given properties, for encoding.
    pub const fn from_slice(properties: &'a [Property<'a>]) -> Self {
        let mut len = 0;
        let mut index = 0;
        while index < properties.len() {
            len += properties[index].encoded_len();
            index += 1;
        }
        Self {
            repr: Repr::Slice(properties, len),
        }
    }

    /// The properties in order.
    #[inline]
    pub fn iter(&self) -> PropertyIter<'a> {
        PropertyIter {
            repr: match self.repr {
                Repr::Wire(bytes) => IterRepr::Wire(Reader::new(bytes)),
                Repr::Slice(properties, _) => IterRepr::Slice(properties.iter()),
            },
        }
    }

    /// Whether the set is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        match self.repr {
            Repr::Wire(bytes) => bytes.is_empty(),
            Repr::Slice(properties, _) => properties.is_empty(),
        }
    }

    /// Reads a Property Length and the properties it covers, and checks them for `context`.
    #[inline]
    pub(crate) fn read(
        reader: &mut Reader<'a>,
        context: PropertyContext,
    ) -> Result<Self, DecodeError> {
        let len = reader.var_int()?;
        let bytes = reader.take(len as usize)?;
        let mut properties = Reader::new(bytes);
        let mut seen = Seen::default();
        while !properties.is_empty() {
            let property = Property::read(&mut properties, Reader::checked_string)?;
            seen.check(&property, context)?;
        }
        Ok(Self {
            repr: Repr::Wire(bytes),
        })
    }

    /// Checks a set the caller built, before it is encoded in `context`.
    #[inline]
    pub(crate) fn check(&self, context: PropertyContext) -> Result<(), EncodeError> {
        let mut seen = Seen::default();
        for property in self.iter() {
            if !property.fits() {
                return Err(EncodeError::FieldTooLong);
            }
            seen.check(&property, context)
                .map_err(|_| EncodeError::InvalidProperty)?;
        }
        if self.len_without_prefix() > crate::wire::MAX_VAR_INT as usize {
            return Err(EncodeError::PacketTooLarge);
        }
        Ok(())
    }

    /// The bytes of the properties alone, without the Property Length.
    #[inline]
    fn len_without_prefix(&self) -> usize {
        match self.repr {
            Repr::Wire(bytes) => bytes.len(),
            Repr::Slice(_, len) => len,
        }
    }

    /// The bytes written: the Property Length and the properties.
    #[inline]
    pub(crate) fn encoded_len(&self) -> usize {
        let len = self.len_without_prefix();
        var_int_len(len as u32) + len
    }

    #[inline]
    pub(crate) fn write(&self, sink: &mut impl Sink) {
        sink.put_var_int(self.len_without_prefix() as u32);
        match self.repr {
            // Decoded properties are written back exactly as they arrived.
            Repr::Wire(bytes) => sink.put(bytes),
            Repr::Slice(properties, _) => {
                for property in properties {
                    property.write(sink);
                }
            }
        }
    }

    /// The first property `pick` recognises.
    #[inline]
    fn find<T>(&self, pick: impl Fn(Property<'a>) -> Option<T>) -> Option<T> {
        self.iter().find_map(pick)
    }

    /// The User Properties, in order [MQTT5-3.3.2-18].
    #[inline]
    pub fn user_properties(&self) -> impl Iterator<Item = (&'a str, &'a str)> + use<'a> {
        self.iter().filter_map(|property| match property {
            Property::UserProperty(name, value) => Some((name, value)),
            _ => None,
        })
    }

    /// The Subscription Identifiers: one in a SUBSCRIBE, one per matching subscription in a PUBLISH
    /// [MQTT5-3.3.4-4].
    #[inline]
    pub fn subscription_identifiers(&self) -> impl Iterator<Item = u32> + use<'a> {
        self.iter().filter_map(|property| match property {
            Property::SubscriptionIdentifier(id) => Some(id),
            _ => None,
        })
    }
}

macro_rules! accessors {
    ($($(#[$doc:meta])* $name:ident: $variant:ident -> $ty:ty;)*) => {
        impl<'a> Properties<'a> {
            $(
                $(#[$doc])*
                #[inline]
                pub fn $name(&self) -> Option<$ty> {
                    self.find(|property| match property {
                        Property::$variant(value) => Some(value),
                        _ => None,
                    })
                }
            )*
        }
    };
}

accessors! {
    /// 0x01 Payload Format Indicator.
    payload_format_indicator: PayloadFormatIndicator -> u8;
    /// 0x02 Message Expiry Interval.
    message_expiry_interval: MessageExpiryInterval -> u32;
    /// 0x03 Content Type.
    content_type: ContentType -> &'a str;
    /// 0x08 Response Topic.
    response_topic: ResponseTopic -> &'a str;
    /// 0x09 Correlation Data.
    correlation_data: CorrelationData -> &'a [u8];
    /// 0x11 Session Expiry Interval.
    session_expiry_interval: SessionExpiryInterval -> u32;
    /// 0x12 Assigned Client Identifier.
    assigned_client_identifier: AssignedClientIdentifier -> &'a str;
    /// 0x13 Server Keep Alive.
    server_keep_alive: ServerKeepAlive -> u16;
    /// 0x15 Authentication Method.
    authentication_method: AuthenticationMethod -> &'a str;
    /// 0x16 Authentication Data.
    authentication_data: AuthenticationData -> &'a [u8];
    /// 0x17 Request Problem Information.
    request_problem_information: RequestProblemInformation -> u8;
    /// 0x18 Will Delay Interval.
    will_delay_interval: WillDelayInterval -> u32;
    /// 0x19 Request Response Information.
    request_response_information: RequestResponseInformation -> u8;
    /// 0x1A Response Information.
    response_information: ResponseInformation -> &'a str;
    /// 0x1C Server Reference.
    server_reference: ServerReference -> &'a str;
    /// 0x1F Reason String.
    reason_string: ReasonString -> &'a str;
    /// 0x21 Receive Maximum.
    receive_maximum: ReceiveMaximum -> u16;
    /// 0x22 Topic Alias Maximum.
    topic_alias_maximum: TopicAliasMaximum -> u16;
    /// 0x23 Topic Alias.
    topic_alias: TopicAlias -> u16;
    /// 0x24 Maximum QoS.
    maximum_qos: MaximumQoS -> u8;
    /// 0x25 Retain Available.
    retain_available: RetainAvailable -> u8;
    /// 0x27 Maximum Packet Size.
    maximum_packet_size: MaximumPacketSize -> u32;
    /// 0x28 Wildcard Subscription Available.
    wildcard_subscription_available: WildcardSubscriptionAvailable -> u8;
    /// 0x29 Subscription Identifier Available.
    subscription_identifier_available: SubscriptionIdentifierAvailable -> u8;
    /// 0x2A Shared Subscription Available.
    shared_subscription_available: SharedSubscriptionAvailable -> u8;
}

impl PartialEq for Properties<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Properties<'_> {}

impl fmt::Debug for Properties<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for Properties<'a> {
    type Item = Property<'a>;
    type IntoIter = PropertyIter<'a>;

    fn into_iter(self) -> PropertyIter<'a> {
        self.iter()
    }
}

/// An iterator over a [`Properties`] set.
pub struct PropertyIter<'a> {
    repr: IterRepr<'a>,
}

enum IterRepr<'a> {
    Wire(Reader<'a>),
    Slice(core::slice::Iter<'a, Property<'a>>),
}

impl<'a> Iterator for PropertyIter<'a> {
    type Item = Property<'a>;

    #[inline]
    fn next(&mut self) -> Option<Property<'a>> {
        match &mut self.repr {
            // Validated when decoded: this parse cannot fail (see the module doc).
            IterRepr::Wire(reader) if !reader.is_empty() => {
                Property::read(reader, Reader::string).ok()
            }
            IterRepr::Wire(_) => None,
            IterRepr::Slice(properties) => properties.next().copied(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::hex;
    use PacketType::{ConnAck, Connect, Publish, Subscribe};

    #[inline]
    fn read(context: PropertyContext, annotated: &str) -> Result<Properties<'static>, DecodeError> {
        let bytes = alloc::boxed::Box::leak(hex(annotated).into_boxed_slice());
        let mut reader = Reader::new(bytes);
        let properties = Properties::read(&mut reader, context)?;
        assert!(reader.is_empty(), "bytes left after the properties");
        Ok(properties)
    }

    #[test]
    fn every_identifier_of_table_2_4_round_trips() {
        let all = [
            Property::PayloadFormatIndicator(1),
            Property::MessageExpiryInterval(0x0102_0304),
            Property::ContentType("text/plain"),
            Property::ResponseTopic("reply/here"),
            Property::CorrelationData(b"\x00\x01"),
            Property::SubscriptionIdentifier(268_435_455),
            Property::SessionExpiryInterval(u32::MAX),
            Property::AssignedClientIdentifier("auto-1"),
            Property::ServerKeepAlive(30),
            Property::AuthenticationMethod("SCRAM-SHA-256"),
            Property::AuthenticationData(b"n,,n=user"),
            Property::RequestProblemInformation(0),
            Property::WillDelayInterval(5),
            Property::RequestResponseInformation(1),
            Property::ResponseInformation("resp/"),
            Property::ServerReference("other:1883"),
            Property::ReasonString("why"),
            Property::ReceiveMaximum(10),
            Property::TopicAliasMaximum(0),
            Property::TopicAlias(7),
            Property::MaximumQoS(1),
            Property::RetainAvailable(0),
            Property::UserProperty("k", "v"),
            Property::MaximumPacketSize(1024),
            Property::WildcardSubscriptionAvailable(1),
            Property::SubscriptionIdentifierAvailable(0),
            Property::SharedSubscriptionAvailable(1),
        ];
        assert_eq!(all.len(), 27, "Table 2-4 has 27 identifiers");
        for property in all {
            let mut out = alloc::vec::Vec::new();
            let set = [property];
            let properties = Properties::from_slice(&set);
            properties.write(&mut out);
            assert_eq!(out.len(), properties.encoded_len());
            // Any context it is allowed in will do for the round trip.
            let spec = spec(u32::from(property.id())).expect("defined");
            let context = [
                PropertyContext::Will,
                PropertyContext::Packet(Connect),
                PropertyContext::Packet(ConnAck),
                PropertyContext::Packet(Publish),
                PropertyContext::Packet(PacketType::Disconnect),
                PropertyContext::Packet(PacketType::Auth),
                PropertyContext::Packet(PacketType::PubAck),
            ]
            .into_iter()
            .find(|context| spec.allowed & context.bit() != 0)
            .expect("allowed somewhere");
            let mut reader = Reader::new(&out);
            let decoded = Properties::read(&mut reader, context).expect("decodes");
            assert_eq!(decoded.iter().collect::<alloc::vec::Vec<_>>(), [property]);
        }
    }

    #[test]
    fn typed_accessors_and_repeats() {
        let properties = read(
            PropertyContext::Packet(Publish),
            "0e              property length 14
             23 00 05        topic alias 5
             26 00 01 61 00 01 62   user property a=b
             0b 01           subscription identifier 1
             0b 02           subscription identifier 2",
        )
        .expect("valid");
        assert_eq!(properties.topic_alias(), Some(5));
        assert_eq!(properties.content_type(), None);
        assert_eq!(
            properties.user_properties().collect::<alloc::vec::Vec<_>>(),
            [("a", "b")]
        );
        assert_eq!(
            properties
                .subscription_identifiers()
                .collect::<alloc::vec::Vec<_>>(),
            [1, 2]
        );
    }

    #[test]
    fn duplicates_refused_where_the_text_says_once() {
        // Topic Alias twice in a PUBLISH (5.0 §3.3.2.3.4).
        assert_eq!(
            read(PropertyContext::Packet(Publish), "06 23 00 01 23 00 02"),
            Err(DecodeError::DuplicateProperty)
        );
        // Session Expiry Interval twice in a CONNECT (5.0 §3.1.2.11.2).
        assert_eq!(
            read(
                PropertyContext::Packet(Connect),
                "0a 11 00 00 00 01 11 00 00 00 02"
            ),
            Err(DecodeError::DuplicateProperty)
        );
        // A Subscription Identifier may repeat in PUBLISH but not in SUBSCRIBE (5.0 §3.8.2.1.2).
        assert_eq!(
            read(PropertyContext::Packet(Subscribe), "04 0b 01 0b 02"),
            Err(DecodeError::DuplicateProperty)
        );
        // User Properties may repeat, even with the same name.
        assert!(
            read(
                PropertyContext::Packet(Connect),
                "0e 26 00 01 61 00 01 62 26 00 01 61 00 01 62"
            )
            .is_ok()
        );
    }

    #[test]
    fn misplaced_and_unknown_identifiers_are_malformed() {
        // Topic Alias in a CONNECT; Will Delay Interval in a PUBLISH; identifier 0x04 is not defined.
        assert_eq!(
            read(PropertyContext::Packet(Connect), "03 23 00 01"),
            Err(DecodeError::PropertyNotAllowed)
        );
        assert_eq!(
            read(PropertyContext::Packet(Publish), "05 18 00 00 00 01"),
            Err(DecodeError::PropertyNotAllowed)
        );
        assert_eq!(
            read(PropertyContext::Will, "02 04 00"),
            Err(DecodeError::PropertyNotAllowed)
        );
        // A two-byte identifier (0x80 0x01 = 128) is undefined, not a crash.
        assert_eq!(
            read(PropertyContext::Will, "03 80 01 00"),
            Err(DecodeError::PropertyNotAllowed)
        );
    }

    #[test]
    fn values_of_the_wrong_type_are_malformed() {
        // A Content Type that is not UTF-8 [MQTT5-1.5.4-1]; with U+0000 [MQTT5-1.5.4-2].
        assert_eq!(
            read(PropertyContext::Packet(Publish), "04 03 00 01 ff"),
            Err(DecodeError::InvalidUtf8)
        );
        assert_eq!(
            read(PropertyContext::Packet(Publish), "04 03 00 01 00"),
            Err(DecodeError::NullCharacter)
        );
        // The same in a User Property's name and in its value, which the decoder checks without
        // the general UTF-8 routine when they are plain ASCII [MQTT5-1.5.7-1].
        assert_eq!(
            read(PropertyContext::Packet(Publish), "07 26 00 01 ff 00 01 61"),
            Err(DecodeError::InvalidUtf8)
        );
        assert_eq!(
            read(PropertyContext::Packet(Publish), "07 26 00 01 61 00 01 00"),
            Err(DecodeError::NullCharacter)
        );
        assert_eq!(
            read(
                PropertyContext::Packet(Publish),
                "08 26 00 01 61 00 02 ed a0"
            ),
            Err(DecodeError::InvalidUtf8),
            "half of an encoded surrogate"
        );
        // Non-ASCII UTF-8 is accepted and read back whole: U+00B0 DEGREE SIGN, then 'C'.
        let degrees = read(
            PropertyContext::Packet(Publish),
            "09 26 00 01 74 00 03 c2 b0 43",
        )
        .expect("valid UTF-8");
        assert_eq!(
            degrees.user_properties().collect::<alloc::vec::Vec<_>>(),
            [("t", "\u{b0}C")]
        );
        // A user property whose value runs past the set [MQTT5-1.5.7-1].
        assert_eq!(
            read(PropertyContext::Packet(Publish), "05 26 00 01 61 00"),
            Err(DecodeError::UnexpectedEndOfPacket)
        );
        // A Topic Alias cut short; a property length longer than what follows.
        assert_eq!(
            read(PropertyContext::Packet(Publish), "02 23 00"),
            Err(DecodeError::UnexpectedEndOfPacket)
        );
        assert_eq!(
            read(PropertyContext::Packet(Publish), "05 23 00 01"),
            Err(DecodeError::UnexpectedEndOfPacket)
        );
        // A Subscription Identifier in a longer form than needed [MQTT5-1.5.5-1].
        assert_eq!(
            read(PropertyContext::Packet(Publish), "03 0b 81 00"),
            Err(DecodeError::MalformedVariableByteInteger)
        );
    }

    #[test]
    fn out_of_range_values_are_protocol_errors() {
        let cases = [
            (Connect, "03 21 00 00", DecodeError::InvalidPropertyValue), // Receive Maximum 0
            (
                Connect,
                "05 27 00 00 00 00",
                DecodeError::InvalidPropertyValue,
            ), // Maximum Packet Size 0
            (Connect, "02 17 02", DecodeError::InvalidPropertyValue), // Request Problem Information 2
            (ConnAck, "02 24 02", DecodeError::InvalidPropertyValue), // Maximum QoS 2
            (ConnAck, "02 25 02", DecodeError::InvalidPropertyValue), // Retain Available 2
            (Publish, "02 01 02", DecodeError::InvalidPropertyValue), // Payload Format Indicator 2
            (Publish, "03 23 00 00", DecodeError::ZeroTopicAlias),    // [MQTT5-3.3.2-8]
            (
                Subscribe,
                "02 0b 00",
                DecodeError::ZeroSubscriptionIdentifier,
            ),
            (Publish, "04 08 00 01 23", DecodeError::InvalidPropertyValue), // Response Topic '#' [MQTT5-3.3.2-14]
        ];
        for (packet, bytes, error) in cases {
            assert_eq!(
                read(PropertyContext::Packet(packet), bytes),
                Err(error),
                "{bytes}"
            );
        }
    }

    #[test]
    fn encoder_refuses_what_the_decoder_would() {
        let check = |properties: &[Property<'_>], packet| {
            Properties::from_slice(properties).check(PropertyContext::Packet(packet))
        };
        assert_eq!(
            check(&[Property::TopicAlias(1)], Connect),
            Err(EncodeError::InvalidProperty)
        );
        assert_eq!(
            check(&[Property::TopicAlias(1), Property::TopicAlias(2)], Publish),
            Err(EncodeError::InvalidProperty)
        );
        assert_eq!(
            check(&[Property::TopicAlias(0)], Publish),
            Err(EncodeError::InvalidProperty)
        );
        let long = alloc::string::String::from_utf8(alloc::vec![b'a'; 65_536]).expect("ascii");
        assert_eq!(
            check(&[Property::ContentType(&long)], Publish),
            Err(EncodeError::FieldTooLong)
        );
        assert_eq!(check(&[Property::UserProperty("a", "b")], Publish), Ok(()));
    }

    #[test]
    fn empty_set_is_a_zero_length_mqtt5_2_2_2_1() {
        let mut out = alloc::vec::Vec::new();
        Properties::EMPTY.write(&mut out);
        assert_eq!(out, [0]);
        assert_eq!(Properties::default(), Properties::from_slice(&[]));
    }
}
