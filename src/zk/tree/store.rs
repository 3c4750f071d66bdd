//! The znodes of one server with the indexes ZooKeeper keeps beside them (ephemerals per
//! session, containers), and an undo journal so a failed `multi` leaves no trace.

use std::collections::{BTreeMap, BTreeSet};

use super::node::{Node, Owner, PersistedStat, canonical, split_parent};
use crate::zk::types::{Acl, SessionId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Store {
    nodes: BTreeMap<String, Node>,
    ephemerals: BTreeMap<SessionId, BTreeSet<String>>,
    containers: BTreeSet<String>,
    /// While a multi runs: how to undo each change, newest last.
    journal: Option<Vec<Undo>>,
}

/// One journaled change. Nodes are journaled without their children and child links on their
/// own, so a multi under a parent with many children does not copy the child list per op.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Undo {
    /// The node's data, ACL and stat before a change (`None`: it did not exist).
    Node { path: String, before: Option<Node> },
    /// A child name was linked to (`true`) or unlinked from its parent.
    Child {
        parent: String,
        name: String,
        linked: bool,
    },
}

impl Store {
    /// `/`, `/zookeeper`, `/zookeeper/quota` (open) and `/zookeeper/config` (read-only, aversion
    /// −1 because `DataTree.addConfigNode` sets its ACL with version −1). The system nodes are
    /// linked without touching their parents' cversion, as `DataTree`'s constructor does.
    pub fn new() -> Self {
        let mut store = Store {
            nodes: BTreeMap::new(),
            ephemerals: BTreeMap::new(),
            containers: BTreeSet::new(),
            journal: None,
        };
        let open = || Node::new(Vec::new(), Acl::open_unsafe(), PersistedStat::system());
        let mut config = Node::new(Vec::new(), Acl::read_unsafe(), PersistedStat::system());
        config.stat.aversion = -1;
        store.nodes.insert("/".into(), open());
        for (path, node) in [
            ("/zookeeper", open()),
            ("/zookeeper/quota", open()),
            ("/zookeeper/config", config),
        ] {
            store.link(path);
            store.nodes.insert(path.into(), node);
        }
        store
    }

    /// The node at `path` (`""` names the root, as in ZooKeeper).
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(canonical(path))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Node)> {
        self.nodes.iter()
    }

    /// Adds a node; its parent must exist and is linked to it (stats untouched).
    pub fn insert(&mut self, path: &str, node: Node) {
        self.record(path);
        self.link(path);
        self.index(path, node.stat.owner, true);
        self.nodes.insert(path.to_string(), node);
    }

    /// Removes a node and unlinks it from its parent (stats untouched).
    pub fn remove(&mut self, path: &str) -> Option<Node> {
        self.record(path);
        let node = self.nodes.remove(path)?;
        self.index(path, node.stat.owner, false);
        if let Some((parent, name)) = split_parent(path) {
            let parent = canonical(parent);
            if let Some(node) = self.nodes.get_mut(parent)
                && node.children.remove(name)
                && let Some(journal) = &mut self.journal
            {
                journal.push(Undo::Child {
                    parent: parent.to_string(),
                    name: name.to_string(),
                    linked: false,
                });
            }
        }
        Some(node)
    }

    /// Changes a node's data or stats in place (never its owner or children).
    pub fn update(&mut self, path: &str, change: impl FnOnce(&mut Node)) {
        let path = canonical(path);
        self.record(path);
        if let Some(node) = self.nodes.get_mut(path) {
            change(node);
        }
    }

    pub fn ephemerals_of(&self, session: SessionId) -> Vec<String> {
        self.ephemerals
            .get(&session)
            .map(|paths| paths.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn containers(&self) -> impl Iterator<Item = &String> {
        self.containers.iter()
    }

    /// Starts journaling changes (a multi begins).
    pub fn begin(&mut self) {
        self.journal = Some(Vec::new());
    }

    /// Keeps the journaled changes.
    pub fn commit(&mut self) {
        self.journal = None;
    }

    /// Undoes every change since [`Store::begin`].
    pub fn rollback(&mut self) {
        let Some(journal) = self.journal.take() else {
            return;
        };
        for undo in journal.into_iter().rev() {
            match undo {
                Undo::Child {
                    parent,
                    name,
                    linked,
                } => {
                    if let Some(parent) = self.nodes.get_mut(&parent) {
                        if linked {
                            parent.children.remove(&name);
                        } else {
                            parent.children.insert(name);
                        }
                    }
                }
                Undo::Node { path, before } => {
                    // Later child links are already undone: the current children are the
                    // ones the node had when it was journaled.
                    let mut children = BTreeSet::new();
                    if let Some(now) = self.nodes.remove(&path) {
                        self.index(&path, now.stat.owner, false);
                        children = now.children;
                    }
                    if let Some(mut before) = before {
                        before.children = children;
                        self.index(&path, before.stat.owner, true);
                        self.nodes.insert(path, before);
                    }
                }
            }
        }
    }

    /// A copy without the journal.
    pub fn snapshot(&self) -> Store {
        Store {
            journal: None,
            ..self.clone()
        }
    }

    fn record(&mut self, path: &str) {
        if let Some(journal) = &mut self.journal {
            let before = self
                .nodes
                .get(path)
                .map(|n| Node::new(n.data.clone(), n.acl.clone(), n.stat));
            journal.push(Undo::Node {
                path: path.to_string(),
                before,
            });
        }
    }

    fn link(&mut self, path: &str) {
        if let Some((parent, name)) = split_parent(path) {
            let parent = canonical(parent);
            if let Some(node) = self.nodes.get_mut(parent)
                && node.children.insert(name.to_string())
                && let Some(journal) = &mut self.journal
            {
                journal.push(Undo::Child {
                    parent: parent.to_string(),
                    name: name.to_string(),
                    linked: true,
                });
            }
        }
    }

    fn index(&mut self, path: &str, owner: Owner, present: bool) {
        match owner {
            Owner::None => {}
            Owner::Container => {
                if present {
                    self.containers.insert(path.to_string());
                } else {
                    self.containers.remove(path);
                }
            }
            Owner::Session(session) => {
                let paths = self.ephemerals.entry(session).or_default();
                if present {
                    paths.insert(path.to_string());
                } else {
                    paths.remove(path);
                    if paths.is_empty() {
                        self.ephemerals.remove(&session);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
impl Store {
    /// Panics unless the child links and the indexes agree with the nodes.
    pub fn assert_consistent(&self) {
        assert!(self.journal.is_none(), "journal left open");
        let mut ephemerals: BTreeMap<SessionId, BTreeSet<String>> = BTreeMap::new();
        let mut containers = BTreeSet::new();
        for (path, node) in &self.nodes {
            for name in &node.children {
                let child = if path == "/" {
                    format!("/{name}")
                } else {
                    format!("{path}/{name}")
                };
                assert!(
                    self.nodes.contains_key(&child),
                    "{path} lists missing {name}"
                );
            }
            if let Some((parent, name)) = split_parent(path).filter(|_| path != "/") {
                let parent = self.get(parent).expect("orphan node");
                assert!(parent.children.contains(name), "{path} not linked");
            }
            match node.stat.owner {
                Owner::None => {}
                Owner::Container => {
                    containers.insert(path.clone());
                }
                Owner::Session(session) => {
                    ephemerals.entry(session).or_default().insert(path.clone());
                }
            }
        }
        assert_eq!(ephemerals, self.ephemerals);
        assert_eq!(containers, self.containers);
    }
}
