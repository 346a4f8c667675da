//! scikit-learn's `KMeans(n_clusters, random_state=seed)` on one column of values, replayed step
//! for step, because DynamicPO's official code picks its hard negatives with exactly that call.
//!
//! k-means converges to a local optimum that depends on its initialisation, so the clusters of
//! the *optimal* 1-D k-means are not what the official code selects (on random log-probs they
//! differ in a few percent of rows). What is replayed, from scikit-learn ≥ 1.4 (`n_init="auto"`,
//! i.e. one k-means++ run, then Lloyd):
//! - the data are centred on their mean (numpy's pairwise summation) before anything else;
//! - k-means++ draws from numpy's `RandomState(seed)` (MT19937 with `init_genrand`, doubles built
//!   from two 32-bit words): the first centre by `choice(n, p=1/n)`, then `2 + ⌊ln k⌋` candidates
//!   per centre by inverse-CDF sampling of the squared distances, keeping the candidate with the
//!   smallest potential;
//! - squared distances as scikit-learn computes them, `(−2·x·c + c²) + x²` in k-means++ and
//!   `c² − 2·x·c` in Lloyd's assignment (ties go to the lower cluster index);
//! - Lloyd's loop: means by multiplying sums with `1/weight`, empty clusters refilled with the
//!   point farthest from its centre (none when every distance is 0), an empty cluster's centre
//!   parked on the heaviest one, stop on unchanged labels or a squared centre shift within
//!   `1e-4 · var(x)`, and a final assignment when the loop stopped on the shift.
//!
//! Sums over points run left to right. scikit-learn takes the k-means++ potentials from a BLAS
//! matrix product, whose summation order depends on the CPU kernel; when two candidates have
//! mathematically equal potentials (a pair of points that are each other's nearest), the winner
//! is decided by that rounding, so on such inputs scikit-learn itself differs between machines.

use rand_mt::Mt;

/// The `k` cluster labels (`0..k`) scikit-learn assigns to `values`, or `None` when scikit-learn
/// refuses the input (fewer values than clusters, or a value that is not finite).
pub(crate) fn sklearn_kmeans_labels(values: &[f64], k: usize, seed: u32) -> Option<Vec<usize>> {
    let n = values.len();
    if k == 0 || n < k || values.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let mean = numpy_sum(values) / n as f64;
    let x: Vec<f64> = values.iter().map(|v| v - mean).collect();
    let tolerance = numpy_variance(values) * 1e-4;
    let centers = kmeans_plus_plus(&x, k, &mut NumpyRandom::new(seed));
    Some(lloyd(&x, centers, tolerance))
}

/// numpy's `RandomState` doubles (`random_sample`) over MT19937.
struct NumpyRandom(Mt);

impl NumpyRandom {
    fn new(seed: u32) -> Self {
        Self(Mt::new(seed))
    }

    fn next_f64(&mut self) -> f64 {
        let high = f64::from(self.0.next_u32() >> 5);
        let low = f64::from(self.0.next_u32() >> 6);
        (high * 67_108_864.0 + low) / 9_007_199_254_740_992.0
    }
}

/// numpy's pairwise summation (`np.sum` / `np.mean` over a contiguous axis).
fn numpy_sum(values: &[f64]) -> f64 {
    let n = values.len();
    if n < 8 {
        values.iter().fold(0.0, |acc, v| acc + v)
    } else if n <= 128 {
        let mut lanes = [0.0; 8];
        lanes.copy_from_slice(&values[..8]);
        let blocks = n - n % 8;
        for chunk in values[8..blocks].chunks_exact(8) {
            for (lane, v) in lanes.iter_mut().zip(chunk) {
                *lane += v;
            }
        }
        let mut sum = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
            + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
        for v in &values[blocks..] {
            sum += v;
        }
        sum
    } else {
        let half = n / 2;
        let half = half - half % 8;
        numpy_sum(&values[..half]) + numpy_sum(&values[half..])
    }
}

/// `np.var` (population variance, numpy's two-pass formula).
fn numpy_variance(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let mean = numpy_sum(values) / n;
    let squares: Vec<f64> = values.iter().map(|v| (v - mean) * (v - mean)).collect();
    numpy_sum(&squares) / n
}

/// Squared distances of every point to `center`, as `_euclidean_distances` computes them.
fn squared_distances(x: &[f64], center: f64) -> Vec<f64> {
    x.iter()
        .map(|&v| ((-2.0 * (center * v) + center * center) + v * v).max(0.0))
        .collect()
}

