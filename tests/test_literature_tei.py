"""The TEI reader on a GROBID-style file written here."""

from __future__ import annotations

from pathlib import Path

import pytest

from fcmatch.literature.parse import detect_reader
from fcmatch.literature.tei import read_tei
from fcmatch.literature.xml import ParseError

TEI = """<?xml version="1.0" encoding="UTF-8"?>
<TEI xmlns="http://www.tei-c.org/ns/1.0" xmlns:xlink="http://www.w3.org/1999/xlink">
<teiHeader><fileDesc><titleStmt><title level="a" type="main">Cover crops and weeds</title></titleStmt>
<sourceDesc><biblStruct><idno type="DOI">10.1234/test.tei</idno></biblStruct></sourceDesc></fileDesc></teiHeader>
<text><body>
<div><head n="1">Introduction</head>
<p><s>Cover crops suppress weeds <ref type="bibr" target="#b0">[1]</ref>.</s> <s>Residues reduce erosion
<ref type="bibr" target="#b1">[2]</ref><ref type="bibr" target="#b2">[3]</ref>, cf. Fig. 2.</s>
<s>An unlinked marker <ref type="bibr">[9]</ref> stays.</s></p></div>
<div><head n="2">Results</head><p>Yields rose <ref type="bibr" target="#b0 #b2">(Smith et al., 2020; Brown, 2019)</ref>.
<figure><head>Fig. 1</head><figDesc>Weeds <ref type="bibr" target="#b1">[2]</ref>.</figDesc></figure></p></div>
</body>
<back><div type="references"><listBibl>
<biblStruct xml:id="b0"><analytic><title level="a" type="main">Cover crops suppress weeds</title>
<author><persName><forename type="first">A</forename><surname>Smith</surname></persName></author>
<author><persName><forename type="first">B</forename><surname>Jones</surname></persName></author>
<idno type="DOI">10.1234/AGJ.2020.001</idno></analytic>
<monogr><title level="j">Agron J</title><imprint><date type="published" when="2020-03"/></imprint></monogr></biblStruct>
<biblStruct xml:id="b1"><analytic><title level="a" type="main">Soil erosion under residues</title>
<author><persName><surname>Lee</surname></persName></author></analytic>
<monogr><title level="j">Soil Sci</title><imprint><date type="published" when="2018"/></imprint></monogr>
<note type="raw_reference">Lee C (2018) Soil erosion under residues. Soil Sci 5: 3-9.</note></biblStruct>
<biblStruct xml:id="b2"><monogr><title level="m">Tillage and runoff</title><author><persName><surname>Brown</surname></persName></author>
<imprint><date when="2019"/></imprint></monogr></biblStruct>
</listBibl></div></back></text></TEI>
"""


def test_tei_sentences_and_links(tmp_path: Path) -> None:
    path = tmp_path / "paper.tei.xml"
    path.write_text(TEI, encoding="utf-8")
    assert detect_reader(path) == "tei"
    doc = read_tei(path)
    assert (doc.id, doc.title, doc.doi) == ("paper", "Cover crops and weeds", "10.1234/test.tei")
    assert [(s.section, s.text, s.keys) for s in doc.sentences] == [
        ("Introduction", "Cover crops suppress weeds [1].", ["b0"]),
        ("Introduction", "Residues reduce erosion [2][3], cf. Fig. 2.", ["b1", "b2"]),
        ("Introduction", "An unlinked marker [9] stays.", []),
        ("Results", "Yields rose (Smith et al., 2020; Brown, 2019).", ["b0", "b2"]),
    ]
    assert doc.sentences[2].markers[0].text == "[9]" and doc.sentences[2].markers[0].keys == []
    assert all(doc.text[s.start:s.end] == s.text for s in doc.sentences)


def test_tei_references(tmp_path: Path) -> None:
    path = tmp_path / "paper.tei.xml"
    path.write_text(TEI, encoding="utf-8")
    refs = {r.key: r for r in read_tei(path).references}
    assert (refs["b0"].authors, refs["b0"].title, refs["b0"].year, refs["b0"].venue, refs["b0"].doi) == (
        ["Smith", "Jones"], "Cover crops suppress weeds", 2020, "Agron J", "10.1234/agj.2020.001")
    assert refs["b1"].raw == "Lee C (2018) Soil erosion under residues. Soil Sci 5: 3-9."
    assert (refs["b2"].title, refs["b2"].authors, refs["b2"].year) == ("Tillage and runoff", ["Brown"], 2019)


def test_a_non_tei_root_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.xml"
    path.write_text("<article/>", encoding="utf-8")
    with pytest.raises(ParseError, match="not <TEI>"):
        read_tei(path)
