//! A single-value broadcast channel — tokio's `watch`, with the same API for what this crate
//! uses — whose waiters wake in the order they started waiting.
//!
//! Why not tokio's: tokio's `watch` spreads its waiters over eight notifiers picked by a
//! thread-local random number whose seed comes from a process-wide counter, so when several
//! tasks wait on one channel their wake-up order differs from run to run, even between two
//! runs of the same simulation seed in one process. Role and session-state channels have
//! several waiters (the node, its workload, health checks), and a testbed whose product is
//! determinism cannot have that. This one keeps its waiters in a list and wakes them first come,
//! first served; it behaves the same under tokio in production.

use std::future::poll_fn;
use std::ops::Deref;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::task::{Poll, Waker};

struct State {
    /// Bumped by every send.
    version: u64,
    /// Every sender is gone: no value will ever change again.
    closed: bool,
    senders: usize,
    receivers: usize,
    /// Senders waiting for the last receiver to go.
    sender_waiters: Vec<Waker>,
    /// Tasks waiting for a change, oldest first, each under its waiter id.
    waiters: Vec<(u64, Waker)>,
    next_waiter: u64,
}

struct Shared<T> {
    value: RwLock<T>,
    state: Mutex<State>,
}

impl<T> Shared<T> {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("watch state lock poisoned")
    }

    fn read(&self) -> RwLockReadGuard<'_, T> {
        self.value.read().expect("watch value lock poisoned")
    }

    /// Bumps the version and wakes every waiter, oldest first.
    fn publish(&self) {
        let waiters = {
            let mut state = self.state();
            state.version += 1;
            std::mem::take(&mut state.waiters)
        };
        for (_, waker) in waiters {
            waker.wake();
        }
    }
}

/// The sending half.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// A receiving half; clones see the same value and wait independently.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// The version this receiver has seen.
    seen: u64,
}

/// The sender was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecvError;

impl std::fmt::Display for RecvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("channel closed")
    }
}

impl std::error::Error for RecvError {}

/// Every receiver was dropped; the value is handed back.
#[derive(Debug, PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> std::fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("channel closed")
    }
}

/// A read guard on the current value. Do not hold it across an `.await`.
pub struct Ref<'a, T> {
    guard: RwLockReadGuard<'a, T>,
}

impl<T> Deref for Ref<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

/// A channel holding `initial`.
pub fn channel<T>(initial: T) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        value: RwLock::new(initial),
        state: Mutex::new(State {
            version: 0,
            closed: false,
            senders: 1,
            receivers: 1,
            sender_waiters: Vec::new(),
            waiters: Vec::new(),
            next_waiter: 0,
        }),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared, seen: 0 },
    )
}

impl<T> Sender<T> {
    /// A channel with no receiver yet; make them with [`Sender::subscribe`].
    pub fn new(initial: T) -> Self {
        let (sender, receiver) = channel(initial);
        drop(receiver);
        sender
    }

    /// Waits until every receiver is gone.
    pub async fn closed(&self) {
        poll_fn(|cx| {
            let mut state = self.shared.state();
            if state.receivers == 0 {
                return Poll::Ready(());
            }
            if !state.sender_waiters.iter().any(|w| w.will_wake(cx.waker())) {
                state.sender_waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }

    /// Replaces the value and notifies receivers; fails (returning the value) when no
    /// receiver is left.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        if self.shared.state().receivers == 0 {
            return Err(SendError(value));
        }
        *self
            .shared
            .value
            .write()
            .expect("watch value lock poisoned") = value;
        self.shared.publish();
        Ok(())
    }

    /// Replaces the value whether or not anyone listens; returns the previous one.
    pub fn send_replace(&self, value: T) -> T {
        let previous = std::mem::replace(
            &mut *self
                .shared
                .value
                .write()
                .expect("watch value lock poisoned"),
            value,
        );
        self.shared.publish();
        previous
    }

    /// Changes the value in place and notifies receivers.
    pub fn send_modify(&self, modify: impl FnOnce(&mut T)) {
        modify(
            &mut self
                .shared
                .value
                .write()
                .expect("watch value lock poisoned"),
        );
        self.shared.publish();
    }

    /// Changes the value in place; notifies receivers only if `modify` returns true.
    pub fn send_if_modified(&self, modify: impl FnOnce(&mut T) -> bool) -> bool {
        let modified = modify(
            &mut self
                .shared
                .value
                .write()
                .expect("watch value lock poisoned"),
        );
        if modified {
            self.shared.publish();
        }
        modified
    }

    pub fn borrow(&self) -> Ref<'_, T> {
        Ref {
            guard: self.shared.read(),
        }
    }

    /// A new receiver that has seen the current value.
    pub fn subscribe(&self) -> Receiver<T> {
        let mut state = self.shared.state();
        state.receivers += 1;
        Receiver {
            shared: self.shared.clone(),
            seen: state.version,
        }
    }

    pub fn receiver_count(&self) -> usize {
        self.shared.state().receivers
    }

    /// True when every receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.receiver_count() == 0
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.state().senders += 1;
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waiters = {
            let mut state = self.shared.state();
            state.senders -= 1;
            if state.senders > 0 {
                return;
            }
            state.closed = true;
            std::mem::take(&mut state.waiters)
        };
        for (_, waker) in waiters {
            waker.wake();
        }
    }
}

