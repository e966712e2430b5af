"""Plot helpers: the specifications handed to plotly.js."""

from __future__ import annotations

import json

import numpy as np

from cairn import reporting as rp


def _spec(fig: rp.Figure) -> dict:
    return json.loads(fig.to_json().replace("<\\/", "</"))


def test_histogram_from_counts() -> None:
    edges = np.linspace(0, 10, 6)
    fig = rp.histogram(edges, [1, 2, 3, 4, 5], markers={"mean": 3.0}, log_toggle=True)
    spec = _spec(fig)
    trace = spec["data"][0]
    assert trace["type"] == "bar" and trace["y"] == [1, 2, 3, 4, 5]
    assert trace["x"] == [1, 3, 5, 7, 9] and trace["width"] == [2, 2, 2, 2, 2]
    assert spec["layout"]["shapes"][0]["x0"] == 3.0
    assert [b["label"] for b in spec["layout"]["updatemenus"][0]["buttons"]] == ["linear", "log"]
    assert spec["config"]["displaylogo"] is False


def test_heatmap_prints_values_only_when_small() -> None:
    small = _spec(rp.heatmap(np.eye(3), list("abc"), list("abc")))
    assert "texttemplate" in small["data"][0]
    big = _spec(rp.heatmap(np.zeros((40, 40)), range(40), range(40)))
    assert "texttemplate" not in big["data"][0]


def test_layout_merges_over_defaults() -> None:
    fig = rp.Figure([{"type": "bar", "x": [1], "y": [2]}], {"xaxis": {"range": [0, 5]}})
    assert fig.layout["xaxis"]["range"] == [0, 5]
    assert fig.layout["xaxis"]["automargin"] is True


def test_stacked_and_boxes() -> None:
    stacked = _spec(
        rp.stacked_bars(["a", "b"], {"yes": [0.2, 0.5], "no": [0.8, 0.5]}, percent=True)
    )
    assert len(stacked["data"]) == 2 and stacked["layout"]["barmode"] == "stack"
    boxes = _spec(
        rp.boxes(
            ["g1"], {"q1": [1], "median": [2], "q3": [3], "lowerfence": [0], "upperfence": [4]}
        )
    )
    assert boxes["data"][0]["median"] == [2]


def test_two_dimensional_arrays_become_nested_lists() -> None:
    fig = rp.Figure([{"type": "heatmap", "z": np.array([[1.0, np.nan], [2.0, 3.0]])}])
    assert _spec(fig)["data"][0]["z"] == [[1.0, None], [2.0, 3.0]]
