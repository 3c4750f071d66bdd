//! Guided chaos (`splitbrain chaos --guided`): a corpus of schedules that reached rare
//! coverage points or new combinations of them, and a share of the seeds spent mutating those
//! ([`super::mutate`]) instead of drawing fresh ones.
//!
//! Still one seed, one run, reproducible from the seed and the corpus file: a seed's choices
//! (fresh or mutant, which entry, which mutations) come from a generator seeded by the seed
//! alone, and the corpus a seed sees does not depend on timing. The campaign runs in batches
//! of [`BATCH`] seeds; a seed sees the corpus as it was after every earlier batch, folded in
//! seed order. A fresh seed of a guided campaign runs the very schedule it runs in a random
//! one.
//!
//! Selection follows the fuzzers' energy: an entry's weight is the rarity of what it reached
//! (the sum over its points of one over the seeds that reached the point), so schedules that
//! reached what few seeds reach are mutated most. The corpus keeps at most [`MAX_ENTRIES`],
//! dropping the least rare.

use super::explore::Origin;
use super::generate::episode::{Episode, Swarm};
use super::generate::{GenOptions, Genotype, build};
use super::mutate::{Mutation, mutant};
use crate::scenario::write::to_toml;
use proptest::prelude::Rng;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::collections::BTreeSet;
use std::path::Path;

/// Seeds per generation: every seed of one sees the same corpus.
pub const BATCH: u64 = 16;
/// Most entries the corpus keeps.
pub const MAX_ENTRIES: usize = 256;
/// Per cent of seeds that mutate a corpus entry (when there is one); the rest draw fresh, so a
/// guided night still covers what a random one does.
pub const MUTANT_PERCENT: u64 = 50;
/// The corpus file's format.
const FORMAT: &str = "splitbrain-corpus-1";

/// A coverage point, by its index in the corpus's list of point names.
pub type PointId = u16;

/// A schedule the corpus keeps.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The seed that ran it (its scenario is `chaos-<seed>` with `[run] seed` = the seed).
    pub seed: u64,
    /// The entry it is a mutant of (none for a fresh draw).
    pub parent: Option<u64>,
    /// Laid out: every episode is a step of the scenario.
    pub genotype: Genotype,
    /// The points its run reached, sorted.
    pub points: Vec<PointId>,
}

/// What a seed of a guided campaign runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub origin: Origin,
    /// The corpus entry mutated, and how.
    pub parent: Option<u64>,
    pub mutations: Vec<Mutation>,
}

impl Plan {
    pub fn fresh() -> Plan {
        Plan {
            origin: Origin::Fresh,
            parent: None,
            mutations: vec![],
        }
    }
}

/// The corpus and what it knows of the seeds folded into it.
#[derive(Clone, Debug, PartialEq)]
pub struct Corpus {
    /// Point names, indexed by [`PointId`].
    names: Vec<String>,
    /// Per point, seeds that reached it.
    hits: Vec<u64>,
    /// Pairs of points some seed reached together.
    pairs: BTreeSet<(PointId, PointId)>,
    seeds_seen: u64,
    entries: Vec<Entry>,
}

