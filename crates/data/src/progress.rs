//! Progress reporting for long work, without tying the library to a terminal: binaries implement
//! [`Progress`] with a progress bar, tests and libraries pass [`NoProgress`].

/// Receives the stages of a long operation and how far each has got.
pub trait Progress {
    /// A new stage of `total` units (`None` when unknown).
    fn stage(&mut self, name: &str, total: Option<u64>);
    /// `units` more are done in the current stage.
    fn advance(&mut self, units: u64);
    /// The current stage is complete.
    fn finish_stage(&mut self) {}
}

/// Discards all progress.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn stage(&mut self, _name: &str, _total: Option<u64>) {}
    fn advance(&mut self, _units: u64) {}
}
