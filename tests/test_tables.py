"""The paper-layout tables against tables written by hand, and CSV formula neutralising."""
import pytest

from workers.engine.tables import csv_safe, latex_table, markdown_table, paper_rows


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


def test_every_latex_special_character_in_a_task_name_is_escaped():
    """A backslash is escaped first (else the escapes of the others would be doubled) and becomes
    \\textbackslash{}; a raw one would start a LaTeX command."""
    name = "a\\b&c%d$e#f_g{h}i~j^k"
    runs = [{"method": "icl", "n": 4, "seed": 0, "train_task": "", "eval_task": name, "accuracy": 0.5, "ece": 0.1}]
    escaped = (r"a\textbackslash{}b\&c\%d\$e\#f\_g\{h\}i\textasciitilde{}j\textasciicircum{}k")
    row = next(line for line in latex_table(runs).splitlines() if line.startswith("a"))
    assert row == escaped + r" & \textbf{50.0 / 0.10} \\"


def _uneven_runs():
    """Methods first seen in the order sft, icl, mystery; a tie for the best; a missing accuracy
    and missing ECEs; a row without a train task; a row where no run has an accuracy."""
    def run(method, eval_task, seed, accuracy, ece=None, **extra):
        return {"method": method, "n": 4, "seed": seed, "eval_task": eval_task, "accuracy": accuracy, "ece": ece,
                **extra}

    return [run("sft", "a", 0, 0.6, 0.2, train_task="a"), run("sft", "a", 1, None, 0.3, train_task="a"),
            run("icl", "a", 0, 0.6, train_task="a"),
            run("mystery", "b", 0, 0.5), run("mystery", "b", 1, 0.7),
            run("sft", "c", 0, None)]


def test_tables_with_missing_values_ties_and_unknown_methods():
    table = markdown_table(_uneven_runs()).split("\n\n")[0]
    assert table == """| train → eval | SFT | ICL | mystery |
|---|---|---|---|
| a → a | **60.0 / 0.25 ± 0.07** | **60.0 / –** | – |
| b | – | – | **60.0 ± 14.1 / –** |
| c | – | – | – |"""
    latex = latex_table(_uneven_runs()).splitlines()
    assert latex[2] == r"\begin{tabular}{lccc}"
    assert latex[4:9] == [r"Train $\rightarrow$ Eval & SFT & ICL & mystery \\", r"\midrule",
                          r"a $\rightarrow$ a & \textbf{60.0 / 0.25 $\pm$ 0.07} & \textbf{60.0 / –} & -- \\",
                          r"b & -- & -- & \textbf{60.0 $\pm$ 14.1 / –} \\", r"c & -- & -- & -- \\"]
    assert latex[9:11] == [r"\bottomrule", r"\end{tabular}"]


def test_paper_rows_keep_the_numbers_behind_the_text():
    methods, rows = paper_rows(_uneven_runs())
    assert methods == ["sft", "icl", "mystery"]
    assert [r["label"] for r in rows] == ["a → a", "b", "c"]
    first = rows[0]["cells"]
    assert first["sft"] == {"mean_accuracy": pytest.approx(0.6), "text": "60.0 / 0.25 ± 0.07", "best": True}
    assert first["mystery"] is None and rows[2]["cells"] == {"sft": None, "icl": None, "mystery": None}


def test_csv_line_breaks_become_lf_so_no_bare_cr_starts_a_formula_row():
    assert csv_safe("a\r\nb") == "a\nb" and csv_safe("ok\r=1+1") == "ok\n=1+1"
    assert csv_safe("\r=1+1") == "'\n=1+1" and csv_safe("\r\n@x") == "'\n@x"
    assert csv_safe("a\r\r\nb") == "a\n\nb"


def test_a_missing_train_task_and_an_empty_one_are_the_same_row():
    runs = [{"method": "icl", "n": 4, "seed": 0, "eval_task": "e", "accuracy": 0.5, "ece": 0.1},
            {"method": "icl", "n": 4, "seed": 1, "train_task": "", "eval_task": "e", "accuracy": 0.7, "ece": 0.1}]
    methods, rows = paper_rows(runs)
    assert [r["label"] for r in rows] == ["e"] and rows[0]["cells"]["icl"]["mean_accuracy"] == pytest.approx(0.6)
