"""A PDF is never printed in boxes: the system's CJK font, else the packaged Noto Sans CJK,
else a refusal; `fonts.check` renders a line and reads back the font the PDF embeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from reports import fonts, pdf

PAGE = (
    '<html lang="zh-CN"><head><style>body { font-family: sans-serif; }</style></head>'
    "<body><p>南雄市扶贫开发考核报告</p></body></html>"
)


def test_the_system_font_is_found_and_preferred() -> None:
    """CI and the README's machines have fonts-noto-cjk (.ci/run installs it)."""
    system = fonts.system_font()
    assert system is not None and system.origin == "system"
    assert "CJK" in system.family and "SC" in system.family  # Simplified shapes
    assert fonts.covers(system.path)
    assert fonts.cjk_font() == system
    assert fonts.with_font(PAGE, system) == PAGE  # the report's own font list finds it
    result = fonts.check()
    assert result.ok, result.detail
    assert any("CJK" in name for name in result.embedded)


def test_a_font_without_the_glyphs_does_not_count(tmp_path: Path) -> None:
    packaged = fonts.package_font()
    assert packaged is not None
    assert fonts.covers(packaged.path) and not fonts.covers(packaged.path, "\ue000")
    not_a_font = tmp_path / "x.ttf"
    not_a_font.write_bytes(b"not a font")
    assert not fonts.covers(not_a_font)


@pytest.fixture
def no_system_font(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fonts, "system_font", lambda: None)
    fonts.cjk_font.cache_clear()
    yield
    fonts.cjk_font.cache_clear()


def test_without_a_system_font_the_packaged_one_prints_the_chinese(no_system_font) -> None:
    font = fonts.cjk_font()
    assert font is not None and font.origin == "package" and fonts.covers(font.path)
    page = fonts.with_font(PAGE, font)
    assert page.index("fupin-cjk-font") < page.index("</head>")
    assert font.path.as_uri() in page
    result = fonts.check()
    assert result.ok and result.embedded == [fonts.FAMILY], result.detail
    assert "繁体字形" in result.detail  # doctor says which font is in use and why it is second


def test_a_report_pdf_embeds_the_packaged_font(no_system_font, tmp_path: Path) -> None:
    html = tmp_path / "r.html"
    html.write_text(PAGE, encoding="utf-8")
    out = pdf.html_to_pdf(html, tmp_path / "r.pdf", engine="weasyprint")
    assert out.read_bytes().startswith(b"%PDF")
    assert html.read_text(encoding="utf-8") == PAGE  # the HTML report itself is unchanged
    import weasyprint

    again = weasyprint.HTML(string=fonts.with_font(PAGE, fonts.required_font())).write_pdf(
        uncompressed_pdf=True
    )
    assert fonts.embedded_fonts(again) == [fonts.FAMILY]


def test_without_any_cjk_font_a_pdf_is_refused(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(fonts, "cjk_font", lambda: None)
    html = tmp_path / "r.html"
    html.write_text(PAGE, encoding="utf-8")
    with pytest.raises(fonts.NoCjkFont, match="fonts-noto-cjk"):
        pdf.html_to_pdf(html, tmp_path / "r.pdf")
    assert not (tmp_path / "r.pdf").exists()
    result = fonts.check()
    assert not result.ok and "空白方框" in result.detail
