"""Names from a model never reach generated code: property tests over arbitrary Unicode names.

A graph whose every name is drawn by hypothesis (biased to the hostile: line breaks, CR, ``*/``,
backslashes, ``$system(...)``, ``#include``, bidi controls, NUL, very long) is either refused when
it is built, with one ASCII line naming the culprit, or written by both backends into files that

- hold only printable ASCII and LF (no bidi control, NUL, CR, U+2028 ... survives anywhere), and
- once comments are stripped the way the compilers strip them (C++: trigraphs, backslash-newline
  splices, ``//`` ended by LF *or a lone CR*, ``/* */``; Verilog: ``//`` ended by LF only, ``/* */``;
  Tcl: ``#`` lines continued by a trailing backslash), have exactly the token structure of the
  same graph with plain names: a name changes identifier spellings, comments and string
  contents, nothing else. A comment a name ends early, or a string it leaves, shows up as tokens
  the plain graph does not have.

The oracle is the plain-name rendering and the compilers' own comment rules, not qhw's escaping.
Verilator lint and g++ run on a few fixed hostile graphs only (CI time). A lint over the
templates checks that every ``{{ }}`` in a comment or a string literal goes through ``| text``.
"""
from __future__ import annotations

import json
import re
import subprocess
import unicodedata
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from qhw.errors import QhwError
from qhw.flow import GraphBuilder

REPO = Path(__file__).resolve().parents[1]

#: characters a compiler or a terminal treats as a line end, an invisible override or a hole
MUST_REFUSE = ["\n", "\r", "\x00", "\x0b", "\x0c", "\x1b", "\x85", "\u2028", "\u2029", "\u202e",
               "\u2066", "\u2069", "\u200b", "\u200d", "\ufeff", "\t", "\x7f", "\U000e0041"]
PAYLOADS = ['$system("touch PWNED")', 'system("touch PWNED");', "*/", "/*", "\\", "??/", "#include",
            '"', "%n%s", "`define X", "$(shell touch PWNED)", "[exec touch PWNED]", "'", "é", "中",
            "\u05d0", "a b", "{", "}", ";", "<U+0041>", "->", "end", "module", "wire", "int"]
N_NAMES = 13  # the graph + 12 nodes

#: letters, marks, numbers, punctuation and symbols of any script (what a name may hold) + space
visible = st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"))
fragment = st.one_of(st.sampled_from(PAYLOADS), st.text(visible, min_size=1, max_size=6),
                     st.text("abc_./\\*?\"$%`#' ", min_size=1, max_size=6))
name = st.one_of(
    st.lists(fragment, min_size=1, max_size=5).map("".join),
    st.lists(fragment, min_size=1, max_size=5).map(lambda xs: "".join(xs) + "\\"),  # ends in \
    st.builds(lambda c, n: c * n, st.sampled_from(["a", "*/", "é", "\\"]), st.integers(20, 60)),
).filter(lambda nm: len(nm) <= 120)


@st.composite
def name_lists(draw):
    """N_NAMES distinct names; a third of the time one of them gets a character that must be
    refused (or is made too long)."""
    names = draw(st.lists(name, min_size=N_NAMES, max_size=N_NAMES, unique=True))
    if draw(st.integers(0, 2)) == 0:
        k = draw(st.integers(0, N_NAMES - 1))
        nm = names[k]
        if draw(st.integers(0, 9)) == 0:
            nm = nm + "x" * (121 - len(nm))
        else:
            pos = draw(st.integers(0, len(nm)))
            nm = nm[:pos] + draw(st.sampled_from(MUST_REFUSE)) + nm[pos:]
        if nm not in names:
            names[k] = nm
    return names


