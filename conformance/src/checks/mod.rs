//! Every check, by area. Each module lists its checks in a `CHECKS` table; [`all`] joins them in
//! specification order.

use crate::check::Check;

mod connect;
mod publish;
mod retain;
mod session;
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
    ]
    .into_iter()
    .flatten()
    .collect()
}
