"""`transforms.privacy`: the one name, ID and phone mask, the one scrubber of free text, the one
formula guard, and a look through the shipped sources that no second copy of them exists."""

from __future__ import annotations

import ast
import re
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from transforms.privacy import (
    mask_id,
    mask_id_expr,
    mask_name,
    mask_name_expr,
    mask_phone,
    safe_expr,
    safe_frame,
    safe_text,
    safe_value,
    scrub,
    scrub_data,
    scrub_error,
)

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["flows", "transforms", "expectations", "warehouse", "reports", "config", "generator"]
PRIVACY = Path("transforms/privacy.py")

ID18 = "440282197503041234"
ID18X = "44028219750304123X"
LEGACY15 = "440282750304123"
HOUSEHOLD15 = "440282100201001"  # a 户编号 of the same shape as a legacy ID
MOBILE = "13812345678"
SCIENTIFIC = "4.40282197503E+17"


# ---------------------------------------------------------------- masks
@pytest.mark.parametrize(
    ("name", "shown"),
    [
        (None, ""),
        ("", ""),
        ("王", "*"),
        ("王明", "王*"),
        ("王小明", "王*明"),
        ("欧阳小明", "欧*明"),  # one star: the mask does not tell the length
        ("爱新觉罗溥仪", "爱*仪"),
    ],
)
def test_name_mask_shows_first_and_last_with_one_star(name: str | None, shown: str) -> None:
    assert mask_name(name) == shown


@given(st.lists(st.one_of(st.none(), st.text(max_size=7))))
def test_name_mask_expression_does_what_the_function_does(names: list[str | None]) -> None:
    series = pl.Series("n", names, dtype=pl.String)
    out = pl.select(mask_name_expr(pl.lit(series))).to_series().to_list()
    assert out == [mask_name(n) for n in names]


def test_id_mask_shows_area_and_last_four_only() -> None:
    assert mask_id("11010519491231002X") == "110105********002X"
    assert mask_id(LEGACY15) == "440282********4123"
    assert mask_id("4402821") == "44****"  # short: two characters, no length
    assert mask_id(None) == "" and mask_id("") == ""
    masked = pl.DataFrame({"i": ["11010519491231002X", "4402821", "", None]}).select(
        mask_id_expr(pl.col("i"))
    )
    assert masked.to_series().to_list() == ["110105********002X", "44****", "", ""]


@given(st.lists(st.one_of(st.none(), st.text(alphabet="0123456789X", max_size=20))))
def test_id_mask_expression_does_what_the_function_does(values: list[str | None]) -> None:
    series = pl.Series("i", values, dtype=pl.String)
    out = pl.select(mask_id_expr(pl.lit(series))).to_series().to_list()
    assert out == [mask_id(v) for v in values]


def test_phone_mask() -> None:
    assert mask_phone(MOBILE) == "138****5678"
    assert mask_phone("0751-8888888") == "075*****8888"
    assert mask_phone("8888888") == "88*****"
    assert mask_phone(None) == "" and mask_phone("") == ""


# ---------------------------------------------------------------- scrub
def test_scrub_masks_18_and_15_character_ids() -> None:
    assert scrub(f"证号{ID18}。") == "证号440282********1234。"
    assert scrub(f"证号{ID18X}，") == "证号440282********123X，"
    assert scrub(f"证号{ID18X.lower()}") == "证号440282********123x"
    assert scrub(f"旧证号{LEGACY15}") == "旧证号440282********4123"
    # any 18 characters of the shape, even with an impossible birth date: still personal
    assert scrub("440282197513991234") == "440282********1234"


def test_scrub_spares_household_numbers_and_longer_runs() -> None:
    text = scrub(f"户编号{HOUSEHOLD15}；家庭编号{HOUSEHOLD15}；旧证号{LEGACY15}；证号{ID18X}")
    assert f"户编号{HOUSEHOLD15}" in text and f"家庭编号{HOUSEHOLD15}" in text
    assert LEGACY15 not in text and "440282********4123" in text
    assert ID18X not in text
    assert scrub("户编号 4402821130010001") == "户编号 4402821130010001"  # 16 digits: not an ID
    assert scrub(ID18 + "5") == ID18 + "5"  # 19 digits: not an ID
    assert scrub("A" + ID18) == "A" + ID18  # part of a longer code


