//! One-shot watches of one server, as ZooKeeper's two `WatchManager`s hold them.
//!
//! ZooKeeper keeps a *data* table (getData, and exists whether or not the node exists — an
//! "exist watch" is a data watch on a missing path) and a *child* table (getChildren). A fired
//! watch is removed from its table. Where ZooKeeper iterates a `HashSet` of watchers we go in
//! ascending [`WatcherId`] order, so runs are reproducible.

use std::collections::{BTreeMap, BTreeSet};

use super::AuthId;
use super::WatcherId;
use super::acl::check_acl;
use crate::zk::types::{Acl, EventType, SessionState, WatchedEvent, perms};

/// A change that may fire watches, recorded while a txn applies, with the ACLs it is checked
/// against: 3.8.4+ delivers an event only to watchers that may READ the node it names
/// (`NIOServerCnxn.process(event, acl)`, the CVE-2024-23944 fix).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Trigger {
    Created {
        path: String,
        acl: Vec<Acl>,
        parent: String,
        parent_acl: Vec<Acl>,
    },
    Deleted {
        path: String,
        acl: Vec<Acl>,
        parent: String,
        parent_acl: Vec<Acl>,
    },
    DataChanged {
        path: String,
        acl: Vec<Acl>,
    },
}

/// Path → watchers and watcher → paths, kept in step.
#[derive(Clone, Debug, Default)]
pub(crate) struct WatchTable {
    by_path: BTreeMap<String, BTreeSet<WatcherId>>,
    by_watcher: BTreeMap<WatcherId, BTreeSet<String>>,
}

impl WatchTable {
    pub fn add(&mut self, path: &str, watcher: WatcherId) {
        self.by_path
            .entry(path.to_string())
            .or_default()
            .insert(watcher);
        self.by_watcher
            .entry(watcher)
            .or_default()
            .insert(path.to_string());
    }

    /// Removes and returns every watcher of `path` (the watches are one-shot).
    pub fn take(&mut self, path: &str) -> BTreeSet<WatcherId> {
        let watchers = self.by_path.remove(path).unwrap_or_default();
        for watcher in &watchers {
            if let Some(paths) = self.by_watcher.get_mut(watcher) {
                paths.remove(path);
                if paths.is_empty() {
                    self.by_watcher.remove(watcher);
                }
            }
        }
        watchers
    }

    pub fn remove_watcher(&mut self, watcher: WatcherId) {
        for path in self.by_watcher.remove(&watcher).unwrap_or_default() {
            if let Some(watchers) = self.by_path.get_mut(&path) {
                watchers.remove(&watcher);
                if watchers.is_empty() {
                    self.by_path.remove(&path);
                }
            }
        }
    }

    pub fn contains(&self, path: &str, watcher: WatcherId) -> bool {
        self.by_path
            .get(path)
            .is_some_and(|watchers| watchers.contains(&watcher))
    }

    /// Number of (path, watcher) registrations.
    pub fn len(&self) -> usize {
        self.by_path.values().map(BTreeSet::len).sum()
    }
}

/// The two tables plus what each watcher has authenticated as (for the delivery ACL check).
#[derive(Clone, Debug, Default)]
pub(crate) struct WatchRegistry {
    pub data: WatchTable,
    pub child: WatchTable,
    auth: BTreeMap<WatcherId, Vec<AuthId>>,
}

impl WatchRegistry {
    /// Records the ids a watcher's connection is authenticated with (replacing earlier ones).
    pub fn set_auth(&mut self, watcher: WatcherId, auth: &[AuthId]) {
        if auth.is_empty() {
            self.auth.remove(&watcher);
        } else {
            self.auth.insert(watcher, auth.to_vec());
        }
    }

    pub fn remove_watcher(&mut self, watcher: WatcherId) {
        self.data.remove_watcher(watcher);
        self.child.remove_watcher(watcher);
        self.auth.remove(&watcher);
    }

