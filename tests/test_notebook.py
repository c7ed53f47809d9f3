"""Tests for the book platform: bertedu.notebook helpers, quiz banks, Colab sync, nbval sanitizing.

Lessons in passing: a quiz that teaches needs feedback on *every* option in both languages; HTML that
nbval compares must not contain random ids; the Colab setup cell is generated from one config file.
"""

from __future__ import annotations

import configparser
import importlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bertedu import notebook as nb

ROOT = Path(__file__).resolve().parent.parent
QUIZ_DIR = ROOT / "data" / "quizzes"
QUIZ_FILES = sorted(QUIZ_DIR.rglob("*.json"))       # chapter quizzes, <chapter>_checkN.json and checks/*.json


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


def _is_check(path: Path) -> bool:
    return path.parent.name == "checks" or bool(re.search(r"_check\d*$", path.stem))


@pytest.mark.parametrize("path", QUIZ_FILES, ids=[str(p.relative_to(QUIZ_DIR)) for p in QUIZ_FILES])
def test_every_quiz_file_is_valid_and_bilingual(path: Path):
    questions = nb.load_quiz(path.stem)                  # validates: question count, answers, feedback, $
    assert (1 if _is_check(path) else 3) <= len(questions) <= 5   # quick checks may have 1-2 questions
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


def test_quick_checks_may_have_one_or_two_questions(tmp_path):
    two = [_question(), _question()]
    with pytest.raises(ValueError, match="chapter quiz has 3-5 questions, got 2"):
        nb.validate_quiz(two)                            # an end-of-chapter quiz still needs 3
    assert nb.validate_quiz(two, min_questions=1) is two
    with pytest.raises(ValueError, match="min_questions"):
        nb.validate_quiz(two, min_questions=0)
    (tmp_path / "checks").mkdir()
    for path in (tmp_path / "09_x_check1.json", tmp_path / "checks" / "09_x_1.json", tmp_path / "09_x.json"):
        path.write_text(json.dumps(two), encoding="utf-8")
    assert len(nb.load_quiz("09_x_check1", tmp_path)) == 2           # a check bank: 1-5 questions
    assert len(nb.load_quiz("09_x_1", tmp_path)) == 2                # found in checks/
    assert len(nb.load_quiz("checks/09_x_1", tmp_path)) == 2
    with pytest.raises(ValueError, match="3-5 questions"):
        nb.load_quiz("09_x", tmp_path)                               # a chapter quiz: 3-5
    assert len(nb.load_quiz("09_x", tmp_path, min_questions=2)) == 2
    quiz_module = importlib.import_module("bertedu.notebook.quiz")
    html = quiz_module.quiz_html(two, "quiz-09_x_check1", min_questions=1)
    assert 'data-numquestions="2"' in html
    with pytest.raises(FileNotFoundError, match="checks"):
        nb.load_quiz("09_missing", tmp_path)


@pytest.mark.parametrize("text, ok", [
    ("costs $O(T^2)$ memory", True),
    ("two formulas $a$ and $$b$$", True),
    ("the prefix &#36; is literal", True),
    ("costs 5$ per hour", False),
    ("$a$ and $b", False),
])
def test_validate_quiz_rejects_an_odd_number_of_dollars(text, ok):
    bank = [_question(), _question(), _question()]
    bank[1]["answers"][2]["feedback_en"] = text
    if ok:
        nb.validate_quiz(bank)
    else:
        with pytest.raises(ValueError, match=r"question 2, option 3 'feedback_en' has an odd number .*&#36;"):
            nb.validate_quiz(bank)
    bank = [_question(), _question(), _question()]
    bank[2]["zh"] = text
    if not ok:
        with pytest.raises(ValueError, match=r"question 3 'zh' has an odd number"):
            nb.validate_quiz(bank)


def test_validate_quiz_rejects_backslash_paren_math():
    bank = [_question(), _question(), _question()]
    bank[0]["en"] = r"what is \(x\)?"
    with pytest.raises(ValueError, match=r"question 1 'en' uses"):
        nb.validate_quiz(bank)


