//! Shrinking a mutant. A scenario the generator drew shrinks along proptest's value tree; a
//! mutant of guided chaos has no such tree, so this one stands in for it: it shrinks the
//! mutant the way proptest shrinks a list, dropping one episode at a time and keeping the
//! drop while the run still fails the same way. The explorer's shrinking loop drives it as it
//! drives proptest's trees.

use super::generate::{GenOptions, Genotype, build};
use crate::scenario::Scenario;
use proptest::strategy::ValueTree;

pub struct EpisodeTree {
    genotype: Genotype,
    options: GenOptions,
    /// Which episodes the current scenario keeps.
    kept: Vec<bool>,
    /// The next episode to try dropping.
    next: usize,
    /// The episode the last simplification dropped (restored by `complicate`).
    last_dropped: Option<usize>,
}

impl EpisodeTree {
    /// A tree whose current value is `genotype`'s whole scenario.
    pub fn new(genotype: Genotype, options: &GenOptions) -> Self {
        EpisodeTree {
            kept: vec![true; genotype.episodes.len()],
            genotype,
            options: options.clone(),
            next: 0,
            last_dropped: None,
        }
    }
}

impl ValueTree for EpisodeTree {
    type Value = Scenario;

    fn current(&self) -> Scenario {
        let episodes = self.genotype.episodes.iter().zip(&self.kept);
        let genotype = Genotype {
            episodes: episodes.filter(|(_, k)| **k).map(|(e, _)| *e).collect(),
            ..self.genotype.clone()
        };
        build(&genotype, &self.options)
    }

    fn simplify(&mut self) -> bool {
        self.last_dropped = None;
        while self.next < self.kept.len() {
            let i = self.next;
            self.next += 1;
            if self.kept[i] {
                self.kept[i] = false;
                self.last_dropped = Some(i);
                return true;
            }
        }
        false
    }

    fn complicate(&mut self) -> bool {
        match self.last_dropped.take() {
            Some(i) => {
                self.kept[i] = true;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::explore::generated_genotype;

    /// Dropping walks the episodes once; a complicate restores the last drop only.
    #[test]
    fn drops_one_episode_at_a_time_and_restores_a_rejected_drop() {
        let options = GenOptions::default();
        let genotype = (1..)
            .map(|seed| generated_genotype(seed, &options).laid_out(options.fault_phase))
            .find(|g| g.episodes.len() >= 3)
            .unwrap();
        let whole = build(&genotype, &options);
        let mut tree = EpisodeTree::new(genotype.clone(), &options);
        assert_eq!(tree.current(), whole);
        assert!(tree.simplify());
        let without_first = tree.current();
        assert!(without_first.steps.len() < whole.steps.len());
        assert!(tree.complicate(), "the drop is taken back");
        assert_eq!(tree.current(), whole);
        assert!(!tree.complicate(), "nothing more to take back");
        let mut drops = 1;
        while tree.simplify() {
            drops += 1;
        }
        assert_eq!(drops, genotype.episodes.len());
        assert!(tree.current().steps.len() <= whole.steps.len());
    }
}
