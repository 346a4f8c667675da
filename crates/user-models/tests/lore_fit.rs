//! LoRe recovers planted structure: users are mixtures of 3 true basis rewards; a rank-3 fit
//! predicts seen users' held-out preferences far better than one shared Bradley–Terry reward
//! (rank 1), and new users fitted from a few shots with the basis frozen approach it.

use ndarray::{Array1, Array2};
use prefopt_user_models::lore::{JointFit, UserComparisons, fit_new_user, principal_angles};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand_distr::multi::Dirichlet;
use rand_distr::{Distribution, Normal};

const FEATURES: usize = 8;
const TRUE_RANK: usize = 3;

struct Planted {
    basis: Array2<f64>,
    rng: Xoshiro256PlusPlus,
}

impl Planted {
    fn new(seed: u64) -> Self {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let normal = Normal::new(0.0, 1.0).unwrap();
        let basis = Array2::from_shape_fn((FEATURES, TRUE_RANK), |_| normal.sample(&mut rng));
        Self { basis, rng }
    }

    fn user(&mut self) -> Array1<f64> {
        let dirichlet = Dirichlet::new(&[0.3; TRUE_RANK]).unwrap();
        Array1::from(dirichlet.sample(&mut self.rng))
    }

    /// `pairs` comparisons of a user, each oriented so the chosen response has the higher
    /// true reward (features at the scale LoRe's 1/100 expects).
    fn comparisons(&mut self, pi: &Array1<f64>, pairs: usize) -> Array2<f64> {
        let normal = Normal::new(0.0, 30.0).unwrap();
        let mut x = Array2::from_shape_fn((pairs, FEATURES), |_| normal.sample(&mut self.rng));
        let reward = self.basis.dot(pi);
        for mut row in x.rows_mut() {
            if row.dot(&reward) < 0.0 {
                row.mapv_inplace(|v| -v);
            }
        }
        x
    }
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

#[test]
fn low_rank_fit_beats_one_shared_reward_and_new_users_adapt_from_shots() {
    let mut planted = Planted::new(11);
    let users: Vec<Array1<f64>> = (0..24).map(|_| planted.user()).collect();
    let train: Vec<Array2<f64>> = users.iter().map(|pi| planted.comparisons(pi, 60)).collect();
    let test: Vec<Array2<f64>> = users
        .iter()
        .map(|pi| planted.comparisons(pi, 200))
        .collect();
    let data = UserComparisons::new(train).unwrap();

    let seen_accuracy = |rank: usize| {
        let fit = JointFit {
            steps: 400,
            ..JointFit::new(rank)
        };
        let model = fit.fit(&data).unwrap();
        let weights = model.user_weights();
        let accuracy: Vec<f64> = test
            .iter()
            .enumerate()
            .map(|(u, x)| model.accuracy(x.view(), weights.row(u)))
            .collect();
        (mean(&accuracy), model)
    };
    let (shared, _) = seen_accuracy(1);
    let (low_rank, model) = seen_accuracy(TRUE_RANK);
    assert!(low_rank > 0.9, "rank-3 seen-user accuracy {low_rank}");
    assert!(
        low_rank > shared + 0.05,
        "rank 3 {low_rank} vs shared BT {shared}"
    );
    let angles = principal_angles(model.basis.view(), planted.basis.view()).unwrap();
    assert!(
        angles.iter().all(|&t| t < 0.2),
        "the learned basis spans the true one: {angles:?}"
    );

    // New users: the basis stays frozen; only their simplex weights are fitted.
    let unseen: Vec<Array1<f64>> = (0..12).map(|_| planted.user()).collect();
    let unseen_accuracy = |shots: usize, planted: &mut Planted| {
        let accuracy: Vec<f64> = unseen
            .iter()
            .map(|pi| {
                let fit = fit_new_user(
                    model.basis.view(),
                    planted.comparisons(pi, shots).view(),
                    1e-6,
                    100_000,
                )
                .unwrap();
                assert!(fit.gap <= 1e-6 && (fit.weights.sum() - 1.0).abs() < 1e-12);
                model.accuracy(planted.comparisons(pi, 200).view(), fit.weights.view())
            })
            .collect();
        mean(&accuracy)
    };
    let few = unseen_accuracy(2, &mut planted);
    let many = unseen_accuracy(40, &mut planted);
    eprintln!(
        "seen users: shared BT {shared:.3}, rank 3 {low_rank:.3}; unseen users: 2 shots {few:.3}, \
         40 shots {many:.3}; principal angles to the true basis {angles:.3?} rad"
    );
    assert!(many > 0.85, "unseen users with 40 shots: {many}");
    assert!(
        many > few,
        "more shots should help: 2 shots {few}, 40 shots {many}"
    );
}
