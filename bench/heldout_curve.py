"""Held-out k-shot ICL curve of the shipped embedded model (20 held-out tasks x
100 queries, k = 0, 1, 2, 4, 8, 16; accuracy and ECE), written to the model
directory (heldout_curve.json) and to BENCHMARKS.md.

    python -m bench.heldout_curve
"""
import json
import time

from bench.webcommon import update_benchmarks_md
from workers.engine.heldout_eval import KS, heldout_icl_curve
from workers.engine.model_loading import EMBEDDED_DIR


def main() -> None:
    t = time.perf_counter()
    curve = heldout_icl_curve("embedded", n_tasks=20, n_queries=100)
    seconds = time.perf_counter() - t
    (EMBEDDED_DIR / "heldout_curve.json").write_text(json.dumps(curve, indent=1) + "\n")
    log = json.loads((EMBEDDED_DIR / "training_log.json").read_text())
    rows = "\n".join(f"| {k} | {curve[str(k)]['accuracy']:.3f} | {curve[str(k)]['ece']:.3f} |" for k in KS)
    body = f"""`python -m bench.heldout_curve` ({time.strftime('%Y-%m-%d')}; {seconds:.0f} s on CPU).
Embedded model: {log['n_parameters']:,} parameters, trained in {log['train_seconds'] / 60:.1f} min on 2 CPU cores.
20 held-out tasks (label tuples made only of label words never used together in training,
2- and 3-way) x 100 queries each; mean chance = {curve['0']['chance']:.3f}. Accuracy and equal-width ECE
(15 bins) per number of demonstrations k, averaged over tasks:

| k | accuracy | ECE |
|---|---|---|
{rows}
"""
    print(json.dumps(curve, indent=1))
    update_benchmarks_md("Embedded model: held-out ICL curve", body)
    write_model_card(log, curve, rows)


def write_model_card(log: dict, curve: dict, rows: str) -> None:
    """workers/engine/embedded/MODEL.md, with the measured figures."""
    cfg = json.loads((EMBEDDED_DIR / "config.json").read_text())
    size_mb = (EMBEDDED_DIR / "model.safetensors").stat().st_size / 1e6
    args = log["args"]
    card = f"""# The embedded model

A {cfg['num_hidden_layers']}-layer Llama-style causal LM (hidden {cfg['hidden_size']}, {cfg['num_attention_heads']} heads,
MLP {cfg['intermediate_size']}, tied embeddings, vocabulary {cfg['vocab_size']} words), {log['n_parameters']:,} parameters,
{size_mb:.1f} MB as safetensors, trained from scratch by

    python -m workers.engine.embedded.train          # defaults = these weights; --seed {args['seed']}

in {log['train_seconds'] / 60:.1f} min on 2 CPU cores ({args['steps']} steps of {args['batch']} sequences; the time
includes the held-out checks every {args['eval_every']} steps). Loads with AutoModelForCausalLM / AutoTokenizer from this folder.

## What it was trained on
Sequences of demonstrations `<sentence> <label>` joined by blank lines: each sequence is one small
classification task (2-4 classes = categories or super-categories of the world in `world.py`,
keywords from 3-6 or all 16 words of each category, an adjective before the keyword 70% of the time),
its classes named by random label words (25% of sequences use the category names themselves). The
loss is on the labels only, so predicting them requires reading the demonstrations. Label tuples
with two or more held-out label words ({', '.join(sorted(__import__('workers.engine.embedded.world', fromlist=['x']).HELD_OUT_LABEL_WORDS))}) never occur. 30% of rows
are a random word sequence repeated (loss on the repeat): the model learns to find an earlier
occurrence of a word and copy what followed it, which in-context learning here builds on.

## What its in-context learning can and cannot do
**It learns in context only among its trained label words** (the 40 words of `LABEL_WORDS` in
`world.py`), and only about its own world. Measured with `workers.engine.kshot` on animal-or-fruit's
sentences, counterbalanced over both label orders (chance 0.50): with the labels `chair`/`table`
(words it knows but was never trained to answer with) 0-, 8- and 16-shot accuracy is 0.50, 0.47
and 0.58; with `hammer`/`piano` 0.50, 0.59 and 0.57. With held-out label words it was trained to
output (yes/no, A/B/C, good/bad) it learns the mapping: see below. Any other English text is
mostly unknown words to it (they become `[UNK]`): for real text use `smollm2-135m`.

The built-in packs with held-out labels ship in every rotation of their label assignment
(`vehicle-tool-clothing`, `-r1`, `-r2`, ...; same sentences, labels moved on), because the model
has strong priors for label words: at 0-shot `vehicle-tool-clothing` alone scores 0.66 (chance
0.33; the rotations score 0.015 and 0.325). Averaged over the rotations (200 queries each):

| pack | 0-shot | 8-shot | chance |
|---|---|---|---|
| animal-or-fruit (+r1) | 0.500 | 1.000 | 0.50 |
| vehicle-tool-clothing (+r1, r2) | 0.333 | 0.967 | 0.33 |
| instrument-or-furniture (+r1) | 0.500 | 0.995 | 0.50 |
| bird-or-vegetable (+r1) | 0.500 | 1.000 | 0.50 |

## Held-out in-context learning
`python -m bench.heldout_curve` (also in BENCHMARKS.md and heldout_curve.json): 20 held-out tasks
(label tuples never seen in training, 2- and 3-way, counterbalanced over label orders, 4 keywords
per class) x 100 queries, mean chance {curve['0']['chance']:.3f}:

| k | accuracy | ECE |
|---|---|---|
{rows}

## What did not work (measured while building it)
- A `Text:{{x}}\nLabel:` format with the label three tokens after the keyword: after 1,000-2,000
  steps (4 layers / 128 and 3 layers / 96-128, lr 2e-3 to 1e-2) held-out accuracy stayed at chance
  for every k; even tasks with 2 words per class and exact repeats were not learned in 3,000 steps.
- A curriculum of category-name labels first, then random labels: the model collapsed onto
  predicting category names.
- Adding repeated random sequences taught copying (their loss fell to ~0 by 700 steps), but with
  the `Text:` prefix the ICL sequences did not use it; with the `{{x}} ` format they do.
"""
    (EMBEDDED_DIR.parent / "MODEL.md").write_text(card)


if __name__ == "__main__":
    main()
