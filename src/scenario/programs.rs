//! Which node program each node runs (the node protocol, `docs/node-protocol.md`): the
//! built-in selector, a third-party program shipped with splitbrain, or a command a file
//! declares in `[programs]`.
//!
//! Only the built-in selector runs in the simulator; the others are real processes, so a file
//! that names one is played with `splitbrain live`. Every node of a pair runs the same program:
//! two election recipes do not elect each other, and a pair split between them would have two
//! masters by construction, which says nothing about either.

use std::collections::BTreeMap;
use std::path::Path;

/// The built-in selector (`splitbrain node`): the default, and the only program the simulator
/// runs.
pub const BUILT_IN: &str = "splitbrain";

/// The third-party programs shipped with splitbrain (live mode knows how to start them).
pub const SHIPPED: [&str; 2] = ["curator-latch", "kazoo-election"];

/// A program a file declares: `name = { command = ["python3", "adapters/mine.py"] }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeclaredProgram {
    /// The command and its arguments. An element with a `/` that is not absolute is taken
    /// relative to the scenario file's directory (see [`Programs::resolve_relative_to`]).
    pub command: Vec<String>,
}

/// The programs of a scenario's nodes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Programs {
    /// Nodes that do not run the built-in selector, by node name.
    of_node: BTreeMap<String, String>,
    /// The file's `[programs]` table.
    declared: BTreeMap<String, DeclaredProgram>,
}

impl Programs {
    pub fn new(declared: BTreeMap<String, DeclaredProgram>) -> Programs {
        Programs {
            declared,
            ..Programs::default()
        }
    }

    /// Whether `name` is a program this scenario can run (built-in, shipped or declared).
    pub fn knows(&self, name: &str) -> bool {
        name == BUILT_IN || SHIPPED.contains(&name) || self.declared.contains_key(name)
    }

    /// The names a file may use, for error messages.
    pub fn known_names(&self) -> Vec<String> {
        let mut names = vec![BUILT_IN.to_string()];
        names.extend(SHIPPED.iter().map(|s| s.to_string()));
        names.extend(self.declared.keys().cloned());
        names
    }

    /// Sets `node`'s program (the built-in selector is the default and is not stored).
    pub fn set(&mut self, node: &str, program: &str) {
        if program == BUILT_IN {
            self.of_node.remove(node);
        } else {
            self.of_node.insert(node.to_string(), program.to_string());
        }
    }

    /// `node`'s program.
    pub fn of(&self, node: &str) -> &str {
        self.of_node.get(node).map_or(BUILT_IN, String::as_str)
    }

    /// Runs every one of `nodes` with `program` (`--program NAME`).
    pub fn set_all<'a>(
        &mut self,
        nodes: impl IntoIterator<Item = &'a str>,
        program: &str,
    ) -> Result<(), String> {
        if !self.knows(program) {
            return Err(format!(
                "unknown program '{program}'; use one of {}, or declare it in the file's [programs]",
                self.known_names().join(", ")
            ));
        }
        for node in nodes {
            self.set(node, program);
        }
        Ok(())
    }

    /// The nodes that run something other than the built-in selector, with their program.
    pub fn third_party(&self) -> impl Iterator<Item = (&str, &str)> {
        self.of_node.iter().map(|(n, p)| (n.as_str(), p.as_str()))
    }

    /// Whether every node runs the built-in selector (what the simulator can play).
    pub fn all_built_in(&self) -> bool {
        self.of_node.is_empty()
    }

    /// Resolves the declared commands' relative paths (an element with a `/` that is not
    /// absolute) against `dir`, the scenario file's directory.
    pub fn resolve_relative_to(&mut self, dir: &Path) {
        // Programs run in their run's directory: the path must not depend on ours.
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        for program in self.declared.values_mut() {
            for part in &mut program.command {
                if part.contains('/') && !Path::new(part.as_str()).is_absolute() {
                    *part = dir.join(&*part).display().to_string();
                }
            }
        }
    }

    /// A declared program's command.
    pub fn command(&self, name: &str) -> Option<Vec<String>> {
        self.declared.get(name).map(|d| d.command.clone())
    }

    /// The simulator's refusal: it runs the built-in selector only.
    pub fn simulator_refusal(&self) -> Option<String> {
        let others: Vec<String> = self
            .third_party()
            .map(|(node, program)| format!("{node} runs {program}"))
            .collect();
        (!others.is_empty()).then(|| {
            format!(
                "the simulator runs the built-in selector only ({}): play this file with `splitbrain live`",
                others.join(", ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_run_the_built_in_selector_unless_told_otherwise() {
        let mut declared = BTreeMap::new();
        declared.insert(
            "mine".to_string(),
            DeclaredProgram {
                command: vec!["python3".into(), "adapters/mine.py".into(), "/abs".into()],
            },
        );
        let mut programs = Programs::new(declared);
        assert!(programs.all_built_in());
        assert_eq!(programs.of("a1"), BUILT_IN);
        programs.set("a1", "mine");
        assert_eq!(programs.of("a1"), "mine");
        assert!(
            programs
                .simulator_refusal()
                .unwrap()
                .contains("a1 runs mine")
        );
        let err = programs
            .set_all(["a1", "a2"], "zookeeper-recipes")
            .unwrap_err();
        assert!(err.contains("curator-latch"), "{err}");
        programs.set_all(["a1", "a2"], "splitbrain").unwrap();
        assert!(programs.all_built_in());
        programs.resolve_relative_to(Path::new("/scn"));
        assert_eq!(
            programs.command("mine").unwrap(),
            ["python3", "/scn/adapters/mine.py", "/abs"]
        );
    }
}
