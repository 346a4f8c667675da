//! The item tokenizer's layout and errors; a BPE trained on text round-trips it and saves as a
//! `tokenizer.json` that loads back to the same ids.

mod common;

use std::path::Path;

use prefopt_data::PreferenceRecord;
use prefopt_models::chat::ChatTemplate;
use prefopt_models::tokenizer::{
    ItemTokenizer, MAX_ADDED_TOKEN_CHARS, Prompt, Response, TextTokenizer, Tokenizer, encode_record,
};

use common::{Scratch, synthetic_rec};

#[test]
fn item_tokens_lay_out_history_candidates_and_answer() {
    let tokenizer = ItemTokenizer::new(10).unwrap();
    assert_eq!(tokenizer.vocab_size(), 14);
    let prompt = tokenizer
        .encode_prompt(&Prompt {
            text: "ignored",
            history: Some(&[3, 4]),
            candidates: Some(&[9, 0]),
        })
        .unwrap();
    assert_eq!(prompt, vec![1, 7, 8, 3, 13, 4, 3]);
    let response = tokenizer
        .encode_response(&Response {
            text: "",
            item: Some(9),
        })
        .unwrap();
    assert_eq!(response, vec![13, 2]);
    let decoded = tokenizer.decode_response(&[13, 2, 5]).unwrap();
    assert_eq!(decoded.item, Some(9));
    assert_eq!(tokenizer.decode_response(&[13, 5]).unwrap().item, None);
    let error = tokenizer
        .encode_response(&Response {
            text: "",
            item: Some(10),
        })
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("item 10 is outside the catalog (0..10)"),
        "{error}"
    );
    assert!(ItemTokenizer::new(0).is_err());
}

#[test]
fn records_encode_with_candidates_and_errors_name_the_row() {
    let tokenizer = ItemTokenizer::new(500).unwrap();
    let records = synthetic_rec("test");
    let example = encode_record(&tokenizer, &records[0], 0).unwrap();
    assert_eq!(example.responses.len(), 4, "chosen and K = 3 rejected");
    let candidates = example.candidates.as_ref().unwrap();
    assert_eq!(candidates.items.len(), 20);
    assert_eq!(
        candidates.responses[candidates.target], example.responses[0],
        "the target candidate is the chosen response"
    );
    let text_only = PreferenceRecord {
        prompt: "p".into(),
        chosen: "a".into(),
        rejected: vec!["b".into()],
        ..records[0].clone()
    };
    let without_items = PreferenceRecord {
        history_items: None,
        ..text_only
    };
    let error = encode_record(&tokenizer, &without_items, 17).unwrap_err();
    assert_eq!(
        error.to_string(),
        "example 17: the item tokenizer needs the history_items column"
    );
}

/// The synthetic training records and a BPE of at most `vocab_size` tokens trained on the
/// prompts and chosen answers of the first `rows` of them.
fn bpe_on_synthetic_rec(rows: usize, vocab_size: usize) -> (Vec<PreferenceRecord>, TextTokenizer) {
    let records = synthetic_rec("train");
    let texts: Vec<String> = records
        .iter()
        .take(rows)
        .flat_map(|r| [r.prompt.clone(), r.chosen.clone()])
        .collect();
    let tokenizer = TextTokenizer::train_bpe(texts.iter().map(String::as_str), vocab_size).unwrap();
    (records, tokenizer)
}

#[test]
fn a_trained_bpe_round_trips_and_reloads() {
    let (records, tokenizer) = bpe_on_synthetic_rec(400, 600);
    assert!(tokenizer.vocab_size() <= 600 && tokenizer.vocab_size() > 256);
    let special = tokenizer.special();
    assert_eq!((special.pad, special.bos, special.eos), (0, 1, 2));
    let prompt = tokenizer
        .encode_prompt(&Prompt {
            text: &records[0].prompt,
            ..Prompt::default()
        })
        .unwrap();
    assert_eq!(prompt[0], special.bos);
    assert!(
        prompt.len() < records[0].prompt.len(),
        "merges compress the text"
    );
    let response = tokenizer
        .encode_response(&Response {
            text: &records[0].chosen,
            item: None,
        })
        .unwrap();
    assert_eq!(*response.last().unwrap(), special.eos);
    assert_eq!(
        tokenizer.decode_response(&response).unwrap().text,
        records[0].chosen
    );

    let scratch = Scratch::new("bpe");
    let path = scratch.path().join("tokenizer.json");
    tokenizer.save(&path).unwrap();
    let loaded = TextTokenizer::from_file(&path).unwrap();
    assert_eq!(loaded.special(), special);
    assert_eq!(
        loaded
            .encode_response(&Response {
                text: &records[1].chosen,
                item: None
            })
            .unwrap(),
        tokenizer
            .encode_response(&Response {
                text: &records[1].chosen,
                item: None
            })
            .unwrap()
    );
    let missing = TextTokenizer::from_file(&scratch.path().join("nope.json")).unwrap_err();
    assert!(missing.to_string().contains("nope.json"), "{missing}");
}

