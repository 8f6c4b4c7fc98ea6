//! Who may connect, publish and subscribe: the chain of authenticators and authorisers
//! (`auth.rs`), mosquitto ACL files (`acl.rs`) and password files (`password_file.rs`).

pub(crate) mod acl;
pub(crate) mod auth;
pub(crate) mod password_file;
