//! `mqtt-conformance`: run the conformance suite against a broker, or the MQTT-SN gateway suite
//! against a gateway, at an address.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use argh::FromArgs;
use conformance::{Context, Version, report};

/// Check an MQTT 3.1 / 3.1.1 / 5.0 broker, or an MQTT-SN 1.2 gateway, against the specification,
/// statement by statement.
///
/// Every check names the statements it verifies. With --sn-port the run is the gateway suite, and
/// --host/--port name the broker behind the gateway (the checks that observe from the broker's side
/// are skipped when --port is not given). The exit code is 0 when every check passed, was
/// skipped, or failed in a way the --known-deviations file lists; 1 when any other check failed; 2
/// for a usage or file error.
#[derive(FromArgs)]
struct Args {
    /// broker host (default 127.0.0.1)
    #[argh(option, default = "String::from(\"127.0.0.1\")")]
    host: String,
    /// broker port (default 1883; in a gateway run, no default: see --sn-port)
    #[argh(option)]
    port: Option<u16>,
    /// MQTT-SN gateway host (default 127.0.0.1)
    #[argh(option, default = "String::from(\"127.0.0.1\")")]
    sn_host: String,
    /// MQTT-SN gateway UDP port: run the gateway suite instead of the broker suite
    #[argh(option)]
    sn_port: Option<u16>,
    /// a predefined topic the gateway knows for every client, as ID=NAME (repeatable); the
    /// predefined-topic checks use the first and are skipped without one
    #[argh(option)]
    sn_predefined: Vec<String>,
    /// the multicast group ADDRESS:PORT the gateway answers SEARCHGW on (its MulticastIP and
    /// MulticastPortNo); the group discovery check is skipped without it
    #[argh(option)]
    sn_group: Option<std::net::SocketAddr>,
    /// user name for every connection the suite makes
    #[argh(option)]
    username: Option<String>,
    /// password, with --username
    #[argh(option)]
    password: Option<String>,
    /// protocol version: 3.1, 3.1.1, 5 (the 5.0 suite, also written 5.0) or all (default all: the
    /// three in turn)
    #[argh(option, default = "String::from(\"all\")")]
    version: String,
    /// run only checks whose name contains this text or that verify this statement id (repeatable)
    #[argh(option)]
    filter: Vec<String>,
    /// list the checks and their statement ids instead of running them (with --format json: as JSON)
    #[argh(switch)]
    list: bool,
    /// output format: human, json or junit (default human)
    #[argh(option, default = "String::from(\"human\")")]
    format: String,
    /// seconds to wait for any one answer from the broker (default 3)
    #[argh(option, default = "3.0")]
    timeout: f64,
    /// file of failures this broker is known to have (see the crate docs for the format)
    #[argh(option)]
    known_deviations: Option<String>,
    /// connect with TLS, trusting the CA certificates in this PEM file
    #[argh(option)]
    cafile: Option<PathBuf>,
    /// connect with TLS, presenting this client certificate chain (PEM; needs --key)
    #[argh(option)]
    cert: Option<PathBuf>,
    /// the private key of --cert (PEM)
    #[argh(option)]
    key: Option<PathBuf>,
    /// connect with TLS and accept a server certificate that does not name --host (the chain is
    /// still verified); with no --cafile, the system's CA bundle is trusted
    #[argh(switch)]
    insecure: bool,
    /// connect with TLS, trusting the system's CA bundle (implied by the other TLS options)
    #[argh(switch)]
    tls: bool,
}

