//! Every GGUF block type dequantizes as llama.cpp defines it: the values of
//! `tests/data/gguf_blocks.json`, made by `tools/reference-cases/gguf_blocks.py` with the `gguf`
//! Python package (llama.cpp's reference dequantization), for random blocks of each type.

use prefopt_models::gguf::quant::{GgmlType, dequantize};
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    #[serde(rename = "type")]
    name: String,
    type_id: u32,
    block_size: usize,
    type_size: usize,
    bytes: String,
    values: Vec<f32>,
}

#[derive(Deserialize)]
struct Cases {
    cases: Vec<Case>,
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn every_block_type_matches_the_reference_dequantization() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/gguf_blocks.json");
    let cases: Cases = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(cases.cases.len(), 13, "one case per supported type");
    for case in &cases.cases {
        let ty = GgmlType::from_id(case.type_id)
            .unwrap_or_else(|| panic!("{}: id {} unknown", case.name, case.type_id));
        assert_eq!(ty.name(), case.name);
        assert_eq!(ty.block_size(), case.block_size, "{}", case.name);
        assert_eq!(ty.type_size(), case.type_size, "{}", case.name);
        let bytes = hex(&case.bytes);
        assert_eq!(
            ty.bytes_for(case.values.len()),
            Some(bytes.len()),
            "{}",
            case.name
        );
        let values = dequantize(ty, &bytes);
        assert_eq!(values.len(), case.values.len(), "{}", case.name);
        for (i, (got, want)) in values.iter().zip(&case.values).enumerate() {
            let tolerance = 1e-6 * want.abs().max(1e-3);
            assert!(
                (got - want).abs() <= tolerance,
                "{} value {i}: {got} vs the reference {want}",
                case.name
            );
        }
    }
}

#[test]
fn a_truncated_tensor_is_not_a_whole_number_of_blocks() {
    assert_eq!(GgmlType::Q4K.bytes_for(255), None);
    assert_eq!(GgmlType::Q8_0.bytes_for(64), Some(68));
    assert!(GgmlType::from_id(16).is_none(), "IQ2_XXS is not read");
}
