//! Whole exchanges, client and server together: the RFC 7677 test vector on each side, then what an
//! attacker or a broken peer might send.

use crate::{ClientFirst, Error, ServerExpectClientFinal, StoredCredentials, client_first, nonce};

// RFC 7677 §3: user "user", password "pencil", these nonces and salt, 4096 iterations.
const CLIENT_NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
const SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
const SALT_BASE64: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";
const CLIENT_FIRST: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
const SERVER_FIRST: &str =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                            p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

fn rfc_credentials(password: &str) -> StoredCredentials {
    let salt = crate::base64::decode(SALT_BASE64).expect("the RFC's salt is base64");
    StoredCredentials::derive(password, &salt, 4096).expect("derive")
}

/// The server, with the RFC's credentials, having read `client_first` and sent server-first.
fn server_after(client_first: &[u8], password: &str) -> (ServerExpectClientFinal, Vec<u8>) {
    let first = ClientFirst::parse(client_first).expect("client-first");
    assert_eq!(first.user(), "user");
    first
        .challenge(&rfc_credentials(password), SERVER_NONCE)
        .expect("challenge")
}

#[test]
fn the_client_produces_the_rfc_7677_messages() {
    let (state, first) = client_first("user", "pencil", CLIENT_NONCE).expect("start");
    assert_eq!(first, CLIENT_FIRST.as_bytes());
    let (state, last) = state.server_first(SERVER_FIRST.as_bytes()).expect("proof");
    assert_eq!(String::from_utf8_lossy(&last), CLIENT_FINAL);
    assert_eq!(state.server_final(SERVER_FINAL.as_bytes()), Ok(()));
}

#[test]
fn the_server_produces_the_rfc_7677_messages() {
    let (state, first) = server_after(CLIENT_FIRST.as_bytes(), "pencil");
    assert_eq!(String::from_utf8_lossy(&first), SERVER_FIRST);
    let verified = state
        .client_final(CLIENT_FINAL.as_bytes())
        .expect("verified");
    assert_eq!(verified.user(), "user");
    assert_eq!(
        String::from_utf8_lossy(verified.server_final()),
        SERVER_FINAL
    );
}

#[test]
fn a_wrong_password_is_an_invalid_proof() {
    // The server knows "pencil"; the client says "pen".
    let (client, first) = client_first("user", "pen", CLIENT_NONCE).expect("start");
    let (server, challenge) = server_after(&first, "pencil");
    let (_, last) = client
        .server_first(&challenge)
        .expect("the client cannot tell yet");
    assert_eq!(server.client_final(&last), Err(Error::InvalidProof));
}

#[test]
fn an_unknown_user_fails_like_a_wrong_password() {
    let (client, first) = client_first("nobody", "pencil", CLIENT_NONCE).expect("start");
    let parsed = ClientFirst::parse(&first).expect("client-first");
    let stand_in = StoredCredentials::unknown_user(parsed.user(), b"broker secret");
    let (server, challenge) = parsed
        .challenge(&stand_in, SERVER_NONCE)
        .expect("challenge");
    let (_, last) = client
        .server_first(&challenge)
        .expect("looks like any server-first");
    assert_eq!(server.client_final(&last), Err(Error::InvalidProof));
}

#[test]
fn a_tampered_server_signature_is_refused() {
    let (state, _) = client_first("user", "pencil", CLIENT_NONCE).expect("start");
    let (state, _) = state.server_first(SERVER_FIRST.as_bytes()).expect("proof");
    // One bit of the signature flipped: the first character, '6' (58), becomes '7' (59).
    let tampered = SERVER_FINAL.replacen('6', "7", 1);
    assert_eq!(
        state.clone().server_final(tampered.as_bytes()),
        Err(Error::InvalidServerSignature)
    );
    // A server that knows other credentials (an impostor) signs differently too.
    let (impostor, _) = server_after(CLIENT_FIRST.as_bytes(), "not pencil");
    let (client, _) = client_first("user", "not pencil", CLIENT_NONCE).expect("start");
    let (_, last) = client.server_first(SERVER_FIRST.as_bytes()).expect("proof");
    let verified = impostor.client_final(&last).expect("its own client");
    assert_eq!(
        state.clone().server_final(verified.server_final()),
        Err(Error::InvalidServerSignature)
    );
    assert_eq!(
        state.server_final(b"e=other-error"),
        Err(Error::ServerRejected)
    );
}

#[test]
fn a_server_nonce_that_does_not_extend_the_clients_is_refused() {
    let (state, _) = client_first("user", "pencil", CLIENT_NONCE).expect("start");
    let other = SERVER_FIRST.replacen("rOpr", "XXXX", 1);
    assert_eq!(
        state.clone().server_first(other.as_bytes()).err(),
        Some(Error::NonceMismatch)
    );
    // The client's nonce alone, with nothing of the server's.
    let echo = format!("r={CLIENT_NONCE},s={SALT_BASE64},i=4096");
    assert_eq!(
        state.server_first(echo.as_bytes()).err(),
        Some(Error::NonceMismatch)
    );
}

