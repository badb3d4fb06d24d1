"""The paper's benchmarks as presets (ids, configs, splits, columns, label maps and
templates from ia2-method.md). Plain data, no torch: the web form lists them.

`load_preset` (presets_loader.py) turns one into an ordinary task dict with the
`datasets` library. Fields:
  name, description   what the user sees
  hf, config          the Hugging Face dataset id and configuration
  train_split         where the example pool comes from (None: evaluation only, the pool
                      is drawn from eval_split too, disjoint from the evaluation set)
  eval_split          where the evaluation examples come from
  input, output       the columns holding the input text and the answer
  kind                classification | generation
  label_map           classification: raw output value (as a string) -> label; rows whose
                      value is not a key are dropped (FinS keeps 0 and 2 only)
  labels              the label set, in order
  choices             multiple choice with remapped labels: how to read the options
                      (see presets_loader.format_choices); the labels are unrelated words, so
                      only the demonstrations say which word marks the correct option
  parser              generation: plain | gsm8k | boxed
  template            the input template (ia2-method.md: Text:/Label: for sentiment and topic,
                      Question:/Answer: for QA and math)
"""

SENTIMENT = "Text:{x}\nLabel:"
QA = "Question:{x}\nAnswer:"
CHOICE = "Question:{x}\n\nAnswer:"
# Unrelated words that replace the option letters of SciQ and QASC (the paper's "remapped")
REMAP_WORDS = ["apple", "river", "chair", "cloud", "pencil", "tiger", "violin", "candle"]

PRESETS: list[dict] = [
    {"name": "sst2", "hf": "stanfordnlp/sst2", "config": None, "train_split": "train", "eval_split": "validation",
     "input": "sentence", "output": "label", "kind": "classification", "label_map": {"0": "0", "1": "1"},
     "labels": ["0", "1"], "template": SENTIMENT,
     "description": "Movie-review sentiment (SST-2): 0 negative, 1 positive."},
    {"name": "finsen", "hf": "takala/financial_phrasebank", "config": "sentences_50agree", "train_split": "train",
     "eval_split": "train", "input": "sentence", "output": "label", "kind": "classification",
     "label_map": {"0": "0", "2": "2"}, "labels": ["0", "2"], "template": SENTIMENT,
     "description": "Financial news sentiment (FinS): 0 negative, 2 positive; neutral (1) rows dropped."},
    {"name": "poems", "hf": "google-research-datasets/poem_sentiment", "config": None, "train_split": None,
     "eval_split": "test", "input": "verse_text", "output": "label", "kind": "classification",
     "label_map": {"0": "0", "1": "1"}, "labels": ["0", "1"], "template": SENTIMENT,
     "description": "Poem verse sentiment, 0 negative, 1 positive (evaluation only: an out-of-domain "
                    "partner of sst2)."},
    {"name": "agnews", "hf": "fancyzhx/ag_news", "config": None, "train_split": "train", "eval_split": "test",
     "input": "text", "output": "label", "kind": "classification",
     "label_map": {"0": "0", "1": "1", "2": "2", "3": "3"}, "labels": ["0", "1", "2", "3"], "template": SENTIMENT,
     "description": "AG News topic: 0 world, 1 sports, 2 business, 3 science/technology."},
    {"name": "bbcnews", "hf": "SetFit/bbc-news", "config": None, "train_split": None, "eval_split": "test",
     "input": "text", "output": "label_text", "kind": "classification",
     "label_map": {"politics": "0", "sport": "1", "business": "2", "tech": "3"}, "labels": ["0", "1", "2", "3"],
     "template": SENTIMENT,
     "description": "BBC News mapped onto the AG News classes (politics 0, sport 1, business 2, tech 3; "
                    "entertainment dropped); evaluation only, a partner of agnews."},
    {"name": "strategytf", "hf": "wics/strategy-qa", "config": None, "train_split": "test", "eval_split": "test",
     "input": "question", "output": "answer", "kind": "classification",
     "label_map": {"True": "True", "False": "False"}, "labels": ["True", "False"], "template": QA,
     "description": "StrategyQA yes/no questions answered True or False."},
    {"name": "sciq", "hf": "allenai/sciq", "config": None, "train_split": "train", "eval_split": "test",
     "input": "question", "output": "correct_answer", "kind": "classification",
     "choices": {"correct": "correct_answer", "others": ["distractor1", "distractor2", "distractor3"]},
     "labels": REMAP_WORDS[:4], "template": CHOICE,
     "description": "SciQ multiple choice, options marked by unrelated words (apple, river, chair, cloud) "
                    "in a shuffled order: the paper's SciQ-remapped."},
    {"name": "qasc", "hf": "allenai/qasc", "config": None, "train_split": "train", "eval_split": "validation",
     "input": "question", "output": "answerKey", "kind": "classification",
     "choices": {"list": "choices", "key": "answerKey"}, "labels": list(REMAP_WORDS), "template": CHOICE,
     "description": "QASC 8-way multiple choice, options marked by unrelated words instead of A-H: the "
                    "paper's QASC-remapped."},
    {"name": "gsm8k", "hf": "openai/gsm8k", "config": "main", "train_split": "train", "eval_split": "test",
     "input": "question", "output": "answer", "kind": "generation", "parser": "gsm8k", "template": QA,
     "description": "Grade-school math word problems; the answer ends with '#### N'."},
    {"name": "gsm8ks", "hf": "apple/GSM-Symbolic", "config": "main", "train_split": None, "eval_split": "test",
     "input": "question", "output": "answer", "kind": "generation", "parser": "gsm8k", "template": QA,
     "description": "GSM-Symbolic: GSM8K with changed names and numbers (evaluation only, a partner of gsm8k)."},
    {"name": "hmath", "hf": "EleutherAI/hendrycks_math", "config": "algebra", "train_split": "train",
     "eval_split": "test", "input": "problem", "output": "solution", "kind": "generation", "parser": "boxed",
     "template": QA, "description": "MATH algebra problems; the answer is the solution's \\boxed{...}."},
    {"name": "sciqa", "hf": "allenai/sciq", "config": None, "train_split": "train", "eval_split": "test",
     "input": "question", "output": "correct_answer", "kind": "generation", "parser": "plain", "template": QA,
     "description": "SciQ as open questions: generate the answer."},
]

POOL_SIZE = 500   # examples kept for training, dev and demonstrations (N up to 128 + dev)
EVAL_SIZE = 500   # the paper evaluates on 500 held-out samples


def preset(name: str) -> dict | None:
    return next((p for p in PRESETS if p["name"] == name), None)


def preset_names() -> list[str]:
    return [p["name"] for p in PRESETS]
