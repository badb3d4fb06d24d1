"""Evaluates a model on an evaluation task's queries and compares its
activations with the base model's ICL activations.

Classification: the whole label set is scored, probabilities renormalised over
the labels give confidence, ECE, Brier, NLL. Generation: greedy decoding with the
KV cache, stop at a blank line, parse the answer, exact match.
"""
import torch

from .answers import teacher_pass
from .capture import ActivationCapture
from .generation import greedy_generate
from .metrics import classification_metrics, exact_match, normalise_answer, parse_answer, renormalise
from .scoring import score_label_set
from .sequences import encode_prompts
from .similarity import layer_cka, similarity_summary
from .tasks import Task


def metrics_from_logprobs(task: Task, inputs: list[str], golds: list[str], logprobs: torch.Tensor) -> dict:
    probs = renormalise(logprobs.double()).numpy()
    gold_idx = [task.label_index(g) for g in golds]
    m = classification_metrics(probs, gold_idx)
    preds = probs.argmax(-1)
    m["predictions"] = [
        {"index": i, "input": inputs[i], "gold": golds[i], "predicted": task.labels[int(preds[i])],
         "confidence": float(probs[i, preds[i]]), "correct": bool(preds[i] == gold_idx[i]),
         "label_probs": {task.labels[j]: float(probs[i, j]) for j in range(len(task.labels))}}
        for i in range(len(golds))]
    return m


def metrics_from_texts(task: Task, inputs: list[str], golds: list[str], texts: list[str]) -> dict:
    parsed = [parse_answer(t, task.answer_parser) for t in texts]
    gold_parsed = [parse_answer(g, task.answer_parser) or g for g in golds]
    acc = exact_match(parsed, gold_parsed)
    preds = []
    for i, (p, g) in enumerate(zip(parsed, gold_parsed)):
        ok = p is not None and normalise_answer(p) == normalise_answer(g)
        preds.append({"index": i, "input": inputs[i], "gold": g, "predicted": p, "output": texts[i],
                      "confidence": None, "correct": ok})
    return {"accuracy": acc, "ece": None, "ece_equal_mass": None, "brier": None, "nll": None,
            "reliability": [], "reliability_equal_mass": [], "predictions": preds}


def evaluate_without_demos(lm, model, task: Task, inputs: list[str], golds: list[str], cfg, reporter) -> dict:
    """Metrics of `model` (base or adapted) answering the bare queries."""
    queries = [task.query(x) for x in inputs]
    if task.kind == "classification":
        lp = score_label_set(model, lm.tokenizer, queries, task.labels, lm.device, cfg.eval_batch_size,
                             reporter=reporter, stage="eval")
        return metrics_from_logprobs(task, inputs, golds, lp)
    texts = []
    for start in range(0, len(queries), cfg.eval_batch_size):
        _, t, _ = greedy_generate(model, lm.tokenizer, queries[start:start + cfg.eval_batch_size], lm.device,
                                  cfg.max_new_tokens)
        texts += t
        reporter.tick("eval", min(start + cfg.eval_batch_size, len(queries)), len(queries))
    return metrics_from_texts(task, inputs, golds, texts)


@torch.no_grad()
def similarity_to_icl(lm, model, task: Task, inputs: list[str], answer_ids: list[list[int]],
                      icl_acts: list[torch.Tensor], cfg, reporter) -> dict:
    """Cosine (per layer and token) and linear CKA (per layer) between the model's
    attention outputs on bare queries and the base model's with demonstrations,
    both teacher-forced with the ICL answer tokens."""
    if not icl_acts:
        return {}
    tok = lm.tokenizer
    pairs = []
    with ActivationCapture(model) as capture:
        for start in range(0, len(icl_acts), cfg.eval_batch_size):
            sl = slice(start, start + cfg.eval_batch_size)
            prompt_ids = encode_prompts(tok, [task.query(x) for x in inputs[sl]])
            acts = teacher_pass(model, capture, prompt_ids, answer_ids[sl], tok.pad_token_id, lm.device,
                                top_k=1).acts
            pairs += list(zip(acts, icl_acts[sl]))
            reporter.tick("similarity", min(start + cfg.eval_batch_size, len(icl_acts)), len(icl_acts))
    pairs = [(a.float(), b.float()) for a, b in pairs]
    summary = similarity_summary(pairs)
    return {"layer_similarity": summary["layer_similarity"], "mean_similarity": summary["mean_similarity"],
            "layer_cka": layer_cka(pairs)}
