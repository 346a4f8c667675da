"""Token layouts of TRL-format rows as TRL's own trainers produce them, for
crates/models/tests/trl_layout.rs.

TRL's row preparation lives in functions nested inside `DPOTrainer._prepare_dataset` and
`KTOTrainer._prepare_dataset`; they are read out of the installed trl's source with `ast` and run
on their own (nothing is copied here), together with trl.data_utils' public helpers. The
tokenizer is SmolLM2-135M-Instruct's: its tokenizer.json and chat template as `prefopt train`
exports them beside a checkpoint made from the GGUF file of tools/fetch-smollm2.sh (the
`policy-hf/` folder of any run on that file; tests/gguf_parity.rs checks that these files
tokenize as transformers' own GGUF loader does).

    python -m venv env && env/bin/pip install transformers==5.24.0 jinja2 datasets
    env/bin/pip install --no-deps trl==1.16.0
    env/bin/python tools/reference-cases/trl_text.py <run>/policy-hf crates/models/tests/fixtures/trl
"""
import ast, json, logging, sys, textwrap
from pathlib import Path

import trl
from trl import data_utils
from transformers import AutoTokenizer

# The trainer modules import torch; their source is read as text instead.
TRAINERS = Path(trl.__file__).parent / "trainer"


def nested(module, cls, method, name):
    """The function `name` defined inside `cls.method` of trl/trainer/<module>.py, compiled on
    its own."""
    src = (TRAINERS / f"{module}.py").read_text()
    tree = ast.parse(src)
    klass = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls)
    outer = next(n for n in klass.body if isinstance(n, ast.FunctionDef) and n.name == method)
    fn = next(n for n in ast.walk(outer) if isinstance(n, ast.FunctionDef) and n.name == name)
    code = textwrap.dedent(ast.get_source_segment(src, fn))
    scope = {
        "_tokenize": data_utils._tokenize,
        "is_conversational": data_utils.is_conversational,
        "common_prefix_length": data_utils.common_prefix_length,
        "logger": logging.getLogger("trl"),
        "json": json,
    }
    exec(code, scope)
    return scope[name]


def main(tokenizer_dir, out_dir):
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    dpo_tokenize = nested("dpo_trainer", "DPOTrainer", "_prepare_dataset", "tokenize_fn")
    dpo_add_eos = nested("dpo_trainer", "DPOTrainer", "_prepare_dataset", "add_eos")
    kto_tokenize = nested("kto_trainer", "KTOTrainer", "_prepare_dataset", "tokenize_fn")
    kto_add_eos = nested("kto_trainer", "KTOTrainer", "_prepare_dataset", "add_eos")
    eos = tokenizer.eos_token

    u = lambda c: {"role": "user", "content": c}
    a = lambda c: {"role": "assistant", "content": c}
    s = lambda c: {"role": "system", "content": c}
    paired = [
        {"prompt": [u("How many cats does Ada have? Please answer in capital letters.")],
         "chosen": [a("ADA HAS TWO CATS.")], "rejected": [a("ada has two cats.")]},
        {"prompt": [s("You are terse."), u("Name a colour.")],
         "chosen": [a("Blue.")], "rejected": [a("I would rather not say.")]},
        {"prompt": [u("Hi!"), a("Hello! How can I help?"), u("Tell me a joke.")],
         "chosen": [a("Why did the chicken cross the road? To get to the other side.")],
         "rejected": [a("No.")]},
        {"prompt": [u("Finish the sentence: the sky is")], "chosen": [a(" blue")], "rejected": [a(" green")]},
        {"chosen": [u("2 + 2?"), a("4")], "rejected": [u("2 + 2?"), a("5")]},
        {"prompt": "The capital of France is", "chosen": " Paris.", "rejected": " Lyon."},
        {"prompt": "Translate 'chat' to English:", "chosen": " cat", "rejected": " dog" + eos},
        {"chosen": "Human: hi Assistant: hello there", "rejected": "Human: hi Assistant: go away"},
    ]
    unpaired = [
        {"prompt": [u("Is water wet?")], "completion": [a("Yes.")], "label": True},
        {"prompt": [u("Is water wet?")], "completion": [a("Bananas.")], "label": False},
        {"prompt": "Two plus two is", "completion": " four.", "label": True},
    ]
    cases = []
    for row in paired:
        example = dict(row)
        if "prompt" not in example:
            example = data_utils.extract_prompt(example)
        if not data_utils.is_conversational(example):
            example = dpo_add_eos(example, eos)
        ids = dpo_tokenize(example, tokenizer)
        cases.append({"trainer": "dpo", "row": row, "prompt_ids": ids["prompt_ids"],
                      "completion_ids": [ids["chosen_ids"], ids["rejected_ids"]]})
    for row in unpaired:
        example = dict(row)
        if not data_utils.is_conversational(example):
            example = kto_add_eos(example, eos)
        ids = kto_tokenize(example, tokenizer)
        cases.append({"trainer": "kto", "row": row, "prompt_ids": ids["prompt_ids"],
                      "completion_ids": [ids["completion_ids"]]})
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"trl": trl.__version__, "transformers": __import__("transformers").__version__,
            "tokenizer": "SmolLM2-135M-Instruct.Q4_1.gguf", "cases": cases}
    (out / "smollm2_layouts.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
