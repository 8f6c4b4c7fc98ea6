//! Gateway discovery (§6.1): GWINFO in answer to SEARCHGW, and ADVERTISE every T_ADV while the
//! broker is reachable. Where ADVERTISE goes (a broadcast or multicast address) is configuration;
//! GWINFO goes straight back to the searcher.

use std::net::SocketAddr;
use std::time::Instant;

use mqttsn_codec::{Advertise, GwInfo, Message};

use super::Translator;
use crate::action::{Action, Peer};
use crate::session::encode;

/// SEARCHGW from anyone.
pub(super) fn search_gw(translator: &mut Translator, peer: &Peer, actions: &mut Vec<Action>) {
    // [SN-6.1-12] A gateway answers SEARCHGW with GWINFO carrying its id. It answers the
    // searcher directly: a UDP client waits on its own port, not on a broadcast address.
    let gwinfo = Message::GwInfo(GwInfo {
        gw_id: translator.config.gateway_id,
        gw_add: None,
    });
    translator.send(peer, &gwinfo, actions);
}

/// SEARCHGW sent to the multicast group: GWINFO to the group, where the specification
/// broadcasts it [SN-6.1-14] so that other searchers hear it too [SN-6.1-10], and to the
/// searcher itself, which may not listen on the group.
pub(super) fn search_gw_on_group(
    translator: &mut Translator,
    from: SocketAddr,
    actions: &mut Vec<Action>,
) {
    search_gw(translator, &Peer::direct(from), actions);
    if let Some(group) = translator
        .config
        .advertise_address
        .filter(|a| a.ip().is_multicast())
        && group != from
    {
        let gwinfo = Message::GwInfo(GwInfo {
            gw_id: translator.config.gateway_id,
            gw_add: None,
        });
        if let Some(datagram) = encode(&gwinfo) {
            actions.push(Action::Send {
                to: group,
                datagram,
            });
        }
    }
}

pub(super) fn advertise(translator: &mut Translator, now: Instant, actions: &mut Vec<Action>) {
    translator.next_advertise = Some(now + translator.config.advertise_interval);
    let Some(to) = translator.config.advertise_address else {
        return;
    };
    // [SN-5.4.1-1] Duration: the seconds until the next ADVERTISE.
    let advertise = Message::Advertise(Advertise {
        gw_id: translator.config.gateway_id,
        duration: u16::try_from(translator.config.advertise_interval.as_secs()).unwrap_or(u16::MAX),
    });
    if let Some(datagram) = encode(&advertise) {
        actions.push(Action::Send { to, datagram });
    }
}

#[cfg(test)]
mod tests {
    use super::super::harness::*;
    use super::*;
    use crate::action::{BrokerEvent, ConnId};
    use crate::config::GatewayKind;

    /// SEARCHGW on the group is answered to the searcher and to the group; anything else on the
    /// group, the gateway's own ADVERTISE included, is ignored.
    #[test]
    fn searchgw_on_the_group_is_answered_there_sn_6_1_12() {
        let mut h = Harness::new(GatewayKind::Transparent);
        let group: SocketAddr = "239.255.19.4:1885".parse().expect("valid");
        h.translator.config.advertise_address = Some(group);
        let search = bytes(Message::SearchGw(mqttsn_codec::SearchGw { radius: 1 }));
        let actions = h.translator.group_datagram(h.now, node(1), &search);
        let to: Vec<SocketAddr> = sent(&actions).into_iter().map(|(to, _)| to).collect();
        assert_eq!(to, [node(1), group]);
        assert!(
            sent(&actions)
                .iter()
                .all(|(_, d)| matches!(Message::decode(d), Ok(Message::GwInfo(_))))
        );
        let advertise = bytes(Message::Advertise(Advertise {
            gw_id: 1,
            duration: 900,
        }));
        assert!(
            h.translator
                .group_datagram(h.now, node(1), &advertise)
                .is_empty()
        );
        let connect = bytes(Message::PingReq(mqttsn_codec::PingReq { client_id: None }));
        assert!(
            h.translator
                .group_datagram(h.now, node(1), &connect)
                .is_empty()
        );
        assert!(
            h.translator
                .group_datagram(h.now, node(1), &[1, 2])
                .is_empty()
        );
    }

    #[test]
    fn discovery_gwinfo_and_advertise_sn_6_1_1_sn_6_1_12() {
        let mut h = Harness::new(GatewayKind::Transparent);
        let actions = h.from(1, Message::SearchGw(mqttsn_codec::SearchGw { radius: 0 }));
        assert_eq!(
            Message::decode(&sent(&actions)[0].1),
            Ok(Message::GwInfo(GwInfo {
                gw_id: 1,
                gw_add: None
            }))
        );
        let interval = h.translator.config().advertise_interval;
        assert_eq!(h.translator.next_deadline(), Some(h.now + interval));
        let actions = h.advance(interval);
        let (to, datagram) = &sent(&actions)[0];
        assert_eq!(*to, node(999));
        assert_eq!(
            Message::decode(datagram),
            Ok(Message::Advertise(Advertise {
                gw_id: 1,
                duration: 900
            }))
        );
        // [SN-6.1-2] Not while the broker is away.
        h.broker(BrokerEvent::Lost(ConnId::GATEWAY));
        assert!(h.advance(interval).is_empty());
    }
}