fn sequential_sum(values: &[f64]) -> f64 {
    values.iter().fold(0.0, |acc, v| acc + v)
}

/// scikit-learn's greedy k-means++ (`_kmeans_plusplus`) with unit sample weights.
fn kmeans_plus_plus(x: &[f64], k: usize, random: &mut NumpyRandom) -> Vec<f64> {
    let n = x.len();
    let trials = 2 + (k as f64).ln() as usize;
    // `choice(n, p = 1/n)`: searchsorted(side = right) in the normalised cumulative weights.
    let mut cdf = Vec::with_capacity(n);
    let mut running = 0.0;
    for _ in 0..n {
        running += 1.0 / n as f64;
        cdf.push(running);
    }
    let last = running;
    let draw = random.next_f64();
    let first = cdf.iter().filter(|c| **c / last <= draw).count().min(n - 1);
    let mut centers = vec![x[first]];
    let mut closest = squared_distances(x, x[first]);
    let mut potential = sequential_sum(&closest);
    while centers.len() < k {
        let draws: Vec<f64> = (0..trials).map(|_| random.next_f64() * potential).collect();
        let mut cumulative = Vec::with_capacity(n);
        let mut running = 0.0;
        for d in &closest {
            running += d;
            cumulative.push(running);
        }
        let mut best: Option<(f64, Vec<f64>, usize)> = None;
        for target in draws {
            // searchsorted(side = left), clipped to the last index.
            let candidate = cumulative.partition_point(|c| *c < target).min(n - 1);
            let distances: Vec<f64> = squared_distances(x, x[candidate])
                .into_iter()
                .zip(&closest)
                .map(|(d, c)| c.min(d))
                .collect();
            let candidate_potential = sequential_sum(&distances);
            if best.as_ref().is_none_or(|b| candidate_potential < b.0) {
                best = Some((candidate_potential, distances, candidate));
            }
        }
        let (best_potential, distances, candidate) = best.expect("at least two trials");
        potential = best_potential;
        closest = distances;
        centers.push(x[candidate]);
    }
    centers
}

/// Lloyd's assignment: the closest centre by `c² − 2·x·c`, ties to the lower index.
fn assign(x: &[f64], centers: &[f64]) -> Vec<usize> {
    let squared: Vec<f64> = centers.iter().map(|c| c * c).collect();
    x.iter()
        .map(|&v| {
            let mut label = 0;
            let mut best = squared[0] + -2.0 * (v * centers[0]);
            for j in 1..centers.len() {
                let d = squared[j] + -2.0 * (v * centers[j]);
                if d < best {
                    best = d;
                    label = j;
                }
            }
            label
        })
        .collect()
}

/// The index of the point farthest from its centre (numpy's `argpartition(d, -1)[-1]`: the
/// last maximum for more than three points, a selection sort's last element otherwise).
fn farthest_point(distances: &[f64]) -> usize {
    let n = distances.len();
    if n <= 3 {
        let mut order: Vec<usize> = (0..n).collect();
        for i in 0..n {
            let mut min = i;
            for j in i + 1..n {
                if distances[order[j]] < distances[order[min]] {
                    min = j;
                }
            }
            order.swap(i, min);
        }
        return order[n - 1];
    }
    let mut best = 0;
    for i in 1..n {
        if distances[i] >= distances[best] {
            best = i;
        }
    }
    best
}

/// One Lloyd update of the centres from `labels` (`lloyd_iter_chunked_dense`'s M step).
fn update_centers(x: &[f64], labels: &[usize], old: &[f64]) -> Vec<f64> {
    let k = old.len();
    let mut sums = vec![0.0; k];
    let mut weights = vec![0.0; k];
    for (&v, &label) in x.iter().zip(labels) {
        sums[label] += v;
        weights[label] += 1.0;
    }
    let empty: Vec<usize> = (0..k).filter(|&j| weights[j] == 0.0).collect();
    if !empty.is_empty() {
        let mut distances: Vec<f64> = x
            .iter()
            .zip(labels)
            .map(|(&v, &label)| (v - old[label]) * (v - old[label]))
            .collect();
        if distances.iter().any(|d| *d > 0.0) {
            for &cluster in &empty {
                let far = farthest_point(&distances);
                distances[far] = f64::NEG_INFINITY;
                let owner = labels[far];
                sums[owner] -= x[far];
                sums[cluster] = x[far];
                weights[cluster] = 1.0;
                weights[owner] -= 1.0;
            }
        }
    }
    let heaviest = (0..k).fold(
        0,
        |best, j| if weights[j] > weights[best] { j } else { best },
    );
    let mut centers = sums;
    for j in 0..k {
        if weights[j] > 0.0 {
            centers[j] *= 1.0 / weights[j];
        }
    }
    for j in 0..k {
        if weights[j] <= 0.0 {
            centers[j] = centers[heaviest];
        }
    }
    centers
}

