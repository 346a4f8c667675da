"""Usage: python generate.py OUT_DIR (see README.md). Writes golden-format cases for DynamicPO dynamic-beta, P-DPO (trl 0.10.1 dpo_loss) and
unpaired RPO by running the official implementations (loaded by official.py)."""
import json, os, sys, types, warnings
import numpy as np, torch
import official  # noqa: E402
warnings.filterwarnings("ignore")
ENV = {"python": "3.11.7", "torch": torch.__version__, "numpy": np.__version__,
       "scikit-learn": __import__("sklearn").__version__, "trl_dpo_loss": "0.10.1 (wheel)"}

def r(x): return [float(v) for v in x]

def run_dynamicpo(params, inputs):
    t = lambda v: torch.tensor(v, dtype=torch.float64)
    pc = t(inputs["policy_chosen_logps"]).requires_grad_()
    pr = t(inputs["policy_rejected_logps"]).requires_grad_()  # [B][K]
    rc = t(inputs["ref_chosen_logps"]); rr = t(inputs["ref_rejected_logps"])
    K = pr.shape[1]
    prd = {f"rejected{k+1}": pr[:, k] for k in range(K)}
    rrd = {f"rejected{k+1}": rr[:, k] for k in range(K)}
    (losses, _), borderline, _, cr, rrw, (betas, _, _) = official.dynamicpo_preference_loss(
        params["ref_model_enabled"], pc, prd, rc, rrd, params["filter_mode"], params["beta"])
    loss = losses.mean()
    loss.backward()
    gpr = pr.grad if pr.grad is not None else torch.zeros_like(pr)
    if not torch.isfinite(loss):
        raise ValueError("non-finite loss")
    return {
        "loss": loss.item(), "per_example_loss": losses.tolist(),
        "chosen_rewards": cr.tolist(),
        "rejected_rewards": torch.stack([rrw[f"rejected{k+1}"] for k in range(K)], 1).tolist(),
        "grad_policy_chosen_logps": pc.grad.tolist(), "grad_policy_rejected_logps": gpr.tolist(),
        "dynamic_betas": betas,
        "selected_negative_logps": [[float(v) for v in row] for row in borderline],
    }