impl<T> Receiver<T> {
    /// The current value, without marking it seen.
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref {
            guard: self.shared.read(),
        }
    }

    /// The current value, marking it seen.
    pub fn borrow_and_update(&mut self) -> Ref<'_, T> {
        self.seen = self.shared.state().version;
        Ref {
            guard: self.shared.read(),
        }
    }

    /// Whether a value was sent since this receiver last looked.
    pub fn has_changed(&self) -> Result<bool, RecvError> {
        let state = self.shared.state();
        if state.version != self.seen {
            Ok(true)
        } else if state.closed {
            Err(RecvError)
        } else {
            Ok(false)
        }
    }

    /// Makes the next [`Receiver::changed`] return at once.
    pub fn mark_changed(&mut self) {
        self.seen = self.seen.wrapping_sub(1);
    }

    /// Waits for a value newer than the last one seen, and marks it seen. Fails once the
    /// sender is gone and nothing new is left to see.
    pub async fn changed(&mut self) -> Result<(), RecvError> {
        let shared = self.shared.clone();
        // Dropped with the future: a wait abandoned by a `select!` whose other branch won
        // leaves no waker behind (a loop of such selects would pile them up for ever).
        let mut registration = Registration {
            shared: &shared,
            id: None,
        };
        let seen = &mut self.seen;
        poll_fn(|cx| {
            let mut state = shared.state();
            if state.version != *seen {
                *seen = state.version;
                return Poll::Ready(Ok(()));
            }
            if state.closed {
                return Poll::Ready(Err(RecvError));
            }
            let id = *registration.id.get_or_insert_with(|| {
                let id = state.next_waiter;
                state.next_waiter += 1;
                id
            });
            match state.waiters.iter_mut().find(|(w, _)| *w == id) {
                Some((_, waker)) => waker.clone_from(cx.waker()),
                None => state.waiters.push((id, cx.waker().clone())),
            }
            Poll::Pending
        })
        .await
    }

    /// Waits until the value satisfies `ready` (checking the current value first).
    pub async fn wait_for(
        &mut self,
        mut ready: impl FnMut(&T) -> bool,
    ) -> Result<Ref<'_, T>, RecvError> {
        loop {
            {
                let version = self.shared.state().version;
                let value = self.shared.read();
                if ready(&value) {
                    drop(value);
                    self.seen = version;
                    return Ok(Ref {
                        guard: self.shared.read(),
                    });
                }
            }
            self.changed().await?;
        }
    }
}

/// A [`Receiver::changed`] call's place among the waiters, given up when the call ends.
struct Registration<'a, T> {
    shared: &'a Shared<T>,
    id: Option<u64>,
}

impl<T> Drop for Registration<'_, T> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.shared.state().waiters.retain(|(w, _)| *w != id);
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.shared.state().receivers += 1;
        Receiver {
            shared: self.shared.clone(),
            seen: self.seen,
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let waiters = {
            let mut state = self.shared.state();
            state.receivers -= 1;
            if state.receivers > 0 {
                return;
            }
            std::mem::take(&mut state.sender_waiters)
        };
        for waker in waiters {
            waker.wake();
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("value", &*self.borrow())
            .field("seen", &self.seen)
            .finish()
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("value", &*self.borrow())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex as StdMutex;

    #[tokio::test]
    async fn receivers_see_changes_and_closing() {
        let (tx, mut rx) = channel(1);
        assert!(!rx.has_changed().unwrap());
        tx.send(2).unwrap();
        assert!(rx.has_changed().unwrap());
        rx.changed().await.unwrap();
        assert_eq!(*rx.borrow(), 2);
        let mut late = tx.subscribe();
        assert!(
            !late.has_changed().unwrap(),
            "a new subscriber has seen the current value"
        );
        tx.send_modify(|v| *v += 1);
        late.changed().await.unwrap();
        assert_eq!(*late.borrow_and_update(), 3);
        assert!(!tx.send_if_modified(|_| false));
        drop(tx);
        rx.changed().await.unwrap(); // the 3 it had not seen yet
        assert_eq!(rx.changed().await, Err(RecvError));
    }

    #[tokio::test]
    async fn wait_for_checks_the_current_value_first() {
        let (tx, mut rx) = channel(5);
        assert_eq!(*rx.wait_for(|v| *v == 5).await.unwrap(), 5);
        let waiter = tokio::spawn(async move { *rx.wait_for(|v| *v > 10).await.unwrap() });
        tx.send(7).unwrap();
        tx.send(11).unwrap();
        assert_eq!(waiter.await.unwrap(), 11);
        assert!(tx.send(1).is_err(), "no receiver left");
        tx.closed().await;
    }

    #[tokio::test]
    async fn the_channel_closes_with_its_last_sender() {
        let tx = Sender::new(0);
        let mut rx = tx.subscribe();
        let second = tx.clone();
        drop(tx);
        second.send(1).unwrap();
        rx.changed().await.unwrap();
        drop(second);
        assert_eq!(rx.changed().await, Err(RecvError));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn abandoned_waits_leave_no_waiter_behind() {
        let (tx, mut rx) = channel(0);
        for _ in 0..100 {
            tokio::select! {
                biased;
                _ = rx.changed() => unreachable!("nothing was sent"),
                () = tokio::task::yield_now() => {}
            }
        }
        assert!(tx.shared.state().waiters.is_empty());
        tx.send(1).unwrap();
        rx.changed().await.unwrap();
        assert!(tx.shared.state().waiters.is_empty());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn waiters_wake_first_come_first_served() {
        let (tx, rx) = channel(0);
        let order = Arc::new(StdMutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..8 {
            let mut rx = rx.clone();
            let order = order.clone();
            tasks.push(tokio::spawn(async move {
                rx.changed().await.unwrap();
                order.lock().unwrap().push(i);
            }));
            tokio::task::yield_now().await;
        }
        tx.send_replace(1);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), (0..8).collect::<Vec<_>>());
    }
}
