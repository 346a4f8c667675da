//! LoRe's objectives with exact gradients, as the official code computes them (`LoRe`,
//! `LoRe_regularized`, `PersonalizeBatch` in facebookresearch/LoRe `utils.py`).

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

use crate::error::{Result, UserModelError};

/// The reference's fixed margin scale: `r = x · V · π / 100`.
pub const MARGIN_SCALE: f64 = 100.0;

/// Each user's comparisons: one `m_u × F` matrix of feature differences per user, in user order.
#[derive(Clone, Debug)]
pub struct UserComparisons {
    pub per_user: Vec<Array2<f64>>,
}

impl UserComparisons {
    pub fn new(per_user: Vec<Array2<f64>>) -> Result<Self> {
        let features = per_user.first().map_or(0, |x| x.ncols());
        for (user, x) in per_user.iter().enumerate() {
            if x.ncols() != features {
                return Err(UserModelError::DimensionMismatch {
                    what: format!("feature width of user {user}"),
                    expected: features,
                    got: x.ncols(),
                });
            }
            if x.iter().any(|v| !v.is_finite()) {
                return Err(UserModelError::InvalidInput(format!(
                    "user {user} has a non-finite feature difference"
                )));
            }
        }
        Ok(Self { per_user })
    }

    pub fn users(&self) -> usize {
        self.per_user.len()
    }

    pub fn features(&self) -> usize {
        self.per_user.first().map_or(0, |x| x.ncols())
    }

    pub fn pairs(&self) -> usize {
        self.per_user.iter().map(|x| x.nrows()).sum()
    }
}

/// How per-pair losses are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Reduction {
    /// `Σ_u mean_{x ∈ D_u}`: every user counts equally (`LoRe`, `PersonalizeBatch`).
    #[default]
    PerUserSum,
    /// Mean over all pairs of all users: users count by their number of pairs
    /// (`LoRe_regularized`).
    PairMean,
}

/// The pull of the basis towards a reference reward direction `v_ref`.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Regularizer {
    #[default]
    None,
    /// `α Σ_b ||V[:, b] − v_ref||²`. With `broadcast_parity` it is the reference scripts'
    /// accidental `[F, 1]` broadcast, `α Σ_b Σ_{k,l} (V[k, b] − v_ref[l])²` (parity only).
    L2 {
        alpha: f64,
        reference: Array1<f64>,
        broadcast_parity: bool,
    },
    /// `α · mean_b (1 − cos(V[:, b], v_ref))` (`LoRe_regularized`).
    Cosine { alpha: f64, reference: Array1<f64> },
}

/// A LoRe objective: a reduction and a regularizer of the basis.
#[derive(Clone, Debug, Default)]
pub struct LoreObjective {
    pub reduction: Reduction,
    pub regularizer: Regularizer,
}

/// Value and gradients of a [`LoreObjective`] (`loss = nll + reg`).
#[derive(Clone, Debug)]
pub struct LoreLoss {
    pub nll: f64,
    /// The regularizer's value, including its `α`.
    pub reg: f64,
    pub loss: f64,
    /// `∂loss/∂W`, `users × B`.
    pub grad_w: Array2<f64>,
    /// `∂loss/∂V`, `F × B`.
    pub grad_v: Array2<f64>,
}

/// Row-wise softmax of the user logits: each row is a point of the simplex.
pub fn simplex_weights(w: ArrayView2<'_, f64>) -> Array2<f64> {
    let mut out = w.to_owned();
    for mut row in out.rows_mut() {
        let max = row.fold(f64::NEG_INFINITY, |m, &v| m.max(v));
        row.mapv_inplace(|v| (v - max).exp());
        let sum = row.sum();
        row /= sum;
    }
    out
}

/// The margins `x · V · π / 100` of one user's comparisons.
pub fn margins(
    x: ArrayView2<'_, f64>,
    v: ArrayView2<'_, f64>,
    pi: ArrayView1<'_, f64>,
) -> Array1<f64> {
    x.dot(&v.dot(&pi)) / MARGIN_SCALE
}

/// `log σ(r)` without overflow or underflow.
pub(crate) fn log_sigmoid(r: f64) -> f64 {
    if r >= 0.0 {
        -(-r).exp().ln_1p()
    } else {
        r - r.exp().ln_1p()
    }
}

/// `σ(r)`, stable on both sides.
pub(crate) fn sigmoid(r: f64) -> f64 {
    if r >= 0.0 {
        1.0 / (1.0 + (-r).exp())
    } else {
        let e = r.exp();
        e / (1.0 + e)
    }
}

