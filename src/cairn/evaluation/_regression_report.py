"""The regression sections of the evaluation report: predicted against actual
values, residuals and the error across the range of the target."""

from __future__ import annotations

import numpy as np

import cairn.reporting as rp
from cairn.evaluation._analysis import RunAnalysis
from cairn.evaluation._plot_data import SCATTER_POINTS, sample_rows


def residuals_section(analysis: RunAnalysis) -> rp.Section:
    """Predicted against actual values, residuals and the error by decile."""
    run = analysis.run
    y = run.y_true
    pred = run.y_pred
    residual = y - pred
    index = sample_rows(len(y), SCATTER_POINTS)
    sampled = len(index) < len(y)
    note = f"; {len(index):,} of {len(y):,} rows drawn at random" if sampled else ""
    target = str(run.metadata.get("target", "target"))
    scatter = rp.scatter(
        pred[index],
        y[index],
        title="Predicted vs actual",
        x_title=f"predicted {target}",
        y_title=f"actual {target}",
        diagonal=True,
        caption="On the dashed line predictions are exact" + note + ".",
        height=380,
    )
    residuals = rp.scatter(
        pred[index],
        residual[index],
        title="Residuals vs predicted",
        x_title=f"predicted {target}",
        y_title="actual − predicted",
        hline=0.0,
        caption="A pattern (funnel, curve) means the errors depend on the prediction" + note + ".",
        height=380,
    )
    counts, edges = np.histogram(residual, bins=40)
    spread = rp.histogram(
        edges,
        counts,
        title="Residual distribution",
        x_title="actual − predicted",
        markers={"0": 0.0, "mean": float(residual.mean())},
        caption=f"All {len(y):,} test rows; mean {rp.fmt_number(residual.mean())}, "
        f"std {rp.fmt_number(residual.std())}.",
        height=300,
    )
    by_value = _error_by_decile(y, residual, target)
    return rp.Section(
        "Predictions and residuals",
        rp.grid(str(scatter), str(residuals), min_width=420)
        + rp.grid(str(spread), str(by_value), min_width=420),
        id="residuals",
        lead="How far predictions are from the truth, and where.",
    )


def _error_by_decile(y: np.ndarray, residual: np.ndarray, target: str) -> rp.Figure:
    """Mean absolute error and bias within each decile of the actual value."""
    quantiles = np.unique(np.quantile(y, np.linspace(0, 1, 11)))
    bins = np.clip(np.searchsorted(quantiles, y, side="right") - 1, 0, len(quantiles) - 2)
    labels, mae, bias = [], [], []
    for b in range(len(quantiles) - 1):
        mask = bins == b
        if mask.any():
            labels.append(f"{rp.fmt_short(quantiles[b])} – {rp.fmt_short(quantiles[b + 1])}")
            mae.append(float(np.abs(residual[mask]).mean()))
            bias.append(float(residual[mask].mean()))
    return rp.Figure(
        [
            {
                "type": "bar",
                "name": "mean absolute error",
                "x": labels,
                "y": mae,
                "marker": {"color": rp.PALETTE[0]},
            },
            {
                "type": "bar",
                "name": "mean error (bias)",
                "x": labels,
                "y": bias,
                "marker": {"color": rp.PALETTE[1]},
            },
        ],
        {
            "barmode": "group",
            "showlegend": True,
            "xaxis": {"type": "category", "title": {"text": f"actual {target} (deciles)"}},
            "yaxis": {"title": {"text": "error"}},
        },
        title="Error by decile of the actual value",
        caption="Bias above zero: the model predicts too low there.",
        height=320,
    )
