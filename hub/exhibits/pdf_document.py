"""A plain A4 PDF for court papers (fpdf2): headings, paragraphs, labelled fields, a footer.

DejaVu Sans is used when the system has it (Debian's fonts-dejavu-core), so names in any Latin,
Greek or Cyrillic script print as written; without it the PDF core font is used and characters
outside Latin-1 print as '?'.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fpdf import FPDF

_DEJAVU: Final = Path("/usr/share/fonts/truetype/dejavu")


class CourtDocument:
    """One document; ``text``, ``heading`` and ``field`` add to it, ``bytes`` renders it."""

    def __init__(self, title: str, footer: str) -> None:
        self._pdf = _Pdf(footer)
        self._pdf.set_title(title)
        self._pdf.set_creator("cctv-evidence hub")
        self._unicode = (_DEJAVU / "DejaVuSans.ttf").is_file() and (
            _DEJAVU / "DejaVuSans-Bold.ttf"
        ).is_file()
        if self._unicode:
            self._pdf.add_font("DejaVu", "", str(_DEJAVU / "DejaVuSans.ttf"))
            self._pdf.add_font("DejaVu", "B", str(_DEJAVU / "DejaVuSans-Bold.ttf"))
            self._pdf.add_font("DejaVuMono", "", str(_DEJAVU / "DejaVuSansMono.ttf"))
        self._pdf.footer_font = self._font
        self._pdf.set_auto_page_break(auto=True, margin=18)
        self._pdf.add_page()
        self.heading(title, size=15)

    @property
    def _font(self) -> str:
        return "DejaVu" if self._unicode else "Helvetica"

    def _clean(self, text: str) -> str:
        if self._unicode:
            return text
        return text.encode("latin-1", errors="replace").decode("latin-1")

    def heading(self, text: str, size: int = 12) -> None:
        self._pdf.set_font(self._font, "B", size)
        self._pdf.ln(2)
        self._pdf.multi_cell(0, size * 0.55, self._clean(text), new_x="LMARGIN", new_y="NEXT")
        self._pdf.ln(1)

    def text(self, text: str, size: int = 10) -> None:
        self._pdf.set_font(self._font, "", size)
        self._pdf.multi_cell(0, size * 0.5, self._clean(text), new_x="LMARGIN", new_y="NEXT")
        self._pdf.ln(1)

    def mono(self, text: str, size: int = 8) -> None:
        """Hashes and other exact values, in a fixed-width font, wrapped anywhere."""
        self._pdf.set_font("DejaVuMono" if self._unicode else "Courier", "", size)
        self._pdf.multi_cell(0, size * 0.5, self._clean(text), new_x="LMARGIN", new_y="NEXT")

    def field(self, label: str, value: str) -> None:
        self._pdf.set_font(self._font, "B", 9)
        self._pdf.cell(48, 5, self._clean(label))
        self._pdf.set_font(self._font, "", 9)
        self._pdf.multi_cell(0, 5, self._clean(value or "-"), new_x="LMARGIN", new_y="NEXT")

    def rule(self) -> None:
        y = self._pdf.get_y() + 1
        self._pdf.line(self._pdf.l_margin, y, self._pdf.w - self._pdf.r_margin, y)
        self._pdf.ln(3)

    def bytes(self) -> bytes:
        return bytes(self._pdf.output())


class _Pdf(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.footer_text = footer_text
        self.footer_font = "Helvetica"

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(self.footer_font, "", 7)
        self.cell(0, 5, f"{self.footer_text}  -  page {self.page_no()} of {{nb}}", align="C")
