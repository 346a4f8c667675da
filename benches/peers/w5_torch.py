"""W5 peer: the LoRA S-DPO step of `benches/benches/w5.rs` in `transformers` + `peft` (CPU).

Model: SmolLM2-135M's shape as a `transformers` LlamaForCausalLM with random weights (d 576,
30 layers, 9 heads / 3 key-value heads, head_dim 64, ff 1536, vocabulary 49152, tied head,
RMSNorm, SwiGLU, rope_theta 1e5). LoRA r 8, alpha 16, no dropout, on q_proj and v_proj (PEFT's
Llama default); AdamW on the adapters only. Step: B = 4 prompts of 256 tokens, K + 1 = 4
responses of 12 tokens, S-DPO (beta 1) against constant reference log-probs, backward, update.

Layouts:
- `naive_full`: one row per (prompt, response), logits at every position, as the official
  S-DPO trainer (and TRL) computes them, then the response tokens' log-probs;
- `naive_response`: the same rows, the vocabulary projection only at the positions that
  predict a response token;
- `shared`: one row per prompt, [prompt | r0 | ... | rK] with a 4-D block mask (each response
  sees the prompt and itself causally) and positions restarting after the prompt; the
  projection only at response-predicting positions (prefopt's layout).

Usage: python3 w5_torch.py MODE [steps]  -> one JSON line: median step time, peak RSS (MiB).
Run one mode per process so that the peak memory is that mode's own.
"""
import json
import resource
import sys
import time

import torch
import torch.nn.functional as F
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

B, P, R, L = 4, 256, 4, 12
REFERENCE_LOGP = -40.0


def smollm2_shape():
    return LlamaConfig(
        vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
        num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=8192,
        rms_norm_eps=1e-5, rope_theta=100000.0, tie_word_embeddings=True,
        attn_implementation="sdpa",
    )


def naive_layout(prompts, responses):
    rows, n = B * R, P + L
    tokens = torch.cat([prompts.repeat_interleave(R, 0), responses.reshape(rows, L)], 1)
    predictor = torch.arange(P - 1, P + L - 1).expand(rows, L)
    return {"input_ids": tokens}, predictor, responses.reshape(rows, L)


def shared_layout(prompts, responses, dtype):
    n = P + R * L
    tokens = torch.cat([prompts, responses.reshape(B, R * L)], 1)
    positions = torch.cat([torch.arange(P), torch.arange(P, P + L).repeat(R)]).expand(B, n)
    allowed = torch.zeros(n, n, dtype=torch.bool)
    allowed[:P, :P] = torch.ones(P, P, dtype=torch.bool).tril()
    for r in range(R):
        s = P + r * L
        allowed[s:s + L, :P] = True
        allowed[s:s + L, s:s + L] = torch.ones(L, L, dtype=torch.bool).tril()
    # A float 4-D mask is used by transformers as given: 0 where allowed, the dtype's min elsewhere.
    mask = torch.zeros(n, n, dtype=dtype).masked_fill(~allowed, torch.finfo(dtype).min)
    predictor = torch.stack([
        torch.cat([torch.tensor([P - 1]), torch.arange(P + r * L, P + r * L + L - 1)])
        for r in range(R)
    ]).reshape(R * L).expand(B, R * L)
    inputs = {"input_ids": tokens, "position_ids": positions,
              "attention_mask": mask.expand(B, 1, n, n)}
    return inputs, predictor, responses.reshape(B, R * L)


def sequence_logps(model, mode, inputs, predictor, target):
    if mode == "naive_full":
        logits = model(**inputs).logits
        picked = logits.gather(1, predictor[..., None].expand(-1, -1, logits.shape[-1]))
        token_logps = picked.log_softmax(-1).gather(2, target[..., None]).squeeze(-1)
    else:
        hidden = model.base_model.model.model(**inputs).last_hidden_state
        picked = hidden.gather(1, predictor[..., None].expand(-1, -1, hidden.shape[-1]))
        logits = model.base_model.model.lm_head(picked)
        token_logps = logits.log_softmax(-1).gather(2, target[..., None]).squeeze(-1)
    return token_logps.reshape(B, R, L).sum(-1)


def step(model, optimizer, mode, data):
    logps = sequence_logps(model, mode, *data)
    margins = (logps[:, 1:] - REFERENCE_LOGP) - (logps[:, :1] - REFERENCE_LOGP)
    loss = -F.logsigmoid(-torch.logsumexp(margins, dim=1)).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "shared"
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    if mode not in ("naive_full", "naive_response", "shared"):
        sys.exit(f"unknown mode {mode!r}: naive_full, naive_response or shared")
    torch.manual_seed(0)
    model = LlamaForCausalLM(smollm2_shape())
    model = get_peft_model(model, LoraConfig(
        r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["q_proj", "v_proj"]))
    model.train()
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=1e-5, weight_decay=0.0)
    prompts = torch.randint(3, 49152, (B, P))
    responses = torch.randint(3, 49152, (B, R, L))
    if mode == "shared":
        data = shared_layout(prompts, responses, torch.float32)
    else:
        data = naive_layout(prompts, responses)
    step(model, optimizer, mode, data)  # warm-up
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step(model, optimizer, mode, data)
        times.append(time.perf_counter() - start)
    times.sort()
    print(json.dumps({
        "mode": mode, "median_s": times[len(times) // 2], "steps": steps,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": torch.get_num_threads(), "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
