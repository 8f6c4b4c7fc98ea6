//! [`ExpirySchedule`]: when each offline session runs out of time, in deadline order, and the wait
//! of the one thread that ends them (5.0 §3.1.2.11.2 and §4.1; `persistent_client_expiration` for
//! 3.1.1 persistent sessions, as mosquitto applies it).
//!
//! A session is kept after its connection closes [MQTT5-3.1.2-23], but once its Session Expiry
//! Interval has passed it is over [MQTT5-4.1.0-2]: the router must then drop its subscriptions and free its
//! queue, not wait for its client to come back (which may be never). Looking at every session
//! every second would cost in proportion to the sessions, most of which are connected or far from
//! their deadline. Instead the router tells this schedule each deadline when a session loses its
//! connection, and forgets it when a connection opens the session again; the expiry thread
//! (`start.rs`) sleeps until the earliest deadline, or until an earlier one is added, and hands
//! the due client identifiers to `Router::expire_sessions`.
//!
//! One entry per client identifier: a client that connects and disconnects again replaces its
//! deadline, so the schedule never holds more entries than there are offline sessions. An entry
//! is only a hint: the router checks, under the session's lock, that the session really is offline
//! and past its interval before ending it, so an entry that a reconnection made stale does no harm.
//!
//! The lock inside is a leaf (see the lock order in `router.rs`): the router sets and cancels
//! entries while it holds a slot, and nothing else is locked while this one is held. This file
//! knows nothing of slots or of the log; its pure part, [`Schedule`], is tested with made-up
//! instants.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

/// The deadlines of the offline sessions that expire, shared by the router (which sets and cancels
/// them) and the expiry thread (which waits for them).
#[derive(Debug, Default)]
pub(crate) struct ExpirySchedule {
    /// The entries and the stop flag. Locked briefly by the router, with a slot locked, and by
    /// the expiry thread, which releases it while it waits on `changed`.
    inner: Mutex<Schedule>,
    /// Notified when the earliest deadline moves earlier, and at stop: the expiry thread then
    /// wakes and computes its wait again.
    changed: Condvar,
}

impl ExpirySchedule {
    /// The session of `client_id` expires at `at` (replacing any earlier entry of it).
    pub(crate) fn set(&self, client_id: &Arc<str>, at: Instant) {
        let mut inner = self.inner.lock();
        if inner.set(Arc::clone(client_id), at) {
            self.changed.notify_all();
        }
    }

    /// The session of `client_id` no longer expires (a connection opened it, or it is gone).
    pub(crate) fn cancel(&self, client_id: &str) {
        self.inner.lock().cancel(client_id);
    }

    /// Takes out the client identifiers whose deadline is `now` or earlier.
    pub(crate) fn take_due(&self, now: Instant) -> Vec<Arc<str>> {
        self.inner.lock().take_due(now)
    }

    /// Blocks until the earliest deadline has passed (true) or [`stop`](Self::stop) was called
    /// (false). With no deadline at all it sleeps until one is set.
    pub(crate) fn wait_due(&self) -> bool {
        let mut inner = self.inner.lock();
        loop {
            if inner.stopped {
                return false;
            }
            match inner.next() {
                Some(at) if at <= Instant::now() => return true,
                Some(at) => {
                    let _ = self.changed.wait_until(&mut inner, at);
                }
                None => self.changed.wait(&mut inner),
            }
        }
    }

    /// Ends [`wait_due`](Self::wait_due) for good (broker shutdown).
    pub(crate) fn stop(&self) {
        self.inner.lock().stopped = true;
        self.changed.notify_all();
    }

    /// How many sessions have a deadline (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.inner.lock().by_client.len()
    }
}

/// The entries, indexed both ways: by deadline for the thread, by client identifier so that a
/// reconnection finds and removes its session's entry.
#[derive(Debug, Default)]
struct Schedule {
    by_deadline: BTreeSet<(Instant, Arc<str>)>,
    by_client: HashMap<Arc<str>, Instant>,
    stopped: bool,
}

