"""The README stays short, every relative link in the README, docs/, research/ and the
model cards resolves (file and #anchor), the README's results rows are the model
cards' figures, and every shipped model is named where a user picks one."""
import glob
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = sorted(["README.md", "research/README.md"]
               + [os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md"))]
               + [os.path.relpath(p, ROOT)
                  for p in glob.glob(os.path.join(ROOT, "pretrained", "*", "MODEL_CARD.md"))])
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as handle:
        return handle.read()


def anchors(path):
    """GitHub's heading anchors of a Markdown file, plus its explicit <a id=...>."""
    text = FENCE.sub("", read(path))
    found = set(re.findall(r'<a id="([^"]+)"', text))
    for heading in re.findall(r"^#+ +(.+?) *$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
        found.add(slug.replace(" ", "-"))
    return found


def relative_links(path):
    text = FENCE.sub("", read(path))
    return [target for target in LINK.findall(text)
            if not re.match(r"^[a-z]+:", target)]       # http:, https:, mailto:


def test_readme_is_at_most_250_lines():
    assert len(read("README.md").splitlines()) <= 250


@pytest.mark.parametrize("page", PAGES)
def test_every_relative_link_resolves(page):
    broken = []
    for target in relative_links(page):
        file_part, _, anchor = target.partition("#")
        resolved = (os.path.normpath(os.path.join(os.path.dirname(page), file_part))
                    if file_part else page)
        if not os.path.exists(os.path.join(ROOT, resolved)):
            broken.append(target)
        elif anchor and resolved.endswith(".md") and anchor not in anchors(resolved):
            broken.append(target)
    assert not broken, f"{page}: {broken}"


def results_row(text, name):
    """The cells after the model's first cell in the README's results table."""
    row = next(line for line in text.splitlines()
               if line.startswith(f"| [{name}](pretrained/{name}/MODEL_CARD.md)"))
    return [cell.strip() for cell in row.strip("|").split("|")][1:]


@pytest.mark.parametrize("folder", sorted(glob.glob(os.path.join(ROOT, "pretrained", "*", ""))),
                         ids=lambda f: os.path.basename(os.path.normpath(f)))
def test_readme_results_rows_are_the_model_cards(folder):
    name = os.path.basename(os.path.normpath(folder))
    card = read(os.path.join("pretrained", name, "MODEL_CARD.md")).splitlines()
    header = next(i for i, line in enumerate(card) if line.startswith("| scale |"))
    card_row = [cell.strip() for cell in card[header + 2].strip("|").split("|")]
    assert results_row(read("README.md"), name) == card_row


def test_ci_runs_the_readmes_test_command():
    """The README's second quick-start command is what .ci/run runs (with pytest args)."""
    quick = read("README.md").split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [line.split("#")[0].strip() for block in re.findall(r"```bash\n(.*?)```", quick, re.S)
                for line in block.splitlines() if line.strip().startswith("bash ")]
    test_command = commands[-1]
    assert test_command == "bash scripts/run_tests.sh"
    assert any(line.startswith(test_command) for line in read(".ci/run").splitlines())


def test_every_shipped_model_is_named_where_a_user_picks_one():
    """infer.py's --model help and the README's quick start say which shipped checkpoint
    suits which input: a model added to pretrained/ must be named in both."""
    import argparse
    from tests.test_entry_flags import load_entry
    parser = argparse.ArgumentParser()
    load_entry("infer.py").extra_args(parser)
    model_help = next(a.help for a in parser._actions if "--model" in a.option_strings)
    quick = read("README.md").split("## Quick start", 1)[1].split("\n## ", 1)[0]
    names = [os.path.basename(os.path.normpath(f))
             for f in glob.glob(os.path.join(ROOT, "pretrained", "*", ""))]
    assert len(names) >= 5
    for name in names:
        named = re.compile(rf"(?<![\w/]){re.escape(name)}(?!\w)|pretrained/{re.escape(name)}(?!\w)")
        assert named.search(model_help), f"infer.py --model help names no {name}"
        assert f"`{name}`" in quick, f"README quick start names no {name}"
