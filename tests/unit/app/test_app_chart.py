"""The server-side SVG bar chart (mlapp.web.chart)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from mlapp.web.chart import BarChart, outcome_chart

SVG = "{http://www.w3.org/2000/svg}"


def test_outcome_chart_has_one_bar_per_cell_scaled_to_the_peak():
    svg = str(outcome_chart({"tn": 400, "fp": 100, "fn": 50, "tp": 200}).svg())
    root = ET.fromstring(svg)
    bars = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "bar"]
    assert len(bars) == 4
    heights = [float(b.get("height")) for b in bars]
    assert heights[0] == max(heights)
    assert heights[0] / heights[1] == 4


def test_labels_are_escaped():
    svg = str(BarChart(title="<b>&", groups=["<g>"], series=["s"], values=[[1]]).svg())
    ET.fromstring(svg)  # well-formed
    assert "<b>" not in svg and "&lt;b&gt;&amp;" in svg


def test_all_zero_values_do_not_divide_by_zero():
    svg = str(BarChart(title="t", groups=["a"], series=["s"], values=[[0]]).svg())
    assert 'height="0.0"' in svg