impl Corpus {
    /// An empty corpus over the points `names`.
    pub fn new(names: Vec<String>) -> Corpus {
        Corpus {
            hits: vec![0; names.len()],
            names,
            pairs: BTreeSet::new(),
            seeds_seen: 0,
            entries: vec![],
        }
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Seeds folded in, those of the corpus file it was loaded from included.
    pub fn seeds_seen(&self) -> u64 {
        self.seeds_seen
    }

    pub fn point_names(&self) -> &[String] {
        &self.names
    }

    /// The id of a point name, if the corpus knows it.
    pub fn point_id(&self, name: &str) -> Option<PointId> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| i as PointId)
    }

    /// How rare what `entry` reached is: the sum over its points of one over the seeds that
    /// reached each.
    pub fn energy(&self, entry: &Entry) -> f64 {
        entry
            .points
            .iter()
            .map(|&p| 1.0 / self.hits[p as usize].max(1) as f64)
            .sum()
    }

    /// What `seed` runs with this corpus: its own generator decides fresh or mutant, the entry
    /// (weighted by energy) and the mutations.
    pub fn plan(&self, seed: u64, options: &GenOptions) -> Plan {
        if self.entries.is_empty() {
            return Plan::fresh();
        }
        let mut runner = TestRunner::new_with_rng(Config::default(), decision_rng(seed));
        if runner.rng().next_u64() % 100 >= MUTANT_PERCENT {
            return Plan::fresh();
        }
        // Whole-number weights, so that the choice is the same on every platform.
        let weights: Vec<u64> = self
            .entries
            .iter()
            .map(|e| 1 + (self.energy(e) * 1e6) as u64)
            .collect();
        let total: u64 = weights.iter().sum();
        let mut pick = runner.rng().next_u64() % total;
        let index = weights
            .iter()
            .position(|&w| {
                if pick < w {
                    true
                } else {
                    pick -= w;
                    false
                }
            })
            .unwrap_or(0);
        let parent = &self.entries[index];
        match mutant(&parent.genotype, options, &mut runner) {
            Some((genotype, mutations)) => Plan {
                origin: Origin::Mutant(Box::new(genotype)),
                parent: Some(parent.seed),
                mutations,
            },
            None => Plan::fresh(),
        }
    }

    /// Folds in `seed`, which reached `points`: it joins the corpus if it reached a point no
    /// earlier seed did, a point under 1 % of the seeds so far reached, or two points never
    /// reached together. `genotype` is asked only then. Returns whether it joined.
    pub fn fold(
        &mut self,
        seed: u64,
        parent: Option<u64>,
        points: &[PointId],
        genotype: impl FnOnce() -> Genotype,
    ) -> bool {
        let mut points: Vec<PointId> = points
            .iter()
            .copied()
            .filter(|&p| (p as usize) < self.names.len())
            .collect();
        points.sort_unstable();
        points.dedup();
        let rare_below = (self.seeds_seen / 100).max(1);
        let rare = points.iter().any(|&p| self.hits[p as usize] < rare_below);
        let mut new_pair = false;
        for (i, &a) in points.iter().enumerate() {
            for &b in &points[i + 1..] {
                new_pair |= self.pairs.insert((a, b));
            }
        }
        for &p in &points {
            self.hits[p as usize] += 1;
        }
        self.seeds_seen += 1;
        if !(rare || new_pair) {
            return false;
        }
        self.entries.push(Entry {
            seed,
            parent,
            genotype: genotype(),
            points,
        });
        if self.entries.len() > MAX_ENTRIES {
            // The least rare goes; among equals, the oldest.
            let energies: Vec<f64> = self.entries.iter().map(|e| self.energy(e)).collect();
            let weakest = (0..energies.len())
                .min_by(|&a, &b| energies[a].total_cmp(&energies[b]).then(a.cmp(&b)))
                .expect("the corpus is not empty");
            self.entries.remove(weakest);
        }
        true
    }

    /// Writes the corpus as `dir/corpus.json` and one scenario file per entry in
    /// `dir/corpus/` (each replays its entry's run with `splitbrain run`).
    pub fn write(&self, dir: &Path, options: &GenOptions) -> std::io::Result<()> {
        let files = dir.join("corpus");
        std::fs::create_dir_all(&files)?;
        let mut entries = Vec::new();
        for entry in &self.entries {
            let file = format!("corpus/seed-{}.toml", entry.seed);
            let mut scenario = build(&entry.genotype, options);
            scenario.name = format!("chaos-{}", entry.seed);
            scenario.seed = entry.seed;
            let header = format!(
                "Guided chaos corpus entry: seed {}{}.\nReplay its run: splitbrain run <this file>",
                entry.seed,
                entry
                    .parent
                    .map_or(String::new(), |p| format!(", a mutant of seed {p}"))
            );
            std::fs::write(dir.join(&file), to_toml(&scenario, &header))?;
            entries.push(EntryFile {
                seed: entry.seed,
                parent: entry.parent,
                scenario: file,
                energy: self.energy(entry),
                points: entry
                    .points
                    .iter()
                    .map(|&p| self.names[p as usize].clone())
                    .collect(),
                swarm: entry.genotype.swarm.clone(),
                episodes: entry.genotype.episodes.clone(),
            });
        }
        let file = CorpusFile {
            format: FORMAT.to_string(),
            seeds_seen: self.seeds_seen,
            points: (self.names.iter().zip(&self.hits))
                .map(|(name, &seeds)| PointFile {
                    name: name.clone(),
                    seeds,
                })
                .collect(),
            pairs: (self.pairs.iter())
                .map(|&(a, b)| {
                    [
                        self.names[a as usize].clone(),
                        self.names[b as usize].clone(),
                    ]
                })
                .collect(),
            entries,
        };
        let json = serde_json::to_string_pretty(&file).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("corpus.json"), json + "\n")
    }

    /// Reads a corpus written by [`Corpus::write`] over this build's points `names`: points
    /// the file names that this build lacks are left out. The entries' worlds come from their
    /// scenario files (beside the corpus file), run with `options`' election code.
    pub fn load(path: &Path, names: Vec<String>, options: &GenOptions) -> Result<Corpus, String> {
        let at = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let text = std::fs::read_to_string(path).map_err(|e| at(&e))?;
        let file: CorpusFile = serde_json::from_str(&text).map_err(|e| at(&e))?;
        if file.format != FORMAT {
            return Err(at(&format!(
                "format '{}' is not a corpus this build reads ({FORMAT})",
                file.format
            )));
        }
        let mut corpus = Corpus::new(names);
        corpus.seeds_seen = file.seeds_seen;
        for point in &file.points {
            if let Some(id) = corpus.point_id(&point.name) {
                corpus.hits[id as usize] = point.seeds;
            }
        }
        for [a, b] in &file.pairs {
            if let (Some(a), Some(b)) = (corpus.point_id(a), corpus.point_id(b)) {
                corpus.pairs.insert((a.min(b), a.max(b)));
            }
        }
        let base = path.parent().unwrap_or(Path::new("."));
        for entry in file.entries {
            let scenario_path = base.join(&entry.scenario);
            let scenario = crate::scenario::load(&scenario_path).map_err(|errors| {
                let first = errors.first().map_or(String::new(), |e| e.to_string());
                at(&format!("entry of seed {}: {first}", entry.seed))
            })?;
            let mut topology = scenario.topology;
            topology.election = options.election;
            let mut points: Vec<PointId> = entry
                .points
                .iter()
                .filter_map(|n| corpus.point_id(n))
                .collect();
            points.sort_unstable();
            points.dedup();
            corpus.entries.push(Entry {
                seed: entry.seed,
                parent: entry.parent,
                genotype: Genotype {
                    swarm: entry.swarm,
                    episodes: entry.episodes,
                    topology,
                },
                points,
            });
        }
        Ok(corpus)
    }
}