def test_scrub_hides_the_spreadsheet_form_of_an_id() -> None:
    text = scrub(f"原值{SCIENTIFIC}，无法还原")
    assert "E+17" not in text and "4.40282" not in text
    assert text == "原值（已隐去的证件号码），无法还原"
    assert scrub("4.4028219E17") == "（已隐去的证件号码）"
    assert scrub("金额1.5万元") == "金额1.5万元"


def test_scrub_masks_mobile_numbers() -> None:
    assert scrub(f"联系电话{MOBILE}") == "联系电话138****5678"
    assert scrub("电话19912345678，") == "电话199****5678，"
    assert scrub("12345678901") == "12345678901"  # not a mobile prefix
    assert scrub("238123456789") == "238123456789"  # inside a longer number


def test_scrub_hides_url_credentials_and_secret_parameters() -> None:
    text = scrub(
        "mailtos://user:secret@smtp.x.cn failed; "
        "https://oapi.dingtalk.com/robot/send?access_token=abc123&x=1 "
        "postgresql://fupin:pa55@db/fupin?sign=zz"
    )
    assert "secret" not in text and "abc123" not in text and "pa55" not in text
    assert "zz" not in text and "user" not in text
    assert "mailtos://****@smtp.x.cn" in text and "access_token=****&x=1" in text
    assert "postgresql://****@db/fupin?sign=****" in text
    assert scrub("https://example.cn/a?page=2") == "https://example.cn/a?page=2"


def test_scrub_leaves_plain_text_and_empty_alone() -> None:
    for plain in ["正常", "2018年6月30日", "第12行", "a@b", "x=1", "共1234户"]:
        assert scrub(plain) == plain
    assert scrub(None) == "" and scrub("") == ""


def test_scrub_error_scrubs_and_shortens() -> None:
    assert scrub_error(f"bad id {ID18}") == "bad id 440282********1234"
    long = scrub_error("错" * 600, limit=10)
    assert len(long) == 10 and long.endswith("…")
    assert scrub_error("错" * 10, limit=10) == "错" * 10
    assert scrub_error(None) == ""


def test_scrub_data_walks_dicts_lists_and_tuples() -> None:
    data = {
        "title": f"户主{ID18}",
        "rows": [(MOBILE, 3), {"x": [LEGACY15, None, 1.5]}],
        "n": 7,
    }
    assert scrub_data(data) == {
        "title": "户主440282********1234",
        "rows": [["138****5678", 3], {"x": ["440282********4123", None, 1.5]}],
        "n": 7,
    }


# ---------------------------------------------------------------- formula guard
def test_what_is_neutralised_and_what_is_not() -> None:
    for evil in ['=HYPERLINK("http://x","y")', "=1+1", "@SUM(A1)", "\t=1", "\r=1", "-1+2", "+1"]:
        assert safe_text(evil) == "'" + evil
    # text that looks like a signed number is still text: it is neutralised too
    assert safe_text("-5000") == "'-5000" and safe_text("+86 138 0000 0000") == "'+86 138 0000 0000"
    for plain in ["正常", "", "a=b", "'=1", " =1", "5000", "440282199001011234", "\n=1"]:
        assert safe_text(plain) == plain
    for value in [None, -5000, -1.5, 0, True, date(2018, 6, 30)]:
        assert safe_value(value) == value


def test_a_frame_keeps_its_types_and_neutralises_its_text() -> None:
    frame = pl.DataFrame(
        {"text": ["=1+1", "-5000", None, "张三"], "n": [-5000, 1, 2, 3], "x": [-1.5, 0, 1, 2]}
    )
    out = safe_frame(frame)
    assert out.schema == frame.schema
    assert out["text"].to_list() == ["'=1+1", "'-5000", None, "张三"]
    assert out["n"].to_list() == [-5000, 1, 2, 3] and out["x"].to_list() == [-1.5, 0, 1, 2]
    assert safe_frame(pl.DataFrame({"n": [1]})).equals(pl.DataFrame({"n": [1]}))


