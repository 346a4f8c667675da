"""Loads the reference functions straight from the official sources, so nothing of theirs is
copied here: each function is read out of its file with `ast` and compiled on its own.

Paths come from the environment:
  DYNAMICPO_REPO  git clone of xingyuHuxingyu/DynamicPO at 1d82aa35d3664e01ae84506aea2a6669cc629254
  RPO_REPO        git clone of yinyueqin/relative-preference-optimization at c1b51639aaf93796ecf65ca74935bc4193b56592
  TRL_0101_DPO    trl/trainer/dpo_trainer.py from the trl 0.10.1 wheel (`pip download trl==0.10.1 --no-deps`)
"""
import ast, enum, math, os, subprocess
import numpy as np
import torch
import torch.nn.functional as F
from sklearn.cluster import KMeans

def _source(repo, path):
    return subprocess.check_output(["git", "-C", repo, "show", f"HEAD:{path}"], text=True)

def _extract(src, name, cls=None):
    tree = ast.parse(src)
    nodes = tree.body
    if cls:
        nodes = next(n for n in nodes if isinstance(n, ast.ClassDef) and n.name == cls).body
    fn = next(n for n in nodes if isinstance(n, ast.FunctionDef) and n.name == name)
    return ast.get_source_segment(src, fn)

def _compile(code, name, extra=None):
    import textwrap
    from typing import Dict, List, Optional, Tuple, Union
    g = {"torch": torch, "F": F, "np": np, "KMeans": KMeans, "math": math,
         "Tuple": Tuple, "List": List, "Dict": Dict, "Optional": Optional, "Union": Union}
    if extra: g.update(extra)
    exec(textwrap.dedent(code), g)
    return g[name]

DYN = os.environ["DYNAMICPO_REPO"]
dynamicpo_preference_loss = _compile(_extract(_source(DYN, "trainer/dynamicpo_trainer.py"), "preference_loss"), "preference_loss")

RPO = os.environ["RPO_REPO"]
_rpo_src = _source(RPO, "trainers.py")
rpo_unpaired_loss = _compile(_extract(_rpo_src, "loss", "RPOUnpairedTrainer"), "loss")
rpo_paired_loss = _compile(_extract(_rpo_src, "loss", "RPOTrainer"), "loss")

class FDivergenceType(enum.Enum):
    REVERSE_KL = "reverse_kl"
    JS_DIVERGENCE = "js_divergence"
    ALPHA_DIVERGENCE = "alpha_divergence"

TRL = os.environ["TRL_0101_DPO"]
trl0101_dpo_loss = _compile(_extract(open(TRL).read(), "dpo_loss", "DPOTrainer"), "dpo_loss",
                            {"FDivergenceType": FDivergenceType, "FDivergenceConstants": None, "cap_exp": None})
