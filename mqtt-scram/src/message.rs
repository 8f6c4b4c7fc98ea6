//! The four messages of RFC 5802 §7, parsed from and written to text: which attributes come in which
//! order, the `saslname` escapes of a user name, the printable nonces, base64 fields. Every parser
//! takes the peer's bytes and answers an [`Error`], never panics. No cryptography here
//! (`crypto.rs`), and no state (`client.rs`, `server.rs`).

use std::num::NonZeroU32;

use crate::crypto::Block;
use crate::{Error, base64};

/// The GS2 header of a client that does no channel binding: `n,,`. Its base64 is the `c=biws` of
/// client-final.
pub(crate) const GS2_HEADER: &str = "n,,";

/// The client's first message, as the server reads it.
#[derive(Debug)]
pub(crate) struct ClientFirstMessage<'a> {
    /// `n,,` or `y,,`: repeated, in base64, as client-final's channel binding.
    pub(crate) gs2_header: &'a str,
    /// The user name, `=2C` and `=3D` unescaped.
    pub(crate) user: String,
    /// The client's nonce.
    pub(crate) nonce: &'a str,
    /// `client-first-message-bare`, the first part of the `AuthMessage`.
    pub(crate) bare: &'a str,
}

/// The server's first message, as the client reads it.
#[derive(Debug)]
pub(crate) struct ServerFirstMessage<'a> {
    /// The client's nonce followed by the server's.
    pub(crate) nonce: &'a str,
    pub(crate) salt: Vec<u8>,
    pub(crate) iterations: u32,
}

/// The client's final message, as the server reads it.
#[derive(Debug)]
pub(crate) struct ClientFinalMessage<'a> {
    /// The decoded `c=` attribute: the GS2 header of client-first (no channel binding data).
    pub(crate) channel_binding: Vec<u8>,
    pub(crate) nonce: &'a str,
    pub(crate) proof: Block,
    /// `client-final-message-without-proof`, the last part of the `AuthMessage`.
    pub(crate) without_proof: &'a str,
}

/// The server's final message, as the client reads it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ServerFinalMessage {
    /// `v=`: the server's signature.
    Verifier(Block),
    /// `e=`: the server's refusal.
    Error,
}

/// The bytes of a message as text: SCRAM messages are UTF-8 (RFC 5802 §7).
pub(crate) fn text(bytes: &[u8]) -> Result<&str, Error> {
    std::str::from_utf8(bytes).map_err(|_| Error::Malformed("not UTF-8"))
}

/// Reads client-first: `gs2-header client-first-message-bare`.
pub(crate) fn parse_client_first(message: &str) -> Result<ClientFirstMessage<'_>, Error> {
    let mut parts = message.splitn(3, ',');
    let flag = parts.next().unwrap_or_default();
    let authzid = parts
        .next()
        .ok_or(Error::Malformed("no GS2 header (expected n,,)"))?;
    let bare = parts
        .next()
        .ok_or(Error::Malformed("no GS2 header (expected n,,)"))?;
    match flag {
        // `y`: the client could bind but believes we cannot, which is true; no downgrade to detect.
        "n" | "y" => {}
        flag if flag.starts_with("p=") => return Err(Error::ChannelBindingUnsupported),
        _ => {
            return Err(Error::Malformed(
                "GS2 channel binding flag is not n, y or p=",
            ));
        }
    }
    match authzid {
        "" => {}
        authzid if authzid.starts_with("a=") => return Err(Error::AuthzidUnsupported),
        _ => return Err(Error::Malformed("GS2 authzid is not empty or a=")),
    }
    let gs2_header = &message[..flag.len() + authzid.len() + 2];
    let mut attributes = bare.split(',');
    let first = attributes.next().unwrap_or_default();
    if first.starts_with("m=") {
        return Err(Error::UnsupportedExtension);
    }
    let user = saslname(attribute(Some(first), 'n', "no n= user name")?)?;
    let nonce = nonce(attribute(attributes.next(), 'r', "no r= nonce")?)?;
    // Optional extensions may follow; none is known, so they are ignored (RFC 5802 §5.1).
    Ok(ClientFirstMessage {
        gs2_header,
        user,
        nonce,
        bare,
    })
}

/// Writes client-first-bare: `n=<user>,r=<nonce>`.
pub(crate) fn client_first_bare(user: &str, nonce: &str) -> String {
    format!("n={},r={nonce}", escape(user))
}

