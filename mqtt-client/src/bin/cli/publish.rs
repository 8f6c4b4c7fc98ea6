//! `mqtt-pub`'s run: what to send (`-m`, `-f`, `-n`, `-s`, `-l`), then the acknowledgements.

use std::fs;
use std::io::BufRead;
use std::time::Duration;

use mqtt_client::Client;
use mqtt_codec::TopicName;

use super::Failure;
use super::connection::Url;
use super::options::PubArgs;

/// `mqtt-pub`: connect, publish, wait for the acknowledgements, disconnect.
pub(crate) fn run_pub(args: &PubArgs, stdin: &mut dyn BufRead) -> Result<(), Failure> {
    let url_topic = match &args.url {
        Some(url) => Some(Url::parse(url).map_err(Failure::Usage)?.topic),
        None => None,
    };
    let Some(topic) = args.topic.as_ref().or(url_topic.as_ref()) else {
        return Err(Failure::Usage(
            "both a topic (-t) and a message must be given".into(),
        ));
    };
    TopicName::new(topic)
        .map_err(|error| Failure::Usage(format!("invalid topic {topic:?}: {error}")))?;
    let sources = [
        args.message.is_some(),
        args.file.is_some(),
        args.stdin_line,
        args.null_message,
        args.stdin_file,
    ];
    match sources.iter().filter(|&&given| given).count() {
        0 => {
            return Err(Failure::Usage(
                "both a topic and a message (-m, -f, -l, -n or -s) must be given".into(),
            ));
        }
        1 => {}
        _ => {
            return Err(Failure::Usage(
                "only one of -m, -f, -l, -n and -s can be used".into(),
            ));
        }
    }
    let repeat = args.repeat.unwrap_or(1);
    if repeat == 0 {
        return Err(Failure::Usage("--repeat argument must be >0".into()));
    }
    let delay = match args.repeat_delay {
        None => Duration::ZERO,
        Some(seconds) => Duration::try_from_secs_f64(seconds).map_err(|_| {
            Failure::Usage("--repeat-delay must be a number of seconds, 0 or more".into())
        })?,
    };
    let mut options = args
        .connection()
        .connect_options()
        .map_err(Failure::Usage)?;
    if let Some(window) = args.max_inflight {
        if window == 0 {
            return Err(Failure::Usage("-M needs at least 1".into()));
        }
        options = options.max_inflight(window);
    }
    let connection = args.connection();
    let properties = connection
        .v5
        .as_ref()
        .map(|v5| v5.properties.publish.clone())
        .unwrap_or_default();
    let client = Client::connect(options.build()?)?;
    let qos = args.qos.0;
    let result = (|| {
        if args.stdin_line {
            let mut pending = Vec::new();
            for line in stdin.lines() {
                let line = line?;
                pending.push(client.publish_with(
                    topic,
                    line,
                    qos,
                    args.retain,
                    properties.clone(),
                )?);
            }
            for token in pending {
                token.wait()?;
            }
            return Ok(());
        }
        let payload = if let Some(message) = &args.message {
            message.clone().into_bytes()
        } else if let Some(file) = &args.file {
            fs::read(file)
                .map_err(|error| Failure::Usage(format!("cannot read {file}: {error}")))?
        } else if args.stdin_file {
            let mut payload = Vec::new();
            stdin.read_to_end(&mut payload)?;
            payload
        } else {
            Vec::new()
        };
        // mosquitto_pub --repeat: the same message again, each acknowledged before the delay.
        for round in 0..repeat {
            if round > 0 && !delay.is_zero() {
                std::thread::sleep(delay);
            }
            client
                .publish_with(topic, payload.clone(), qos, args.retain, properties.clone())?
                .wait()?;
        }
        Ok(())
    })();
    client.disconnect();
    result
}