/// `_kmeans_single_lloyd` with `max_iter = 300`.
fn lloyd(x: &[f64], mut centers: Vec<f64>, tolerance: f64) -> Vec<usize> {
    let mut previous: Option<Vec<usize>> = None;
    for _ in 0..300 {
        let labels = assign(x, &centers);
        let updated = update_centers(x, &labels, &centers);
        let shift: f64 = updated
            .iter()
            .zip(&centers)
            .map(|(a, b)| {
                let distance = ((a - b) * (a - b)).sqrt();
                distance * distance
            })
            .fold(0.0, |acc, s| acc + s);
        centers = updated;
        if previous.as_ref() == Some(&labels) {
            return labels;
        }
        if shift <= tolerance {
            break;
        }
        previous = Some(labels);
    }
    assign(x, &centers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_state_42_draws_numpys_first_doubles() {
        let mut random = NumpyRandom::new(42);
        let draws: Vec<f64> = (0..3).map(|_| random.next_f64()).collect();
        assert_eq!(
            draws,
            [0.3745401188473625, 0.9507143064099162, 0.7319939418114051]
        );
    }

    #[test]
    fn labels_match_scikit_learn() {
        // scikit-learn 1.9.1: `KMeans(n_clusters=3, random_state=42).fit(v.reshape(-1, 1)).labels_`.
        let cases: [(&[f64], &[usize]); 4] = [
            (
                &[
                    -3.5047401978212065,
                    -23.532745500302596,
                    -5.083279842533699,
                    -0.5598362529314223,
                    -14.381741767406455,
                    -5.216201726292098,
                    -9.0,
                    -8.5,
                ],
                &[0, 1, 0, 2, 1, 0, 0, 0],
            ),
            (&[-1.0, -1.0, -1.0, -3.0, -3.0], &[0, 0, 0, 1, 1]),
            (
                &[
                    -4.0, -1.0, -8.0, -9.0, -16.0, -3.0, -7.0, -14.0, -5.0, -6.0, -9.0,
                ],
                &[2, 2, 1, 1, 0, 2, 1, 0, 2, 1, 1],
            ),
            (
                &[
                    -6.1, -2.2, -7.3, -1.05, -9.9, -3.3, -2.25, -8.8, -4.4, -12.0, -0.5, -5.5,
                ],
                &[2, 1, 2, 1, 0, 1, 1, 0, 2, 0, 1, 2],
            ),
        ];
        for (values, expected) in cases {
            assert_eq!(sklearn_kmeans_labels(values, 3, 42).unwrap(), expected);
        }
    }

    #[test]
    fn a_thousand_rows_get_scikit_learns_labels() {
        // Written by tools/reference-cases/generate.py with scikit-learn 1.9.1.
        let fixture: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/data/sklearn_kmeans_labels.json"))
                .unwrap();
        let rows = fixture["rows"].as_array().unwrap();
        let mut mismatches = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            let values: Vec<f64> = serde_json::from_value(row["values"].clone()).unwrap();
            let expected: Vec<usize> = serde_json::from_value(row["labels"].clone()).unwrap();
            let tie = row["candidate_tie"].as_bool().unwrap();
            if sklearn_kmeans_labels(&values, 3, 42).unwrap() != expected && !tie {
                mismatches.push(i);
            }
        }
        assert_eq!(rows.len(), 1000);
        assert!(mismatches.is_empty(), "rows {mismatches:?} differ");
    }

    #[test]
    fn too_few_or_non_finite_values_are_refused() {
        assert!(sklearn_kmeans_labels(&[1.0, 2.0], 3, 42).is_none());
        assert!(sklearn_kmeans_labels(&[1.0, f64::NAN, 2.0, 3.0], 3, 42).is_none());
    }

    #[test]
    fn identical_values_end_in_one_cluster() {
        let labels = sklearn_kmeans_labels(&[-2.0; 5], 3, 42).unwrap();
        assert_eq!(labels, vec![0; 5]);
    }

    #[test]
    fn pairwise_sum_matches_numpys_blocking() {
        let values: Vec<f64> = (0..20).map(|i| 0.1 * f64::from(i) + 1e-9).collect();
        let sequential = values.iter().sum::<f64>();
        assert!((numpy_sum(&values) - sequential).abs() < 1e-12);
    }
}