    /// Fires what `trigger` fires, in ZooKeeper's order (`DataTree.createNode` / `deleteNode` /
    /// `setData`), appending the notifications to deliver to `out`.
    pub fn fire(&mut self, trigger: &Trigger, out: &mut Vec<(WatcherId, WatchedEvent)>) {
        match trigger {
            Trigger::Created {
                path,
                acl,
                parent,
                parent_acl,
            } => {
                let watchers = self.data.take(path);
                self.deliver(&watchers, EventType::NodeCreated, path, acl, out);
                let watchers = self.child.take(parent);
                self.deliver(
                    &watchers,
                    EventType::NodeChildrenChanged,
                    parent,
                    parent_acl,
                    out,
                );
            }
            Trigger::Deleted {
                path,
                acl,
                parent,
                parent_acl,
            } => {
                let data_watchers = self.data.take(path);
                self.deliver(&data_watchers, EventType::NodeDeleted, path, acl, out);
                // One NodeDeleted per watcher: a child watcher already told through its data
                // watch is skipped (its child watch is consumed all the same).
                let child_watchers: BTreeSet<WatcherId> = self
                    .child
                    .take(path)
                    .difference(&data_watchers)
                    .copied()
                    .collect();
                self.deliver(&child_watchers, EventType::NodeDeleted, path, acl, out);
                let watchers = self.child.take(parent);
                self.deliver(
                    &watchers,
                    EventType::NodeChildrenChanged,
                    parent,
                    parent_acl,
                    out,
                );
            }
            Trigger::DataChanged { path, acl } => {
                let watchers = self.data.take(path);
                self.deliver(&watchers, EventType::NodeDataChanged, path, acl, out);
            }
        }
    }

    fn deliver(
        &self,
        watchers: &BTreeSet<WatcherId>,
        event_type: EventType,
        path: &str,
        acl: &[Acl],
        out: &mut Vec<(WatcherId, WatchedEvent)>,
    ) {
        for &watcher in watchers {
            let auth = self.auth.get(&watcher).map(Vec::as_slice).unwrap_or(&[]);
            if check_acl(acl, perms::READ, auth).is_ok() {
                out.push((watcher, node_event(event_type, path)));
            }
        }
    }
}

/// A node event as the server sends it (always in state SyncConnected).
pub(crate) fn node_event(event_type: EventType, path: &str) -> WatchedEvent {
    WatchedEvent {
        event_type,
        session_state: SessionState::SyncConnected,
        path: path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_one_shot_and_per_watcher() {
        let mut table = WatchTable::default();
        table.add("/a", 2);
        table.add("/a", 1);
        table.add("/a", 1);
        table.add("/b", 1);
        assert_eq!(table.len(), 3);
        assert_eq!(table.take("/a").into_iter().collect::<Vec<_>>(), vec![1, 2]);
        assert!(table.take("/a").is_empty());
        assert!(table.contains("/b", 1));
        table.remove_watcher(1);
        assert_eq!(table.len(), 0);
        assert!(table.by_watcher.is_empty());
    }

    #[test]
    fn delete_suppresses_duplicate_and_filters_by_acl() {
        let mut reg = WatchRegistry::default();
        reg.data.add("/n", 3);
        reg.child.add("/n", 3);
        reg.child.add("/n", 1);
        reg.child.add("/", 2);
        let secret = vec![Acl {
            perms: perms::ALL,
            scheme: "digest".into(),
            id: "bob:x".into(),
        }];
        let mut out = Vec::new();
        reg.fire(
            &Trigger::Deleted {
                path: "/n".into(),
                acl: Acl::open_unsafe(),
                parent: "/".into(),
                parent_acl: secret,
            },
            &mut out,
        );
        assert_eq!(
            out,
            vec![
                (3, node_event(EventType::NodeDeleted, "/n")),
                (1, node_event(EventType::NodeDeleted, "/n")),
            ]
        );
        // Watcher 2 may not read "/": its watch is consumed but nothing is delivered.
        assert_eq!(reg.child.len() + reg.data.len(), 0);
    }
}
