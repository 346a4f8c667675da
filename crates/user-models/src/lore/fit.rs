//! Fitting LoRe: the basis and user weights jointly (Adam, as the official `run`), and new users
//! few-shot with the basis frozen, solved to a certified tolerance.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand_distr::{Distribution, Normal};

use super::objective::{
    LoreObjective, MARGIN_SCALE, UserComparisons, log_sigmoid, sigmoid, simplex_weights,
};
use crate::error::{Result, UserModelError};

/// A fitted low-rank reward model: basis `V` (`F × B`) and user logits `W` (`users × B`).
#[derive(Clone, Debug)]
pub struct LoreModel {
    pub basis: Array2<f64>,
    pub user_logits: Array2<f64>,
}

impl LoreModel {
    /// Each user's weights on the simplex, `softmax(W_u)`.
    pub fn user_weights(&self) -> Array2<f64> {
        simplex_weights(self.user_logits.view())
    }

    /// A user's rewards of responses, one per row of `features` (`n × F`): `φ · V · π`, the
    /// margin of LoRe without its fixed 1/100. Ranks a user's candidates (higher is better).
    pub fn rewards(
        &self,
        features: ArrayView2<'_, f64>,
        pi: ArrayView1<'_, f64>,
    ) -> Result<Array1<f64>> {
        if features.ncols() != self.basis.nrows() || pi.len() != self.basis.ncols() {
            return Err(UserModelError::DimensionMismatch {
                what: format!(
                    "response features × user weights against a {} × {} basis",
                    self.basis.nrows(),
                    self.basis.ncols()
                ),
                expected: self.basis.nrows() * self.basis.ncols(),
                got: features.ncols() * pi.len(),
            });
        }
        Ok(features.dot(&self.basis.dot(&pi)))
    }

    /// Fraction of `x`'s comparisons (rows) with a positive margin under weights `pi`.
    pub fn accuracy(&self, x: ArrayView2<'_, f64>, pi: ArrayView1<'_, f64>) -> f64 {
        let margins = x.dot(&self.basis.dot(&pi));
        margins.iter().filter(|&&m| m > 0.0).count() as f64 / margins.len().max(1) as f64
    }
}

/// Settings of the joint fit (the official defaults: Adam, lr 0.5, 1000 steps, N(0, 1) init).
#[derive(Clone, Debug)]
pub struct JointFit {
    pub rank: usize,
    pub steps: usize,
    pub lr: f64,
    pub seed: u64,
    pub objective: LoreObjective,
}

impl JointFit {
    pub fn new(rank: usize) -> Self {
        Self {
            rank,
            steps: 1000,
            lr: 0.5,
            seed: 0,
            objective: LoreObjective::default(),
        }
    }

    /// Fits `V` and `W` on the seen users' comparisons.
    pub fn fit(&self, data: &UserComparisons) -> Result<LoreModel> {
        if self.rank == 0 || data.users() == 0 || data.features() == 0 {
            return Err(UserModelError::InvalidConfig(format!(
                "a joint fit needs rank ≥ 1, users and features (rank {}, users {}, features {})",
                self.rank,
                data.users(),
                data.features()
            )));
        }
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(self.seed);
        let normal = Normal::new(0.0, 1.0).expect("unit normal");
        let mut v =
            Array2::from_shape_fn((data.features(), self.rank), |_| normal.sample(&mut rng));
        let mut w = Array2::from_shape_fn((data.users(), self.rank), |_| normal.sample(&mut rng));
        let (mut adam_v, mut adam_w) = (Adam::new(v.raw_dim()), Adam::new(w.raw_dim()));
        for _ in 0..self.steps {
            let loss = self.objective.evaluate(data, v.view(), w.view())?;
            adam_v.step(&mut v, &loss.grad_v, self.lr);
            adam_w.step(&mut w, &loss.grad_w, self.lr);
        }
        Ok(LoreModel {
            basis: v,
            user_logits: w,
        })
    }
}

/// Adam with PyTorch's defaults (β = (0.9, 0.999), ε = 1e-8), as the reference uses.
struct Adam {
    m: Array2<f64>,
    s: Array2<f64>,
    t: i32,
}

impl Adam {
    fn new(shape: ndarray::Ix2) -> Self {
        Self {
            m: Array2::zeros(shape),
            s: Array2::zeros(shape),
            t: 0,
        }
    }

