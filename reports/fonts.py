"""The CJK font a PDF is drawn with, so that no report is printed as empty boxes.

A report names Simplified Chinese fonts first (report.css: Noto Sans/Serif CJK SC, Source Han,
…), found through fontconfig as the system has them (Debian: `fonts-noto-cjk`).  A machine
without any CJK font falls back to the Noto Sans CJK font shipped as a Python package
(`cvttf-notosanscjk-regular`, SIL Open Font License): its glyphs are the Traditional (TC)
shapes where the two differ, so a system font is always preferred.  With neither, a PDF is
refused (`NoCjkFont`) rather than written with boxes.

`check()` is what `fupin doctor` runs: it renders one line of Chinese with WeasyPrint and
reads back which fonts the PDF embeds.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

SAMPLE = "南雄市扶贫开发考核报告"  # the characters a font must have to print a report
PACKAGE = "cvttf_NotoSansCJK_Regular"
FAMILY = "FupinCJK"  # the packaged font's name inside a report's CSS


class NoCjkFont(RuntimeError):
    """No font on this machine can print Chinese."""

    def __init__(self) -> None:
        super().__init__(
            "本机没有可用的中文字体，PDF 会印成空白方框，因此未生成。"
            "请安装系统字体（Debian/Ubuntu：apt-get install fonts-noto-cjk），"
            "或安装 Python 包 cvttf-notosanscjk-regular（uv sync 会装上）。"
        )


@dataclass(frozen=True)
class CjkFont:
    family: str
    path: Path
    origin: Literal["system", "package"]

    @property
    def described(self) -> str:
        if self.origin == "system":
            return f"系统字体 {self.family}（{self.path}）"
        return (
            f"Python 包 cvttf-notosanscjk-regular 自带的 {self.family}（{self.path}），"
            "其字形为繁体字形；建议安装系统字体 fonts-noto-cjk"
        )


def covers(path: Path, text: str = SAMPLE, index: int = 0) -> bool:
    """Whether the font file at `path` has a glyph for every character of `text`."""
    from fontTools.ttLib import TTFont  # WeasyPrint's own dependency

    try:
        font = TTFont(path, fontNumber=index, lazy=True)
        try:
            cmap = font.getBestCmap() or {}
        finally:
            font.close()
    except Exception:
        return False
    return all(ord(ch) in cmap for ch in text if not ch.isspace())


def system_font() -> CjkFont | None:
    """The font fontconfig gives Simplified Chinese text, when it really has the glyphs."""
    fc_match = shutil.which("fc-match")
    if fc_match is None:
        return None
    try:
        out = subprocess.run(
            [fc_match, "-f", "%{family[0]}\n%{file}\n%{index}", "sans-serif:lang=zh-cn"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    family, file, index = (out.split("\n") + ["", "", ""])[:3]
    path = Path(file)
    if not path.is_file() or not covers(path, index=int(index or 0)):
        return None
    return CjkFont(family, path, "system")


def package_font() -> CjkFont | None:
    """The Noto Sans CJK font of the Python package, when installed."""
    try:
        import cvttf_NotoSansCJK_Regular as pkg
    except ImportError:
        return None
    found = sorted(Path(pkg.__file__).parent.glob("*.[ot]t[fc]"))
    return CjkFont("Noto Sans CJK TC", found[0], "package") if found else None


@cache
def cjk_font() -> CjkFont | None:
    """The system's CJK font, else the packaged one, else None (looked up once a process)."""
    return system_font() or package_font()


def required_font() -> CjkFont:
    font = cjk_font()
    if font is None:
        raise NoCjkFont()
    return font


def font_css(font: CjkFont) -> str:
    """CSS that makes a report use `font`: nothing for a system font (the report's own font
    list finds it), an @font-face ahead of every family for the packaged one."""
    if font.origin == "system":
        return ""
    return (
        f'@font-face {{ font-family: "{FAMILY}"; src: url("{font.path.as_uri()}"); }}\n'
        f':root {{ --serif: "{FAMILY}", serif; --sans: "{FAMILY}", sans-serif; }}\n'
        f'body, h1, h2, h3, table, figcaption {{ font-family: "{FAMILY}", sans-serif; }}\n'
    )


def with_font(html: str, font: CjkFont) -> str:
    """`html` with `font_css(font)` as its last stylesheet (so that it wins)."""
    css = font_css(font)
    if not css:
        return html
    style = f'<style id="fupin-cjk-font">\n{css}</style>\n'
    at = html.rfind("</head>")
    return html[:at] + style + html[at:] if at >= 0 else style + html


def embedded_fonts(pdf: bytes) -> list[str]:
    """The names of the fonts an uncompressed PDF embeds (subset prefixes removed)."""
    names = re.findall(rb"/BaseFont\s*/([^\s/<>\[\]()]+)", pdf)
    return sorted({n.decode("latin-1").split("+", 1)[-1] for n in names})


def _plain(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


@dataclass(frozen=True)
class FontCheck:
    ok: bool
    font: CjkFont | None
    embedded: list[str]
    detail: str


def check() -> FontCheck:
    """Render one line of Chinese to PDF with WeasyPrint, as a report is, and see that the
    CJK font drew it (the PDF embeds it), not a fallback of boxes."""
    font = cjk_font()
    if font is None:
        return FontCheck(False, None, [], str(NoCjkFont()))
    try:
        import weasyprint
    except Exception as exc:  # ImportError, or OSError when Pango is missing
        return FontCheck(False, font, [], f"WeasyPrint 无法加载（{type(exc).__name__}）")
    page = (
        '<html lang="zh-CN"><head><style>body { font-family: "Noto Sans CJK SC", '
        '"Source Han Sans SC", sans-serif; }</style></head>'
        f"<body><p>{SAMPLE}</p></body></html>"
    )
    pdf = weasyprint.HTML(string=with_font(page, font)).write_pdf(uncompressed_pdf=True)
    embedded = embedded_fonts(pdf or b"")
    # WeasyPrint names an embedded font after its family (spaces as hyphens).
    wanted = _plain(FAMILY if font.origin == "package" else font.family)
    ok = any(_plain(name) == wanted for name in embedded)
    detail = f"{font.described}；试印一行中文，PDF 嵌入的字体：{'、'.join(embedded) or '无'}"
    return FontCheck(ok, font, embedded, detail)
