//! `rumqttc-generator HOST:PORT QOS PUBLISHERS PAYLOAD SECONDS`: open-loop load on one topic from
//! `PUBLISHERS` rumqttc clients to one rumqttc subscriber, the shape of `cargo xtask bench`'s
//! `overload-qosN-{1,16}to1-64b` scenarios: each publisher sends as fast as its client lets it, with
//! at most 20 unacknowledged QoS 1/2 messages (rumqttc's `inflight`), and the subscriber
//! acknowledges each message as it arrives. Prints the deliveries per second the subscriber saw
//! over the last `SECONDS` after one second of warm-up, and how many of the messages it counted
//! were out of sequence for their publisher (lost or reordered, at QoS 1/2 nothing should be lost).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

const TOPIC: &str = "bench/second-generator";

fn options(id: &str, host: &str, port: u16) -> MqttOptions {
    let mut options = MqttOptions::new(id, host, port);
    options.set_keep_alive(Duration::from_secs(60));
    options.set_clean_session(true);
    options.set_inflight(20);
    options.set_max_packet_size(1 << 20, 1 << 20);
    options
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 {
        eprintln!("usage: rumqttc-generator HOST:PORT QOS PUBLISHERS PAYLOAD SECONDS");
        std::process::exit(2);
    }
    let (host, port) = args[1].rsplit_once(':').expect("HOST:PORT");
    let port: u16 = port.parse().expect("a port");
    let qos = match args[2].as_str() {
        "0" => QoS::AtMostOnce,
        "1" => QoS::AtLeastOnce,
        "2" => QoS::ExactlyOnce,
        other => panic!("QoS {other}?"),
    };
    let publishers: usize = args[3].parse().expect("a publisher count");
    let payload_len: usize = args[4].parse().expect("a payload size");
    let seconds: u64 = args[5].parse().expect("seconds");

    let received = Arc::new(AtomicU64::new(0));
    let gaps = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));

    // The subscriber, subscribed before any publisher starts.
    let (subscriber, mut events) = AsyncClient::new(options("second-sub", host, port), 1024);
    subscriber.subscribe(TOPIC, qos).await.expect("subscribe");
    let (subscribed_tx, subscribed_rx) = tokio::sync::oneshot::channel();
    let counting = {
        let received = Arc::clone(&received);
        let gaps = Arc::clone(&gaps);
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let mut subscribed = Some(subscribed_tx);
            let mut last = vec![0u64; publishers];
            while !stop.load(Ordering::Relaxed) {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(tx) = subscribed.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(publish))) => {
                        received.fetch_add(1, Ordering::Relaxed);
                        // Payload: publisher index (u32) and sequence number (u64), then padding.
                        if publish.payload.len() >= 12 {
                            let who = u32::from_be_bytes(publish.payload[0..4].try_into().unwrap());
                            let seq =
                                u64::from_be_bytes(publish.payload[4..12].try_into().unwrap());
                            if let Some(previous) = last.get_mut(who as usize) {
                                if seq != *previous + 1 {
                                    gaps.fetch_add(1, Ordering::Relaxed);
                                }
                                *previous = seq;
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(error) => panic!("subscriber: {error}"),
                }
            }
        })
    };
    subscribed_rx.await.expect("SUBACK");

    let mut tasks = Vec::new();
    for index in 0..publishers {
        let (client, mut eventloop) =
            AsyncClient::new(options(&format!("second-pub-{index}"), host, port), 64);
        let stop_loop = Arc::clone(&stop);
        tasks.push(tokio::spawn(async move {
            while !stop_loop.load(Ordering::Relaxed) {
                if let Err(error) = eventloop.poll().await {
                    if !stop_loop.load(Ordering::Relaxed) {
                        panic!("publisher: {error}");
                    }
                    return;
                }
            }
        }));
        let stop_publishing = Arc::clone(&stop);
        tasks.push(tokio::spawn(async move {
            let mut seq = 0u64;
            let mut payload = vec![0u8; payload_len.max(12)];
            payload[0..4].copy_from_slice(&(index as u32).to_be_bytes());
            while !stop_publishing.load(Ordering::Relaxed) {
                seq += 1;
                payload[4..12].copy_from_slice(&seq.to_be_bytes());
                if client
                    .publish(TOPIC, qos, false, payload.clone())
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }));
    }

    tokio::time::sleep(Duration::from_secs(1)).await;
    let start_count = received.load(Ordering::Relaxed);
    let start_gaps = gaps.load(Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let count = received.load(Ordering::Relaxed) - start_count;
    let out_of_sequence = gaps.load(Ordering::Relaxed) - start_gaps;
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    println!(
        "qos {} {}->1 {} B: {:.0} msg/s ({} deliveries in {:.2} s, {} out of sequence)",
        args[2],
        publishers,
        payload_len,
        count as f64 / elapsed,
        count,
        elapsed,
        out_of_sequence
    );
    for task in tasks {
        task.abort();
    }
    counting.abort();
    std::process::exit(0);
}