    fn step(&mut self, x: &mut Array2<f64>, g: &Array2<f64>, lr: f64) {
        let (b1, b2) = (0.9, 0.999);
        self.t += 1;
        self.m
            .zip_mut_with(g, |m, &g| *m = b1 * *m + (1.0 - b1) * g);
        self.s
            .zip_mut_with(g, |s, &g| *s = b2 * *s + (1.0 - b2) * g * g);
        let (c1, c2) = (1.0 - b1.powi(self.t), 1.0 - b2.powi(self.t));
        ndarray::Zip::from(x)
            .and(&self.m)
            .and(&self.s)
            .for_each(|x, &m, &s| *x -= lr * (m / c1) / ((s / c2).sqrt() + 1e-8));
    }
}

/// A new user's weights fitted from a few comparisons with the basis frozen.
#[derive(Clone, Debug)]
pub struct FewShotFit {
    /// The weights on the simplex.
    pub weights: Array1<f64>,
    /// `mean −log σ(x V π / 100)` at `weights`.
    pub nll: f64,
    /// The Frank–Wolfe duality gap at `weights`: an upper bound on `nll − min nll`.
    pub gap: f64,
    pub iterations: usize,
}

/// Fits a new user's simplex weights `π` from `shots` (rows of feature differences) with the
/// basis frozen. The problem `min_{π ∈ Δ} mean −log σ(x V π / 100)` is convex in `π`, so it is
/// solved to a certificate rather than for a fixed number of steps: projected gradient with
/// Armijo backtracking until the duality gap is at most `tolerance` (error if `max_iterations`
/// is not enough).
pub fn fit_new_user(
    basis: ArrayView2<'_, f64>,
    shots: ArrayView2<'_, f64>,
    tolerance: f64,
    max_iterations: usize,
) -> Result<FewShotFit> {
    if shots.ncols() != basis.nrows() {
        return Err(UserModelError::DimensionMismatch {
            what: "shot feature width vs basis rows".into(),
            expected: basis.nrows(),
            got: shots.ncols(),
        });
    }
    let rank = basis.ncols();
    if rank == 0 || shots.nrows() == 0 {
        return Err(UserModelError::InvalidInput(
            "a few-shot fit needs a basis of rank ≥ 1 and at least one comparison".into(),
        ));
    }
    // The problem only sees the projected shots z = x V / 100 (m × B).
    let z = shots.dot(&basis) / MARGIN_SCALE;
    let m = z.nrows() as f64;
    let value = |pi: &Array1<f64>| -z.dot(pi).iter().map(|&r| log_sigmoid(r)).sum::<f64>() / m;
    let gradient = |pi: &Array1<f64>| {
        let dr = z.dot(pi).mapv(|r| -sigmoid(-r) / m);
        z.t().dot(&dr)
    };
    let mut pi = Array1::from_elem(rank, 1.0 / rank as f64);
    let mut step: f64 = 1.0;
    for iteration in 0..=max_iterations {
        let f = value(&pi);
        let g = gradient(&pi);
        let gap = g.dot(&pi) - g.fold(f64::INFINITY, |a, &b| a.min(b));
        if gap <= tolerance {
            return Ok(FewShotFit {
                weights: pi,
                nll: f,
                gap,
                iterations: iteration,
            });
        }
        // Armijo backtracking along the projected-gradient path.
        step = (step * 2.0).max(1e-6);
        loop {
            let candidate = project_to_simplex(&(&pi - &(&g * step)));
            let moved = &candidate - &pi;
            // The slack absorbs rounding when f is already tiny (separable shots).
            let bound = f + g.dot(&moved) + moved.dot(&moved) / (2.0 * step) + 1e-15 * f.abs();
            if value(&candidate) <= bound || step < 1e-12 {
                pi = candidate;
                break;
            }
            step /= 2.0;
        }
    }
    Err(UserModelError::InvalidInput(format!(
        "the few-shot fit did not reach a duality gap of {tolerance} in {max_iterations} iterations"
    )))
}

/// Euclidean projection onto the probability simplex (sort-based, exact).
fn project_to_simplex(y: &Array1<f64>) -> Array1<f64> {
    let mut sorted: Vec<f64> = y.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let (mut cumulative, mut theta) = (0.0, 0.0);
    for (i, &u) in sorted.iter().enumerate() {
        cumulative += u;
        let t = (cumulative - 1.0) / (i + 1) as f64;
        if u - t > 0.0 {
            theta = t;
        }
    }
    y.mapv(|v| (v - theta).max(0.0))
}
