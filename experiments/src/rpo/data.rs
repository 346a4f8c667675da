//! RPO's data: prompt families (generated, or a folder in the generator's layout) with one
//! prompt embedding per row.

use std::path::{Path, PathBuf};

use prefopt_data::synthetic::PromptFamilySpec;
use prefopt_data::vectors::{PROMPT_EMBEDDING, read_vectors};
use prefopt_data::{PreferenceDataset, PreferenceRecord, ReadOptions, WriteOptions};

use super::settings::RpoSettings;
use crate::error::Result;
use crate::personal::PersonalContext;

/// One split's records and their prompt embeddings (row by row).
pub struct Split {
    pub records: Vec<PreferenceRecord>,
    pub embeddings: Vec<Vec<f64>>,
}

pub fn read_split(path: &Path) -> Result<Split> {
    let (records, _) = PreferenceDataset::open(path)?.read_all(ReadOptions::default())?;
    let table = read_vectors(path, None, &[PROMPT_EMBEDDING])?;
    let column = &table.columns[0];
    let embeddings = (0..column.rows()).map(|r| column.row(r).to_vec()).collect();
    Ok(Split {
        records,
        embeddings,
    })
}

/// The folder of `settings.data`, or prompt families generated into `<out>/data/rpo`.
pub fn data_dir(context: &PersonalContext<'_>, settings: &RpoSettings) -> Result<PathBuf> {
    Ok(match &settings.data {
        Some(dir) => dir.clone(),
        None => {
            let spec = PromptFamilySpec {
                families: settings.families,
                prompts_per_family: settings.prompts_per_family,
                pairs_per_prompt: settings.pairs_per_prompt,
                seed: context.config.seed,
                ..PromptFamilySpec::default()
            };
            let dir = context.out.join("data").join("rpo");
            spec.generate()?.write(&dir, &WriteOptions::default())?;
            dir
        }
    })
}
