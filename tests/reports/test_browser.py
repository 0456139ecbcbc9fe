"""The reports as a person sees them: headless Chromium screenshots of the HTML, the PDF
rasterised with pdftoppm.  Artefacts stay in tests/artifacts/reports/ for a look.

Skipped (with the reason) only where Chromium is missing and CI is not set.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from reports import render
from reports.pdf import chromium_binary, chromium_flags, html_to_pdf, weasyprint_available
from tests.reports.conftest import report_data

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "reports"
CHROMIUM = chromium_binary()
if CHROMIUM is None and not os.environ.get("CI"):
    pytest.skip(
        "headless Chromium not installed (apt-get install chromium fonts-noto-cjk poppler-utils)",
        allow_module_level=True,
    )


def screenshot(html: Path, png: Path, size: str = "1240,1754") -> Path:
    assert CHROMIUM, "CI must have Chromium: apt-get install chromium"
    with tempfile.TemporaryDirectory(prefix="fupin-shot-") as profile:
        cmd = [
            CHROMIUM,
            *chromium_flags(profile),
            f"--screenshot={png}",
            f"--window-size={size}",
            html.resolve().as_uri(),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and png.exists(), done.stderr[-2000:]
    return png


def inked_rows(png: Path) -> float:
    """Share of image rows that are not one flat colour, read from the PNG's filtered scanlines
    (a flat row filters to zeros, or to one repeated byte under filter 0)."""
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, bpp = 8, b"", 0, 0, 4
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            bpp = {2: 3, 6: 4, 0: 1, 4: 2}[colour] * depth // 8
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp + 1
    rows = np.frombuffer(raw, dtype=np.uint8)[: stride * height].reshape(height, stride)
    kinds, body = rows[:, 0], rows[:, 1:]
    flat = np.where(kinds == 0, (body == body[:, :1]).all(axis=1), (body[:, bpp:] == 0).all(axis=1))
    return float(1 - flat[1:].mean())


def pgm(path: Path) -> np.ndarray:
    data = path.read_bytes()
    header = re.match(rb"P5\s+(\d+)\s+(\d+)\s+(\d+)\s", data)
    assert header
    w, h = int(header.group(1)), int(header.group(2))
    return np.frombuffer(data[header.end() :], dtype=np.uint8)[: w * h].reshape(h, w)


@pytest.mark.parametrize("kind", ["assessment", "accountability"])
def test_html_screenshot_is_a_page_with_text(kind: str) -> None:
    out = ARTIFACTS / "browser"
    [html] = render(kind, report_data(kind), ["html"], out)
    png = screenshot(html, out / f"{kind}_a4.png")
    assert png.stat().st_size > 20_000
    assert inked_rows(png) > 0.25, "the screenshot is (nearly) blank"
    phone = screenshot(html, out / f"{kind}_phone.png", "390,844")
    assert inked_rows(phone) > 0.25


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed")
def test_pdf_by_chromium_has_pages_numbers_and_chinese_text() -> None:
    out = ARTIFACTS / "browser"
    [html] = render("assessment", report_data("assessment"), ["html"], out)
    pdf = html_to_pdf(html, out / "assessment_chromium.pdf", engine="chromium")
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert pages >= 3 and "(A4)" in info
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "南雄市精准扶贫精准脱贫2017年度考核报告" in text
    assert re.search(rf"第\s*1\s*页\s*共\s*{pages}\s*页", text), (
        "no page numbers (@page margin boxes)"
    )
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            "60",
            "-gray",
            "-f",
            "1",
            "-l",
            "1",
            str(pdf),
            str(out / "assessment_chromium"),
        ],
        check=True,
    )
    page = pgm(next(out.glob("assessment_chromium*-1.pgm")))
    title_band = page[int(page.shape[0] * 0.05) : int(page.shape[0] * 0.2)]
    assert (title_band < 128).mean() > 0.01, "no ink where the red head and title should be"
    subprocess.run(
        ["pdftoppm", "-r", "60", "-png", str(pdf), str(out / "assessment_chromium")], check=True
    )


@pytest.mark.skipif(
    not weasyprint_available() or shutil.which("pdffonts") is None,
    reason="WeasyPrint or poppler-utils not installed",
)
def test_pdf_by_weasyprint_embeds_a_cjk_font() -> None:
    out = ARTIFACTS / "browser"
    [pdf] = render(
        "accountability", report_data("accountability"), ["pdf"], out, pdf_engine="weasyprint"
    )
    fonts = subprocess.run(
        ["pdffonts", str(pdf)], capture_output=True, text=True, check=True
    ).stdout
    assert re.search(r"Noto-(Sans|Serif)-CJK-SC", fonts), fonts
    subprocess.run(
        ["pdftoppm", "-r", "60", "-png", str(pdf), str(out / "accountability_weasyprint")],
        check=True,
    )


def test_cjk_fonts_are_installed() -> None:
    if shutil.which("fc-match") is None:
        pytest.skip("fontconfig not installed")
    for family in ("Noto Sans CJK SC", "Noto Serif CJK SC"):
        found = subprocess.run(["fc-match", family], capture_output=True, text=True).stdout
        assert "CJK" in found, (
            f"{family} resolves to {found.strip()}: apt-get install fonts-noto-cjk"
        )
