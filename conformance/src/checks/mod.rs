//! Every check, by area. Each module lists its checks in a `CHECKS` table; [`all`] joins them in
//! specification order: first the MQTT broker checks, then the MQTT-SN gateway checks (`sn_*`).

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
