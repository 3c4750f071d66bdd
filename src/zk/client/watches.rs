//! The client-side registry of one-shot watches: which `Watch`es wait on which path.
//!
//! A watch is registered when the successful reply of the read that set it arrives (both
//! libraries do this), fires at most once, and is re-sent to the server after a reconnect.

use crate::coord::{Watch, WatchTrigger};
use crate::zk::types::{EventType, SessionState, WatchedEvent};
use std::collections::BTreeMap;

/// The three one-shot watch lists ZooKeeper keeps (and `SetWatches` carries).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WatchKind {
    /// getData, or exists on a node that exists.
    Data,
    /// exists on a node that does not exist.
    Exist,
    /// getChildren.
    Child,
}

#[derive(Debug, Default)]
struct PathWatches {
    data: Vec<WatchTrigger>,
    exist: Vec<WatchTrigger>,
    child: Vec<WatchTrigger>,
}

impl PathWatches {
    fn list(&mut self, kind: WatchKind) -> &mut Vec<WatchTrigger> {
        match kind {
            WatchKind::Data => &mut self.data,
            WatchKind::Exist => &mut self.exist,
            WatchKind::Child => &mut self.child,
        }
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty() && self.exist.is_empty() && self.child.is_empty()
    }
}

/// The paths to re-register, per kind (the body of `SetWatches`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchedPaths {
    pub data: Vec<String>,
    pub exist: Vec<String>,
    pub child: Vec<String>,
}

impl WatchedPaths {
    pub fn is_empty(&self) -> bool {
        self.data.is_empty() && self.exist.is_empty() && self.child.is_empty()
    }
}

#[derive(Debug, Default)]
pub struct WatchRegistry {
    paths: BTreeMap<String, PathWatches>,
}

impl WatchRegistry {
    /// Registers a one-shot watch and returns what its owner awaits.
    pub fn add(&mut self, path: &str, kind: WatchKind) -> Watch {
        let (trigger, watch) = Watch::new();
        self.paths
            .entry(path.to_string())
            .or_default()
            .list(kind)
            .push(trigger);
        watch
    }

    /// Fires the watches a server notification concerns (ZooKeeper's
    /// `ZKWatchManager.materialize`): created/data-changed → data and exist watches;
    /// children-changed → child watches; deleted → all three. Returns how many fired.
    pub fn dispatch(&mut self, event: &WatchedEvent) -> usize {
        let Some(watches) = self.paths.get_mut(&event.path) else {
            return 0;
        };
        let kinds: &[WatchKind] = match event.event_type {
            EventType::NodeCreated | EventType::NodeDataChanged => {
                &[WatchKind::Data, WatchKind::Exist]
            }
            EventType::NodeChildrenChanged => &[WatchKind::Child],
            EventType::NodeDeleted => &[WatchKind::Data, WatchKind::Exist, WatchKind::Child],
            EventType::Session => &[],
        };
        let mut fired = 0;
        for kind in kinds {
            for trigger in watches.list(*kind).drain(..) {
                trigger.fire(event.clone());
                fired += 1;
            }
        }
        if watches.is_empty() {
            self.paths.remove(&event.path);
        }
        fired
    }

    /// The session ended: every pending watch learns it (the crate's `OneshotWatcher`
    /// behaviour for terminal states), and the registry empties.
    pub fn fire_all(&mut self, state: SessionState) -> usize {
        let mut fired = 0;
        for (_, watches) in std::mem::take(&mut self.paths) {
            for trigger in watches
                .data
                .into_iter()
                .chain(watches.exist)
                .chain(watches.child)
            {
                trigger.fire(WatchedEvent {
                    event_type: EventType::Session,
                    session_state: state,
                    path: String::new(),
                });
                fired += 1;
            }
        }
        fired
    }

