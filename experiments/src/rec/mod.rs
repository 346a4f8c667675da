//! Sequential recommendation with an item-token policy or a pretrained text model: the shared pipeline of the S-DPO,
//! DMPO/DynamicPO and RosePO tables.

pub mod data;
pub mod evaluate;
pub mod oracle;
pub mod pairs;
pub mod pipeline;
pub mod table;
pub mod tokens;

pub use data::RecDataset;
pub use evaluate::{Evaluation, Metric, evaluate};
pub use oracle::ItemKnn;
pub use pipeline::{RecPipeline, Run, SftStage, Trained};
pub use tokens::RecTokenizer;