fn main() -> ExitCode {
    let args: Args = argh::from_env();
    match run(args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("mqtt-conformance: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> Result<ExitCode, String> {
    let versions = match args.version.as_str() {
        "3.1" => vec![Version::V31],
        "3.1.1" => vec![Version::V311],
        "5" | "5.0" => vec![Version::V5],
        "all" => vec![Version::V31, Version::V311, Version::V5],
        other => {
            return Err(format!(
                "--version takes 3.1, 3.1.1, 5 or all, not `{other}`"
            ));
        }
    };
    if !(args.timeout > 0.0 && args.timeout.is_finite()) {
        return Err("--timeout takes a positive number of seconds".to_owned());
    }
    let known = match &args.known_deviations {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|error| format!("{path}: {error}"))?;
            conformance::deviations::parse(&text).map_err(|error| format!("{path}: {error}"))?
        }
        None => Vec::new(),
    };
    let client_auth = match (args.cert, args.key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => return Err("--cert and --key go together".to_owned()),
    };
    let tls = if args.tls || args.insecure || args.cafile.is_some() || client_auth.is_some() {
        let options = conformance::tls::TlsOptions {
            ca_file: args.cafile,
            client_auth,
            insecure: args.insecure,
        };
        Some(conformance::tls::client_config(&options)?)
    } else {
        None
    };
    let checks: Vec<_> = conformance::checks()
        .into_iter()
        .filter(|check| conformance::selected(check, &args.filter))
        .collect();
    if args.list {
        match args.format.as_str() {
            "human" => {}
            "json" => {
                print!("{}", report::list_json(&checks));
                return Ok(ExitCode::SUCCESS);
            }
            other => {
                return Err(format!(
                    "--list takes --format human or json, not `{other}`"
                ));
            }
        }
        for check in &checks {
            println!(
                "{:<40} {:<28} {}\n{:<40} {}",
                check.name,
                check.section,
                check.ids.join(" "),
                "",
                check.summary
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let gateway = match args.sn_port {
        Some(sn_port) => Some(conformance::GatewayTarget {
            address: resolve(&args.sn_host, sn_port)?,
            predefined: args
                .sn_predefined
                .iter()
                .map(|entry| parse_predefined(entry))
                .collect::<Result<_, _>>()?,
            broker: args.port.is_some(),
            group: args.sn_group,
        }),
        None if !args.sn_predefined.is_empty() => {
            return Err("--sn-predefined needs --sn-port".to_owned());
        }
        None => None,
    };
    // A gateway run goes once; its broker-side observers speak 3.1.1.
    let versions = if gateway.is_some() {
        vec![Version::V311]
    } else {
        versions
    };
    let mut results = Vec::new();
    for version in versions {
        let mut context = Context::new(
            &args.host,
            args.port.unwrap_or(1883),
            version,
            Duration::from_secs_f64(args.timeout),
        );
        context.user_name.clone_from(&args.username);
        context.password.clone_from(&args.password);
        context.tls.clone_from(&tls);
        context.gateway.clone_from(&gateway);
        results.extend(conformance::run(&context, &checks, &known));
    }
    let output = match args.format.as_str() {
        "human" => report::human(&results),
        "json" => report::json(&results),
        "junit" => report::junit(&results),
        other => {
            return Err(format!(
                "--format takes human, json or junit, not `{other}`"
            ));
        }
    };
    print!("{output}");
    Ok(
        if results.iter().all(conformance::CheckResult::is_acceptable) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
}

/// The gateway's UDP address.
fn resolve(host: &str, port: u16) -> Result<std::net::SocketAddr, String> {
    use std::net::ToSocketAddrs;
    (host, port)
        .to_socket_addrs()
        .map_err(|error| format!("--sn-host {host}: {error}"))?
        .next()
        .ok_or_else(|| format!("--sn-host {host}: no address"))
}

/// `ID=NAME`, with ID a topic id from 1 to 65534 [SN-5.3.11-1].
fn parse_predefined(entry: &str) -> Result<(u16, String), String> {
    let invalid =
        || format!("--sn-predefined takes ID=NAME with ID from 1 to 65534, not `{entry}`");
    let (id, name) = entry.split_once('=').ok_or_else(invalid)?;
    let id: u16 = id.trim().parse().map_err(|_| invalid())?;
    if id == 0 || id == 0xFFFF || name.is_empty() {
        return Err(invalid());
    }
    Ok((id, name.to_owned()))
}
