"""The paper-layout tables against tables written by hand, and CSV formula neutralising."""
from workers.engine.tables import csv_safe, latex_table, markdown_table


def _runs():
    rows = []
    for seed, (ia, ie, sa, se) in enumerate([(0.8, 0.1, 0.6, 0.3), (0.9, 0.2, 0.7, 0.3)]):
        rows += [{"method": "icl", "n": 4, "seed": seed, "train_task": "sst2", "eval_task": "sst2", "accuracy": ia, "ece": ie},
                 {"method": "sft", "n": 4, "seed": seed, "train_task": "sst2", "eval_task": "sst2", "accuracy": sa, "ece": se}]
    rows += [{"method": "icl", "n": 4, "seed": 0, "train_task": "sst2", "eval_task": "finsen", "accuracy": 0.4, "ece": 0.2},
             {"method": "sft", "n": 4, "seed": 0, "train_task": "sst2", "eval_task": "finsen", "accuracy": 0.7, "ece": 0.3}]
    return rows


def test_latex_table_matches_the_hand_computed_one():
    # icl on sst2: acc 80, 90 -> 85.0 +- 7.1 (sample sd 0.0707); ECE 0.1, 0.2 -> 0.15 +- 0.07
    expected = r"""\begin{table}[t]
\centering
\begin{tabular}{lcc}
\toprule
Train $\rightarrow$ Eval & ICL & SFT \\
\midrule
sst2 $\rightarrow$ sst2 & \textbf{85.0 $\pm$ 7.1 / 0.15 $\pm$ 0.07} & 65.0 $\pm$ 7.1 / 0.30 $\pm$ 0.00 \\
sst2 $\rightarrow$ finsen & 40.0 / 0.20 & \textbf{70.0 / 0.30} \\
\bottomrule
\end{tabular}
\caption{Accuracy (\%) / ECE; mean $\pm$ sample sd (ddof=1) over seeds.}
\end{table}
"""
    assert latex_table(_runs()) == expected


def test_markdown_table_matches_the_hand_computed_one():
    expected = """| train → eval | ICL | SFT |
|---|---|---|
| sst2 → sst2 | **85.0 ± 7.1 / 0.15 ± 0.07** | 65.0 ± 7.1 / 0.30 ± 0.00 |
| sst2 → finsen | 40.0 / 0.20 | **70.0 / 0.30** |

Accuracy (%) / ECE; mean ± sample sd (ddof=1) over seeds.
"""
    assert markdown_table(_runs()) == expected


def test_rows_are_split_by_n_when_there_are_several():
    runs = _runs() + [{"method": "icl", "n": 8, "seed": 0, "train_task": "sst2", "eval_task": "sst2",
                       "accuracy": 0.95, "ece": 0.05}]
    table = markdown_table(runs)
    assert "| sst2 → sst2 (N=4) |" in table and "| sst2 → sst2 (N=8) | **95.0 / 0.05** | – |" in table


def test_task_names_are_escaped_in_latex():
    runs = [{"method": "icl", "n": 4, "seed": 0, "train_task": "a_b&c", "eval_task": "50%", "accuracy": 0.5, "ece": 0.1}]
    assert r"a\_b\&c $\rightarrow$ 50\%" in latex_table(runs)


def test_csv_cells_that_look_like_formulas_become_text():
    assert csv_safe("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")"
    assert [csv_safe(v) for v in ("+1", "-cmd", "@SUM(A1)", "\tx")] == ["'+1", "'-cmd", "'@SUM(A1)", "'\tx"]
    assert csv_safe("positive") == "positive" and csv_safe(-0.5) == -0.5
