"""Tests for the book platform: bertedu.notebook helpers, quiz banks, Colab sync, nbval sanitizing.

Lessons in passing: a quiz that teaches needs feedback on *every* option in both languages; HTML that
nbval compares must not contain random ids; the Colab setup cell is generated from one config file.
"""

from __future__ import annotations

import configparser
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bertedu import notebook as nb

ROOT = Path(__file__).resolve().parent.parent
QUIZ_FILES = sorted((ROOT / "data" / "quizzes").glob("*.json"))


def _question(kind: str = "single", correct: tuple[bool, ...] = (True, False, False)) -> dict:
    return {"type": kind, "en": "Q?", "zh": "问？",
            "answers": [{"en": f"A{i}", "zh": f"答{i}", "correct": c, "feedback_en": "why", "feedback_zh": "为什么"}
                        for i, c in enumerate(correct)]}


# ------------------------------------------------------------------------------------------ quiz banks
def test_there_is_a_quiz_for_every_chapter():
    chapters = sorted(p.stem for p in (ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
    assert chapters, "no chapters found"
    missing = [c for c in chapters if not (ROOT / "data" / "quizzes" / f"{c}.json").is_file()]
    assert not missing, f"chapters without data/quizzes/<chapter>.json: {missing}"


@pytest.mark.parametrize("path", QUIZ_FILES, ids=[p.stem for p in QUIZ_FILES])
def test_every_quiz_file_is_valid_and_bilingual(path: Path):
    questions = nb.load_quiz(path.stem)                  # validates: 3-5 questions, counts, feedback
    assert 3 <= len(questions) <= 5
    for q in questions:
        n_correct = sum(a["correct"] for a in q["answers"])
        assert n_correct == 1 if q.get("type", "single") == "single" else 2 <= n_correct < len(q["answers"])
        for a in q["answers"]:
            assert a["feedback_en"].strip() and a["feedback_zh"].strip()
            # the Chinese text really is Chinese (not a copy of the English)
            assert re.search(r"[\u4e00-\u9fff]", a["feedback_zh"]), a["feedback_zh"]


@pytest.mark.parametrize("mutate, message", [
    (lambda qs: qs[:2], "3-5 questions"),
    (lambda qs: qs + qs[:3], "3-5 questions"),
    (lambda qs: [_question(correct=(True, True, False))] + qs[1:], "exactly 1 correct"),
    (lambda qs: [_question("multiple", (True, False, False))] + qs[1:], "at least 2 correct"),
    (lambda qs: [_question("multiple", (True, True, True))] + qs[1:], "1 wrong"),
    (lambda qs: [{**_question(), "type": "essay"}] + qs[1:], "'single' or 'multiple'"),
])
def test_validate_quiz_names_the_problem(mutate, message):
    good = [_question(), _question("multiple", (True, True, False)), _question()]
    assert nb.validate_quiz(good) is good
    with pytest.raises(ValueError, match=message):
        nb.validate_quiz(mutate(good))


def test_validate_quiz_requires_feedback_in_both_languages():
    bad = [_question(), _question(), _question()]
    del bad[1]["answers"][2]["feedback_zh"]
    with pytest.raises(ValueError, match=r"question 2, option 3 'feedback_zh'"):
        nb.validate_quiz(bad)


def test_quiz_html_is_deterministic_and_has_both_languages():
    questions = [_question(), _question("multiple", (True, True, False)), _question()]
    a, b = nb.quiz_html(questions, "quiz-x"), nb.quiz_html(questions, "quiz-x")
    assert a == b                                        # no random ids: nbval can compare it
    assert 'id="quiz_x_en_quiz"' in a and 'id="quiz_x_zh_quiz"' in a
    assert '"question": "Q?"' in a and '"question": "问？"' in a
    assert '"type": "many_choice"' in a and '"type": "multiple_choice"' in a
    assert "show_questions" in a                         # jupyterquiz's renderer is bundled
    assert a.count("<script>") == 1 and "</script>" not in a[:a.index("<script>")]


def test_quiz_json_cannot_close_the_script_tag():
    questions = [_question(), _question(), _question()]
    questions[0]["en"] = "what does </script> do?"
    html = nb.quiz_html(questions, "quiz-y")
    assert html.count("</script>") == 1


# ------------------------------------------------------------------------------------------------ tabs
def test_tabs_are_static_radio_buttons():
    html = nb.tabs_html("<p>hi</p>", "<p>你好</p>", "tab-1")
    assert html.count('type="radio"') == 2 and 'name="tab-1"' in html and "checked" in html
    assert "<script" not in html                         # works without JavaScript or a kernel
    assert html.index("hi") < html.index("你好")
    with pytest.raises(ValueError, match="key"):
        nb.tabs_html("a", "b", "1 bad key")


def test_knowledge_card_ids_depend_on_content_only():
    rows = [("Mask", "掩码", "Hides keys.", "隐藏 key。"), ("Encoder", "编码器", "Reads all.", "全部读入。")]
    a, b = nb.knowledge_card_html(rows, "T"), nb.knowledge_card_html(list(rows), "T")
    other = nb.knowledge_card_html(rows[:1], "T")
    key = re.search(r'id="(card-[0-9a-f]{10})"', a).group(1)
    assert a == b and key not in other
    assert "<th>Mask</th><td>Hides keys.</td>" in a and "<th>掩码</th><td>隐藏 key。</td>" in a
    with pytest.raises(ValueError, match="row 1 must be 4"):
        nb.knowledge_card_html([("only", "three", "items")])
    with pytest.raises(TypeError, match="rows"):
        nb.knowledge_card_html("not rows")


def test_every_card_file_is_valid():
    for path in sorted((ROOT / "data" / "cards").glob("*.json")):
        nb.knowledge_card_html(json.loads(path.read_text(encoding="utf-8")))


# ---------------------------------------------------------------------------------- solutions, quotes
def test_solution_is_a_closed_details_block_and_escapes_code():
    html = nb.solution_html("if a < b:\n    print('x')")
    assert html.startswith('<details class="bertedu-solution">') and " open" not in html
    assert "a &lt; b" in html
    with pytest.raises(ValueError, match="language"):
        nb.solution_html("x", language="rust")


def test_paper_quote_cites_section():
    html = nb.paper_quote_html("deep bidirectional", "3.1")
    assert "§3.1" in html and "deep bidirectional" in html
    with pytest.raises(ValueError, match="section"):
        nb.paper_quote_html("text", "")


def test_show_source_is_the_real_source():
    html = nb.source_html(nb.tabs_html)
    assert "tabs_html" in html and "radio" in html
    with pytest.raises(TypeError, match="obj"):
        nb.source_html(3)


# ------------------------------------------------------------------------------------------ matplotlib
def test_setup_matplotlib_makes_svg_byte_identical(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nb.setup_matplotlib()
    files = []
    for k in range(2):
        fig, ax = plt.subplots()
        ax.plot([0, 1, 2], [3, 1, 2])
        files.append(tmp_path / f"f{k}.svg")
        fig.savefig(files[-1], metadata={"Date": None})
        plt.close(fig)
    assert files[0].read_bytes() == files[1].read_bytes()
    with pytest.raises(ValueError, match="dpi"):
        nb.setup_matplotlib(dpi=0)


# ---------------------------------------------------------------------------------------------- bertviz
def test_bertviz_html_is_deterministic_and_prefers_vendored_scripts():
    torch = pytest.importorskip("torch")
    bertviz = pytest.importorskip("bertviz")
    g = torch.Generator().manual_seed(0)
    tokens = ["[CLS]", "the", "bat", "flew", "away", ".", "[SEP]"]                    # T = 7
    attn = tuple(torch.rand(1, 3, 7, 7, generator=g).softmax(-1) for _ in range(2))  # L = 2, A = 3
    raw = [bertviz.head_view(attn, tokens, html_action="return").data for _ in range(2)]
    assert raw[0] != raw[1]                              # bertviz itself embeds a fresh uuid each time
    a, b = (nb.bertviz_html(r, "head", tokens) for r in raw)
    assert a == b and not re.search(r"bertviz-[0-9a-f]{32}", a)
    assert "window.BERTEDU_VENDOR + 'd3.min'" in a and "cdnjs.cloudflare.com/ajax/libs/d3/5.7.0" in a
    assert '<script src="https://cdnjs' not in a         # require.js is loaded by our loader instead
    assert nb.bertviz_html(raw[0], "head", tokens[:-1] + ["[PAD]"]) != a


# --------------------------------------------------------------------------------- colab, nbval config
def test_colab_setup_cells_are_in_sync_with_config():
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "sync_colab.py"), "--check"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_colab_setup_cell_uses_the_configured_repository(tmp_path):
    sys.path.insert(0, str(ROOT / "tools"))
    import sync_colab

    config = tmp_path / "_config.yml"
    config.write_text("repository:\n  url: https://github.com/someone/fork\n  branch: dev\n")
    source = sync_colab.setup_cell_source(config)
    assert '"--branch", "dev", "https://github.com/someone/fork.git"' in source
    assert source.count('if "google.colab" in sys.modules:') == 1
    compile(source, "setup-cell", "exec")                # valid Python
    config.write_text("repository:\n  url: https://github.com/someone/fork\n")
    with pytest.raises(ValueError, match="branch"):
        sync_colab.setup_cell_source(config)


def test_nbval_sanitizers_replace_volatile_text_only():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "tests" / "nbval_sanitize.cfg", encoding="utf-8")

    def sanitize(text: str) -> str:
        for section in cfg.sections():
            text = re.sub(cfg[section]["regex"], cfg[section]["replace"], text)
        return text

    assert sanitize("<div id='bertviz-" + "ab12" * 8 + "'>") == sanitize("<div id='bertviz-" + "cd34" * 8 + "'>")
    assert sanitize("<Foo at 0x7f3a2b1c9d80>") == sanitize("<Foo at 0x7f00deadbeef>")
    assert sanitize("100%|##| 50/50 [00:03<00:00, 14.2it/s]") == sanitize("100%|##| 50/50 [00:05<00:00, 9.87it/s]")
    # numbers that teach must survive
    for teaching in ("loss 6.9078", "input_ids: [101, 7592, 102]", "shape (3, 7, 36)", "0.029 1.951"):
        assert sanitize(teaching) == teaching
