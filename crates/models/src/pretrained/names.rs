//! Where each weight lives: its key in a Hugging Face checkpoint and its path in the module,
//! one table per family, from which both directions of `burn-store`'s key remapping are derived
//! (loading: checkpoint key → module path; exporting: module path → checkpoint key), so the two
//! can never disagree.

use super::hf_config::Architecture;

/// `(checkpoint key, module path)` templates: `{i}` is the block index, `{wb}` is `weight` or
/// `bias`. Module paths skip enum variants (`qkv.query`, not `qkv.Separate.query`).
fn table(architecture: Architecture) -> &'static [(&'static str, &'static str)] {
    match architecture {
        Architecture::Llama | Architecture::Qwen2 => &[
            ("model.embed_tokens.weight", "token_embedding.weight"),
            (
                "model.layers.{i}.self_attn.q_proj.{wb}",
                "blocks.{i}.attention.qkv.query.linear.{wb}",
            ),
            (
                "model.layers.{i}.self_attn.k_proj.{wb}",
                "blocks.{i}.attention.qkv.key.linear.{wb}",
            ),
            (
                "model.layers.{i}.self_attn.v_proj.{wb}",
                "blocks.{i}.attention.qkv.value.linear.{wb}",
            ),
            (
                "model.layers.{i}.self_attn.o_proj.{wb}",
                "blocks.{i}.attention.output.linear.{wb}",
            ),
            (
                "model.layers.{i}.mlp.gate_proj.{wb}",
                "blocks.{i}.mlp.gate.linear.{wb}",
            ),
            (
                "model.layers.{i}.mlp.up_proj.{wb}",
                "blocks.{i}.mlp.up.linear.{wb}",
            ),
            (
                "model.layers.{i}.mlp.down_proj.{wb}",
                "blocks.{i}.mlp.down.linear.{wb}",
            ),
            (
                "model.layers.{i}.input_layernorm.weight",
                "blocks.{i}.attention_norm.gamma",
            ),
            (
                "model.layers.{i}.post_attention_layernorm.weight",
                "blocks.{i}.mlp_norm.gamma",
            ),
            ("model.norm.weight", "final_norm.gamma"),
            ("lm_head.weight", "lm_head.weight"),
        ],
        Architecture::Gpt2 => &[
            ("transformer.wte.weight", "token_embedding.weight"),
            ("transformer.wpe.weight", "position_embedding.weight"),
            (
                "transformer.h.{i}.ln_1.weight",
                "blocks.{i}.attention_norm.gamma",
            ),
            (
                "transformer.h.{i}.ln_1.bias",
                "blocks.{i}.attention_norm.beta",
            ),
            (
                "transformer.h.{i}.attn.c_attn.{wb}",
                "blocks.{i}.attention.qkv.linear.{wb}",
            ),
            (
                "transformer.h.{i}.attn.c_proj.{wb}",
                "blocks.{i}.attention.output.linear.{wb}",
            ),
            ("transformer.h.{i}.ln_2.weight", "blocks.{i}.mlp_norm.gamma"),
            ("transformer.h.{i}.ln_2.bias", "blocks.{i}.mlp_norm.beta"),
            (
                "transformer.h.{i}.mlp.c_fc.{wb}",
                "blocks.{i}.mlp.up.linear.{wb}",
            ),
            (
                "transformer.h.{i}.mlp.c_proj.{wb}",
                "blocks.{i}.mlp.down.linear.{wb}",
            ),
            ("transformer.ln_f.weight", "final_norm.gamma"),
            ("transformer.ln_f.bias", "final_norm.beta"),
            ("lm_head.weight", "lm_head.weight"),
        ],
    }
}

/// A template as an anchored regex with named groups for its placeholders.
fn pattern(template: &str) -> String {
    let escaped = template
        .replace('.', r"\.")
        .replace("{i}", r"(?P<i>\d+)")
        .replace("{wb}", "(?P<wb>weight|bias)");
    format!("^{escaped}$")
}

/// A template as a replacement string filling its placeholders from the named groups.
fn replacement(template: &str) -> String {
    template.replace("{i}", "${i}").replace("{wb}", "${wb}")
}

/// Checkpoint key → module path. GPT-2 keys match with or without the `transformer.` prefix
/// (`GPT2LMHeadModel` saves it, `GPT2Model` and the original OpenAI upload do not).
pub fn load_patterns(architecture: Architecture) -> Vec<(String, String)> {
    table(architecture)
        .iter()
        .map(|(key, path)| {
            let mut from = pattern(key);
            if let Some(rest) = from.strip_prefix(r"^transformer\.") {
                from = format!(r"^(?:transformer\.)?{rest}");
            }
            (from, replacement(path))
        })
        .collect()
}

/// Module path → checkpoint key. A norm's `gamma` / `beta` also match `weight` / `bias`, the
/// names `BurnToPyTorchAdapter` gives them before the keys are remapped.
pub fn save_patterns(architecture: Architecture) -> Vec<(String, String)> {
    table(architecture)
        .iter()
        .map(|(key, path)| {
            let from = pattern(path)
                .replace(r"\.gamma$", r"\.(?:gamma|weight)$")
                .replace(r"\.beta$", r"\.(?:beta|bias)$");
            (from, replacement(key))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use burn_store::KeyRemapper;

    use super::*;

    fn remap(patterns: Vec<(String, String)>, key: &str) -> String {
        let remapper = KeyRemapper::from_patterns(patterns).unwrap();
        let mut name = key.to_string();
        for (regex, to) in &remapper.patterns {
            name = regex.replace_all(&name, to.as_str()).into_owned();
        }
        name
    }

    #[test]
    fn both_directions_agree() {
        let load = |key: &str| remap(load_patterns(Architecture::Llama), key);
        let save = |path: &str| remap(save_patterns(Architecture::Llama), path);
        let key = "model.layers.11.self_attn.k_proj.bias";
        assert_eq!(load(key), "blocks.11.attention.qkv.key.linear.bias");
        assert_eq!(save(&load(key)), key);
        assert_eq!(
            save("blocks.3.mlp_norm.weight"),
            "model.layers.3.post_attention_layernorm.weight"
        );
        let gpt2 = |key: &str| remap(load_patterns(Architecture::Gpt2), key);
        assert_eq!(gpt2("h.2.ln_1.bias"), "blocks.2.attention_norm.beta");
        assert_eq!(
            gpt2("transformer.h.2.ln_1.bias"),
            "blocks.2.attention_norm.beta"
        );
        assert_eq!(
            remap(save_patterns(Architecture::Gpt2), "final_norm.beta"),
            "transformer.ln_f.bias"
        );
    }
}