impl LoreObjective {
    /// The objective at `(V, W)` and its gradients with respect to both.
    pub fn evaluate(
        &self,
        data: &UserComparisons,
        v: ArrayView2<'_, f64>,
        w: ArrayView2<'_, f64>,
    ) -> Result<LoreLoss> {
        check_shapes(data, v, w)?;
        let pi = simplex_weights(w);
        let total_pairs = data.pairs();
        let mut nll = 0.0;
        let mut grad_v = Array2::<f64>::zeros(v.raw_dim());
        let mut grad_w = Array2::<f64>::zeros(w.raw_dim());
        for (user, x) in data.per_user.iter().enumerate() {
            let pairs = x.nrows();
            if pairs == 0 {
                continue;
            }
            let weight = match self.reduction {
                Reduction::PerUserSum => 1.0 / pairs as f64,
                Reduction::PairMean => 1.0 / total_pairs as f64,
            };
            let pi_u = pi.row(user);
            let r = margins(x.view(), v, pi_u);
            nll -= weight * r.iter().map(|&m| log_sigmoid(m)).sum::<f64>();
            // ∂(−log σ(r))/∂r = −σ(−r), then through r = x V π / 100.
            let dr = r.mapv(|m| -weight * sigmoid(-m) / MARGIN_SCALE);
            let xg = x.t().dot(&dr); // F
            // ∂/∂V = (Xᵀ dr) πᵀ
            grad_v += &outer(xg.view(), pi_u);
            // ∂/∂π = Vᵀ Xᵀ dr, then the softmax Jacobian: π ⊙ (g − π·g)
            let d_pi = v.t().dot(&xg);
            let centre = pi_u.dot(&d_pi);
            grad_w
                .row_mut(user)
                .assign(&(&pi_u * &d_pi.mapv(|g| g - centre)));
        }
        let reg = self.regularize(v, &mut grad_v)?;
        Ok(LoreLoss {
            nll,
            reg,
            loss: nll + reg,
            grad_w,
            grad_v,
        })
    }

    /// Adds the regularizer's gradient to `grad_v` and returns its value.
    fn regularize(&self, v: ArrayView2<'_, f64>, grad_v: &mut Array2<f64>) -> Result<f64> {
        let features = v.nrows();
        match &self.regularizer {
            Regularizer::None => Ok(0.0),
            Regularizer::L2 {
                alpha,
                reference,
                broadcast_parity,
            } => {
                check_reference(reference, features)?;
                let mut value = 0.0;
                if *broadcast_parity {
                    let (sum_ref, sum_sq_ref) = (reference.sum(), reference.mapv(|r| r * r).sum());
                    let n = reference.len() as f64;
                    for column in v.columns() {
                        // Σ_{k,l} (V_k − r_l)² = n Σ V_k² − 2 Σ V_k Σ r + F Σ r².
                        value += n * column.mapv(|c| c * c).sum() - 2.0 * column.sum() * sum_ref
                            + column.len() as f64 * sum_sq_ref;
                    }
                    *grad_v += &v.mapv(|c| alpha * 2.0 * (n * c - sum_ref));
                } else {
                    for (b, column) in v.columns().into_iter().enumerate() {
                        let diff = &column - reference;
                        value += diff.dot(&diff);
                        grad_v.column_mut(b).scaled_add(2.0 * alpha, &diff);
                    }
                }
                Ok(alpha * value)
            }
            Regularizer::Cosine { alpha, reference } => {
                check_reference(reference, features)?;
                let ref_norm = reference.dot(reference).sqrt();
                let columns = v.ncols() as f64;
                let mut value = 0.0;
                for (b, column) in v.columns().into_iter().enumerate() {
                    let norm = column.dot(&column).sqrt();
                    if norm == 0.0 || ref_norm == 0.0 {
                        return Err(UserModelError::InvalidInput(format!(
                            "cosine regularizer of a zero vector (basis column {b} or v_ref)"
                        )));
                    }
                    let cos = column.dot(reference) / (norm * ref_norm);
                    value += 1.0 - cos;
                    // ∂cos/∂c = v_ref/(|c||v_ref|) − cos · c/|c|².
                    let d_cos = reference / (norm * ref_norm) - &column * (cos / (norm * norm));
                    grad_v.column_mut(b).scaled_add(-alpha / columns, &d_cos);
                }
                Ok(alpha * value / columns)
            }
        }
    }
}

fn outer(a: ArrayView1<'_, f64>, b: ArrayView1<'_, f64>) -> Array2<f64> {
    let column = a.insert_axis(Axis(1));
    let row = b.insert_axis(Axis(0));
    column.dot(&row)
}

fn check_reference(reference: &Array1<f64>, features: usize) -> Result<()> {
    if reference.len() == features {
        Ok(())
    } else {
        Err(UserModelError::DimensionMismatch {
            what: "v_ref length vs feature width".into(),
            expected: features,
            got: reference.len(),
        })
    }
}