#[test]
fn a_client_final_with_another_nonce_is_refused() {
    let (server, _) = server_after(CLIENT_FIRST.as_bytes(), "pencil");
    let replayed = CLIENT_FINAL.replacen("%hvY", "%hvZ", 1);
    assert_eq!(
        server.client_final(replayed.as_bytes()).err(),
        Some(Error::NonceMismatch)
    );
}

#[test]
fn a_client_final_that_changes_the_channel_binding_is_refused() {
    let (server, _) = server_after(CLIENT_FIRST.as_bytes(), "pencil");
    // base64("y,,") after a client-first that said n,,.
    let changed = CLIENT_FINAL.replacen("c=biws", "c=eSws", 1);
    assert_eq!(
        server.client_final(changed.as_bytes()).err(),
        Some(Error::ChannelBindingMismatch)
    );
}

#[test]
fn the_iteration_count_must_be_within_bounds() {
    for count in ["4095", "10000001"] {
        let (state, _) = client_first("user", "pencil", CLIENT_NONCE).expect("start");
        let message = SERVER_FIRST.replacen("i=4096", &format!("i={count}"), 1);
        assert_eq!(
            state.server_first(message.as_bytes()).err(),
            Some(Error::IterationCount),
            "{count}"
        );
    }
}

#[test]
fn user_names_and_passwords_outside_printable_ascii_are_refused_not_mangled() {
    assert_eq!(
        client_first("us\u{e9}r", "pencil", CLIENT_NONCE).err(),
        Some(Error::NotAscii)
    );
    assert_eq!(
        client_first("user", "penc\u{ef}l", CLIENT_NONCE).err(),
        Some(Error::NotAscii)
    );
    assert_eq!(
        ClientFirst::parse("n,,n=us\u{e9}r,r=abc".as_bytes()).err(),
        Some(Error::NotAscii)
    );
    assert!(matches!(
        client_first("user", "pencil", "has,comma"),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn user_names_with_commas_and_equals_signs_survive_the_exchange() {
    let nonce = nonce().expect("random");
    let (client, first) = client_first("a,b=c", "pencil", &nonce).expect("start");
    let parsed = ClientFirst::parse(&first).expect("client-first");
    assert_eq!(parsed.user(), "a,b=c");
    let credentials = StoredCredentials::generate("pencil", 4096).expect("generate");
    let (server, challenge) = parsed.challenge(&credentials, "srv").expect("challenge");
    let (client, last) = client.server_first(&challenge).expect("proof");
    let verified = server.client_final(&last).expect("verified");
    assert_eq!(verified.user(), "a,b=c");
    assert_eq!(client.server_final(verified.server_final()), Ok(()));
}

/// Hostile input: every prefix of every valid message, and every single-byte change of it, is
/// answered with a result, never a panic (no slicing past an end, no unwrap on peer bytes).
#[test]
fn malformed_messages_never_panic() {
    let mutations = |message: &str| {
        let bytes = message.as_bytes().to_vec();
        let mut all: Vec<Vec<u8>> = (0..=bytes.len()).map(|n| bytes[..n].to_vec()).collect();
        for index in 0..bytes.len() {
            for replacement in [b',', b'=', 0x00, 0xFF, b'a'] {
                let mut changed = bytes.clone();
                changed[index] = replacement;
                all.push(changed);
            }
        }
        all
    };
    for data in mutations(CLIENT_FIRST) {
        let _ = ClientFirst::parse(&data)
            .and_then(|first| first.challenge(&rfc_credentials("pencil"), SERVER_NONCE));
    }
    let (server, _) = server_after(CLIENT_FIRST.as_bytes(), "pencil");
    for data in mutations(CLIENT_FINAL) {
        let result = server.clone().client_final(&data);
        assert!(result.is_err() || data == CLIENT_FINAL.as_bytes());
    }
    let (client, _) = client_first("user", "pencil", CLIENT_NONCE).expect("start");
    // Mutating the iteration count may ask for billions of iterations: the bound refuses them
    // before any work is done, which this loop relies on to finish.
    for data in mutations(SERVER_FIRST) {
        let _ = client.clone().server_first(&data);
    }
    let (client, _) = client.server_first(SERVER_FIRST.as_bytes()).expect("proof");
    for data in mutations(SERVER_FINAL) {
        let result = client.clone().server_final(&data);
        assert!(result.is_err() || data == SERVER_FINAL.as_bytes());
    }
}

#[test]
fn nonces_are_fresh_and_printable() {
    let (a, b) = (nonce().expect("random"), nonce().expect("random"));
    assert_ne!(a, b);
    assert_eq!(a.len(), 24);
    assert!(crate::message::valid_nonce(&a));
}
