//! Corrupted GGUF files (a small valid file with metadata of every kind and F32, F16 and Q8_0
//! tensors, broken by `prefopt_data::corrupt`): parsing, dequantizing every tensor and reading
//! the model config from the metadata answer with an error naming the file, never a panic or an
//! absurd allocation. `PREFOPT_FUZZ_CASES` sets the cases (default 2,000).

use std::panic::{AssertUnwindSafe, catch_unwind};

use prefopt_data::corrupt::Corruptor;
use prefopt_models::gguf::{GgufFile, hf_config};

const PATH: &str = "fuzz.gguf";

fn string(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s.as_bytes());
}

fn kv_str(out: &mut Vec<u8>, key: &str, value: &str) {
    string(out, key);
    out.extend(8u32.to_le_bytes());
    string(out, value);
}

fn kv_u32(out: &mut Vec<u8>, key: &str, value: u32) {
    string(out, key);
    out.extend(4u32.to_le_bytes());
    out.extend(value.to_le_bytes());
}

fn kv_f32(out: &mut Vec<u8>, key: &str, value: f32) {
    string(out, key);
    out.extend(6u32.to_le_bytes());
    out.extend(value.to_le_bytes());
}

/// A valid GGUF v3 file: Llama metadata, a token list, three tensors.
fn valid_file() -> Vec<u8> {
    let mut out = b"GGUF".to_vec();
    out.extend(3u32.to_le_bytes());
    out.extend(3u64.to_le_bytes());
    let mut kvs = Vec::new();
    kv_str(&mut kvs, "general.architecture", "llama");
    kv_u32(&mut kvs, "llama.context_length", 64);
    kv_u32(&mut kvs, "llama.embedding_length", 32);
    kv_u32(&mut kvs, "llama.block_count", 1);
    kv_u32(&mut kvs, "llama.feed_forward_length", 64);
    kv_u32(&mut kvs, "llama.attention.head_count", 4);
    kv_u32(&mut kvs, "llama.attention.head_count_kv", 2);
    kv_f32(&mut kvs, "llama.attention.layer_norm_rms_epsilon", 1e-5);
    kv_f32(&mut kvs, "llama.rope.freq_base", 10000.0);
    string(&mut kvs, "tokenizer.ggml.tokens");
    kvs.extend(9u32.to_le_bytes());
    kvs.extend(8u32.to_le_bytes());
    kvs.extend(3u64.to_le_bytes());
    for token in ["<s>", "</s>", "a"] {
        string(&mut kvs, token);
    }
    out.extend(10u64.to_le_bytes());
    out.extend(kvs);
    // name, dims (fastest first), GGML type, offset
    let tensors: [(&str, [u64; 2], u32, u64); 3] = [
        ("token_embd.weight", [32, 3], 0, 0),
        ("output_norm.weight", [32, 1], 1, 384),
        ("output.weight", [32, 3], 8, 448),
    ];
    for (name, dims, ty, offset) in tensors {
        string(&mut out, name);
        out.extend(2u32.to_le_bytes());
        for d in dims {
            out.extend(d.to_le_bytes());
        }
        out.extend(ty.to_le_bytes());
        out.extend(offset.to_le_bytes());
    }
    while !out.len().is_multiple_of(32) {
        out.push(0);
    }
    // F32 3×32 (384 bytes), F16 32 (64 bytes), Q8_0 3 blocks of 34 bytes.
    for i in 0..96u32 {
        out.extend((i as f32 / 10.0).to_le_bytes());
    }
    for _ in 0..32 {
        out.extend(0x3c00u16.to_le_bytes());
    }
    for block in 0..3u8 {
        out.extend(0x2c00u16.to_le_bytes());
        out.extend((0..32).map(|i| i as u8 ^ block));
    }
    out
}

/// Everything a loader does with a parsed file's bytes.
fn read(bytes: Vec<u8>) -> Result<usize, String> {
    let file = GgufFile::parse(bytes, PATH).map_err(|e| e.to_string())?;
    let mut values = 0;
    for tensor in &file.tensors {
        values += file.dequantize(tensor).map_err(|e| e.to_string())?.len();
    }
    hf_config(&file).map_err(|e| e.to_string())?;
    Ok(values)
}

#[test]
fn corrupted_gguf_files_are_errors_naming_the_file() {
    let valid = valid_file();
    assert_eq!(read(valid.clone()), Ok(96 + 32 + 96));
    let cases = std::env::var("PREFOPT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000usize);
    let mut corruptor = Corruptor::new(7);
    let mut accepted = 0;
    for case in 0..cases {
        let bytes = corruptor.bytes(&valid);
        match catch_unwind(AssertUnwindSafe(|| read(bytes.clone()))) {
            Ok(Ok(_)) => accepted += 1,
            Ok(Err(message)) => assert!(message.contains(PATH), "case {case}: {message}"),
            Err(_) => {
                let kept = std::env::temp_dir().join(format!("prefopt-fuzz-gguf-{case}.gguf"));
                std::fs::write(&kept, &bytes).unwrap();
                panic!("case {case}: panicked (input kept in {})", kept.display());
            }
        }
    }
    eprintln!("gguf: {cases} corrupted files, {accepted} still read, none panicked");
}
