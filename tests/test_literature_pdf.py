"""The PDF reader and ``lit parse`` on papers generated here with fpdf2: numeric and author-year styles, one
and two columns, running heads, page numbers, a word hyphenated across lines."""

from __future__ import annotations

import json
import os
from pathlib import Path

import matplotlib
import pytest

from fcmatch.cli import main
from fcmatch.data.formats import read_maps
from fcmatch.literature.pdf import read_pdf

fpdf = pytest.importorskip("fpdf")
FONT = os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "fonts", "ttf", "DejaVuSans.ttf")

NUMERIC_BODY = {
    "1 Introduction": ["Cover crops suppress weeds in maize fields [1]. Smith et al. showed that residues reduce "
                       "ero-\nsion by 30% [2-4]. The effect vs. bare soil was large, e.g. in dry years (Fig. 2)."],
    "2 Methods": ["Plots were sampled at 0.5 m depth, cf. Table 1. Nitrogen was measured as before [3, 5]."],
    "3 Results": ["Yields rose in every plot. Runoff fell by half, as the model of Eq. 3 predicts [5]."],
}
NUMERIC_REFS = [
    "[1] A. Smith, B. Jones. Cover crops suppress weeds in maize. Agron. J. 12 (2020) 1-10. doi:10.1234/agj.2020.001",
    "[2] C. Lee. Soil erosion under residues. Soil Sci. 5 (2018) 3-9.",
    "[3] D. Brown, E. White. Tillage and runoff in the dry tropics: a field trial over many years and many sites. "
    "J. Hydrol. 7 (2019) 11-20. doi:10.5555/jh.2019.7",
    "[4] F. Green. Residue cover and soil loss. Catena 8 (2017) 1-2.",
    "[5] G. Black. Nitrogen losses in runoff. Water Res. 9 (2016) 4-5.",
]
NUMERIC_EXPECTED = [
    ("Introduction", "Cover crops suppress weeds in maize fields [1].", ["1"]),
    ("Introduction", "Smith et al. showed that residues reduce erosion by 30% [2-4].", ["2", "3", "4"]),
    ("Introduction", "The effect vs. bare soil was large, e.g. in dry years (Fig. 2).", []),
    ("Methods", "Plots were sampled at 0.5 m depth, cf. Table 1.", []),
    ("Methods", "Nitrogen was measured as before [3, 5].", ["3", "5"]),
    ("Results", "Yields rose in every plot.", []),
    ("Results", "Runoff fell by half, as the model of Eq. 3 predicts [5].", ["5"]),
]


