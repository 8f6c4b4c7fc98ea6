//! `mqtt-sub`'s run: subscribe, then print what arrives until `-C`, `-W` or `-E` says to stop.

use std::io::Write;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mqtt_client::v5::{SubscribeOptions, SubscribeProperties};
use mqtt_client::{Client, Error, Notification, QoS, SubAckReturnCode};
use mqtt_codec::{TopicFilter, TopicName};

use super::Failure;
use super::connection::Url;
use super::format::format_message_with;
use super::options::SubArgs;

/// `mqtt-sub`: connect, subscribe, print messages until `-C` or `-W` says to stop.
pub(crate) fn run_sub(args: &SubArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let mut topics = args.topic.clone();
    if let Some(url) = &args.url {
        topics.push(Url::parse(url).map_err(Failure::Usage)?.topic);
    }
    if topics.is_empty() {
        return Err(Failure::Usage(
            "at least one topic filter (-t) must be given".into(),
        ));
    }
    if args
        .random_filter
        .is_some_and(|percent| !(0.0..=100.0).contains(&percent))
    {
        return Err(Failure::Usage(
            "--random-filter must be between 0 and 100".into(),
        ));
    }
    for filter in topics
        .iter()
        .chain(&args.filter_out)
        .chain(&args.unsubscribe)
    {
        TopicFilter::new(filter)
            .map_err(|error| Failure::Usage(format!("invalid topic filter {filter:?}: {error}")))?;
    }
    if args.count == Some(0) {
        return Err(Failure::Usage("-C needs a count of at least 1".into()));
    }
    let options = args
        .connection()
        .connect_options()
        .map_err(Failure::Usage)?
        // Like mosquitto_sub, keep going when the connection drops.
        .reconnect(Duration::from_secs(1), Duration::from_secs(30));
    let client = Client::connect(options.build()?)?;
    let result = receive(&client, args, &topics, out);
    client.disconnect();
    result
}

fn receive(
    client: &Client,
    args: &SubArgs,
    topics: &[String],
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let notifications = client.notifications();
    let filters: Vec<(&str, QoS)> = topics
        .iter()
        .map(|filter| (filter.as_str(), args.qos.0))
        .collect();
    let v5 = args.connection().v5.map(|v5| v5.properties);
    if let Some(v5) = &v5 {
        // At 5.0 the SUBACK says why a filter was refused.
        let with_options: Vec<(&str, SubscribeOptions)> = filters
            .iter()
            .map(|(filter, qos)| (*filter, SubscribeOptions::qos(*qos)))
            .collect();
        let properties = SubscribeProperties {
            subscription_identifier: None,
            user_properties: v5.subscribe.clone(),
        };
        let codes = client.subscribe_with(&with_options, properties)?.wait()?;
        for ((filter, _), code) in filters.iter().zip(codes) {
            if code.is_failure() {
                log::warn!("subscription to {filter} refused by the broker: {code}");
            } else {
                log::debug!("subscribed to {filter}: {code}");
            }
        }
    } else {
        let codes = client.subscribe(&filters)?.wait()?;
        for ((filter, _), code) in filters.iter().zip(codes) {
            if code == SubAckReturnCode::Failure {
                log::warn!("subscription to {filter} refused by the broker");
            } else {
                log::debug!("subscribed to {filter}: {code:?}");
            }
        }
    }
    if !args.unsubscribe.is_empty() {
        let filters: Vec<&str> = args.unsubscribe.iter().map(String::as_str).collect();
        let user_properties = v5.map(|v5| v5.unsubscribe).unwrap_or_default();
        let codes = client.unsubscribe_with(&filters, user_properties)?.wait()?;
        for (filter, code) in filters.iter().zip(codes) {
            if code.is_failure() {
                log::warn!("unsubscribe from {filter} refused by the broker: {code}");
            } else {
                log::debug!("unsubscribed from {filter}: {code}");
            }
        }
    }
    if args.exit_after_sub {
        return Ok(());
    }
    let mut random = Random::seeded();
    let deadline = args
        .timeout
        .map(|seconds| Instant::now() + Duration::from_secs(seconds));
    let mut received = 0;
    loop {
        let next = match deadline {
            Some(deadline) => notifications
                .recv_deadline(deadline)
                .map_err(|error| error.is_timeout()),
            None => notifications.recv().map_err(|_| false),
        };
        let message = match next {
            Ok(Notification::Message(message)) => message,
            Ok(Notification::ConnectionLost(error)) => {
                log::warn!("{error}");
                continue;
            }
            Ok(Notification::Connected { .. }) => continue,
            Err(true) => return Err(Failure::Timeout),
            Err(false) => {
                return Err(client
                    .close_reason()
                    .map_or(Failure::Client(Error::Closed), Failure::Client));
            }
        };
        if args.retained_only && !message.retain {
            return Ok(());
        }
        if args.skip_retained && message.retain {
            continue;
        }
        let filtered = TopicName::new(&message.topic).is_ok_and(|name| {
            args.filter_out
                .iter()
                .filter_map(|filter| TopicFilter::new(filter).ok())
                .any(|filter| filter.matches(name))
        });
        if filtered {
            continue;
        }
        if args.remove_retained && message.retain {
            // An empty retained message clears the topic's [MQTT-3.3.1-10]; at QoS 1, as mosquitto.
            client
                .publish(&message.topic, Vec::new(), QoS::AtLeastOnce, true)?
                .wait()?;
        }
        if args
            .random_filter
            .is_some_and(|percent| random.percent() >= percent)
        {
            continue;
        }
        let eol = !args.no_eol;
        let mut line = match &args.format {
            Some(format) => {
                let mut line =
                    format_message_with(format, &message, SystemTime::now(), args.pretty);
                if eol {
                    line.push(b'\n');
                }
                line
            }
            // mosquitto_sub prints nothing at all for an empty payload, and `topic (null)` with -v
            // (both without the newline under -N).
            None if message.payload.is_empty() && !(args.verbose && eol) => Vec::new(),
            None if message.payload.is_empty() => {
                format!("{} (null)\n", message.topic).into_bytes()
            }
            None if args.verbose => {
                let mut line = message.topic.clone().into_bytes();
                line.push(b' ');
                line.extend_from_slice(&message.payload);
                line
            }
            None => message.payload.clone(),
        };
        if args.format.is_none() && eol && !message.payload.is_empty() {
            line.push(b'\n');
        }
        out.write_all(&line)?;
        out.flush()?;
        received += 1;
        if args.count.is_some_and(|count| received >= count) {
            return Ok(());
        }
    }
}

/// A small xorshift generator for `--random-filter`: which messages are dropped needs no
/// cryptographic quality, only a different choice each run.
struct Random(u64);

impl Random {
    fn seeded() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        Self((nanos as u64 ^ u64::from(std::process::id()).rotate_left(32)) | 1)
    }

    /// A number in [0, 100).
    fn percent(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64 * 100.0
    }
}

#[cfg(test)]
mod tests {
    use super::Random;

    #[test]
    fn random_percentages_stay_in_range_and_spread() {
        let mut random = Random::seeded();
        let draws: Vec<f64> = (0..1000).map(|_| random.percent()).collect();
        assert!(draws.iter().all(|draw| (0.0..100.0).contains(draw)));
        // Not a statistical test: only that both halves are reached, so 50 keeps some and drops some.
        assert!(draws.iter().any(|draw| *draw < 50.0) && draws.iter().any(|draw| *draw >= 50.0));
    }
}