@given(st.lists(st.one_of(st.none(), st.text(max_size=6))))
def test_the_expression_does_what_the_function_does(values: list[str | None]) -> None:
    series = pl.Series("v", values, dtype=pl.String)
    out = pl.select(safe_expr(pl.lit(series))).to_series().to_list()
    assert out == [safe_value(v) for v in values]


# ---------------------------------------------------------------- one place
def _sources() -> list[tuple[Path, str]]:
    return [
        (path.relative_to(ROOT), path.read_text(encoding="utf-8"))
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
    ]


# What a mask or scrubber would have to match; a pattern elsewhere that matches one of these
# is a second copy, unless it reads the value (parsing), listed here with its reason.
PERSONAL = [ID18, ID18X, LEGACY15, MOBILE, SCIENTIFIC, "https://u:p@h", "?access_token=s"]
PARSERS = {
    # reads back what a spreadsheet made of an ID typed as a number
    (Path("transforms/ids.py"), r"^(\d)(?:\.(\d+))?E\+?(\d+)$"),
    # the shape GB 11643 validation looks at, not a mask
    (Path("expectations/custom.py"), r"[0-9]{17}[0-9X]"),
    # an integer cell (up to 18 digits) and a number cell read as numbers
    (Path("transforms/cells.py"), r"^[+-]?\d{1,18}$"),
    (Path("transforms/cells.py"), r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$"),
}


def _regexes(tree: ast.AST) -> list[str]:
    """Every string literal of a module that is a regular expression (has regex syntax and
    compiles)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if len(text) > 200 or not re.search(r"\\[dws]|\[[^\]]+\]|\{\d", text):
                continue
            try:
                re.compile(text)
            except re.error:
                continue
            found.append(text)
    return found


def _catches_personal(pattern: str) -> bool:
    """Whether `pattern` takes in most of a personal value, alone or inside a sentence."""
    return any(
        len(m.group(0)) >= 10
        for sample in PERSONAL
        for text in (sample, f"号码{sample}。")
        for m in re.finditer(pattern, text)
    )


def test_no_second_id_phone_or_secret_pattern_outside_privacy() -> None:
    copies, seen = [], set()
    for path, source in _sources():
        if path == PRIVACY:
            continue
        for pattern in _regexes(ast.parse(source)):
            seen.add((path, pattern))
            if (path, pattern) in PARSERS:
                continue
            if _catches_personal(pattern):
                copies.append(f"{path}: {pattern!r}")
    assert not PARSERS - seen, f"stale exceptions: {PARSERS - seen}"
    assert not copies, "masking patterns belong in transforms/privacy.py:\n" + "\n".join(copies)


def test_no_second_mask_scrubber_or_formula_guard() -> None:
    defined = re.compile(
        r"^\s*def (mask_\w+|_?scrub\w*|safe_(?:text|value|expr|frame))\(", re.MULTILINE
    )
    stars = re.compile(r"""\+\s*(?:pl\.lit\()?["']\*+["']|["']\*+["']\s*[*+]""")
    formula = re.compile(r"""["']=["']\s*,\s*["']\+["']|\[=\+|startswith\(\(\s*["']=""")
    copies = []
    for path, source in _sources():
        if path == PRIVACY:
            continue
        for kind, pattern in (("defines", defined), ("stars", stars), ("formula", formula)):
            copies += [f"{path}: {kind} {m.group(0).strip()}" for m in pattern.finditer(source)]
    assert not copies, "these belong in transforms/privacy.py:\n" + "\n".join(copies)


def test_the_guards_catch_a_copy() -> None:
    """The two look-throughs above would see a copy (so they are not vacuous)."""
    copy = ast.parse(
        '_MOBILE = re.compile(r"(?<![0-9])(1[3-9]\\d)\\d{4}(\\d{4})(?![0-9])")\n'
        'def mask_name(n): return n[0] + "*" * (len(n) - 2) + n[-1]\n'
    )
    assert any(_catches_personal(p) for p in _regexes(copy))
    assert re.search(r"""["']\*+["']\s*[*+]""", ast.unparse(copy))