    /// The paths still watched, per kind, for `SetWatches`. Watches nobody waits on any more
    /// are dropped first (the crate removes them on the server; this protocol has no
    /// removeWatches, so they are simply not re-registered).
    pub fn watched_paths(&mut self) -> WatchedPaths {
        self.paths.retain(|_, w| {
            for kind in [WatchKind::Data, WatchKind::Exist, WatchKind::Child] {
                w.list(kind).retain(|t| !t.is_abandoned());
            }
            !w.is_empty()
        });
        let mut out = WatchedPaths::default();
        for (path, w) in &self.paths {
            if !w.data.is_empty() {
                out.data.push(path.clone());
            }
            if !w.exist.is_empty() {
                out.exist.push(path.clone());
            }
            if !w.child.is_empty() {
                out.child.push(path.clone());
            }
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(event_type: EventType, path: &str) -> WatchedEvent {
        WatchedEvent {
            event_type,
            session_state: SessionState::SyncConnected,
            path: path.to_string(),
        }
    }

    /// Polls a watch once, without a runtime: the event if it already fired.
    fn fired(watch: Watch) -> Option<WatchedEvent> {
        use std::future::Future;
        use std::task::{Context, Poll, Waker};
        let mut cx = Context::from_waker(Waker::noop());
        match std::pin::pin!(watch.changed()).poll(&mut cx) {
            Poll::Ready(e) => Some(e),
            Poll::Pending => None,
        }
    }

    #[test]
    fn created_fires_data_and_exist_but_not_child() {
        let mut r = WatchRegistry::default();
        let d = r.add("/a", WatchKind::Data);
        let e = r.add("/a", WatchKind::Exist);
        let c = r.add("/a", WatchKind::Child);
        assert_eq!(r.dispatch(&event(EventType::NodeCreated, "/a")), 2);
        assert_eq!(fired(d).unwrap().event_type, EventType::NodeCreated);
        assert_eq!(fired(e).unwrap().path, "/a");
        assert_eq!(r.watched_paths().child, vec!["/a".to_string()]);
        assert!(fired(c).is_none());
    }

    #[test]
    fn deleted_fires_everything_once() {
        let mut r = WatchRegistry::default();
        let d = r.add("/a", WatchKind::Data);
        let c = r.add("/a", WatchKind::Child);
        assert_eq!(r.dispatch(&event(EventType::NodeDeleted, "/a")), 2);
        assert_eq!(r.dispatch(&event(EventType::NodeDeleted, "/a")), 0);
        assert!(fired(d).is_some() && fired(c).is_some());
        assert!(r.is_empty());
    }

    #[test]
    fn children_changed_fires_only_child_watches_of_that_path() {
        let mut r = WatchRegistry::default();
        let d = r.add("/a", WatchKind::Data);
        let c = r.add("/a", WatchKind::Child);
        let other = r.add("/b", WatchKind::Child);
        assert_eq!(r.dispatch(&event(EventType::NodeChildrenChanged, "/a")), 1);
        assert!(fired(c).is_some());
        assert!(fired(d).is_none());
        assert!(fired(other).is_none());
    }

    #[test]
    fn terminal_state_reaches_every_watch() {
        let mut r = WatchRegistry::default();
        let d = r.add("/a", WatchKind::Data);
        let c = r.add("/b", WatchKind::Child);
        assert_eq!(r.fire_all(SessionState::Expired), 2);
        for w in [d, c] {
            let e = fired(w).unwrap();
            assert_eq!(e.event_type, EventType::Session);
            assert_eq!(e.session_state, SessionState::Expired);
        }
        assert!(r.is_empty());
    }

    #[test]
    fn abandoned_watches_are_not_re_registered() {
        let mut r = WatchRegistry::default();
        drop(r.add("/gone", WatchKind::Data));
        let _kept = r.add("/kept", WatchKind::Exist);
        let paths = r.watched_paths();
        assert!(paths.data.is_empty());
        assert_eq!(paths.exist, vec!["/kept".to_string()]);
    }
}