def dynamicpo_cases(rng):
    cases, skipped = [], []
    seed = 50000
    for scenario in ["typical", "no_borderline", "all_borderline", "mixed", "ties", "wide"]:
        for K in [3, 5, 8, 10, 15, 20]:
            for B in [1, 3, 8]:
                for ref in [True, False]:
                    seed += 1
                    g = np.random.default_rng(seed)
                    beta = float(g.choice([0.1, 1.0, 2.5]))
                    pr = g.normal(-8, 3, (B, K))
                    if scenario == "typical": pc = g.normal(-8, 3, B)
                    elif scenario == "no_borderline": pc = pr.max(1) + g.uniform(0.1, 3, B)
                    elif scenario == "all_borderline": pc = pr.min(1) - g.uniform(0.1, 3, B)
                    elif scenario == "mixed":
                        pc = np.where(g.random(B) < 0.5, pr.max(1) + 1.0, g.normal(-8, 3, B))
                    elif scenario == "ties":
                        pr = np.round(pr); pc = np.where(g.random(B) < 0.5, pr.max(1) + 1.0, np.round(g.normal(-8, 3, B)))
                    else:
                        pr = np.concatenate([g.normal(-30, 5, (B, K // 2)), g.normal(-5, 1, (B, K - K // 2))], 1)
                        pc = pr.max(1) + g.uniform(0.1, 2, B)
                    rc = g.normal(-8, 3, B); rr = g.normal(-8, 3, (B, K))
                    if scenario == "ties": rc = np.round(rc); rr = np.round(rr)
                    params = {"filter_mode": "DMPO_hard_negative_dynamic_beta_fixed_margin", "ref_model_enabled": ref,
                              "beta": beta, "num_negatives": K}
                    inputs = {"policy_chosen_logps": r(pc), "policy_rejected_logps": [r(x) for x in pr],
                              "ref_chosen_logps": r(rc), "ref_rejected_logps": [r(x) for x in rr]}
                    cid = f"dynamicpo/dynamic_beta/ref{int(ref)}/beta{beta}/K{K}/{scenario}/B{B}/seed{seed}"
                    try:
                        outputs = run_dynamicpo(params, inputs)
                    except Exception as e:
                        skipped.append({"id": cid, "reason": f"official code fails: {type(e).__name__}: {e}"[:200], "params": params})
                        continue
                    if any(not (row >= ch).any() and kmeans_plus_plus_has_tie(row) for ch, row in zip(pc, pr)):
                        skipped.append({"id": cid, "reason": "a k-means++ step has two candidates of exactly equal potential that end in different clusters: scikit-learn's pick depends on the BLAS kernel's rounding", "params": params})
                        continue
                    cases.append({"id": cid, "source": "github.com/xingyuHuxingyu/DynamicPO@1d82aa3:trainer/dynamicpo_trainer.py:preference_loss",
                                  "loss": "dynamicpo/dynamic_beta", "params": params, "inputs": inputs, "outputs": outputs,
                                  "notes": ["the official preference_loss, scikit-learn %s KMeans" % ENV["scikit-learn"]]})
    return cases, skipped

def pdpo_cases():
    cases = []
    seed = 60000
    for loss_type in ["ipo", "sigmoid", "hinge", "robust", "exo_pair", "sppo_hard", "nca_pair", "apo_zero", "apo_down"]:
        for users in ["mixed", "all_individual", "all_generic"]:
            for B in [1, 4, 12]:
                for scale in ["typical", "long"]:
                    seed += 1
                    g = np.random.default_rng(seed)
                    beta = float(g.choice([0.1, 0.5]))
                    alpha = float(g.choice([0.3, 0.5, 0.8]))
                    ls = 0.0 if loss_type in ("ipo", "hinge", "sppo_hard", "nca_pair", "apo_zero", "apo_down") else float(g.choice([0.0, 0.1]))
                    if loss_type == "robust" and ls == 0.0: ls = 0.2
                    s = 3.0 if scale == "typical" else 40.0
                    pc, pr, rc, rr = (g.normal(-10 * (s / 3), s, B) for _ in range(4))
                    lens_c = g.integers(1, 200, B); lens_r = g.integers(1, 200, B)
                    if users == "mixed": uid = g.integers(0, 4, B); uid[0] = 0; uid[-1] = max(uid[-1], 1) if B > 1 else 0
                    elif users == "all_individual": uid = g.integers(1, 5, B)
                    else: uid = np.zeros(B, dtype=int)
                    t = lambda v: torch.tensor(v, dtype=torch.float64)
                    PC, PR = t(pc).requires_grad_(), t(pr).requires_grad_()
                    me = types.SimpleNamespace(beta=beta, label_smoothing=ls, loss_type=loss_type, reference_free=False,
                                               f_divergence_type="reverse_kl", f_divergence_params=None,
                                               accelerator=types.SimpleNamespace(device="cpu"))
                    losses, cr, rrw = official.trl0101_dpo_loss(me, PC, PR, t(rc), t(rr))
                    u = torch.tensor(uid)
                    loss = 0
                    if (u != 0).sum() > 0: loss = loss + alpha * losses[u != 0].mean()
                    if (u == 0).sum() > 0: loss = loss + (1. - alpha) * losses[u == 0].mean()
                    loss.backward()
                    params = {"loss_type": loss_type, "beta": beta, "alpha": alpha, "label_smoothing": ls}
                    cases.append({"id": f"pdpo/{loss_type}/beta{beta}/alpha{alpha}/ls{ls}/{users}/{scale}/B{B}/seed{seed}",
                                  "source": "github.com/HumainLab/Personalized_RLHF@ae1f81b:prlhf/user_dpo_trainer.py:UserDPOTrainer.compute_loss (+ trl 0.10.1 DPOTrainer.dpo_loss)",
                                  "loss": f"pdpo/{loss_type}", "params": params,
                                  "inputs": {"policy_chosen_logps": r(pc), "policy_rejected_logps": r(pr), "ref_chosen_logps": r(rc),
                                             "ref_rejected_logps": r(rr), "chosen_lengths": [int(x) for x in lens_c],
                                             "rejected_lengths": [int(x) for x in lens_r], "user_ids": [int(x) for x in uid]},
                                  "outputs": {"loss": float(loss), "per_example_loss": losses.tolist(), "chosen_rewards": cr.tolist(),
                                              "rejected_rewards": rrw.tolist(), "grad_policy_chosen_logps": PC.grad.tolist(),
                                              "grad_policy_rejected_logps": PR.grad.tolist()},
                                  "notes": ["dpo_loss on the log-probs as given (sums); lengths are not read"]})
    return cases

def rpo_cases():
    cases = []
    seed = 70000
    for emb in [True, False]:
        for kind in ["typical", "only_chosen", "only_rejected", "singles", "one_each", "large"]:
            for rep in range(3):
                seed += 1
                g = np.random.default_rng(seed)
                N = {"typical": 8, "only_chosen": 4, "only_rejected": 5, "singles": 1, "one_each": 2, "large": 40}[kind]
                if kind == "only_chosen": status = ["chosen"] * N
                elif kind == "only_rejected": status = ["rejected"] * N
                elif kind == "singles": status = [["chosen"], ["rejected"], ["chosen"]][rep]
                elif kind == "one_each": status = ["chosen", "rejected"] if rep % 2 == 0 else ["rejected", "chosen"]
                else:
                    status = list(g.choice(["chosen", "rejected"], N)); status[0] = "chosen"; status[1] = "rejected"
                N = len(status)
                beta = float(g.choice([0.1, 0.5, 2.0])); temp = float(g.choice([0.5, 0.1, 2.0]))
                ch = [s == "chosen" for s in status]
                nc, nr = sum(ch), N - sum(ch)
                pc, rc = g.normal(-20, 5, nc), g.normal(-20, 5, nc)
                pr, rr = g.normal(-20, 5, nr), g.normal(-20, 5, nr)
                E = g.normal(0, 1, (N, 6)).astype(np.float32)
                t = lambda v: torch.tensor(np.asarray(v, dtype=np.float64), dtype=torch.float64)
                PC, PR = t(pc).requires_grad_(), t(pr).requires_grad_()
                me = types.SimpleNamespace(config=types.SimpleNamespace(loss=types.SimpleNamespace(beta=beta, distance_temperature=temp)),
                                           policy_dtype=torch.float64, device="cpu")
                losses, cr, rrw = official.rpo_unpaired_loss(me, PC, PR, t(rc), t(rr), prompts_emb=(E if emb else None), status=status)
                loss = losses.mean()
                if loss.requires_grad:
                    loss.backward()
                gc = PC.grad.tolist() if PC.grad is not None else [0.0] * nc
                gr = PR.grad.tolist() if PR.grad is not None else [0.0] * nr
                inputs = {"status": status, "policy_chosen_logps": r(pc), "policy_rejected_logps": r(pr),
                          "ref_chosen_logps": r(rc), "ref_rejected_logps": r(rr)}
                if emb: inputs["prompt_embeddings"] = [[float(v) for v in row] for row in E]
                cases.append({"id": f"rpo/unpaired/beta{beta}/temp{temp}/emb{int(emb)}/{kind}/N{N}/seed{seed}",
                              "source": "github.com/yinyueqin/relative-preference-optimization@c1b5163:trainers.py:RPOUnpairedTrainer.loss",
                              "loss": "rpo/unpaired", "params": {"variant": "unpaired", "beta": beta, "distance_temperature": temp},
                              "inputs": inputs,
                              "outputs": {"loss": float(loss), "per_example_loss": losses.tolist(), "chosen_rewards": cr.tolist(),
                                          "rejected_rewards": rrw.tolist(), "grad_policy_chosen_logps": gc, "grad_policy_rejected_logps": gr},
                              "notes": ["a batch with one side empty returns the official placeholders (0) and zero gradients"]})
    return cases

def write(name, desc, cases, skipped=()):
    os.makedirs(OUT, exist_ok=True)
    doc = {"format_version": 1, "family": name, "description": desc, "environment": ENV, "cases": cases, "skipped": list(skipped)}
    json.dump(doc, open(f"{OUT}/{name}.json", "w"))
    print(name, len(cases), "cases,", len(skipped), "skipped")

def kmeans_plus_plus_has_tie(v):
    """True where a k-means++ step has two candidates of mathematically equal potential (exact
    rational arithmetic) and taking one or the other ends in different clusters: there
    scikit-learn's answer is decided by the BLAS kernel's rounding of the potential sums."""
    from fractions import Fraction
    from sklearn.cluster._kmeans import _kmeans_single_lloyd, _tolerance
    X = (v - v.mean()).reshape(-1, 1)
    exact = [Fraction(float(a)) for a in X[:, 0]]
    outcomes = set()

    def search(rs_state, chosen_ids, closest):
        if len(chosen_ids) == 3:
            centers = X[chosen_ids].copy()
            labels = _kmeans_single_lloyd(X.copy(), np.ones(len(X)), centers, tol=_tolerance(X, 1e-4))[0]
            outcomes.add(tuple(labels.tolist()))
            return
        rs = np.random.RandomState(); rs.set_state(rs_state)
        draws = rs.uniform(size=3) * closest.sum()
        ids = np.minimum(np.searchsorted(np.cumsum(closest), draws), len(X) - 1)
        pots = [sum(min((x - exact[c]) ** 2 for c in chosen_ids + [int(i)]) for x in exact) for i in ids]
        best = min(pots)
        for i in sorted({int(i) for i, p in zip(ids, pots) if p == best}):
            search(rs.get_state(), chosen_ids + [i], np.minimum(closest, (X[:, 0] - X[i, 0]) ** 2))

    rs = np.random.RandomState(42)
    first = int(rs.choice(len(X), p=np.ones(len(X)) / len(X)))
    search(rs.get_state(), [first], (X[:, 0] - X[first, 0]) ** 2)
    return len(outcomes) > 1


def kmeans_rows(count=1000):
    """Rows of values with scikit-learn's KMeans(3, random_state=42) labels."""
    from sklearn.cluster import KMeans
    g = np.random.default_rng(80000)
    rows = []
    while len(rows) < count:
        n = int(g.integers(3, 25)); kind = len(rows) % 4
        if kind == 0: v = g.normal(-8, 3, n)
        elif kind == 1: v = np.round(g.normal(-8, 3, n), 1)
        elif kind == 2: v = np.concatenate([g.normal(-20, 1, n // 3), g.normal(-8, 4, n - n // 3)])
        else: v = g.uniform(-30, -0.1, n)
        if len(set(v.tolist())) < 3: continue
        labels = KMeans(n_clusters=3, random_state=42).fit(v.reshape(-1, 1)).labels_
        rows.append({"values": r(v), "labels": [int(x) for x in labels],
                     "candidate_tie": kmeans_plus_plus_has_tie(v)})
    return rows


if __name__ == "__main__":
    OUT = sys.argv[1]
    c, s = dynamicpo_cases(None)
    write("session_dynamicpo", "DynamicPO dynamic-beta, official preference_loss", c, s)
    write("session_pdpo", "P-DPO, official UserDPOTrainer mixing over trl 0.10.1 dpo_loss", pdpo_cases())
    write("session_rpo_unpaired", "RPO unpaired, official RPOUnpairedTrainer.loss", rpo_cases())
    rows = kmeans_rows()
    json.dump({"description": "scikit-learn KMeans(n_clusters=3, random_state=42).fit(values).labels_",
               "environment": ENV, "rows": rows}, open(f"{OUT}/sklearn_kmeans_labels.json", "w"))
    print("kmeans rows:", len(rows), "with a decisive k-means++ candidate tie:", sum(x["candidate_tie"] for x in rows))
