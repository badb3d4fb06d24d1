"""A re-implementation of the IA2 reference code's loops, written from the paper's
published description and its code structure (our wording and code; used only as
the baseline of `bench/reference_speed.py`).

What makes it the reference's shape (classification tasks, single-token answers):
- every method is its own run: the ICL baseline, and the ICL activations of the
  similarity queries, are collected again in each method's run;
- activations are collected one example at a time, the full ICL prompt through the
  whole model, without a KV cache and without batching;
- the ICL targets of the training and dev examples are collected again for every
  learning rate;
- training is batch 1 with gradient accumulation to the batch size (4); after every
  optimizer step the dev loss is computed one example at a time; early stopping
  with patience counted in dev checks and the best weights restored;
- every adapter (each learning rate of each stage) is evaluated on the evaluation
  set one query at a time, and the best one is kept (the reference chooses the
  learning rate on the evaluation set);
- IA2 -> SFT trains its IA2 stage again from scratch.

The kernels are the engine's own (its losses, capture hooks and peft adapters), so
the comparison measures the loops, not different arithmetic. Labels are scored by
their first token, as the reference does.
"""
import time
from dataclasses import dataclass

import torch

from workers.engine.adapters import attach_adapter, detach_adapter, load_trainable_state, trainable_state
from workers.engine.capture import ActivationCapture
from workers.engine.losses import TrainItem, ce_loss, ia2_loss
from workers.engine.sampling import demo_orders, draw_split, eval_set
from workers.engine.similarity import similarity_summary
from workers.engine.tasks import icl_prompt

STAGES = {"sft": ["sft"], "ia2": ["ia2"], "ia2-sft": ["ia2", "sft"]}


@dataclass
class Setup:
    lm: object            # workers.engine.model_loading.LoadedModel
    task: object
    n: int
    seed: int
    eval_size: int
    similarity_size: int
    lrs: list
    epochs: int
    patience: int
    batch_size: int = 4


def _ids(tok, text, special=True):
    return tok(text, add_special_tokens=special)["input_ids"]


@torch.no_grad()
def _icl_one(lm, capture, prompt: str, label_ids: list[int]):
    """One ICL prompt, batch 1, no cache: first-token label log-probs and the
    attention outputs at the answer position [layers, 1, hidden]."""
    ids = torch.tensor([_ids(lm.tokenizer, prompt)], device=lm.device)
    capture.positions = torch.tensor([[ids.shape[1] - 1]], device=lm.device)
    out = lm.model(input_ids=ids)
    acts = capture.take()[0].float().cpu()
    capture.positions = None
    logp = torch.log_softmax(out.logits[0, -1].float(), -1)
    return logp[label_ids].cpu(), acts