impl Schedule {
    /// Sets `client_id`'s deadline; answers whether it is now the earliest of all (the waiting
    /// thread must then wake to wait less).
    fn set(&mut self, client_id: Arc<str>, at: Instant) -> bool {
        if let Some(old) = self.by_client.insert(Arc::clone(&client_id), at) {
            self.by_deadline.remove(&(old, Arc::clone(&client_id)));
        }
        self.by_deadline.insert((at, client_id));
        self.next() == Some(at)
    }

    fn cancel(&mut self, client_id: &str) {
        if let Some((key, at)) = self.by_client.remove_entry(client_id) {
            self.by_deadline.remove(&(at, key));
        }
    }

    fn take_due(&mut self, now: Instant) -> Vec<Arc<str>> {
        let mut due = Vec::new();
        while let Some(first) = self.by_deadline.first() {
            if first.0 > now {
                break;
            }
            if let Some((_, client_id)) = self.by_deadline.pop_first() {
                self.by_client.remove(&client_id);
                due.push(client_id);
            }
        }
        due
    }

    fn next(&self) -> Option<Instant> {
        self.by_deadline.first().map(|(at, _)| *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Deadlines come out in order, only once due; a new deadline for the same client replaces
    /// the old one, and a cancelled one never comes out.
    #[test]
    fn due_sessions_come_out_in_deadline_order_once_mqtt5_4_1_0_2() {
        let start = Instant::now();
        let at = |seconds| start + Duration::from_secs(seconds);
        let mut schedule = Schedule::default();
        assert!(
            schedule.set("b".into(), at(20)),
            "the first is the earliest"
        );
        assert!(schedule.set("a".into(), at(10)), "earlier than b");
        assert!(!schedule.set("c".into(), at(30)), "later: no need to wake");
        // c reconnected and left again: its deadline moves.
        assert!(!schedule.set("c".into(), at(40)));
        schedule.set("d".into(), at(15));
        schedule.cancel("d");
        assert_eq!(schedule.next(), Some(at(10)));
        assert!(schedule.take_due(at(9)).is_empty());
        assert_eq!(schedule.take_due(at(20)), [Arc::from("a"), Arc::from("b")]);
        assert!(
            schedule.take_due(at(39)).is_empty(),
            "c's old deadline is gone"
        );
        assert_eq!(schedule.take_due(at(40)), [Arc::from("c")]);
        assert_eq!(schedule.next(), None);
        assert!(schedule.by_client.is_empty());
    }

    /// A thread waiting for a far deadline wakes for an earlier one set meanwhile: a session that
    /// goes offline with a short interval is not kept waiting behind one with a long interval.
    #[test]
    fn an_earlier_deadline_wakes_the_waiting_thread() {
        let schedule = Arc::new(ExpirySchedule::default());
        schedule.set(&"later".into(), Instant::now() + Duration::from_secs(3600));
        let (woke, woken) = std::sync::mpsc::channel();
        let waiter = {
            let schedule = Arc::clone(&schedule);
            std::thread::spawn(move || {
                let _ = woke.send(schedule.wait_due());
            })
        };
        schedule.set(&"sooner".into(), Instant::now() + Duration::from_millis(20));
        assert_eq!(woken.recv_timeout(Duration::from_secs(10)), Ok(true));
        assert_eq!(schedule.take_due(Instant::now()), [Arc::from("sooner")]);
        assert_eq!(schedule.len(), 1);
        let _ = waiter.join();
    }

    /// The thread's wait ends at once for a deadline already past, and at stop.
    #[test]
    fn the_wait_ends_when_a_deadline_passes_or_at_stop() {
        let schedule = Arc::new(ExpirySchedule::default());
        schedule.set(&"past".into(), Instant::now());
        assert!(schedule.wait_due());
        assert_eq!(schedule.take_due(Instant::now()), [Arc::from("past")]);
        let waiter = {
            let schedule = Arc::clone(&schedule);
            std::thread::spawn(move || schedule.wait_due())
        };
        schedule.stop();
        assert_eq!(waiter.join().ok(), Some(false));
    }
}
