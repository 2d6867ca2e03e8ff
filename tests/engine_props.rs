//! Property tests (proptest): the simulation's invariants over generated files, budgets and
//! fault mixes, and the plan's coverage of any file.

mod engine_support;

use engine_support::{Faults, FileSpec, Rng, Sim};
use proptest::prelude::*;
use twelvelabs_edge_upload::core::plan::ChunkPlan;

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Any files, any budget, any fault mix: every file completes, with the harness checking at
    /// every step that no URL is used twice, PUTs and bytes in flight stay within the budget,
    /// progress is monotonic and never above the total, and no busy loop happens.
    #[test]
    fn every_run_completes_within_the_invariants(
        seed in any::<u64>(),
        concurrency in 1u32..8,
        files in prop::collection::vec((1u64..30, 1u64..5_000), 1..4),
    ) {
        let mut rng = Rng::new(seed);
        let faults = Faults::random(&mut rng);
        let mut sim = Sim::new(seed, faults, Sim::config(seed, concurrency));
        for &(chunks, chunk_size) in &files {
            sim.add_file(&FileSpec { size: (chunks - 1) * chunk_size + 1 + seed % chunk_size, chunk_size });
        }
        let report = sim.run(200_000);
        prop_assert_eq!(report.finished.len(), files.len());
        for outcome in report.finished.values() {
            prop_assert!(outcome.is_ok(), "{:?}", outcome);
        }
        prop_assert!(report.max_puts_in_flight <= concurrency);
    }

    /// A consistent server plan covers the file exactly, in 1-based chunks of `chunk_size` with
    /// a shorter (or equal) last one; an inconsistent chunk count is refused.
    #[test]
    fn plans_cover_files_exactly(size in 1u64..10_000_000, chunk_size in 1u64..2_000_000, off_by in 1u64..3) {
        let chunks = size.div_ceil(chunk_size);
        let plan = ChunkPlan::new(size, size, chunk_size, chunks).unwrap();
        let last = plan.range(plan.total_chunks()).unwrap();
        prop_assert_eq!(last.end, size);
        prop_assert!(!last.is_empty() && last.len() <= chunk_size);
        if plan.total_chunks() > 1 {
            prop_assert_eq!(plan.range(2).unwrap().start, chunk_size);
        }
        prop_assert!(ChunkPlan::new(size, size, chunk_size, chunks + off_by).is_err());
    }
}
