//! What the outside world (a scenario, an operator) asks of a node, kept as the node's desired
//! state rather than as a queue of commands: a restarted node reads it afresh, so a relinquish,
//! a priority change or a broken link outlives the process it was sent to.

use crate::sync::watch;
use std::collections::BTreeSet;

/// A dependency the node's health check probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HealthLink {
    /// The node's view of the pair's database: broken, the health check's database probe
    /// fails at once (the network path itself is untouched; cut it with a partition to stop
    /// the writes too). A database that really does not answer fails the probe as well, after
    /// the node's grace period.
    Database,
    /// The message bus (modelled as a switch the scenario breaks and heals).
    Bus,
}

/// A node's desired state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeControl {
    pub priority: u32,
    /// The operator asked the node to stand down (rolling upgrade).
    pub relinquished: bool,
    /// Links the scenario broke: the health check fails while any is broken.
    pub broken: BTreeSet<HealthLink>,
}

impl NodeControl {
    pub fn new(priority: u32) -> Self {
        NodeControl {
            priority,
            relinquished: false,
            broken: BTreeSet::new(),
        }
    }
}

/// The world's end of a node's control channel; each incarnation of the node subscribes.
#[derive(Clone, Debug)]
pub struct ControlHandle {
    sender: watch::Sender<NodeControl>,
}

impl ControlHandle {
    pub fn new(initial: NodeControl) -> Self {
        ControlHandle {
            sender: watch::Sender::new(initial),
        }
    }

    pub fn subscribe(&self) -> watch::Receiver<NodeControl> {
        self.sender.subscribe()
    }

    pub fn current(&self) -> NodeControl {
        self.sender.borrow().clone()
    }

    /// Changes the desired state; the running node (if any) is woken only by a real change.
    pub fn update(&self, change: impl FnOnce(&mut NodeControl)) {
        self.sender.send_if_modified(|control| {
            let before = control.clone();
            change(control);
            *control != before
        });
    }
}
