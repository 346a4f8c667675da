//! How well a learned basis recovers a true one: principal angles between column spaces.

use faer::Mat;
use ndarray::ArrayView2;

use crate::error::{Result, UserModelError};

/// Principal angles (radians, ascending) between the column spaces of `a` and `b` (both
/// `F × ·`): the arc-cosines of the singular values of `Q_aᵀ Q_b`, with `Q` from thin QR
/// decompositions (faer). All zero when one space contains the other; π/2 for orthogonal ones.
pub fn principal_angles(a: ArrayView2<'_, f64>, b: ArrayView2<'_, f64>) -> Result<Vec<f64>> {
    if a.nrows() != b.nrows() {
        return Err(UserModelError::DimensionMismatch {
            what: "rows of the two bases".into(),
            expected: a.nrows(),
            got: b.nrows(),
        });
    }
    let orthonormal = |x: ArrayView2<'_, f64>| {
        Mat::<f64>::from_fn(x.nrows(), x.ncols(), |i, j| x[(i, j)])
            .qr()
            .compute_thin_Q()
    };
    let overlap = orthonormal(a).transpose() * orthonormal(b);
    let cosines = overlap.singular_values().map_err(|e| {
        UserModelError::InvalidInput(format!("principal angles: SVD did not converge ({e:?})"))
    })?;
    // Singular values come in non-increasing order, so the angles ascend.
    Ok(cosines.iter().map(|c| c.clamp(-1.0, 1.0).acos()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn angles_of_known_subspaces() {
        let a = array![[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]];
        // The same plane through other spanning vectors.
        let same = array![[2.0, 1.0], [1.0, -3.0], [0.0, 0.0]];
        assert!(
            principal_angles(a.view(), same.view())
                .unwrap()
                .iter()
                .all(|t| t.abs() < 1e-7)
        );
        // A plane sharing one axis and orthogonal in the other.
        let tilted = array![[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]];
        let angles = principal_angles(a.view(), tilted.view()).unwrap();
        assert!(angles[0].abs() < 1e-7 && (angles[1] - std::f64::consts::FRAC_PI_2).abs() < 1e-7);
        assert!(principal_angles(a.view(), array![[1.0], [0.0]].view()).is_err());
    }
}