def test_quiz_waits_for_mathjax_before_drawing():
    html = nb.quiz_html([_question(), _question(), _question()], "quiz-m")
    script = html[html.index("<script>"):]
    # jupyterquiz reads MathJax.version[0] 500 ms after drawing: draw only once the real MathJax is there
    # (or there is none), never while window.MathJax is still the page's configuration object.
    assert "typeof M === 'undefined'" in script and "M.version" in script and "M.typeset" in script
    ready = script.index("bertedu_mathjax_ready()")
    assert ready < script.index("show_questions(q[0]")
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the readiness function is not run")
    quiz_module = importlib.import_module("bertedu.notebook.quiz")
    probe = ("function ready(window) {\n" + quiz_module.MATHJAX_READY_JS + "\n}\n"
             "console.log(JSON.stringify([ready({}), ready({MathJax: {tex: {}}}), ready({MathJax: {version: ''}}),"
             " ready({MathJax: {version: '3.2.2'}}), ready({MathJax: {version: '3.2.2', typeset() {}}}),"
             " ready({MathJax: {version: '2.7.9'}})]));")
    out = subprocess.run([node, "-e", probe], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == [True, False, False, False, True, True]


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


def _short(x: int) -> int:
    """A function whose lines are all short."""
    return x + 1


def _long(first_argument: int, second_argument: int, third_argument: int, fourth_arg: int = 0) -> int:
    if first_argument:
        return first_argument + second_argument + third_argument + fourth_arg + first_argument * 2
    return 0


def test_show_source_wraps_long_lines_instead_of_scrolling():
    # The column shows 92 columns at 1280 px: a listing with a line over 88 characters soft-wraps (CSS)
    # with a hanging indent; the code itself is not reformatted.
    import html as html_lib
    import inspect

    short = nb.source_html(_short)
    assert "white-space: pre-wrap" not in short and "<pre" in short      # unchanged plain block
    long = nb.source_html(_long)
    assert max(len(line) for line in inspect.getsource(_long).splitlines()) > 88
    pre = long[long.index("<pre"):long.index("</pre>")]
    assert "white-space: pre-wrap" in pre[:pre.index(">")]
    rows = re.findall(r'<span style="display: block; padding-left: (\d+)ch; text-indent: -(\d+)ch">', pre)
    source_lines = inspect.getsource(_long).splitlines()
    assert len(rows) == len(source_lines) and "\n" not in pre          # one block per source line
    indents = [len(line) - len(line.lstrip()) for line in source_lines]
    assert [int(a) for a, b in rows] == [i + 4 for i in indents] and all(a == b for a, b in rows)
    shown = [html_lib.unescape(re.sub(r"<[^>]+>", "", row))
             for row in re.split(r'<span style="display: block;[^"]*">', pre)[1:]]
    assert [row.rstrip() for row in shown] == [line.rstrip() for line in source_lines]   # verbatim


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


def _attention(layers: int = 3, heads: int = 4, tokens: int = 5):
    torch = pytest.importorskip("torch")
    pytest.importorskip("bertviz")
    g = torch.Generator().manual_seed(0)
    return tuple(torch.rand(1, heads, tokens, tokens, generator=g).softmax(-1) for _ in range(layers))


TOKENS = ["[CLS]", "a", "bat", "flew", "[SEP]"]


def _params(markup: str) -> dict:
    """The PYTHON_PARAMS object bertviz embeds in its script."""
    start = markup.index("const params = ") + len("const params = ")
    return json.JSONDecoder().raw_decode(markup[start:])[0]


def test_bertviz_head_view_opens_on_one_layer_and_one_head():
    bv = importlib.import_module("bertedu.notebook.bertviz")
    attn = _attention()
    params = _params(bv.bertviz_head_view_html(attn, TOKENS))
    assert params["layer"] == 0 and params["heads"] == [0]              # defaults: layer 1, head 1
    params = _params(bv.bertviz_head_view_html(attn, TOKENS, layer=2, heads=[1, 3]))
    assert params["layer"] == 2 and params["heads"] == [1, 3]           # overridable
    assert _params(bv.bertviz_head_view_html(attn, TOKENS, heads=None))["heads"] is None   # all heads
    with pytest.raises(ValueError, match="heads"):
        bv.bertviz_head_view_html(attn, TOKENS, heads=[])
    with pytest.raises(ValueError, match="layer"):
        bv.bertviz_head_view_html(attn, TOKENS, layer=-1)


def test_bertviz_head_view_labels_layers_from_1_with_0_based_values():
    bv = importlib.import_module("bertedu.notebook.bertviz")
    html = bv.bertviz_head_view_html(_attention(), TOKENS)
    assert '$("<option />").val(layer).text(layer + 1)' in html         # shown 1..L, value 0..L-1
    assert ".text(layer))" not in html
    assert html == bv.bertviz_head_view_html(_attention(), TOKENS)      # still deterministic
    assert not re.search(r"bertviz-[0-9a-f]{32}", html) and "window.BERTEDU_VENDOR" in html


def test_bertviz_model_view_fits_the_column_in_light_mode_and_counts_from_1():
    bv = importlib.import_module("bertedu.notebook.bertviz")
    html = bv.bertviz_model_view_html(_attention(), TOKENS)
    assert "const DIV_WIDTH = 970;" not in html
    root = re.search(r'<div id="(bertviz-model-[0-9a-f]+)"', html).group(1)
    assert f"const DIV_WIDTH = Math.min(740, (document.getElementById('{root}') || {{}}).clientWidth || 740);" in html
    assert _params(html)["display_mode"] == "light"
    assert ".text(config.layers[i] + 1)" in html and ".text(config.heads[i] + 1)" in html
    assert "'Layer ' + (config.layers[layerIndex] + 1) + \", Head \" + (config.heads[headIndex] + 1)" in html
    narrow = bv.bertviz_model_view_html(_attention(), TOKENS, width=600, display_mode="dark")
    assert "Math.min(600," in narrow and _params(narrow)["display_mode"] == "dark"
    with pytest.raises(ValueError, match="width"):
        bv.bertviz_model_view_html(_attention(), TOKENS, width=1200)
    with pytest.raises(ValueError, match="display_mode"):
        bv.bertviz_model_view_html(_attention(), TOKENS, display_mode="dim")


def test_bertviz_script_is_valid_javascript():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    bv = importlib.import_module("bertedu.notebook.bertviz")
    for html in (bv.bertviz_head_view_html(_attention(), TOKENS), bv.bertviz_model_view_html(_attention(), TOKENS)):
        script = html[html.index('<script type="text/javascript">') + 31:html.rindex("</script>")]
        subprocess.run([node, "--check", "-"], input=script, text=True, check=True, capture_output=True)


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
