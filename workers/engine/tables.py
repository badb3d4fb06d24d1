"""Result tables in the forms papers and spreadsheets need: the paper's layout in LaTeX and
Markdown, and CSV cells a spreadsheet will never run as formulas.

The paper's layout (its Table 1): one row per train -> eval task pair (and N when the
results hold several), one column per method, each cell "accuracy / ECE" as mean ± sample
std over seeds (the convention of `stats.spread`), the best mean accuracy of the row in bold.
Numbers are percentages for accuracy and fractions for ECE, as in the paper.
"""
from __future__ import annotations

from collections import defaultdict

from .config import METHOD_TITLES
from .metric_table import metric
from .stats import SPREAD_CONVENTION, spread

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")
CELL_CAPTION = f"{metric('accuracy').label} (%) / {metric('ece').label}"  # what each cell holds


def csv_safe(value):
    """A CSV cell that spreadsheets show as text: cells starting with = + - @ (or a tab or a
    line break) get a leading apostrophe. Numbers stay numbers.

    Line breaks become LF first: Python's csv writer quotes a cell only for the characters of
    its line terminator, so with lineterminator LF a bare CR went out unquoted, and a
    spreadsheet started a new row there, with whatever followed (`ok<CR>=1+1`) as a formula."""
    if not isinstance(value, str):
        return value
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def _cell(values_acc, values_ece):
    acc, ece = spread(values_acc, metric="accuracy"), spread(values_ece, metric="ece")
    if acc is None:
        return None

    def fmt(s, scale, digits):
        text = f"{s.mean * scale:.{digits}f}"
        return text if s.std is None else f"{text} ± {s.std * scale:.{digits}f}"

    ece_text = fmt(ece, 1, 2) if ece is not None else "–"
    return {"mean_accuracy": acc.mean, "text": f"{fmt(acc, 100, 1)} / {ece_text}"}


def paper_rows(results: list[dict]) -> tuple[list[str], list[dict]]:
    """Methods (in first-seen order) and one row per (train task, eval task, N) from run
    results with keys method, n, seed, train_task, eval_task, accuracy, ece."""
    methods = list(dict.fromkeys(r["method"] for r in results))
    groups = defaultdict(lambda: defaultdict(lambda: ([], [])))
    for r in results:
        key = (r.get("train_task", ""), r["eval_task"], r["n"])
        accs, eces = groups[key][r["method"]]
        accs.append(r.get("accuracy"))
        eces.append(r.get("ece"))
    several_n = len({k[2] for k in groups}) > 1
    rows = []
    for (train, evaluated, n), by_method in groups.items():
        cells = {m: _cell(*by_method[m]) if m in by_method else None for m in methods}
        best = max((c["mean_accuracy"] for c in cells.values() if c), default=None)
        label = f"{train} → {evaluated}" if train else evaluated
        rows.append({"label": f"{label} (N={n})" if several_n else label,
                     "cells": {m: c and {**c, "best": c["mean_accuracy"] == best} for m, c in cells.items()}})
    return methods, rows


LATEX_ESCAPES = str.maketrans({
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
    "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "→": r"$\rightarrow$", "±": r"$\pm$"})


def _latex_escape(text: str) -> str:
    """One pass over the text (str.translate), so no escape is escaped again: replacing the
    characters one after another turned a backslash into \\textbackslash\\{\\}."""
    return text.translate(LATEX_ESCAPES)


def latex_table(results: list[dict]) -> str:
    """A LaTeX tabular in the paper's layout (booktabs rules), with the convention as caption."""
    methods, rows = paper_rows(results)
    lines = [r"\begin{table}[t]", r"\centering",
             r"\begin{tabular}{l" + "c" * len(methods) + "}", r"\toprule",
             " & ".join(["Train $\\rightarrow$ Eval"] + [_latex_escape(METHOD_TITLES.get(m, m)) for m in methods])
             + r" \\", r"\midrule"]
    for row in rows:
        cells = []
        for m in methods:
            c = row["cells"][m]
            text = _latex_escape(c["text"]) if c else "--"
            cells.append(rf"\textbf{{{text}}}" if c and c["best"] else text)
        lines.append(" & ".join([_latex_escape(row["label"])] + cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}",
              r"\caption{" + _latex_escape(f"{CELL_CAPTION}; {SPREAD_CONVENTION.split(';')[0]}") + ".}",
              r"\end{table}"]
    return "\n".join(lines) + "\n"


def markdown_table(results: list[dict]) -> str:
    """The same table in Markdown (best per row in bold), the convention below it."""
    methods, rows = paper_rows(results)
    lines = ["| train → eval | " + " | ".join(METHOD_TITLES.get(m, m) for m in methods) + " |",
             "|---" * (len(methods) + 1) + "|"]
    for row in rows:
        cells = []
        for m in methods:
            c = row["cells"][m]
            cells.append("–" if not c else f"**{c['text']}**" if c["best"] else c["text"])
        lines.append(f"| {row['label']} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"{CELL_CAPTION}; {SPREAD_CONVENTION.split(';')[0]}.")
    return "\n".join(lines) + "\n"
