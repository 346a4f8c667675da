"""W2 peer: the same preference step as `benches/benches/w2.rs` in PyTorch (CPU).

Model: pre-norm decoder, d=256, 4 layers, 4 heads, ff 1024, vocab 8192, RoPE (rotate_half),
exact GELU, tied embeddings. Step: score B=8 prompts of 256 tokens x K+1=20 responses of 16
tokens, S-DPO loss (beta 1) against constant reference log-probs, backward, AdamW update.
`naive` repeats the prompt for each response (TRL's layout); `shared` packs
[prompt | r0 | ... | rK] with a block mask and restarted positions, like prefopt's default.
Like prefopt, logits are computed only at positions that predict a response token.

Usage: python3 w2_torch.py [naive|shared|both] [steps]  -> prints one JSON line per mode.
"""
import json
import math
import sys
import time

import torch
import torch.nn.functional as F

B, P, R, L = 8, 256, 20, 16
D, LAYERS, HEADS, FF, VOCAB = 256, 4, 4, 1024, 8192


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = torch.nn.LayerNorm(D)
        self.q = torch.nn.Linear(D, D)
        self.k = torch.nn.Linear(D, D)
        self.v = torch.nn.Linear(D, D)
        self.o = torch.nn.Linear(D, D)
        self.ln2 = torch.nn.LayerNorm(D)
        self.up = torch.nn.Linear(D, FF)
        self.down = torch.nn.Linear(FF, D)

    def forward(self, x, cos, sin, mask):
        rows, n, _ = x.shape
        h = self.ln1(x)
        split = lambda t: t.view(rows, n, HEADS, D // HEADS).transpose(1, 2)
        q, k, v = split(self.q(h)), split(self.k(h)), split(self.v(h))
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        x = x + self.o(a.transpose(1, 2).reshape(rows, n, D))
        return x + self.down(F.gelu(self.up(self.ln2(x))))


def rotate(x, cos, sin):
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos[:, None] + rotated * sin[:, None]


def rope(positions):
    hd = D // HEADS
    inv = 10000.0 ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    angles = positions[..., None].double() * inv
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos().float(), angles.sin().float()


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(VOCAB, D)
        self.blocks = torch.nn.ModuleList(Block() for _ in range(LAYERS))
        self.ln = torch.nn.LayerNorm(D)

    def forward(self, tokens, positions, mask):
        x = self.embed(tokens)
        cos, sin = rope(positions)
        for block in self.blocks:
            x = block(x, cos, sin, mask)
        return self.ln(x)


def layout(mode, prompts, responses):
    """Token rows, positions, boolean masks (True = may attend), predictor and target indices."""
    if mode == "naive":
        rows = B * R
        n = P + L
        tokens = torch.cat([prompts.repeat_interleave(R, 0), responses.reshape(rows, L)], 1)
        positions = torch.arange(n).expand(rows, n)
        mask = torch.ones(n, n, dtype=torch.bool).tril().expand(rows, 1, n, n)
        predictor = torch.arange(P - 1, P + L - 1).expand(rows, L)
        return tokens, positions, mask, predictor, responses.reshape(rows, L)
    n = P + R * L
    tokens = torch.cat([prompts, responses.reshape(B, R * L)], 1)
    positions = torch.cat([torch.arange(P), torch.arange(P, P + L).repeat(R)]).expand(B, n)
    mask = torch.zeros(n, n, dtype=torch.bool)
    mask[:P, :P] = torch.ones(P, P, dtype=torch.bool).tril()
    for r in range(R):
        s = P + r * L
        mask[s:s + L, :P] = True
        mask[s:s + L, s:s + L] = torch.ones(L, L, dtype=torch.bool).tril()
    predictor = torch.stack([
        torch.cat([torch.tensor([P - 1]), torch.arange(P + r * L, P + r * L + L - 1)])
        for r in range(R)
    ]).reshape(R * L).expand(B, R * L)
    return tokens, positions, mask.expand(B, 1, n, n), predictor, responses.reshape(B, R * L)


def step(model, optimizer, data):
    tokens, positions, mask, predictor, target = data
    hidden = model(tokens, positions, mask)
    picked = hidden.gather(1, predictor[..., None].expand(-1, -1, D))
    logits = picked @ model.embed.weight.T
    logps = logits.log_softmax(-1).gather(2, target[..., None]).squeeze(-1)
    logps = logps.reshape(B, R, L).sum(-1)
    margins = (logps[:, 1:] - (-40.0)) - (logps[:, :1] - (-40.0))
    loss = -F.logsigmoid(-torch.logsumexp(margins, dim=1)).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def main():
    modes = sys.argv[1] if len(sys.argv) > 1 else "both"
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    torch.manual_seed(0)
    torch.set_num_threads(torch.get_num_threads())
    prompts = torch.randint(3, VOCAB, (B, P))
    responses = torch.randint(3, VOCAB, (B, R, L))
    for mode in (["shared", "naive"] if modes == "both" else [modes]):
        model = Model()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.0)
        data = layout(mode, prompts, responses)
        step(model, optimizer, data)  # warm-up
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            step(model, optimizer, data)
            times.append(time.perf_counter() - start)
        times.sort()
        median = times[len(times) // 2]
        print(json.dumps({
            "mode": mode, "median_s": median, "responses_per_s": B * R / median,
            "threads": torch.get_num_threads(), "torch": torch.__version__,
        }))


if __name__ == "__main__":
    main()