def build(names: list[str]):
    """A graph touching most templates: conv2d, relu, maxpool, upsample, flatten, dense, sigmoid
    (ROM), add, concat, softmax; ``names[0]`` is the graph's name."""
    rng = np.random.default_rng(0)
    g, x, c, r, p, u, f, d, s, a, cat, sm, y = names
    b = GraphBuilder(g)
    t = b.input(x, (4, 4, 2), "ap_fixed<8,3>")
    t = b.conv2d(c, t, rng.standard_normal((2, 2, 2, 2)) / 4, rng.standard_normal(2) / 8)
    t = b.relu(r, t)
    t = b.pool("maxpool2d", p, t, kernel_size=2)
    t = b.upsample(u, t, 2)
    t = b.flatten(f, t)
    t = b.dense(d, t, rng.standard_normal((8, 3)) / 3)
    sg = b.unary("sigmoid", s, t)
    t = b.add(a, t, sg)
    t = b.concat(cat, [t, sg])
    t = b.unary("softmax", sm, t)
    b.output(y, t)
    return b.build(default="ap_fixed<12,4>")


PLAIN = [f"n{i}" for i in range(N_NAMES)]


# ------------------------------------------------------------------ comments as compilers see them
def _splice_cpp(text: str) -> str:
    """Translation phases 1-2 of g++ -std=c++14: trigraphs, then backslash (+ blanks) + newline."""
    text = text.replace("??/", "\\")
    return re.sub(r"\\[ \t\f\v]*(\r\n|\r|\n)", "", text)


_WORD = re.compile(r"[A-Za-z0-9_$]+")


def strip(text: str, lang: str) -> list[str]:
    """Tokens of ``text`` without comments: identifiers and keywords -> ID, numbers kept, string
    literals -> STR:<their text, words -> ID>, other characters one token each."""
    if lang == "cpp":
        text = _splice_cpp(text)
    tokens: list[str] = []
    i, n = 0, len(text)
    line_ends = "\n\r" if lang == "cpp" else "\n"
    at_line_start = True
    while i < n:
        ch = text[i]
        if ch in " \t\f\v":
            i += 1
            continue
        if ch in "\r\n":
            at_line_start = True
            i += 1
            continue
        if lang == "tcl" and ch == "#" and at_line_start:
            while i < n and text[i] != "\n":
                i += 2 if text[i] == "\\" else 1  # a backslash continues a Tcl comment
            continue
        at_line_start = False
        if lang in ("cpp", "v") and text.startswith("//", i):
            while i < n and text[i] not in line_ends:
                i += 1
            continue
        if lang in ("cpp", "v") and text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        if ch == '"':
            j = i + 1
            while j < n and text[j] != '"' and text[j] not in "\r\n":
                j += 2 if text[j] == "\\" else 1
            tokens.append("STR:" + _WORD.sub(lambda w: w.group(0) if w.group(0).isdigit() else "ID",
                                             text[i + 1:j]))
            i = j + 1
            continue
        m = _WORD.match(text, i)
        if m:
            word = m.group(0)
            tokens.append(word if word.isdigit() else "ID")
            i = m.end()
            continue
        tokens.append(ch)
        i += 1
    return tokens


def lang_of(path: str) -> str | None:
    if path.endswith((".cpp", ".h")):
        return "cpp"
    if path.endswith(".v"):
        return "v"
    if path.endswith(".tcl"):
        return "tcl"
    if path.endswith(".f"):
        return "f"
    return None


def render(graph, out: Path) -> dict[str, str]:
    from qhw.backends.hls import write_hls
    from qhw.backends.verilog import write_verilog

    write_verilog(graph, out / "rtl")
    write_hls(graph, out / "hls")
    return {p.relative_to(out).as_posix(): p.read_bytes().decode("latin-1")
            for p in sorted(out.rglob("*")) if p.is_file()}


def structure(files: dict[str, str]) -> list[tuple]:
    """Per file (by kind, not by name: file names carry identifiers), its comment-free tokens."""
    out = []
    for rel, text in files.items():
        lang = lang_of(rel)
        if lang is None:
            json.loads(text)  # design.json / the HLS manifest stay valid JSON
            continue
        out.append((rel.split("/")[0], lang, tuple(strip(text, lang))))
    return sorted(out)