class ReferenceRun:
    """One method's run, as the reference code performs it."""

    def __init__(self, setup: Setup, method: str):
        self.s = setup
        self.method = method
        lm, task = setup.lm, setup.task
        self.split = draw_split(task, setup.n, setup.seed, setup.eval_size)
        self.queries = eval_set(task, setup.eval_size)
        self.label_ids = [_ids(lm.tokenizer, label, False)[0] for label in task.labels]
        self.timings = {}

    # ICL prompts: training example i with the other N-1 as demos; dev and eval with all N
    def _train_prompts(self):
        t, tr = self.s.task, self.split.train
        out = []
        for i, ex in enumerate(tr):
            others = [e for j, e in enumerate(tr) if j != i]
            demos = demo_orders(others, 1, len(others), t.name, self.s.n, self.s.seed, "ref-train", i)[0]
            out.append(icl_prompt(t, demos, t, ex.input))
        return out

    def _demo_prompts(self, examples, tag):
        t = self.s.task
        orders = demo_orders(self.split.train, len(examples), self.s.n, t.name, self.s.n, self.s.seed, tag)
        return [icl_prompt(t, d, t, e.input) for d, e in zip(orders, examples)]

    def collect_targets(self, model_capture):
        """ICL answers and activations of the training and dev examples, one at a time."""
        lm, t = self.s.lm, self.s.task
        prompts = self._train_prompts() + self._demo_prompts(self.split.dev, "ref-dev")
        examples = self.split.train + self.split.dev
        items = []
        for prompt, ex in zip(prompts, examples):
            lp, acts = _icl_one(lm, model_capture, prompt, self.label_ids)
            answer = [self.label_ids[int(lp.argmax())]]
            items.append(TrainItem(_ids(lm.tokenizer, t.query(ex.input)), _ids(lm.tokenizer, ex.output, False),
                                   answer, acts))
        return items[:self.s.n], items[self.s.n:]

    def gold_items(self):
        tok, t = self.s.lm.tokenizer, self.s.task
        items = [TrainItem(_ids(tok, t.query(e.input)), _ids(tok, e.output, False), []) for e in
                 self.split.train + self.split.dev]
        return items[:self.s.n], items[self.s.n:]

    def icl_eval(self, limit=None):
        """The ICL baseline (and the similarity reference), one query at a time."""
        lm = self.s.lm
        queries = self.queries[:limit] if limit else self.queries
        prompts = self._demo_prompts(queries, "ref-eval")
        scores, acts = [], []
        with ActivationCapture(lm.model) as cap:
            for p in prompts:
                lp, a = _icl_one(lm, cap, p, self.label_ids)
                scores.append(lp)
                acts.append(a)
        return torch.stack(scores), acts

    @torch.no_grad()
    def evaluate(self, model):
        """Accuracy of `model` on the bare evaluation queries, one at a time."""
        tok, t = self.s.lm.tokenizer, self.s.task
        correct = 0
        for q in self.queries:
            ids = torch.tensor([_ids(tok, t.query(q.input))], device=self.s.lm.device)
            logits = model(input_ids=ids).logits[0, -1]
            correct += int(t.labels[int(logits[self.label_ids].argmax())] == q.output)
        return correct / len(self.queries)

    @torch.no_grad()
    def similarity(self, model, icl_acts):
        tok, t = self.s.lm.tokenizer, self.s.task
        pairs = []
        with ActivationCapture(model) as cap:
            for q, ref in zip(self.queries, icl_acts):
                ids = torch.tensor([_ids(tok, t.query(q.input))], device=self.s.lm.device)
                cap.positions = torch.tensor([[ids.shape[1] - 1]], device=self.s.lm.device)
                model(input_ids=ids)
                pairs.append((cap.take()[0].float().cpu(), ref))
        return similarity_summary(pairs)["mean_similarity"]

    def _loss(self, model, capture, stage, item):
        pad = self.s.lm.tokenizer.pad_token_id
        if stage == "sft":
            return ce_loss(model, [item], pad, self.s.lm.device)
        return ia2_loss(model, [item], pad, self.s.lm.device, capture)

    def train_stage(self, model, stage):
        """Every learning rate from the same start; each adapter evaluated; best on eval kept."""
        s = self.s
        start = trainable_state(model)
        best_acc, best_state = -1.0, start
        capture = ActivationCapture(model, detach=False)
        for lr in s.lrs:
            load_trainable_state(model, start)
            if stage == "ia2":
                with ActivationCapture(model) as icl_cap, model.disable_adapter():
                    train, dev = self.collect_targets(icl_cap)       # re-collected for every learning rate
            else:
                train, dev = self.gold_items()
            with capture:
                self._train_one_lr(model, capture, stage, lr, train, dev)
            model.eval()
            acc = self.evaluate(model)                                 # every adapter evaluated
            if acc > best_acc:
                best_acc, best_state = acc, trainable_state(model)
        load_trainable_state(model, best_state)

    def _train_one_lr(self, model, capture, stage, lr, train, dev):
        s = self.s
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.Adam(params, lr=lr)
        gen = torch.Generator().manual_seed(s.seed)
        best, best_state, bad, seen = float("inf"), trainable_state(model), 0, 0
        for _epoch in range(s.epochs):
            model.train()
            opt.zero_grad()
            order = torch.randperm(len(train), generator=gen).tolist()
            for pos, i in enumerate(order):
                (self._loss(model, capture, stage, train[i]) / s.batch_size).backward()   # batch 1
                seen += 1
                if seen % s.batch_size == 0 or pos == len(order) - 1:
                    opt.step()
                    opt.zero_grad()
                    model.eval()
                    with torch.no_grad():                                   # dev loss after every step
                        dev_loss = sum(float(self._loss(model, capture, stage, d)) for d in dev) / len(dev)
                    model.train()
                    if dev_loss < best:
                        best, best_state, bad = dev_loss, trainable_state(model), 0
                    else:
                        bad += 1
            if bad >= s.patience:
                break
        load_trainable_state(model, best_state)

    def run(self) -> dict:
        """The method's whole run: its ICL baseline, training, evaluation and similarity."""
        lm = self.s.lm
        t0 = time.perf_counter()
        icl_scores, _ = self.icl_eval()
        _, sim_acts = self.icl_eval(self.s.similarity_size)
        self.timings["icl"] = time.perf_counter() - t0
        out = {"method": self.method, "icl_accuracy": float(
            (icl_scores.argmax(-1) == torch.tensor([self.s.task.labels.index(q.output) for q in self.queries]))
            .float().mean())}
        if self.method == "icl":
            return {**out, "timings": self.timings}
        peft_model = attach_adapter(lm.model, self._adapter(), self.s.seed)
        try:
            t0 = time.perf_counter()
            for stage in STAGES[self.method]:
                self.train_stage(peft_model, stage)
            self.timings["train"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            peft_model.eval()
            out["accuracy"] = self.evaluate(peft_model)
            out["mean_similarity"] = self.similarity(peft_model, sim_acts)
            self.timings["eval"] = time.perf_counter() - t0
        finally:
            lm.model = detach_adapter(peft_model)
        return {**out, "timings": self.timings}

    def _adapter(self):
        from workers.engine.training_settings import AdapterSettings

        return AdapterSettings()


def reference_comparison(setup: Setup, methods=("icl", "sft", "ia2", "ia2-sft")) -> list[dict]:
    return [ReferenceRun(setup, m).run() for m in methods]
