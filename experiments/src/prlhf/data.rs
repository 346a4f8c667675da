//! The conflicting-preference data: generated, or read from a folder in the generator's
//! layout, with user ids shifted so that 0 stays the generic user.

use std::path::{Path, PathBuf};

use prefopt_data::synthetic::ConflictingSpec;
use prefopt_data::{PreferenceDataset, PreferenceRecord, ReadOptions, WriteOptions};

use super::settings::PrlhfSettings;
use crate::error::{ExperimentError, Result};
use crate::personal::PersonalContext;

/// The generated (or given) data: records with P-RLHF user ids (known users 1..=U), and
/// which users prefer short responses.
pub struct Conflicting {
    pub train: Vec<PreferenceRecord>,
    pub test: Vec<PreferenceRecord>,
    /// Index `u` (1-based user id): prefers short responses.
    pub prefers_short: Vec<bool>,
    pub dir: PathBuf,
}

fn read_records(path: &Path) -> Result<Vec<PreferenceRecord>> {
    Ok(PreferenceDataset::open(path)?
        .read_all(ReadOptions::default())?
        .0)
}

/// The experiment's data: `settings.data`, or generated into `<out>/data/prlhf`.
pub fn load(context: &PersonalContext<'_>, settings: &PrlhfSettings) -> Result<Conflicting> {
    let dir = match &settings.data {
        Some(dir) => dir.clone(),
        None => {
            let spec = ConflictingSpec {
                users: settings.users,
                prompts: settings.prompts,
                pairs_per_user: settings.pairs_per_user,
                short_fraction: settings.short_fraction,
                short_words: settings.short_words,
                long_words: settings.long_words,
                label_noise: settings.label_noise,
                test_fraction: settings.test_fraction,
                seed: context.config.seed,
            };
            let dir = context.out.join("data").join("prlhf");
            std::fs::create_dir_all(&dir).map_err(|e| ExperimentError::io(&dir, e))?;
            spec.generate()?.write(&dir, &WriteOptions::default())?;
            dir
        }
    };
    let groups = prefopt_data::vectors::read_vectors(
        &dir.join("users.parquet"),
        Some("user_id"),
        &["prefers_short"],
    )?;
    // The generator numbers users from 0; P-RLHF keeps 0 for the generic user, so known user
    // `u` of the files is user `u + 1` here.
    let ids = groups.ids.unwrap_or_default();
    if let Some(&bad) = ids.iter().find(|&&id| id < 0) {
        return Err(ExperimentError::Invalid(format!(
            "{}: user_id {bad} in users.parquet is negative",
            dir.display()
        )));
    }
    let mut prefers_short = vec![false; ids.iter().copied().max().unwrap_or(0) as usize + 2];
    let mut listed = vec![false; prefers_short.len()];
    for (row, &id) in ids.iter().enumerate() {
        prefers_short[id as usize + 1] = groups.columns[0].row(row)[0] > 0.5;
        listed[id as usize + 1] = true;
    }
    let shift = |file: &str, mut records: Vec<PreferenceRecord>| -> Result<Vec<PreferenceRecord>> {
        for (row, record) in records.iter_mut().enumerate() {
            let user = record
                .user_id
                .filter(|&u| u >= 0 && listed.get(u as usize + 1) == Some(&true));
            let Some(user) = user else {
                return Err(ExperimentError::Invalid(format!(
                    "{}: row {row} has user_id {:?}, which users.parquet does not list",
                    dir.join(file).display(),
                    record.user_id
                )));
            };
            record.user_id = Some(user + 1);
        }
        Ok(records)
    };
    Ok(Conflicting {
        train: shift("train.parquet", read_records(&dir.join("train.parquet"))?)?,
        test: shift("test.parquet", read_records(&dir.join("test.parquet"))?)?,
        prefers_short,
        dir,
    })
}
