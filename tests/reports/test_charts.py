"""The SVG charts: well-formed, accessible, mirrored for right-to-left, no style attributes."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from app.reports.charts import Bar, Series, bar_list, column_chart, nice_ticks, share_bar

NS = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - the chart this test just rendered


def _bars(root: ET.Element, css: str) -> list[ET.Element]:
    return [
        r
        for r in root.iter(f"{NS}rect")
        if r.get("class") == css and r.find(f"{NS}title") is not None
    ]


def _volumes(rtl: bool) -> ET.Element:
    return _parse(
        column_chart(
            ["janv.", "févr.", "mars"],
            [Series("Reçus", [4, 0, 10]), Series("Envoyés", [1, 2, 3])],
            title="Courrier par mois",
            chart_id="volumes",
            rtl=rtl,
        )
    )


def test_column_chart_is_an_accessible_image():
    root = _volumes(rtl=False)
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "volumes-title"
    assert root.find(f"{NS}title").text == "Courrier par mois"
    assert root.find(f"{NS}title").get("id") == "volumes-title"
    tips = [r.find(f"{NS}title").text for r in _bars(root, "series-0")]
    assert tips == ["janv. — Reçus: 4", "févr. — Reçus: 0", "mars — Reçus: 10"]
    assert all(el.get("style") is None for el in root.iter())


def test_column_heights_follow_the_values():
    received = _bars(_volumes(rtl=False), "series-0")
    heights = [float(r.get("height")) for r in received]
    assert heights[1] == 0
    assert heights[2] == pytest.approx(heights[0] * 10 / 4)


def test_time_runs_from_the_start_edge():
    def first_last(rtl: bool) -> tuple[float, float]:
        received = _bars(_volumes(rtl), "series-0")
        return float(received[0].get("x")), float(received[-1].get("x"))

    first, last = first_last(rtl=False)
    assert first < last  # left to right
    first_rtl, last_rtl = first_last(rtl=True)
    assert first_rtl > last_rtl  # right to left
    # The mirror image: same distances from the opposite edge.
    width = 720
    bar = float(_bars(_volumes(True), "series-0")[0].get("width"))
    assert first_rtl == pytest.approx(width - first - bar, abs=0.2)  # rounded to 0.1 px


def test_rtl_sets_the_text_direction_and_moves_the_value_axis():
    ltr, rtl = _volumes(rtl=False), _volumes(rtl=True)
    assert ltr.get("direction") == "ltr" and rtl.get("direction") == "rtl"

    def tick_x(root):
        return [float(t.get("x")) for t in root.iter(f"{NS}text") if t.get("class") == "chart-tick"]

    assert max(tick_x(ltr)) < 100  # the value axis on the left
    assert min(tick_x(rtl)) > 620  # and on the right in Arabic
    # "end" is the edge nearest the plot in both directions.
    anchors = {
        t.get("text-anchor") for t in rtl.iter(f"{NS}text") if t.get("class") == "chart-tick"
    }
    assert anchors == {"end"}


def test_labels_are_escaped_and_arabic_kept_as_text():
    svg = column_chart(
        ["<b>&", "مارس"],
        [Series("واردة", [1, 2])],
        title='"x" < y',
        chart_id="c1",
        rtl=True,
    )
    root = _parse(svg)  # would raise on unescaped markup
    texts = [t.text for t in root.iter(f"{NS}text")]
    assert "<b>&" in texts and "مارس" in texts and "واردة" in texts
    assert root.find(f"{NS}title").text == '"x" < y'


def test_many_buckets_thin_out_their_labels():
    labels = [f"2026-01-{d:02d}" for d in range(1, 32)]
    root = _parse(column_chart(labels, [Series("n", [1] * 31)], title="t", chart_id="c", rtl=False))
    shown = [t.text for t in root.iter(f"{NS}text") if t.get("class") == "chart-label"]
    assert 1 < len(shown) < 31 and shown[0] == "2026-01-01"
    assert len(_bars(root, "series-0")) == 31  # every bucket still has its bar


def test_empty_and_zero_charts_render():
    root = _parse(column_chart([], [Series("n", [])], title="t", chart_id="c", rtl=False))
    assert root.get("role") == "img"
    root = _parse(column_chart(["a"], [Series("n", [0])], title="t", chart_id="c", rtl=False))
    assert float(_bars(root, "series-0")[0].get("height")) == 0


@pytest.mark.parametrize(
    ("maximum", "ticks"),
    [
        (0, [0, 1]),
        (3, [0, 1, 2, 3]),
        (10, [0, 5, 10]),
        (37, [0, 10, 20, 30, 40]),
        (180, [0, 50, 100, 150, 200]),
        (0.6, [0, 0.2, 0.4, 0.6]),
    ],
)
def test_nice_ticks(maximum, ticks):
    assert nice_ticks(maximum) == ticks


def test_bar_list_lengths_and_mirror():
    bars = [Bar("Direction RH", 10, "10"), Bar("مديرية", 5, "5"), Bar("Vide", 0, "0")]
    ltr = _parse(bar_list(bars, title="t", chart_id="b", rtl=False, width=500))
    rtl = _parse(bar_list(bars, title="t", chart_id="b", rtl=True, width=500))
    widths = [float(r.get("width")) for r in _bars(ltr, "series-0")]
    assert widths[0] == pytest.approx(2 * widths[1]) and widths[2] == 0
    left_ltr = [float(r.get("x")) for r in _bars(ltr, "series-0")]
    right_rtl = [float(r.get("x")) + float(r.get("width")) for r in _bars(rtl, "series-0")]
    assert len(set(left_ltr)) == 1 and len(set(right_rtl)) == 1  # bars share their start
    assert right_rtl[0] == pytest.approx(500 - left_ltr[0])
    labels = [t.text for t in rtl.iter(f"{NS}text")]
    assert labels[:2] == ["Direction RH", "10"]


def test_bar_list_shortens_long_labels():
    long = "Direction des affaires juridiques et du contentieux administratif"
    root = _parse(bar_list([Bar(long, 3, "3")], title="t", chart_id="b", rtl=False, width=300))
    label = next(root.iter(f"{NS}text")).text
    assert label.endswith("…") and len(label) < len(long)
    assert next(root.iter(f"{NS}rect")).find(f"{NS}title").text == long  # whole in the tooltip


def test_share_bar_fills_from_the_start_edge():
    ltr = _parse(share_bar(0.75, "75 %", title="t", chart_id="s", rtl=False))
    fill = _bars(ltr, "series-0")[0]
    assert (float(fill.get("x")), float(fill.get("width"))) == (0, 150)
    rtl = _parse(share_bar(0.75, "75 %", title="t", chart_id="s", rtl=True))
    fill = _bars(rtl, "series-0")[0]
    assert (float(fill.get("x")), float(fill.get("width"))) == (50, 150)
    empty = _parse(share_bar(None, "—", title="t", chart_id="s", rtl=False))
    assert [r.get("class") for r in empty.iter(f"{NS}rect")] == ["share-track"]
    over = _parse(share_bar(1.4, "140 %", title="t", chart_id="s", rtl=False))
    assert float(_bars(over, "series-0")[0].get("width")) == 200
