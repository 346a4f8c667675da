//! The per-user baseline of LoRe's paper: an independent linear reward for every user, trained
//! on that user's comparisons alone (the repository's `learn_multiple` cannot run as shipped,
//! `docs/methods/personal.md` §3d, so this is the textbook model it names).
//!
//! User `u` prefers the chosen response with probability `σ(x · θ_u)`. With few comparisons the
//! data are often separable, so an L2 penalty keeps the problem strongly convex:
//! `min_θ mean_i −log σ(x_i · θ) + (λ/2)‖θ‖²`. It is solved by Newton's method (faer's Cholesky
//! solve of the `F × F` Hessian) until the gradient norm is below a tolerance.

use faer::Mat;
use faer::linalg::solvers::Solve;
use ndarray::{Array1, ArrayView2};

use super::objective::{log_sigmoid, sigmoid};
use crate::error::{Result, UserModelError};

/// A fitted per-user reward `θ` and how the solve ended.
#[derive(Clone, Debug)]
pub struct IndependentReward {
    pub theta: Array1<f64>,
    /// Penalised objective at `theta`.
    pub objective: f64,
    /// Euclidean norm of the gradient at `theta`.
    pub gradient_norm: f64,
    pub iterations: usize,
}

impl IndependentReward {
    /// Fraction of `x`'s comparisons (rows) this reward orders correctly.
    pub fn accuracy(&self, x: ArrayView2<'_, f64>) -> f64 {
        let margins = x.dot(&self.theta);
        margins.iter().filter(|&&m| m > 0.0).count() as f64 / margins.len().max(1) as f64
    }
}

/// Fits one user's reward from its comparisons `x` (`m × F` feature differences, chosen minus
/// rejected) with L2 penalty `l2 > 0`, to a gradient norm of at most `tolerance` (or until the
/// Newton decrement is below rounding).
pub fn fit_independent_reward(
    x: ArrayView2<'_, f64>,
    l2: f64,
    tolerance: f64,
    max_iterations: usize,
) -> Result<IndependentReward> {
    let (m, f) = x.dim();
    if m == 0 || f == 0 {
        return Err(UserModelError::InvalidInput(
            "a per-user reward needs at least one comparison with features".into(),
        ));
    }
    if !(l2 > 0.0 && l2.is_finite()) {
        return Err(UserModelError::InvalidConfig(format!(
            "the per-user reward needs an L2 penalty > 0 (got {l2}): few comparisons are often \
             separable"
        )));
    }
    let n = m as f64;
    let objective = |theta: &Array1<f64>| {
        -x.dot(theta).iter().map(|&r| log_sigmoid(r)).sum::<f64>() / n + 0.5 * l2 * theta.dot(theta)
    };
    let mut theta = Array1::<f64>::zeros(f);
    for iteration in 0..=max_iterations {
        let margins = x.dot(&theta);
        // ∂/∂θ = −Xᵀ σ(−r) / m + λθ;   ∂²/∂θ² = Xᵀ diag(σ(r)σ(−r)) X / m + λI.
        let gradient = x.t().dot(&margins.mapv(|r| -sigmoid(-r) / n)) + &theta * l2;
        let gradient_norm = gradient.dot(&gradient).sqrt();
        let value = objective(&theta);
        if gradient_norm <= tolerance {
            return Ok(IndependentReward {
                theta,
                objective: value,
                gradient_norm,
                iterations: iteration,
            });
        }
        let curvature = margins.mapv(|r| sigmoid(r) * sigmoid(-r) / n);
        let hessian = Mat::<f64>::from_fn(f, f, |i, j| {
            let data: f64 = (0..m).map(|k| curvature[k] * x[(k, i)] * x[(k, j)]).sum();
            data + if i == j { l2 } else { 0.0 }
        });
        let rhs = Mat::<f64>::from_fn(f, 1, |i, _| gradient[i]);
        let step = hessian
            .llt(faer::Side::Lower)
            .map_err(|e| {
                UserModelError::InvalidInput(format!(
                    "per-user reward: the Hessian is not positive definite ({e:?})"
                ))
            })?
            .solve(&rhs);
        let direction = Array1::from_shape_fn(f, |i| -step[(i, 0)]);
        let slope = gradient.dot(&direction);
        // The Newton decrement bounds the remaining gap (½·gᵀH⁻¹g); below rounding there is
        // nothing left to gain, whatever the gradient's norm.
        if -slope / 2.0 <= 1e-15 * value.abs().max(1.0) {
            return Ok(IndependentReward {
                theta,
                objective: value,
                gradient_norm,
                iterations: iteration,
            });
        }
        // Damped Newton: halve the step until the objective decreases enough (Armijo).
        let mut t = 1.0;
        loop {
            let candidate = &theta + &(&direction * t);
            if objective(&candidate) <= value + 1e-4 * t * slope || t < 1e-10 {
                theta = candidate;
                break;
            }
            t /= 2.0;
        }
    }
    Err(UserModelError::InvalidInput(format!(
        "the per-user reward did not reach a gradient norm of {tolerance} in {max_iterations} \
         Newton iterations"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn newton_reaches_the_optimum_and_orders_the_planted_direction() {
        // Comparisons oriented by a planted reward; a few flipped so the data are not separable.
        let truth = [1.0, -2.0, 0.5];
        let mut x = Array2::from_shape_fn((40, 3), |(i, j)| {
            ((i * 7 + j * 3) % 11) as f64 / 5.0 - 1.0 + 0.1 * j as f64
        });
        for (i, mut row) in x.rows_mut().into_iter().enumerate() {
            let margin: f64 = row.iter().zip(truth).map(|(a, b)| a * b).sum();
            if (margin < 0.0) != (i % 10 == 0) {
                row.mapv_inplace(|v| -v);
            }
        }
        let fit = fit_independent_reward(x.view(), 1e-3, 1e-10, 100).unwrap();
        assert!(fit.gradient_norm <= 1e-10 && fit.iterations < 30);
        // Optimality: the penalised objective does not drop along any coordinate.
        let value = |theta: &Array1<f64>| {
            -x.dot(theta).iter().map(|&r| log_sigmoid(r)).sum::<f64>() / 40.0
                + 0.5e-3 * theta.dot(theta)
        };
        for j in 0..3 {
            for h in [1e-4, -1e-4] {
                let mut moved = fit.theta.clone();
                moved[j] += h;
                assert!(value(&moved) >= fit.objective - 1e-12);
            }
        }
        assert!(fit.accuracy(x.view()) >= 0.85);
        let cosine = fit.theta.iter().zip(truth).map(|(a, b)| a * b).sum::<f64>()
            / (fit.theta.dot(&fit.theta).sqrt() * truth.iter().map(|t| t * t).sum::<f64>().sqrt());
        assert!(cosine > 0.9, "cosine to the planted reward {cosine}");
        assert!(fit_independent_reward(x.view(), 0.0, 1e-8, 10).is_err());
        assert!(fit_independent_reward(Array2::zeros((0, 3)).view(), 1.0, 1e-8, 10).is_err());
    }
}
