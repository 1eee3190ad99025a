"""The JATS reader on PMC-style and CERMINE-style files written here, and on the ../shared JATS articles."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from fcmatch.literature.jats import SKIP, read_jats
from fcmatch.literature.xml import ParseError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "jats"

PMC = """<?xml version="1.0"?>
<!DOCTYPE article PUBLIC "-//NLM//DTD Journal Archiving and Interchange DTD v2.3 20070202//EN" "archivearticle.dtd">
<article xmlns:xlink="http://www.w3.org/1999/xlink" article-type="research-article">
<front><article-meta><article-id pub-id-type="doi">10.1234/TEST.2020.1</article-id>
<title-group><article-title>Cover crops and weeds</article-title></title-group></article-meta></front>
<body>
<sec><title>Introduction</title>
<p>Cover crops suppress weeds in maize [<xref ref-type="bibr" rid="B1">1</xref>]. Residues reduce erosion
  [<xref ref-type="bibr" rid="B2">2</xref>&#x02013;<xref ref-type="bibr" rid="B4">4</xref>], e.g. on slopes.
  <fig id="F1"><caption><p>Weeds per plot [<xref ref-type="bibr" rid="B5">5</xref>].</p></caption></fig>
  Tillage raises runoff<sup><xref ref-type="bibr" rid="B5">5</xref></sup>.</p>
</sec>
<sec><title>Methods</title>
<sec><title>Sites</title><p>Plots were sampled as before [<xref ref-type="bibr" rid="B1 B3">1,3</xref>]. No citation here.</p></sec>
</sec>
</body>
<back><ref-list>
<ref id="B1"><label>1</label><element-citation publication-type="journal"><person-group person-group-type="author">
<name><surname>Smith</surname><given-names>A</given-names></name><name><surname>Jones</surname><given-names>B</given-names></name>
</person-group><article-title>Cover crops suppress weeds.</article-title><source>Agron J</source><year>2020</year>
<pub-id pub-id-type="doi">10.1234/AGJ.2020.001</pub-id></element-citation></ref>
<ref id="B2"><label>2</label><mixed-citation publication-type="other">Lee C (2018) Soil erosion under residues. Soil Sci 5: 3-9.</mixed-citation></ref>
<ref id="B3"><label>3</label><citation citation-type="journal"><person-group person-group-type="author"><name><surname>Brown</surname>
<given-names>D</given-names></name></person-group><article-title>Tillage and runoff</article-title><source>J Hydrol</source><year>2019</year></citation></ref>
<ref id="B4"><label>4</label><mixed-citation>Green F (2017) Residue cover and soil loss. Catena 8: 1-2. doi:10.5555/cat.2017.8</mixed-citation></ref>
<ref id="B5"><label>5</label><element-citation><collab>WHO</collab><article-title>Runoff report</article-title><year>2016</year></element-citation></ref>
</ref-list></back></article>
"""

CERMINE = """<?xml version="1.0" encoding="UTF-8"?>
<article><front><article-meta><title-group><article-title>Soil carbon</article-title></title-group></article-meta></front>
<body><sec><title>1 Introduction</title><p>Carbon stocks rose under no-till <xref ref-type="bibr" rid="ref1">(Smith et al., 2020)</xref>.
Others disagree <xref ref-type="bibr" rid="ref2">(Jones, 2019)</xref>.</p></sec></body>
<back><ref-list><ref id="ref1"><mixed-citation><string-name><surname>Smith</surname>, <given-names>J.</given-names></string-name>,
<string-name><surname>Lee</surname>, <given-names>K.</given-names></string-name>, <year>2020</year>. <article-title>No-till and soil carbon</article-title>.
<source>Soil Biol</source> <volume>5</volume>.</mixed-citation></ref>
<ref id="ref2"><mixed-citation><string-name><surname>Jones</surname>, <given-names>B.</given-names></string-name>, <year>2019</year>.
<article-title>Carbon losses after tillage</article-title>. <source>Geoderma</source>.</mixed-citation></ref></ref-list></back></article>
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_pmc_sentences_sections_and_links(tmp_path: Path) -> None:
    doc = read_jats(_write(tmp_path, "paper.nxml", PMC))
    assert (doc.id, doc.title, doc.doi, doc.reader) == ("paper", "Cover crops and weeds", "10.1234/test.2020.1", "jats")
    got = [(s.section, s.text, s.keys) for s in doc.sentences]
    assert got == [
        ("Introduction", "Cover crops suppress weeds in maize [1].", ["B1"]),
        ("Introduction", "Residues reduce erosion [2–4], e.g. on slopes.", ["B2", "B3", "B4"]),
        ("Introduction", "Tillage raises runoff[5].", ["B5"]),
        ("Methods", "Plots were sampled as before [1,3].", ["B1", "B3"]),
        ("Methods", "No citation here.", []),
    ]
    for s in doc.sentences:
        assert doc.text[s.start:s.end] == s.text
        for m in s.markers:
            assert s.text[m.start:m.end] == m.text
    assert [m.text for m in doc.sentences[1].markers] == ["2–4"]


def test_pmc_references(tmp_path: Path) -> None:
    refs = {r.key: r for r in read_jats(_write(tmp_path, "paper.nxml", PMC)).references}
    b1 = refs["B1"]
    assert (b1.label, b1.authors, b1.title, b1.year, b1.venue, b1.doi) == (
        "1", ["Smith", "Jones"], "Cover crops suppress weeds", 2020, "Agron J", "10.1234/agj.2020.001")
    assert (refs["B2"].authors, refs["B2"].year, refs["B2"].title) == (["Lee"], 2018, "Soil erosion under residues")
    assert refs["B4"].doi == "10.5555/cat.2017.8"
    assert refs["B5"].authors == ["WHO"] and refs["B3"].venue == "J Hydrol"


def test_cermine_output(tmp_path: Path) -> None:
    doc = read_jats(_write(tmp_path, "paper.cermxml", CERMINE))
    assert [(s.section, s.keys) for s in doc.sentences] == [("1 Introduction", ["ref1"]), ("1 Introduction", ["ref2"])]
    assert doc.sentences[0].text == "Carbon stocks rose under no-till (Smith et al., 2020)."
    ref = doc.references[0]
    assert (ref.authors, ref.year, ref.title, ref.venue) == (["Smith", "Lee"], 2020, "No-till and soil carbon", "Soil Biol")


def test_not_jats_is_an_error_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(ParseError, match="bad.xml"):
        read_jats(_write(tmp_path, "bad.xml", "<article><body>"))
    with pytest.raises(ParseError, match="no <article>"):
        read_jats(_write(tmp_path, "other.xml", "<html/>"))


# the ../shared README's counts: references, references printing a DOI
SHARED_COUNTS = {"1471-2180-11-174": (64, 50), "1472-6831-8-11": (31, 17), "ehp-116-1694": (58, 0),
                 "pntd.0002065": (32, 1), "pone.0000217": (33, 0)}


@pytest.mark.shared
@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data/jats is absent")
@pytest.mark.parametrize("name", sorted(SHARED_COUNTS))
def test_shared_articles(name: str) -> None:
    path = SHARED / f"{name}.nxml"
    doc = read_jats(path)
    refs, with_doi = SHARED_COUNTS[name]
    assert len(doc.references) == refs
    assert sum(bool(r.doi) for r in doc.references) == with_doi
    assert all(doc.text[s.start:s.end] == s.text for s in doc.sentences)
    # every citation link in the prose (outside figures and tables) reaches a sentence
    tree = etree.parse(str(path), etree.XMLParser(load_dtd=False, no_network=True, resolve_entities=False))
    prose = [x for x in tree.find(".//body").iterfind(".//xref[@ref-type='bibr']")
             if not any(a.tag in SKIP for a in x.iterancestors())]
    cited = {k for s in doc.sentences for k in s.keys}
    assert {k for x in prose for k in x.get("rid").split()} <= cited
    assert sum(bool(s.keys) for s in doc.sentences) >= 30
