//! What the workspace's command-line tools share, and nothing else: logging to stderr, the
//! `--version` line, and [`with_shared_options!`], which declares several argh argument structs
//! that begin with the same block of options.
//!
//! # Why a crate of its own
//!
//! The tools live in two crates: `mqtt-pub` / `mqtt-sub` in `mqtt-client`, and `mqttsn-gateway`,
//! `mqttsn-pub` / `mqttsn-sub` in `mqttsn-gateway`. The gateway depends on the client library for
//! its broker side, but a tool helper is no part of an MQTT client's API, so putting the shared
//! code in `mqtt-client` would make the gateway reach into the client's internals (and would make
//! those internals public API). The reverse dependency would be a cycle. A third crate, depending
//! on neither, is the one place both can use without knowing about each other; it is not
//! published and holds no protocol code.
//!
//! argh cannot flatten one struct into another, so a shared block of options is a macro that
//! writes the same fields at the start of each struct. The option sets themselves differ between
//! the two families of tools (mosquitto's for MQTT, mqtt-sn-tools' for MQTT-SN: `-k` defaults to
//! 60 in one and 10 in the other), so each crate declares its own block with the macro.

/// Turns on logging to stderr: at debug level with `debug` (the tools' `-d`), else as `RUST_LOG`
/// says, warnings by default. `timestamps` keeps env_logger's time stamps (the gateway, a
/// long-running server) or drops them (the one-shot mosquitto-style tools, whose output is read
/// by people at a terminal).
pub fn init_logging(debug: bool, timestamps: bool) {
    let default = if debug { "debug" } else { "warn" };
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default));
    if !timestamps {
        builder.format_timestamp(None);
    }
    // A second call (tests run several tools in one process) keeps the first logger.
    let _ = builder.try_init();
}

/// The line `--version` prints: the tool's name, the package in parentheses if given
/// (`mqtt-pub (mqtt-client) 0.1.0`, as mosquitto's tools name their project), and the version.
/// Callers pass `env!("CARGO_PKG_NAME")` and `env!("CARGO_PKG_VERSION")` of their own crate.
pub fn version_line(tool: &str, package: Option<&str>, version: &str) -> String {
    match package {
        Some(package) => format!("{tool} ({package}) {version}"),
        None => format!("{tool} {version}"),
    }
}

/// Declares argh argument structs that all start with the same fields.
///
/// ```
/// use argh::FromArgs;
///
/// tool_support::with_shared_options! {
///     shared {
///         /// the host
///         #[argh(option, short = 'h', default = "String::from(\"localhost\")")]
///         pub host: String,
///     }
///     /// Publish.
///     #[derive(FromArgs, Debug)]
///     pub struct Pub {
///         /// the message
///         #[argh(option, short = 'm')]
///         pub message: String,
///     }
///     /// Subscribe.
///     #[derive(FromArgs, Debug)]
///     pub struct Sub {}
/// }
///
/// let parsed = Pub::from_args(&["pub"], &["-h", "broker", "-m", "hi"]).expect("valid");
/// assert_eq!((parsed.host.as_str(), parsed.message.as_str()), ("broker", "hi"));
/// assert_eq!(Sub::from_args(&["sub"], &[]).expect("valid").host, "localhost");
/// ```
#[macro_export]
macro_rules! with_shared_options {
    (shared { $($shared:tt)* }) => {};
    (
        shared { $($shared:tt)* }
        $(#[$attr:meta])*
        $vis:vis struct $name:ident { $($own:tt)* }
        $($rest:tt)*
    ) => {
        $(#[$attr])*
        $vis struct $name {
            $($shared)*
            $($own)*
        }
        $crate::with_shared_options! { shared { $($shared)* } $($rest)* }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_names_the_package_when_given() {
        assert_eq!(
            version_line("mqtt-pub", Some("mqtt-client"), "1.2.3"),
            "mqtt-pub (mqtt-client) 1.2.3"
        );
        assert_eq!(
            version_line("mqttsn-gateway", None, "1.2.3"),
            "mqttsn-gateway 1.2.3"
        );
    }
}
