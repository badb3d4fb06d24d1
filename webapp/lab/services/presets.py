"""The paper's benchmark presets (ia2-method.md). They need the Hugging Face hub to
get their examples; offline they are shown with a clear message."""

PRESETS = [
    {"name": "sst2", "hf": "stanfordnlp/sst2", "config": "", "input": "sentence", "output": "label",
     "kind": "classification", "labels": ["0", "1"], "template": "Text:{x}\nLabel:",
     "description": "Movie-review sentiment (SST-2)."},
    {"name": "finsen", "hf": "takala/financial_phrasebank", "config": "sentences_50agree", "input": "sentence",
     "output": "label", "kind": "classification", "labels": ["0", "2"], "template": "Text:{x}\nLabel:",
     "description": "Financial sentiment, labels 0 and 2 only."},
    {"name": "poems", "hf": "google-research-datasets/poem_sentiment", "config": "", "input": "verse_text",
     "output": "label", "kind": "classification", "labels": ["0", "1"], "template": "Text:{x}\nLabel:",
     "description": "Poem sentiment (evaluation only).", "held_out": True},
    {"name": "agnews", "hf": "fancyzhx/ag_news", "config": "", "input": "text", "output": "label",
     "kind": "classification", "labels": ["0", "1", "2", "3"], "template": "Text:{x}\nLabel:",
     "description": "AG News topic classification."},
    {"name": "bbcnews", "hf": "SetFit/bbc-news", "config": "", "input": "text", "output": "label",
     "kind": "classification", "labels": ["0", "1", "2", "3"], "template": "Text:{x}\nLabel:",
     "description": "BBC News mapped onto AG News classes (evaluation only).", "held_out": True},
    {"name": "strategytf", "hf": "wics/strategy-qa", "config": "", "input": "question", "output": "answer",
     "kind": "classification", "labels": ["True", "False"], "template": "Question:{x}\nAnswer:",
     "description": "StrategyQA true/false."},
    {"name": "sciq", "hf": "allenai/sciq", "config": "", "input": "question", "output": "correct_answer",
     "kind": "generation", "parser": "plain", "template": "Question:{x}\nAnswer:",
     "description": "SciQ (the paper remaps choices to unrelated words)."},
    {"name": "qasc", "hf": "allenai/qasc", "config": "", "input": "question", "output": "answerKey",
     "kind": "generation", "parser": "plain", "template": "Question:{x}\nAnswer:",
     "description": "QASC multiple choice."},
    {"name": "gsm8k", "hf": "openai/gsm8k", "config": "main", "input": "question", "output": "answer",
     "kind": "generation", "parser": "gsm8k", "template": "Question:{x}\nAnswer:",
     "description": "Grade-school math; answers end with #### N."},
    {"name": "gsm8ks", "hf": "apple/GSM-Symbolic", "config": "main", "input": "question", "output": "answer",
     "kind": "generation", "parser": "gsm8k", "template": "Question:{x}\nAnswer:",
     "description": "GSM-Symbolic (evaluation only).", "held_out": True},
    {"name": "hmath", "hf": "EleutherAI/hendrycks_math", "config": "algebra", "input": "problem",
     "output": "solution", "kind": "generation", "parser": "boxed", "template": "Question:{x}\nAnswer:",
     "description": "MATH algebra; answers in \\boxed{}."},
    {"name": "sciqa", "hf": "allenai/sciq", "config": "", "input": "question", "output": "correct_answer",
     "kind": "generation", "parser": "plain", "template": "Question:{x}\nAnswer:",
     "description": "SciQ as generative QA."},
]


def preset(name):
    return next((p for p in PRESETS if p["name"] == name), None)
