"""PDF from the rendered HTML, by a real layout engine.

Two engines, the same HTML and print CSS (A4, @page margin boxes with page numbers):
- WeasyPrint (Python package; needs Pango and the Noto CJK fonts from Debian), preferred;
- headless Chromium (`--print-to-pdf`), used when WeasyPrint is not importable.
Either prints with a CJK font (`reports.fonts`: the system's, else the packaged one).
`FUPIN_PDF_ENGINE=weasyprint|chromium` forces one.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from reports.fonts import required_font, with_font

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_TIMEOUT_S = 180


class PdfEngineMissing(RuntimeError):
    """Neither WeasyPrint nor Chromium is available."""


def chromium_binary() -> str | None:
    explicit = os.environ.get("FUPIN_CHROMIUM")
    if explicit:
        return explicit
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_flags(user_data_dir: str) -> list[str]:
    """Headless, offline, no first-run work: the flags every Chromium call here uses."""
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--hide-scrollbars",
        f"--user-data-dir={user_data_dir}",
    ]


def weasyprint_available() -> bool:
    try:
        import weasyprint  # noqa: F401
    except Exception:  # ImportError, or OSError when Pango is missing
        return False
    return True


def choose_engine(engine: str = "auto") -> str:
    engine = os.environ.get("FUPIN_PDF_ENGINE", engine) if engine == "auto" else engine
    if engine == "auto":
        if weasyprint_available():
            return "weasyprint"
        if chromium_binary():
            return "chromium"
        raise PdfEngineMissing(
            "PDF needs WeasyPrint (pip package weasyprint) or Chromium (apt package chromium), "
            "and the fonts-noto-cjk fonts; neither engine was found"
        )
    return engine


def html_to_pdf(html_path: Path, pdf_path: Path, engine: str = "auto") -> Path:
    """Print `html_path` to `pdf_path` with a CJK font (`reports.fonts`): NoCjkFont when the
    machine has none, rather than a PDF of empty boxes."""
    font = required_font()
    engine = choose_engine(engine)
    page = with_font(html_path.read_text(encoding="utf-8"), font)
    if engine == "weasyprint":
        import weasyprint

        # The shared stylesheet carries screen-only rules (phone layout) WeasyPrint skips.
        logging.getLogger("weasyprint").setLevel(logging.ERROR)
        weasyprint.HTML(string=page, base_url=str(html_path.resolve().parent)).write_pdf(
            str(pdf_path)
        )
        return pdf_path
    if engine == "chromium":
        binary = chromium_binary()
        if not binary:
            raise PdfEngineMissing("Chromium not found (apt package chromium, or FUPIN_CHROMIUM)")
        with tempfile.TemporaryDirectory(prefix="fupin-chromium-") as profile:
            printed = html_path
            if page != html_path.read_text(encoding="utf-8"):  # the packaged font added
                printed = Path(profile) / html_path.name
                printed.write_text(page, encoding="utf-8")
            cmd = [
                binary,
                *chromium_flags(profile),
                "--no-pdf-header-footer",
                f"--print-to-pdf={pdf_path}",
                printed.resolve().as_uri(),
            ]
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT_S)
        if done.returncode != 0 or not pdf_path.exists():
            raise RuntimeError(f"Chromium could not print {html_path.name}: {done.stderr[-2000:]}")
        return pdf_path
    raise ValueError(f"unknown PDF engine {engine!r}: weasyprint or chromium")
