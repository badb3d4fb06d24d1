"""Render the exact ICL prompt and SFT training string (mirrors static/lab/preview.js).

ICL: k demos, each the template filled with the demo input followed by its answer
with no separator, joined by a blank line, then the query's filled template.
SFT: the query's filled template followed by its answer.
"""


def fill(template, x):
    """Fill {x} literally (inputs may contain braces, so no str.format)."""
    return template.replace("{x}", x)


def icl_prompt(template, demos, query_input):
    parts = [fill(template, d["input"]) + d["output"] for d in demos]
    parts.append(fill(template, query_input))
    return "\n\n".join(parts)


def sft_string(template, example):
    return fill(template, example["input"]) + example["output"]


def preview(template, pool, index, k):
    """Demos are the first k pool examples other than the chosen one."""
    query = pool[index]
    demos = [ex for i, ex in enumerate(pool) if i != index][:k]
    return {"icl": icl_prompt(template, demos, query["input"]), "sft": sft_string(template, query)}