@lru_cache(maxsize=1)
def plain_structure(tmp: str) -> list[tuple]:
    return structure(render(build(PLAIN), Path(tmp)))


def check_files(files: dict[str, str], tmp_root: Path, plain: list[tuple] | None = None) -> None:
    for rel, text in files.items():
        bad = [c for c in text if not (" " <= c <= "~" or c == "\n")]
        assert not bad, f"{rel}: characters {sorted(set(bad))!r} outside printable ASCII + LF"
    if plain is None:
        plain = plain_structure(str(tmp_root / "plain"))
    assert structure(files) == plain, "a name changed the code structure (it ended a comment or a string)"


def one_clean_line(msg: str) -> bool:
    """One line of visible characters (names it quotes were checked or are escaped)."""
    return msg.isprintable()


# ------------------------------------------------------------------------------------ properties
@settings(max_examples=40, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(names=name_lists())
def test_hostile_names_are_refused_or_inert(names, tmp_path_factory):
    from hypothesis import event

    must_refuse = any(c in nm for nm in names for c in MUST_REFUSE) or any(len(nm) > 120 for nm in names)
    try:
        graph = build(names)
    except QhwError as exc:
        msg = str(exc)
        assert one_clean_line(msg), msg
        assert len(msg) < 800, msg
        event("refused")
        return
    event("built")
    assert not must_refuse, f"built a graph with names {names!r}"
    out = tmp_path_factory.mktemp("hostile")
    check_files(render(graph, out), tmp_path_factory.getbasetemp())


@given(st.text(min_size=1, max_size=40))
@settings(max_examples=200, deadline=None)
def test_every_name_is_checked_or_safe(name):
    """Any string: refused (one ASCII line) or made only of characters no compiler, editor or
    terminal treats as a line end, an override or invisible."""
    from qhw.names import check_name

    try:
        check_name(name, "node")
    except QhwError as exc:
        assert one_clean_line(str(exc))
        return
    for ch in name:
        cat = unicodedata.category(ch)
        assert cat[0] in "LMNPS" or ch == " ", (name, ch, cat)


@given(st.text(max_size=60))
def test_escape_is_inert_ascii(text):
    from qhw.names import escape_text

    out = escape_text(text)
    assert all(" " <= c <= "~" for c in out)
    for bad in ("\\", '"', "%", "$", "`", "*/", "/*", "??"):
        assert bad not in out
    assert escape_text(out) == out  # idempotent: escaping a line that holds escaped names is safe


def test_escaping_alone_keeps_code_intact(tmp_path, monkeypatch):
    """Defence in depth: with the name check switched off, names holding every line end, NUL and
    bidi control still change nothing but comments (the ``text`` filter alone suffices)."""
    import qhw.graph.graph as graph_module

    monkeypatch.setattr(graph_module, "check_name", lambda name, what: name)
    names = [f"n{i}{c}$system(\"touch PWNED\");\\" for i, c in enumerate(MUST_REFUSE[:N_NAMES])]
    files = render(build(names), tmp_path)
    check_files(files, tmp_path)
    assert any("<U+000A>$system" in t.replace("<U+0024>", "$") for t in files.values())


def build_more(names: list[str]):
    """The other elementwise templates: depth_to_space, avgpool2d, threshold, shift, requantize,
    clip, relu6, hard_sigmoid, tanh, mul."""
    rng = np.random.default_rng(3)
    g, x, d2s, ap, fl, th, sh, rq, cl, r6, hs, tn, mu, y = names
    b = GraphBuilder(g)
    t = b.input(x, (2, 2, 8), "ap_fixed<8,3>")
    t = b.node(d2s, "depth_to_space", [t], {"block_size": 2, "mode": "DCR"})
    t = b.pool("avgpool2d", ap, t, kernel_size=2)
    t = b.flatten(fl, t)
    t = b.node(th, "threshold", [t], {"out_scale": 0.5, "out_bias": -1.0},
               {"thresholds": np.sort(rng.normal(size=(8, 3)), axis=1)})
    t = b.shift(sh, t, 1)
    t = b.requantize(rq, t, 3, 2)
    t = b.clip(cl, t, -1.0, 1.0)
    t = b.relu6(r6, t)
    b.output(y, b.mul(mu, b.unary("hard_sigmoid", hs, t), b.unary("tanh", tn, t)))
    return b.build(default="ap_fixed<12,4>")


def build_embedding(names: list[str]):
    """Embedding ROMs, conv1d, 1-D pools and a folded dense (reuse 3: the shared multipliers)."""
    rng = np.random.default_rng(4)
    g, x, em, c1, mp, apl, fl, d, y = names
    b = GraphBuilder(g)
    t = b.input(x, (4,), "ap_uint<3>")
    t = b.node(em, "embedding", [t], params={"table": rng.standard_normal((8, 2))},
               formats={"table": "ap_int<6>", "result": "ap_fixed<10,3,AP_RND,AP_SAT>"})
    t = b.conv1d(c1, t, rng.standard_normal((2, 2, 3)) / 2, padding="same")
    t = b.pool("maxpool1d", mp, t, kernel_size=2)
    t = b.pool("avgpool1d", apl, t, kernel_size=2)
    t = b.flatten(fl, t)
    b.output(y, b.dense(d, t, rng.standard_normal((3, 2)) / 2, reuse_factor=3))
    return b.build(default="ap_fixed<12,4>")


HOSTILE = ['$system("touch PWNED")', "x */ y", "c\\", "r??/", 'p"q', "u%n", "f$(shell x)", "d é 中",
           "s#include <x>", "a`define", "cat/*", "sm;", 'system("touch PWNED");\\', "אב ?",
           "end", "wire"]


@pytest.mark.parametrize("builder,n", [(build_more, 14), (build_embedding, 9)],
                         ids=["elementwise", "embedding-conv1d-folded"])
def test_other_templates_keep_names_inert(builder, n, tmp_path):
    plain = structure(render(builder([f"n{i}" for i in range(n)]), tmp_path / "plain"))
    check_files(render(builder(HOSTILE[:n]), tmp_path / "hostile"), tmp_path, plain)


# ------------------------------------------------------------------------ fixed graphs, compilers
FIXED = [
    ['$system("touch PWNED")', "x */ y", "c\\", "r??/", 'p"q', "u%n", "f$(shell x)", "d é 中",
     "s#include <x>", "a`define", "cat/*", "sm;", 'system("touch PWNED");\\'],
    ["wire", "module", "1x", "_", "__", "a.b", "a_b", "end", "int", "main", "void", "y_out", "t_x"],
]


@pytest.mark.parametrize("names", FIXED, ids=["payloads", "keywords"])
def test_fixed_hostile_graphs_lint_and_compile(names, tmp_path):
    from qhw.tools.ap_types import ap_types_include_dir
    from qhw.tools.gxx import find_gxx
    from tests.rtl_checks import assert_lint_clean, design_in

    files = render(build(names), tmp_path)
    check_files(files, tmp_path)
    assert_lint_clean(design_in(tmp_path / "rtl"))
    hls = tmp_path / "hls"
    for unit in ("qhw_top.cpp", "tb.cpp"):
        # the warnings a name could cause: a // comment continued by a backslash, a trigraph
        proc = subprocess.run([find_gxx(), "-std=c++14", "-fsyntax-only", "-Werror=comment",
                               "-Werror=trigraphs", "-I", str(hls),
                               "-isystem", str(ap_types_include_dir()), str(hls / unit)],
                              capture_output=True, text=True, cwd=hls)
        assert proc.returncode == 0, proc.stderr[-3000:]
    assert not (tmp_path / "PWNED").exists()


# ------------------------------------------------------------------------------- template lint
_EXPR = re.compile(r"\{\{-?(.*?)-?\}\}", re.S)
_STMT = re.compile(r"\{%.*?%\}|\{#.*?#\}", re.S)


def template_slots(text: str, tcl: bool) -> list[tuple[str, str, int]]:
    """(expression, context, line) for every ``{{ }}`` of a template: context is code, comment or
    string, judged on the template with statements blanked and expressions masked."""
    t = _STMT.sub(lambda m: " " * len(m.group(0)), text)
    exprs = list(_EXPR.finditer(t))
    masked = _EXPR.sub(lambda m: "@" * len(m.group(0)), t)
    states, state, i = [""] * len(masked), "code", 0
    while i < len(masked):
        c = masked[i]
        if state == "code":
            line = masked[:i].rsplit("\n", 1)[-1]
            if (tcl and c == "#" and not line.strip()) or (not tcl and masked.startswith("//", i)):
                state = "line"
            elif not tcl and masked.startswith("/*", i):
                state = "block"
            elif c == '"':
                state = "string"
            states[i] = "code"
        elif state == "line":
            states[i] = "comment"
            if c == "\n":
                state = "code"
        elif state == "block":
            states[i] = "comment"
            if masked.startswith("*/", i):
                state = "code"
                i += 1
        else:
            states[i] = "string"
            if c == "\\":
                i += 1
            elif c in '"\n':
                state = "code"
        i += 1
    return [(m.group(1).strip(), states[m.start()], text.count("\n", 0, m.start()) + 1) for m in exprs]


def _escaped_slot(expr: str) -> bool:
    """``expr`` ends in ``| text`` applied to all of it: a filter binds tighter than ``if`` or an
    operator, so ``a if c else b | text`` escapes only ``b``; anything but a plain chain of names,
    indexes and filters must be parenthesized."""
    m = re.fullmatch(r"(.*?)\s*\|\s*text", expr, re.S)
    if not m:
        return False
    body = m.group(1)
    chain = r"""[\w.\[\]"']+(\s*\|\s*\w+(\([^()]*\))?)*"""
    return bool(re.fullmatch(chain, body)) or (body.startswith("(") and body.endswith(")"))


def test_template_lint_every_comment_and_string_slot_is_escaped():
    offenders, counted = [], 0
    for path in sorted((REPO / "templates").rglob("*.j2")):
        for expr, ctx, line in template_slots(path.read_text(), path.name.endswith(".tcl.j2")):
            if ctx == "code":
                continue
            counted += 1
            if not _escaped_slot(expr):
                offenders.append(f"{path.relative_to(REPO)}:{line}: {{{{ {expr} }}}} ({ctx})")
    assert counted > 50  # the lint sees the templates' comments
    assert not offenders, "text slots without '| text':\n" + "\n".join(offenders)


def test_template_lint_rule():
    assert _escaped_slot("node_name | text") and _escaped_slot('in_t | join(", ") | text')
    assert _escaped_slot('(a if c else "b") | text') and _escaped_slot("(in_h * b) | text")
    assert not _escaped_slot("node_name") and not _escaped_slot('a if c else "b" | text')
    assert not _escaped_slot("in_h * b | text") and not _escaped_slot("name | text | upper")


def test_template_lint_catches_a_raw_name():
    slots = template_slots('// layer {{ node_name }}\nx = "{{ n | text }}";\n{{ code }}\n', tcl=False)
    assert [(e, c) for e, c, _ in slots] == [("node_name", "comment"), ("n | text", "string"),
                                             ("code", "code")]


def test_safety_net_refuses_a_raw_non_ascii_name():
    import jinja2

    from qhw.backends.jinja import configure

    env = configure(jinja2.Environment(undefined=jinja2.StrictUndefined))
    with pytest.raises(jinja2.TemplateRuntimeError, match="text"):
        env.from_string("// {{ name }}\n").render(name="d\u202e")
    assert env.from_string("// {{ name | text }}").render(name="d\u202e") == "// d<U+202E>"
