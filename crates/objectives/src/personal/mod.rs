//! Cross-prompt, personalised and listwise objectives (`docs/methods/personal.md`): RPO's contrast
//! matrix, P-DPO's personalised/generic mixture, and LiPO-λ.

pub mod lipo;
pub mod pdpo;
pub mod rpo;