/// Reads server-first: `r=<nonce>,s=<salt>,i=<iterations>`.
pub(crate) fn parse_server_first(message: &str) -> Result<ServerFirstMessage<'_>, Error> {
    let mut attributes = message.split(',');
    let first = attributes.next().unwrap_or_default();
    if first.starts_with("m=") {
        return Err(Error::UnsupportedExtension);
    }
    let nonce = nonce(attribute(Some(first), 'r', "no r= nonce")?)?;
    let salt = base64::decode(attribute(attributes.next(), 's', "no s= salt")?)
        .ok_or(Error::Malformed("salt is not base64"))?;
    if salt.is_empty() {
        return Err(Error::Malformed("empty salt"));
    }
    let iterations = attribute(attributes.next(), 'i', "no i= iteration count")?;
    let iterations = decimal(iterations).ok_or(Error::Malformed("iteration count not a number"))?;
    Ok(ServerFirstMessage {
        nonce,
        salt,
        iterations,
    })
}

/// Writes server-first.
pub(crate) fn server_first(nonce: &str, salt: &[u8], iterations: NonZeroU32) -> String {
    format!("r={nonce},s={},i={iterations}", base64::encode(salt))
}

/// Reads client-final: `c=<base64 GS2 header>,r=<nonce>[,extensions],p=<proof>`.
pub(crate) fn parse_client_final(message: &str) -> Result<ClientFinalMessage<'_>, Error> {
    let (without_proof, proof) = message
        .rsplit_once(',')
        .ok_or(Error::Malformed("no p= proof"))?;
    let proof = proof_block(attribute(Some(proof), 'p', "no p= proof last")?)?;
    let mut attributes = without_proof.split(',');
    let channel_binding =
        base64::decode(attribute(attributes.next(), 'c', "no c= channel binding")?)
            .ok_or(Error::Malformed("channel binding is not base64"))?;
    let nonce = nonce(attribute(attributes.next(), 'r', "no r= nonce")?)?;
    Ok(ClientFinalMessage {
        channel_binding,
        nonce,
        proof,
        without_proof,
    })
}

/// Writes client-final-without-proof: `c=biws,r=<nonce>`.
pub(crate) fn client_final_without_proof(nonce: &str) -> String {
    format!("c={},r={nonce}", base64::encode(GS2_HEADER.as_bytes()))
}

/// Appends `,p=<proof>` to client-final-without-proof.
pub(crate) fn with_proof(without_proof: &str, proof: &Block) -> String {
    format!("{without_proof},p={}", base64::encode(proof))
}

/// Reads server-final: `v=<signature>` or `e=<error>`.
pub(crate) fn parse_server_final(message: &str) -> Result<ServerFinalMessage, Error> {
    let first = message.split(',').next().unwrap_or_default();
    if first.starts_with("e=") {
        return Ok(ServerFinalMessage::Error);
    }
    let signature = attribute(Some(first), 'v', "no v= verifier or e= error")?;
    Ok(ServerFinalMessage::Verifier(proof_block(signature)?))
}

/// Writes server-final with the server's signature.
pub(crate) fn server_final(signature: &Block) -> String {
    format!("v={}", base64::encode(signature))
}

/// Checks that `value` may be a nonce: printable ASCII without a comma (RFC 5802 §7, `printable`).
pub(crate) fn valid_nonce(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| (0x21..=0x7E).contains(&b) && b != b',')
}

/// Whether `text` is printable ASCII, the part of SASLprep's domain where it is the identity.
pub(crate) fn printable_ascii(text: &str) -> bool {
    text.bytes().all(|b| (0x20..=0x7E).contains(&b))
}

/// The value of attribute `name` in `part` (`name=value`), or `Malformed(missing)`.
fn attribute<'a>(
    part: Option<&'a str>,
    name: char,
    missing: &'static str,
) -> Result<&'a str, Error> {
    part.and_then(|part| part.strip_prefix(name))
        .and_then(|rest| rest.strip_prefix('='))
        .ok_or(Error::Malformed(missing))
}

fn nonce(value: &str) -> Result<&str, Error> {
    if valid_nonce(value) {
        Ok(value)
    } else {
        Err(Error::Malformed("nonce empty or not printable ASCII"))
    }
}

/// A base64 proof or signature of exactly one SHA-256 block.
fn proof_block(value: &str) -> Result<Block, Error> {
    let bytes = base64::decode(value).ok_or(Error::Malformed("proof is not base64"))?;
    <Block>::try_from(bytes.as_slice()).map_err(|_| Error::Malformed("proof is not 32 bytes"))
}