def numeric_pdf(path: Path) -> Path:
    pdf = fpdf.FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.multi_cell(0, 8, "Cover crops and soil", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=9)
    pdf.multi_cell(0, 5, "A. Author, B. Author. Department of Soil, Some University.", new_x="LMARGIN", new_y="NEXT")
    for head, paras in [*NUMERIC_BODY.items(), ("References", NUMERIC_REFS)]:
        pdf.set_font("Helvetica", "B", 11)
        pdf.cell(0, 8, head, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=10)
        for para in paras:
            pdf.multi_cell(0, 5, para, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


AUTHOR_YEAR_REFS = [
    "Brown, D., White, E., 2019. Tillage and runoff in the dry tropics. J. Hydrol. 7, 11-20.",
    "Jones, B., 2019a. Carbon losses after tillage. Geoderma 3, 1-9.",
    "Jones, B., 2019b. Carbon gains under grass. Geoderma 4, 5-6. https://doi.org/10.5555/geo.2019.4",
    "Müller, K., Lee, C., 2018. Soil erosion under residues in a long experiment on many farms of the region. "
    "Soil Sci. 5, 3-9.",
    "Smith, A., Jones, B., Lee, C., 2020. Cover crops suppress weeds in maize. Agron. J. 12, 1-10.",
]


def filler(i: int) -> str:
    return f"Observation {i} concerns soil moisture, root growth and the carbon held in the upper horizon."


def author_year_pdf(path: Path) -> tuple[Path, list[tuple[str, list[str]]]]:
    """Two columns over two pages; returns the cited sentences expected with the keys they cite."""
    class Paper(fpdf.FPDF):
        def header(self) -> None:
            self.set_font("dv", size=8)
            self.cell(0, 5, "Journal of Soil Tests 12 (2024) 1-9", align="C", new_x="LMARGIN", new_y="NEXT")

        def footer(self) -> None:
            self.set_y(-15)
            self.set_font("dv", size=8)
            self.cell(0, 10, str(self.page_no()), align="C")

    cited = [
        ("Cover crops suppress weeds (Smith et al., 2020).", ["r5"]),
        ("Residue cover cut soil loss (Müller and Lee, 2018; Brown and White, 2019).", ["r4", "r1"]),
        ("Jones (2019a) reported carbon losses after tillage.", ["r2"]),
        ("Grass, by contrast, gained carbon (Jones, 2019b).", ["r3"]),
    ]
    pdf = Paper()
    pdf.add_font("dv", "", FONT)
    pdf.add_page()
    pdf.set_font("dv", size=9)
    with pdf.text_columns(ncols=2, gutter=8) as cols:
        cols.write(text="Introduction\n")
        cols.write(text=" ".join([cited[0][0], filler(1), cited[1][0], *map(filler, range(2, 30))]) + "\n")
        cols.write(text="Results\n")
        cols.write(text=" ".join([*map(filler, range(30, 60)), cited[2][0], cited[3][0]]) + "\n")
        cols.write(text="References\n")
        for ref in AUTHOR_YEAR_REFS:
            cols.write(text=ref + "\n")
    pdf.output(str(path))
    return path, cited


def test_numeric_pdf_sentences_and_links(tmp_path: Path) -> None:
    doc = read_pdf(numeric_pdf(tmp_path / "numeric.pdf"))
    assert [(s.section, s.text, s.keys) for s in doc.sentences] == NUMERIC_EXPECTED
    assert doc.title == "Cover crops and soil"
    assert all(doc.text[s.start:s.end] == s.text for s in doc.sentences)


def test_numeric_pdf_references(tmp_path: Path) -> None:
    refs = {r.key: r for r in read_pdf(numeric_pdf(tmp_path / "numeric.pdf")).references}
    assert sorted(refs) == ["1", "2", "3", "4", "5"]
    assert (refs["1"].authors, refs["1"].title, refs["1"].year, refs["1"].doi) == (
        ["Smith", "Jones"], "Cover crops suppress weeds in maize", 2020, "10.1234/agj.2020.001")
    assert refs["3"].title == "Tillage and runoff in the dry tropics: a field trial over many years and many sites"
    assert refs["3"].doi == "10.5555/jh.2019.7" and refs["2"].doi == ""


def test_two_column_author_year_pdf(tmp_path: Path) -> None:
    path, cited = author_year_pdf(tmp_path / "ay.pdf")
    doc = read_pdf(path)
    got = {s.text: s.keys for s in doc.sentences}
    for text, keys in cited:
        assert got.get(text) == keys, text
    assert not any("Journal of Soil Tests" in s.text for s in doc.sentences)  # the running head is gone
    fillers = {filler(i) for i in range(1, 60)}
    assert fillers <= set(got), sorted(fillers - set(got))[:3]  # one crosses the page break, mended
    refs = {r.key: r for r in doc.references}
    assert [refs[k].authors[0] for k in sorted(refs)] == ["Brown", "Jones", "Jones", "Müller", "Smith"]
    assert refs["r3"].doi == "10.5555/geo.2019.4"


def test_lit_parse_command_writes_every_file(tmp_path: Path) -> None:
    src = numeric_pdf(tmp_path / "numeric.pdf")
    out = tmp_path / "parsed"
    assert main(["lit", "parse", str(src), "--out-dir", str(out)]) == 0
    sentences = [json.loads(line) for line in (out / "sentences.jsonl").read_text().splitlines()]
    assert [s["text"] for s in sentences] == [t for _, t, keys in NUMERIC_EXPECTED if keys]
    maps = read_maps(out / "maps.jsonl")
    assert [m.text for m in maps] == [s["text"] for s in sentences] and all(not m.edges for m in maps)
    assert maps[0].source == f"numeric:{sentences[0]['start']}-{sentences[0]['end']}"
    assert maps[0].meta["dois"] == ["10.1234/agj.2020.001"] and maps[0].meta["section"] == "Introduction"
    assert len((out / "references.jsonl").read_text().splitlines()) == 5
    document = json.loads((out / "documents.jsonl").read_text())
    assert document["text"][sentences[1]["start"]:sentences[1]["end"]] == sentences[1]["text"]
    assert "reader: auto" in (out / "config.yaml").read_text()
    assert main(["lit", "parse", str(src), "--out-dir", str(tmp_path / "all"), "--all-sentences"]) == 0
    assert len((tmp_path / "all" / "sentences.jsonl").read_text().splitlines()) == len(NUMERIC_EXPECTED)
