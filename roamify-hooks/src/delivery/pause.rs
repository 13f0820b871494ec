//! Kinds paused by an operator in the in-memory store and the journal: the deliveries of a
//! paused kind that the lease comes upon wait here, in arrival order, until it is resumed.

use std::collections::{BTreeSet, VecDeque};

use super::filter::Described;
use super::store::Job;

#[derive(Debug, Default)]
pub(crate) struct Pauses {
    paused: BTreeSet<String>,
    /// Deliveries of paused kinds, with their kind, in the order the lease met them.
    held: VecDeque<(String, Job)>,
}

impl Pauses {
    /// `job`, unless its kind is paused (then it is held).
    pub(crate) fn pass(&mut self, job: Job) -> Option<Job> {
        if self.paused.is_empty() {
            return Some(job);
        }
        let kind = Described::of(&job.body).name();
        if self.paused.contains(&kind) {
            self.held.push_back((kind, job));
            None
        } else {
            Some(job)
        }
    }

    pub(crate) fn pause(&mut self, kind: String) -> bool {
        self.paused.insert(kind)
    }

    /// Resumes `kind`: its held deliveries, in their order (`None` when it was not paused).
    pub(crate) fn resume(&mut self, kind: &str) -> Option<Vec<Job>> {
        if !self.paused.remove(kind) {
            return None;
        }
        let (released, kept): (VecDeque<_>, VecDeque<_>) =
            self.held.drain(..).partition(|(k, _)| k == kind);
        self.held = kept;
        Some(released.into_iter().map(|(_, job)| job).collect())
    }

    pub(crate) fn paused(&self) -> Vec<String> {
        self.paused.iter().cloned().collect()
    }

    /// Deliveries held.
    pub(crate) fn held(&self) -> usize {
        self.held.len()
    }
}
