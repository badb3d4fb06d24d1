"""Can this model read this task? The share of the task's input words that its
tokenizer turns into the unknown token, and the labels it cannot tell apart.

A model with a small word-level vocabulary (the embedded one) silently reads
"the film was a delight" as "the [UNK] was a [UNK]": every method then answers
from the label prior and the numbers mean nothing. Byte-level tokenizers (SmolLM2,
Llama, Qwen) never produce the unknown token. Torch-free: it needs only a
tokenizer (workers.engine.model_info.load_light gives one without torch).
"""
from collections import Counter
from dataclasses import dataclass, field

from .tasks import Task
from .validation import label_problems

DEFAULT_THRESHOLD = 0.05


@dataclass
class Readability:
    words: int                      # input word occurrences looked at
    unknown: int                    # of them, those containing the unknown token
    distinct_words: int
    distinct_unknown: int
    unknown_examples: list[str] = field(default_factory=list)  # the most frequent unknown words
    label_problems: list[str] = field(default_factory=list)
    threshold: float = DEFAULT_THRESHOLD

    @property
    def unknown_share(self) -> float:
        return self.unknown / self.words if self.words else 0.0

    @property
    def fires(self) -> bool:
        """True when the model cannot read the task: too many unknown words or ambiguous labels."""
        return self.unknown_share > self.threshold or bool(self.label_problems)

    def message(self) -> str:
        parts = []
        if self.unknown_share > self.threshold:
            parts.append(f"{self.unknown_share:.0%} of the input words ({self.distinct_unknown} of "
                         f"{self.distinct_words} distinct words, e.g. {', '.join(repr(w) for w in self.unknown_examples[:5])}) "
                         "are unknown to this model's tokenizer, so it reads them as one unknown token; "
                         "choose a model that can read this text")
        parts += self.label_problems
        return "; ".join(parts)

    def to_dict(self) -> dict:
        return {"words": self.words, "unknown": self.unknown, "unknown_share": self.unknown_share,
                "distinct_words": self.distinct_words, "distinct_unknown": self.distinct_unknown,
                "unknown_examples": self.unknown_examples, "label_problems": self.label_problems,
                "threshold": self.threshold, "fires": self.fires, "message": self.message()}


def readability(tokenizer, task: Task, threshold: float = DEFAULT_THRESHOLD, max_examples: int = 500) -> Readability:
    """How much of `task` (its pool and evaluation inputs, up to max_examples of each) the tokenizer can read."""
    counts: Counter = Counter()
    for e in task.examples[:max_examples] + task.eval_examples[:max_examples]:
        counts.update(e.input.split())
    distinct = list(counts)
    unk = getattr(tokenizer, "unk_token_id", None)
    unknown_words: list[str] = []
    if unk is not None and distinct:
        ids = tokenizer(distinct, add_special_tokens=False)["input_ids"]
        unknown_words = [w for w, seq in zip(distinct, ids) if unk in seq]
    unknown = sum(counts[w] for w in unknown_words)
    unknown_words.sort(key=lambda w: -counts[w])
    return Readability(words=sum(counts.values()), unknown=unknown, distinct_words=len(distinct),
                       distinct_unknown=len(unknown_words), unknown_examples=unknown_words[:20],
                       label_problems=label_problems(task, tokenizer), threshold=threshold)


def model_readability(model: str, task: Task, threshold: float = DEFAULT_THRESHOLD) -> Readability:
    """readability() with the model's tokenizer loaded without torch."""
    from .model_info import load_light

    tokenizer, _ = load_light(model)
    return readability(tokenizer, task, threshold)