/// In chat mode a prompt is the template's rendering of an optional system message and the
/// user's turn with the assistant's turn opened, tokenized with no `bos` of its own; responses
/// are unchanged.
#[test]
fn a_chat_template_lays_prompts_out_as_a_user_turn() {
    let (records, plain) = bpe_on_synthetic_rec(200, 400);
    let template = ChatTemplate {
        source:
            "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}<eos>{% endfor %}\
                 {% if add_generation_prompt %}[assistant] {% endif %}"
                .into(),
        bos_token: "<bos>".into(),
        eos_token: "<eos>".into(),
    };
    let prompt = Prompt {
        text: &records[0].prompt,
        ..Prompt::default()
    };
    let chat = plain
        .clone()
        .with_chat_template(template.clone(), Some("Recommend one title."))
        .unwrap();
    assert_eq!(chat.chat_template(), Some(&template));
    let expected = plain
        .encode(&format!(
            "<bos>[system] Recommend one title.<eos>[user] {}<eos>[assistant] ",
            records[0].prompt
        ))
        .unwrap();
    assert_eq!(chat.encode_prompt(&prompt).unwrap(), expected);
    assert_eq!(expected[0], plain.special().bos, "the template placed bos");
    assert_eq!(
        expected
            .iter()
            .filter(|&&t| t == plain.special().bos)
            .count(),
        1,
        "no second bos is added"
    );
    let without_system = plain.clone().with_chat_template(template, None).unwrap();
    let ids = without_system.encode_prompt(&prompt).unwrap();
    assert!(ids.len() < expected.len());
    let response = Response {
        text: &records[0].chosen,
        item: None,
    };
    assert_eq!(
        chat.encode_response(&response).unwrap(),
        plain.encode_response(&response).unwrap()
    );

    let broken = ChatTemplate {
        source: "{{ raise_exception('no system messages') }}".into(),
        bos_token: String::new(),
        eos_token: String::new(),
    };
    let error = plain
        .with_chat_template(broken, None)
        .unwrap_err()
        .to_string();
    assert!(error.contains("no system messages"), "{error}");
}

/// Found by the checkpoint fuzz run: `tokenizers` builds its added-token matcher in time
/// quadratic in a token's length, so one 134,000-character token made a load take minutes.
/// Such a file is refused at once, naming it; a token at the bound still loads.
#[test]
fn an_enormous_added_token_is_refused_before_tokenizers_sees_it() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hf/llama-tiny");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture.join("tokenizer.json")).unwrap())
            .unwrap();
    let dir = std::env::temp_dir().join(format!("prefopt-added-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tokenizer.json");
    for (length, loads) in [(MAX_ADDED_TOKEN_CHARS, true), (200_000, false)] {
        json["added_tokens"][0]["content"] = serde_json::Value::String("x".repeat(length));
        std::fs::write(&path, json.to_string()).unwrap();
        let start = std::time::Instant::now();
        let result = TextTokenizer::from_file(&path);
        assert!(
            start.elapsed().as_secs() < 30,
            "{length}: {:?}",
            start.elapsed()
        );
        match result {
            Ok(_) => assert!(loads, "{length} characters loaded"),
            Err(e) => {
                let message = e.to_string();
                assert!(!loads, "{length}: {message}");
                assert!(
                    message.contains("tokenizer.json")
                        && message.contains("added token 0 is 200000 characters long"),
                    "{message}"
                );
            }
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