fn check_shapes(
    data: &UserComparisons,
    v: ArrayView2<'_, f64>,
    w: ArrayView2<'_, f64>,
) -> Result<()> {
    let mismatch = |what: &str, expected: usize, got: usize| {
        (expected != got).then(|| UserModelError::DimensionMismatch {
            what: what.into(),
            expected,
            got,
        })
    };
    let checks = [
        mismatch(
            "basis rows (V) vs feature width",
            data.features(),
            v.nrows(),
        ),
        mismatch("user-weight rows (W) vs users", data.users(), w.nrows()),
        mismatch(
            "user-weight columns (W) vs basis rank",
            v.ncols(),
            w.ncols(),
        ),
    ];
    match checks.into_iter().flatten().next() {
        Some(error) if data.users() > 0 => Err(error),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::Xoshiro256PlusPlus;
    use rand_distr::{Distribution, Normal};

    fn random(
        rows: usize,
        columns: usize,
        scale: f64,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Array2<f64> {
        let normal = Normal::new(0.0, scale).unwrap();
        Array2::from_shape_fn((rows, columns), |_| normal.sample(rng))
    }

    fn objectives(features: usize, rng: &mut Xoshiro256PlusPlus) -> Vec<LoreObjective> {
        let reference = random(features, 1, 1.0, rng).column(0).to_owned();
        let l2 = |broadcast_parity| Regularizer::L2 {
            alpha: 0.3,
            reference: reference.clone(),
            broadcast_parity,
        };
        vec![
            LoreObjective::default(),
            LoreObjective {
                reduction: Reduction::PairMean,
                regularizer: l2(false),
            },
            LoreObjective {
                reduction: Reduction::PerUserSum,
                regularizer: l2(true),
            },
            LoreObjective {
                reduction: Reduction::PairMean,
                regularizer: Regularizer::Cosine {
                    alpha: 2.0,
                    reference: reference.clone(),
                },
            },
        ]
    }

    /// Compares `analytic` with central differences of `f` around `point`.
    fn check_gradient(
        name: &str,
        point: &Array2<f64>,
        analytic: &Array2<f64>,
        f: impl Fn(&Array2<f64>) -> f64,
    ) {
        let h = 1e-6;
        for ((i, j), &expected) in analytic.indexed_iter() {
            let (mut plus, mut minus) = (point.clone(), point.clone());
            plus[(i, j)] += h;
            minus[(i, j)] -= h;
            let numeric = (f(&plus) - f(&minus)) / (2.0 * h);
            assert!(
                (numeric - expected).abs() < 1e-6,
                "{name}[{i},{j}]: {numeric} vs {expected}"
            );
        }
    }

    /// Central finite differences agree with the analytic gradients of every variant.
    #[test]
    fn gradients_match_finite_differences() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        let (features, rank) = (5, 3);
        let data = UserComparisons::new(vec![
            random(4, features, 30.0, &mut rng),
            random(2, features, 30.0, &mut rng),
            random(0, features, 30.0, &mut rng),
        ])
        .unwrap();
        let v = random(features, rank, 1.0, &mut rng);
        let w = random(3, rank, 1.0, &mut rng);
        for objective in objectives(features, &mut rng) {
            let loss = objective.evaluate(&data, v.view(), w.view()).unwrap();
            let at = |v: &Array2<f64>, w: &Array2<f64>| {
                objective.evaluate(&data, v.view(), w.view()).unwrap().loss
            };
            let name = format!("{objective:?}");
            check_gradient(&format!("{name} V"), &v, &loss.grad_v, |v| at(v, &w));
            check_gradient(&format!("{name} W"), &w, &loss.grad_w, |w| at(&v, w));
        }
    }

    /// Margins of ±1e4 (features of 1e6) give finite values and gradients.
    #[test]
    fn extreme_margins_stay_finite() {
        let x = ndarray::array![[1e6, 0.0], [-1e6, 0.0]];
        let data = UserComparisons::new(vec![x]).unwrap();
        let v = ndarray::array![[1.0], [0.0]];
        let w = ndarray::array![[0.0]];
        let loss = LoreObjective::default()
            .evaluate(&data, v.view(), w.view())
            .unwrap();
        assert!((loss.nll - 1e4 / 2.0).abs() < 1e-6, "{}", loss.nll);
        assert!(
            loss.grad_v
                .iter()
                .chain(&loss.grad_w)
                .all(|g| g.is_finite())
        );
    }

    #[test]
    fn mismatched_shapes_are_errors() {
        let data = UserComparisons::new(vec![Array2::zeros((2, 4))]).unwrap();
        let error = LoreObjective::default()
            .evaluate(
                &data,
                Array2::zeros((3, 2)).view(),
                Array2::zeros((1, 2)).view(),
            )
            .unwrap_err();
        assert!(error.to_string().contains("basis rows"), "{error}");
        assert!(UserComparisons::new(vec![Array2::zeros((1, 4)), Array2::zeros((1, 3))]).is_err());
    }
}
