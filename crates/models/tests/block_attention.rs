//! Attention over a [`PrefixBlocks`] layout computes what the dense masked attention computes,
//! values and gradients, and a mask that crosses the layout is refused.

use burn::tensor::{DType, Device, Tensor};
use prefopt_models::config::Preset;
use prefopt_models::params::named_gradients;
use prefopt_models::transformer::{PackedBatch, PrefixBlocks, Transformer};

/// Two rows: ragged prompts (4 and 2 tokens after 1 soft slot) padded to a 5-slot prefix, three
/// blocks of 3 slots with ragged responses (one block left empty in the second row).
fn block_batch() -> PackedBatch {
    let layout = PrefixBlocks {
        prefix: 5,
        blocks: 3,
        block_len: 3,
    };
    let mut packed = PackedBatch::with_blocks(2, layout, 1, 0);
    let rows: [(&[u32], &[&[u32]]); 2] = [
        (&[1, 5, 6, 7], &[&[10, 11, 2], &[12, 2], &[13, 2]]),
        (&[1, 9], &[&[20, 21, 2], &[22, 2]]),
    ];
    for (row, (prompt, responses)) in rows.iter().enumerate() {
        let context: Vec<usize> = (0..1 + prompt.len()).collect();
        for (i, &token) in prompt.iter().enumerate() {
            packed.put(row, 1 + i, token, 1 + i);
        }
        packed.causal(row, &[], &context);
        for (b, response) in responses.iter().enumerate() {
            let first = layout.prefix + b * layout.block_len;
            let slots: Vec<usize> = (first..first + response.len()).collect();
            for (t, (&slot, &token)) in slots.iter().zip(response.iter()).enumerate() {
                packed.put(row, slot, token, context.len() + t);
            }
            packed.causal(row, &context, &slots);
        }
    }
    packed
}

fn model(device: &Device) -> Transformer {
    let mut config = Preset::Tiny.config(40);
    config.kv_heads = Some(1);
    Transformer::new(&config, 5, device)
        .unwrap()
        .cast(DType::F64)
        .unwrap()
}

fn soft(model: &Transformer, device: &Device) -> Tensor<3> {
    Tensor::<3>::ones([2, 1, model.config.d_model], (device, DType::F64)).mul_scalar(0.3)
}

#[test]
fn block_attention_equals_dense_attention_in_values_and_gradients() {
    let device = Device::flex().autodiff();
    let model = model(&device);
    let blocked = block_batch();
    let dense = PackedBatch {
        blocks: None,
        ..blocked.clone()
    };
    let run = |batch: &PackedBatch| {
        let hidden = model.hidden(batch, Some(soft(&model, &device))).unwrap();
        let weights = hidden.clone().detach().sin();
        let loss = (hidden.clone() * weights).sum();
        let values: Vec<f64> = hidden.into_data().convert::<f64>().try_to_vec().unwrap();
        (values, named_gradients(&model, &loss.backward()))
    };
    let (a, grads_a) = run(&blocked);
    let (b, grads_b) = run(&dense);
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-12, "hidden states differ by {worst}");
    assert_eq!(grads_a.len(), grads_b.len());
    assert!(grads_a.len() > 10);
    for (name, ga) in &grads_a {
        let gb = &grads_b[name];
        let scale = gb.iter().map(|v| f64::from(*v).abs()).fold(1e-12, f64::max);
        let diff = ga
            .iter()
            .zip(gb)
            .map(|(x, y)| f64::from(*x - *y).abs())
            .fold(0.0, f64::max);
        assert!(diff <= 1e-6 * scale, "{name}: {diff} vs {scale}");
    }
}

#[test]
fn a_mask_that_crosses_blocks_is_an_error_naming_the_slots() {
    let device = Device::flex();
    let model = model(&device);
    let mut batch = block_batch();
    // Slot 9 (block 1) may not see slot 5 (block 0).
    batch.allow(1, 9, 5);
    let error = model
        .hidden(&batch, Some(soft(&model, &device)))
        .unwrap_err()
        .to_string();
    assert!(error.contains("slot 9 attends to slot 5"), "{error}");
    let mut batch = block_batch();
    batch.blocks = Some(PrefixBlocks {
        prefix: 5,
        blocks: 2,
        block_len: 3,
    });
    let error = model
        .hidden(&batch, Some(soft(&model, &device)))
        .unwrap_err()
        .to_string();
    assert!(error.contains("does not lay out 14 slots"), "{error}");
}
