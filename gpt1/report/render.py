"""A table as Markdown and as LaTeX: the grid, its footnotes and notes, and our cells in LaTeX."""

from __future__ import annotations

import pandas as pd

from gpt1.report.paper import Table
from gpt1.report.records import Measure


def ours_latex(m: Measure, signed: bool = False) -> str:
    """Our cell in LaTeX: as ours_text, with the sd and column count small after the mean, so that a
    table of nine columns fits a page."""
    if m.value is None:
        return latex_escape(m.status)
    small = [] if m.sd is None else [rf"$\pm$\,{m.sd:.1f}"]
    if m.n_columns < m.n_total:
        small.append(f"({m.n_columns} of {m.n_total})")
    value = f"{m.value:+.1f}" if signed else f"{m.value:.1f}"
    return value + (rf"\,{{\scriptsize {' '.join(small)}}}" if small else "")


def markdown_grid(frame: pd.DataFrame) -> str:
    """The frame as a GitHub Markdown table (pandas' to_markdown uses tabulate)."""
    return frame.reset_index().to_markdown(index=False)


def to_markdown(table: Table, frame: pd.DataFrame, foot: list[str], lines: list[str]) -> str:
    parts = [f"# Table {table.number}: {table.title}", "", markdown_grid(frame), ""]
    if foot:
        parts += ["Without a value:", ""] + [f"- {line}" for line in foot] + [""]
    parts += ["Notes:", ""] + [f"- {line}" for line in lines]
    return "\n".join(parts) + "\n"


def latex_escape(text: str) -> str:
    """Text safe to put in LaTeX: its special characters escaped."""
    special = {
        "\\": r"\textbackslash{}",
        "&": r"\&",
        "%": r"\%",
        "$": r"\$",
        "#": r"\#",
        "_": r"\_",
        "{": r"\{",
        "}": r"\}",
        "~": r"\textasciitilde{}",
        "^": r"\textasciicircum{}",
        "×": r"$\times$",
        "±": r"$\pm$",
        "–": "--",
    }
    return "".join(special.get(ch, ch) for ch in text)


def to_latex(table: Table, frame: pd.DataFrame, foot: list[str], lines: list[str]) -> str:
    """A LaTeX table (needs the booktabs and adjustbox packages): `frame`'s cells as they are (LaTeX
    already), its headers escaped, shrunk to the line's width when wider; then the footnotes and notes."""
    cells = frame.reset_index()
    cells.columns = [latex_escape(str(header)) for header in cells.columns]
    cells.iloc[:, 0] = [latex_escape(label) for label in cells.iloc[:, 0]]
    tabular = cells.to_latex(index=False, escape=False, column_format="l" + "r" * len(frame.columns))
    notes_tex = [latex_escape(line) for line in foot + lines]
    return "\n".join(
        [
            "% Written by gpt1.report.tables; do not edit. Needs \\usepackage{booktabs,adjustbox}.",
            r"\begin{table}[ht]",
            r"\centering",
            r"\small",
            rf"\caption{{Table {table.number}: {latex_escape(table.title)}}}",
            rf"\label{{tab:table{table.number}}}",
            r"\begin{adjustbox}{max width=\linewidth}",
            tabular.rstrip("\n"),
            r"\end{adjustbox}",
            r"\par\smallskip\footnotesize",
            "\n\\par\n".join(notes_tex),
            r"\end{table}",
            "",
        ]
    )
