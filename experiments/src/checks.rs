//! Predicates the settings' `check` methods share (a leaf: imports nothing of the crate).

/// A finite value above zero (NaN is not).
pub(crate) fn positive(value: f64) -> bool {
    value.is_finite() && value > 0.0
}
