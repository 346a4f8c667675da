//! P-DPO's trainable model (a policy and its user model) and its training task.

use burn::module::Module;
use burn::tensor::Tensor;
use prefopt_models::ModelError;
use prefopt_models::tokenizer::EncodedExample;
use prefopt_models::train::{PreferenceTask, Task};
use prefopt_models::transformer::Transformer;
use prefopt_user_models::prlhf::UserModel;

/// A policy and its user model, trained jointly under P-DPO.
#[derive(Module, Debug)]
pub struct PersonalizedPolicy {
    pub policy: Transformer,
    pub users: UserModel,
}

/// P-DPO's task: the preference task with every example scored under its user's soft tokens
/// (user 0, the generic user, for the duplicated copies); the P-DPO objective mixes the two
/// groups with α.
pub struct PdpoTask<'a> {
    pub inner: PreferenceTask<'a>,
}

/// The P-RLHF user of each example (0, the generic user, when it names none).
pub fn user_ids(examples: &[EncodedExample], indices: &[usize]) -> Vec<usize> {
    indices
        .iter()
        .map(|&i| examples.get(i).and_then(|e| e.user).unwrap_or(0).max(0) as usize)
        .collect()
}

impl Task<PersonalizedPolicy> for PdpoTask<'_> {
    fn len(&self) -> usize {
        self.inner.examples.len()
    }

    fn loss(
        &self,
        model: &PersonalizedPolicy,
        indices: &[usize],
    ) -> prefopt_models::Result<(Tensor<1>, Vec<(String, f64)>)> {
        let soft = model
            .users
            .embeddings(&user_ids(self.inner.examples, indices))
            .map_err(|e| ModelError::external("user embeddings", e))?;
        self.inner
            .loss_with_soft_tokens(&model.policy, indices, Some(soft))
    }
}
