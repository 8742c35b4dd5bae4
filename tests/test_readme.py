"""The README as a front page, and the docs behind it: short, with a contents list that matches its sections,
every relative link landing on a file (and heading) that exists, and the quick check being the command the
workflow tests run (docs/tests.md says which test runs each other documented command)."""

import ast
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, project_env

README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def headings(text: str, level: str | None = None) -> list[str]:
    """The Markdown headings of `text` outside code blocks; only those of `level` ("##") when given."""
    found = re.findall(r"^(#{1,6}) (.+?)\s*$", FENCE.sub("", text), re.M)
    return [title for hashes, title in found if level is None or hashes == level]


def slug(title: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but hyphens dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def section(text: str, title: str) -> str:
    """The body of the `## title` section of `text`, up to the next `## `."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"no '## {title}' section"
    return match.group(1)


def test_readme_is_a_front_page():
    text = README.read_text()
    assert len(text.splitlines()) < 250
    contents = re.findall(r"^- \[(.+?)\]\(#(.+?)\)$", section(text, "Contents"), re.M)
    sections = [title for title in headings(text, "##") if title != "Contents"]
    assert [title for title, _ in contents] == sections
    assert [anchor for _, anchor in contents] == [slug(title) for title in sections]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    text = FENCE.sub("", page.read_text())
    broken = []
    for label, target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"[{label}]({target}): no {file}")
        elif anchor and file.suffix == ".md" and anchor not in {slug(h) for h in headings(file.read_text())}:
            broken.append(f"[{label}]({target}): no heading #{anchor} in {file.relative_to(ROOT)}")
    assert not broken, "\n".join(broken)


def quick_check() -> tuple[dict[str, str], list[str]]:
    """The README's quick check: the fenced block right under its heading, as (environment, argv)."""
    block = re.match(r"\s*```sh\n(.*?)\n```", section(README.read_text(), "Quick check"), re.S)
    assert block, "the Quick check section starts with a ```sh block"
    (line,) = block.group(1).strip().splitlines()
    words = shlex.split(line)
    n = next(i for i, word in enumerate(words) if not re.match(r"\w+=", word))  # leading VAR=value words
    return dict(word.split("=", 1) for word in words[:n]), words[n:]


def workflow_test_command() -> list[str]:
    """The Snakemake command the workflow tests' smoke run (tests/conftest.py, snakemake_project) runs."""
    tree = ast.parse((ROOT / "tests" / "conftest.py").read_text())
    (fixture,) = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "snakemake_project"]
    for node in ast.walk(fixture):
        if isinstance(node, ast.List):
            words = [item.value for item in node.elts if isinstance(item, ast.Constant)]
            if words[:1] == ["snakemake"]:
                return words
    raise AssertionError("no snakemake command in snakemake_project")


def without_cores(argv: list[str]) -> list[str]:
    i = argv.index("--cores")
    return argv[:i] + argv[i + 2 :]


def test_quick_check_is_what_the_workflow_tests_run():
    env, argv = quick_check()
    # the tests' data mirror (conftest.project_env), the README's relative to the project
    mirror = Path(project_env(ROOT)["GPT1_DATA_MIRROR"])
    assert env == {"GPT1_DATA_MIRROR": str(mirror.relative_to(ROOT))}
    # the same command; only the cores differ (the tests give 2, the README all)
    assert without_cores(argv) == without_cores(workflow_test_command())


def test_quick_check_plans_the_jobs_the_readme_counts():
    """A dry run of the README's command, every job forced: it plans, and as many jobs as the README says."""
    env, argv = quick_check()
    assert argv[0] == "snakemake"
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", *argv[1:], "-n", "--forceall"],
        cwd=ROOT,
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    jobs = int(re.search(r"^total\s+(\d+)$", done.stdout + done.stderr, re.M).group(1))
    body = section(README.read_text(), "Quick check")
    assert f"{jobs} jobs" in body and f"`{jobs} of {jobs} steps (100%) done`" in body