/// A positive decimal number without sign or leading zeros, that fits in a `u32`.
fn decimal(value: &str) -> Option<u32> {
    if value.is_empty() || value.starts_with('0') || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// A `saslname` unescaped: `=2C` is a comma, `=3D` an equals sign, any other `=` is malformed
/// (RFC 5802 §5.1). The result must be printable ASCII (see the crate doc on SASLprep).
fn saslname(value: &str) -> Result<String, Error> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('=') {
        out.push_str(&rest[..at]);
        match rest.get(at..at + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => {
                return Err(Error::Malformed(
                    "= in a user name not followed by 2C or 3D",
                ));
            }
        }
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    if out.is_empty() {
        return Err(Error::Malformed("empty user name"));
    }
    if !printable_ascii(&out) {
        return Err(Error::NotAscii);
    }
    Ok(out)
}

/// A user name as a `saslname`.
fn escape(user: &str) -> String {
    user.replace('=', "=3D").replace(',', "=2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_escape_and_unescape_commas_and_equals_signs() {
        assert_eq!(escape("a,b=c"), "a=2Cb=3Dc");
        assert_eq!(saslname("a=2Cb=3Dc").as_deref(), Ok("a,b=c"));
        for bad in ["a=", "a=2", "a=2D", "=", "a=3d"] {
            assert!(matches!(saslname(bad), Err(Error::Malformed(_))), "{bad:?}");
        }
        assert_eq!(saslname("caf\u{e9}"), Err(Error::NotAscii));
        assert_eq!(saslname("tab\there"), Err(Error::NotAscii));
    }

    #[test]
    fn client_first_needs_the_gs2_header_then_user_then_nonce() {
        let parsed = parse_client_first("n,,n=user,r=abc").expect("valid");
        assert_eq!(
            (
                parsed.gs2_header,
                parsed.user.as_str(),
                parsed.nonce,
                parsed.bare
            ),
            ("n,,", "user", "abc", "n=user,r=abc")
        );
        assert!(parse_client_first("y,,n=user,r=abc,x=ext").is_ok());
        assert_eq!(
            parse_client_first("p=tls-unique,,n=user,r=abc").err(),
            Some(Error::ChannelBindingUnsupported)
        );
        assert_eq!(
            parse_client_first("n,a=admin,n=user,r=abc").err(),
            Some(Error::AuthzidUnsupported)
        );
        assert_eq!(
            parse_client_first("n,,m=ext,n=user,r=abc").err(),
            Some(Error::UnsupportedExtension)
        );
        for bad in [
            "",
            "n",
            "n,",
            "n,,",
            "x,,n=user,r=abc",
            "n,,r=abc,n=user",
            "n,,n=user",
            "n,,n=user,r=",
            "n,,n=,r=abc",
            "n,b,n=user,r=abc",
        ] {
            assert!(
                matches!(parse_client_first(bad), Err(Error::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn server_first_needs_nonce_salt_and_a_positive_iteration_count() {
        let parsed = parse_server_first("r=abcdef,s=QSXCR+Q6sek8bf92,i=4096").expect("valid");
        assert_eq!((parsed.nonce, parsed.iterations), ("abcdef", 4096));
        for bad in [
            "r=abc,s=QSXCR+Q6sek8bf92",
            "r=abc,s=%%%,i=4096",
            "r=abc,s=,i=4096",
            "r=abc,s=QSXCR+Q6sek8bf92,i=0",
            "r=abc,s=QSXCR+Q6sek8bf92,i=-1",
            "r=abc,s=QSXCR+Q6sek8bf92,i=04096",
            "r=abc,s=QSXCR+Q6sek8bf92,i=99999999999",
            "s=QSXCR+Q6sek8bf92,r=abc,i=4096",
        ] {
            assert!(
                matches!(parse_server_first(bad), Err(Error::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn client_final_has_the_proof_last() {
        let proof = base64::encode(&[7; 32]);
        let message = format!("c=biws,r=abc,x=ext,p={proof}");
        let parsed = parse_client_final(&message).expect("valid");
        assert_eq!(parsed.without_proof, "c=biws,r=abc,x=ext");
        assert_eq!(parsed.proof, [7; 32]);
        assert_eq!(parsed.channel_binding, b"n,,");
        for bad in [
            "c=biws,r=abc".to_owned(),
            format!("r=abc,c=biws,p={proof}"),
            "c=biws,r=abc,p=AAAA".to_owned(),
            format!("c=***,r=abc,p={proof}"),
        ] {
            assert!(
                matches!(parse_client_final(&bad), Err(Error::Malformed(_))),
                "{bad:?}"
            );
        }
    }
}
