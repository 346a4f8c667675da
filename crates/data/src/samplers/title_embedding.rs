//! A fixed, dependency-free text encoder for item titles: hashed bags of words and character
//! trigrams. Titles that share words or spelling get a high cosine, which is what the
//! semantic-neighbour sampler needs when no learned title embeddings are at hand (RosePO's
//! semantic negatives accept "any fixed text encoder", `docs/methods/rec.md` §5(c)).

use super::splitmix64;

/// `titles.len() × dim` embeddings, row-major, each row of unit norm (a title with no letters
/// or digits gets a hashed vector of its raw text, so no row is zero).
pub fn hashed_title_embeddings(titles: &[String], dim: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; titles.len() * dim.max(1)];
    let dim = dim.max(1);
    for (title, row) in titles.iter().zip(out.chunks_mut(dim)) {
        let lower = title.to_lowercase();
        let words: Vec<&str> = lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        let mut features: Vec<String> = words.iter().map(|w| format!("w:{w}")).collect();
        for word in &words {
            let padded: Vec<char> = format!("#{word}#").chars().collect();
            features.extend(
                padded
                    .windows(3)
                    .map(|t| format!("c:{}", t.iter().collect::<String>())),
            );
        }
        if features.is_empty() {
            features.push(format!("raw:{title}"));
        }
        for feature in &features {
            add_hashed(row, feature);
        }
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|v| *v /= norm);
        } else {
            row[0] = 1.0;
        }
    }
    out
}

/// Adds the feature's pseudo-random ±1 vector (4 signed buckets) to `row`.
fn add_hashed(row: &mut [f32], feature: &str) {
    let mut h = feature.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    for _ in 0..4 {
        h = splitmix64(h);
        let bucket = (h % row.len() as u64) as usize;
        row[bucket] += if (h >> 63) == 1 { 1.0 } else { -1.0 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(e: &[f32], dim: usize, a: usize, b: usize) -> f32 {
        (0..dim).map(|j| e[a * dim + j] * e[b * dim + j]).sum()
    }

    #[test]
    fn shared_words_and_spelling_are_close() {
        let titles: Vec<String> = ["The Dark Knight", "The Dark Knight Rises", "Toy Story", ""]
            .map(String::from)
            .to_vec();
        let dim = 256;
        let e = hashed_title_embeddings(&titles, dim);
        assert_eq!(e.len(), 4 * dim);
        for i in 0..4 {
            assert!((cosine(&e, dim, i, i) - 1.0).abs() < 1e-5, "unit rows");
        }
        assert!(cosine(&e, dim, 0, 1) > 0.7);
        assert!(cosine(&e, dim, 0, 2).abs() < 0.3);
        // Deterministic: a fixed encoder.
        assert_eq!(e, hashed_title_embeddings(&titles, dim));
    }
}
