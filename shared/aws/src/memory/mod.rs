//! The in-memory adapters: each port kept in a map, with the same contract as its SDK adapter
//! (the contract tests run both), so that a phase's unit tests need no emulator and no sleeps.

mod evidence;

pub use evidence::MemoryEvidence;