/// `corpus.json`.
#[derive(serde::Serialize, serde::Deserialize)]
struct CorpusFile {
    format: String,
    /// Seeds folded into the corpus.
    seeds_seen: u64,
    /// Per point, how many of those seeds reached it.
    points: Vec<PointFile>,
    /// Pairs of points some seed reached together.
    pairs: Vec<[String; 2]>,
    entries: Vec<EntryFile>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct PointFile {
    name: String,
    seeds: u64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct EntryFile {
    seed: u64,
    parent: Option<u64>,
    /// The entry's scenario file, relative to the corpus file.
    scenario: String,
    /// Its weight when the corpus was written (informational).
    energy: f64,
    points: Vec<String>,
    swarm: Swarm,
    episodes: Vec<Episode>,
}

/// The generator of a seed's guided choices: ChaCha keyed by the seed spread over 32 bytes
/// (SplitMix64's mixer on a Weyl sequence of its own, so that no seed's key is the key that
/// draws some seed's fresh schedule).
fn decision_rng(seed: u64) -> TestRng {
    let mut state = seed;
    let mut key = [0u8; 32];
    for chunk in key.chunks_mut(8) {
        state = state.wrapping_add(0xd1b5_4a32_d192_ed03);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    TestRng::from_seed(RngAlgorithm::ChaCha, &key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::explore::generated_genotype;

    fn names() -> Vec<String> {
        ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect()
    }

    fn entry_genotype(seed: u64) -> Genotype {
        let options = GenOptions::default();
        generated_genotype(seed, &options).laid_out(options.fault_phase)
    }

    #[test]
    fn a_seed_joins_for_a_new_point_or_pair_and_not_for_the_same_again() {
        let mut corpus = Corpus::new(names());
        assert!(corpus.fold(1, None, &[0, 1], || entry_genotype(1)));
        assert!(!corpus.fold(2, None, &[0, 1], || unreachable!("not asked")));
        assert!(
            corpus.fold(3, None, &[0, 2], || entry_genotype(3)),
            "new pair"
        );
        assert!(
            corpus.fold(4, None, &[3], || entry_genotype(4)),
            "new point"
        );
        assert_eq!(corpus.len(), 3);
        assert_eq!(corpus.seeds_seen(), 4);
        // Point 3 was reached once, point 0 three times: the entry reaching 3 weighs most.
        let energies: Vec<f64> = corpus.entries().iter().map(|e| corpus.energy(e)).collect();
        assert!(energies[2] > energies[0], "{energies:?}");
    }

    /// The plan of a seed depends on the seed and the corpus alone, and a corpus written and
    /// read back plans the same: the replay promise of a guided seed.
    #[test]
    fn plans_replay_from_the_seed_and_the_corpus_file() {
        let options = GenOptions::default();
        let mut corpus = Corpus::new(names());
        for (seed, points) in [(1u64, vec![0u16, 1]), (2, vec![2]), (3, vec![1, 3])] {
            corpus.fold(seed, None, &points, || entry_genotype(seed));
        }
        let plans: Vec<Plan> = (100..120).map(|s| corpus.plan(s, &options)).collect();
        assert_eq!(
            plans,
            (100..120)
                .map(|s| corpus.plan(s, &options))
                .collect::<Vec<_>>()
        );
        let mutants = plans.iter().filter(|p| p.parent.is_some()).count();
        assert!((3..=17).contains(&mutants), "{mutants} of 20 mutants");
        assert!(Corpus::new(names()).plan(100, &options) == Plan::fresh());

        let dir = std::env::temp_dir().join(format!("splitbrain-corpus-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        corpus.write(&dir, &options).unwrap();
        let loaded = Corpus::load(&dir.join("corpus.json"), names(), &options).unwrap();
        assert_eq!(loaded, corpus);
        let replayed: Vec<Plan> = (100..120).map(|s| loaded.plan(s, &options)).collect();
        assert_eq!(replayed, plans);
        // A corpus entry's file replays its run.
        let file = dir.join("corpus/seed-2.toml");
        let scenario = crate::scenario::load(&file).unwrap();
        assert_eq!(scenario.seed, 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_corpus_file_that_is_not_one_is_refused_with_its_name() {
        let dir = std::env::temp_dir().join(format!("splitbrain-badcorpus-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("corpus.json");
        std::fs::write(&file, "{\"format\": \"other\"}").unwrap();
        let error = Corpus::load(&file, names(), &GenOptions::default()).unwrap_err();
        assert!(error.contains("corpus.json"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
