//! Every check, by area. Each module lists its checks in a `CHECKS` table; [`all`] joins them in
//! specification order: first the MQTT 3.x broker checks, then the MQTT 5.0 ones (`v5_*`, run only
//! at `--version 5`), then the MQTT-SN gateway checks (`sn_*`).

use crate::check::Check;

mod connect;
mod hostile;
mod publish;
mod retain;
mod session;
mod sn_connect;
mod sn_delivery;
mod sn_publish;
mod sn_sleep;
mod subscribe;
mod topics;
mod v5_capabilities;
mod v5_common;
mod v5_connect;
mod v5_flow;
mod v5_malformed;
mod v5_publish;
mod v5_qos;
mod v5_shared;
mod v5_subscribe;
mod v5_topics;
mod v5_will;
mod will;

/// All checks, in specification order.
pub(crate) fn all() -> Vec<&'static Check> {
    [
        connect::CHECKS,
        publish::CHECKS,
        subscribe::CHECKS,
        retain::CHECKS,
        session::CHECKS,
        will::CHECKS,
        topics::CHECKS,
        hostile::CHECKS,
        // The MQTT 5.0 suite, run only at 5.0.
        v5_connect::CHECKS,
        v5_capabilities::CHECKS,
        v5_publish::CHECKS,
        v5_qos::CHECKS,
        v5_shared::CHECKS,
        v5_subscribe::CHECKS,
        v5_topics::CHECKS,
        v5_flow::CHECKS,
        v5_will::CHECKS,
        v5_malformed::CHECKS,
        // The MQTT-SN gateway suite, run only against a gateway.
        sn_connect::CHECKS,
        sn_publish::CHECKS,
        sn_delivery::CHECKS,
        sn_sleep::CHECKS,
    ]
    .into_iter()
    .flatten()
    .collect()
}
