"""The classification sections of the evaluation report: confusion matrix,
ROC and precision-recall curves, calibration and decision thresholds."""

from __future__ import annotations

import numpy as np

import cairn.reporting as rp
from cairn.evaluation._analysis import RunAnalysis
from cairn.evaluation._plot_data import thin_curve


def confusion_section(analysis: RunAnalysis) -> rp.Section:
    """Confusion matrix and per-class precision, recall and F1."""
    run = analysis.run
    return _confusion(run.classes, run.y_codes, run.proba)


def curves_section(analysis: RunAnalysis) -> rp.Section:
    """ROC and precision-recall curves."""
    run = analysis.run
    return _curves(run.classes, run.y_codes, run.proba)


def calibration_section(analysis: RunAnalysis) -> rp.Section:
    """Calibration and decision thresholds (binary), or of the top class."""
    run = analysis.run
    classes = run.classes
    calibration = _binary_calibration if len(classes) == 2 else _multiclass_calibration
    return calibration(classes, run.y_codes, run.proba)


def _confusion(classes: list[str], y: np.ndarray, proba: np.ndarray) -> rp.Section:
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    pred = proba.argmax(axis=1)
    k = len(classes)
    matrix = confusion_matrix(y, pred, labels=list(range(k)))
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    text = [[f"{matrix[i, j]:,}<br>{shares[i, j]:.0%}" for j in range(k)] for i in range(k)]
    confusion = rp.heatmap(
        shares,
        [f"{c}" for c in classes],
        [f"{c}" for c in classes],
        zmin=0,
        zmax=1,
        x_title="predicted",
        y_title="actual",
        text_format=None,
        title="Confusion matrix",
        caption="Cells: rows and share of the actual class; predictions are the most probable "
        "class.",
        hover="actual %{y}, predicted %{x}: %{z:.1%} of the class<extra></extra>",
        height=min(620, 70 * k + 160),
    )
    confusion.data[0]["text"] = text
    confusion.data[0]["texttemplate"] = "%{text}"
    precision, recall, f1, support = precision_recall_fscore_support(
        y, pred, labels=list(range(k)), zero_division=0
    )
    per_class = rp.table(
        [
            {
                "class": label,
                "precision": round(float(precision[i]), 4),
                "recall": round(float(recall[i]), 4),
                "F1": round(float(f1[i]), 4),
                "test rows": int(support[i]),
            }
            for i, label in enumerate(classes)
        ]
    )
    return rp.Section(
        "Confusion matrix",
        rp.grid(str(confusion), per_class, min_width=420),
        id="confusion",
        lead="Where the model's predictions land, per actual class.",
    )


def _curves(classes: list[str], y: np.ndarray, proba: np.ndarray) -> rp.Section:
    from sklearn.metrics import (
        average_precision_score,
        precision_recall_curve,
        roc_auc_score,
        roc_curve,
    )

    k = len(classes)
    shown = list(range(k)) if k > 2 else [1]
    roc: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    pr: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for c in shown[:10]:
        positive = (y == c).astype(int)
        if positive.min() == positive.max():
            continue
        fpr, tpr, _ = roc_curve(positive, proba[:, c])
        auc = roc_auc_score(positive, proba[:, c])
        fpr, tpr = thin_curve(fpr, tpr)
        roc[f"{classes[c]} (AUC {auc:.3f})"] = (fpr, tpr)
        prec, rec, _ = precision_recall_curve(positive, proba[:, c])
        ap = average_precision_score(positive, proba[:, c])
        rec, prec = thin_curve(rec[::-1], prec[::-1])
        pr[f"{classes[c]} (AP {ap:.3f})"] = (rec, prec)
    roc_fig = rp.lines(
        roc,
        title="ROC curve" + (" (one class against the rest)" if k > 2 else ""),
        x_title="false positive rate",
        y_title="true positive rate",
        diagonal=True,
        x_range=(0, 1),
        y_range=(0, 1.02),
        height=360,
    )
    pr_fig = rp.lines(
        pr,
        title="Precision–recall curve",
        x_title="recall",
        y_title="precision",
        x_range=(0, 1),
        y_range=(0, 1.02),
        height=360,
        caption=f"Positive class: {classes[1]}; a random model's precision is its share, "
        f"{np.mean(y == 1):.1%}."
        if k == 2
        else "",
    )
    return rp.Section(
        "ROC and precision–recall",
        rp.grid(str(roc_fig), str(pr_fig), min_width=420),
        id="curves",
        lead="How well the predicted probabilities rank the classes, at every threshold.",
    )


def _binary_calibration(classes: list[str], y: np.ndarray, proba: np.ndarray) -> rp.Section:
    from sklearn.calibration import calibration_curve

    positive = (y == 1).astype(int)
    scores = proba[:, 1]
    bins = min(10, max(3, len(y) // 50))
    frac, mean_pred = calibration_curve(positive, scores, n_bins=bins, strategy="quantile")
    calibration = rp.lines(
        {"model": (mean_pred, frac)},
        title="Calibration (reliability)",
        x_title=f"mean predicted probability of {classes[1]}",
        y_title=f"observed share of {classes[1]}",
        diagonal=True,
        markers=True,
        x_range=(0, 1),
        y_range=(0, 1.02),
        caption=f"{bins} bins of equal size; on the dashed line a predicted 30 % happens 30 % "
        "of the time. Brier score "
        f"{np.mean((scores - positive) ** 2):.4f}.",
        height=340,
    )
    counts, edges = np.histogram(scores, bins=20, range=(0, 1))
    spread = rp.histogram(
        edges,
        counts,
        title="Predicted probabilities",
        x_title=f"predicted probability of {classes[1]}",
        height=340,
    )
    threshold = _threshold_plot(classes, scores, positive)
    return rp.Section(
        "Calibration and thresholds",
        rp.grid(str(calibration), str(spread), min_width=420) + str(threshold),
        id="calibration",
        lead="Whether probabilities can be read as frequencies, and what each decision "
        "threshold trades.",
    )


def _threshold_plot(classes: list[str], scores: np.ndarray, positive: np.ndarray) -> rp.Figure:
    """Precision, recall and F1 at every threshold on the positive class's probability."""
    thresholds = np.linspace(0.01, 0.99, 99)
    predicted = scores[None, :] >= thresholds[:, None]
    tp = (predicted & (positive[None, :] == 1)).sum(axis=1)
    fp = (predicted & (positive[None, :] == 0)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        p_t = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), np.nan)
        r_t = tp / max(positive.sum(), 1)
        f_t = np.where(p_t + r_t > 0, 2 * p_t * r_t / (p_t + r_t), 0.0)
    best = float(thresholds[int(np.nanargmax(f_t))])
    return rp.lines(
        {
            "precision": (thresholds, p_t),
            "recall": (thresholds, r_t),
            "F1": (thresholds, f_t),
            "share predicted positive": (thresholds, predicted.mean(axis=1)),
        },
        title="Precision, recall and F1 by threshold",
        x_title=f"threshold on the probability of {classes[1]}",
        y_title="value",
        x_range=(0, 1),
        y_range=(0, 1.02),
        vlines={"0.5 (used)": 0.5, f"best F1 {best:.2f}": best},
        caption=f"cairn predicts {classes[1]} above 0.5; the best F1 on the test set is at "
        f"{best:.2f}.",
        height=360,
    )


def _multiclass_calibration(classes: list[str], y: np.ndarray, proba: np.ndarray) -> rp.Section:
    pred = proba.argmax(axis=1)
    confidence = proba.max(axis=1)
    correct = (pred == y).astype(float)
    bins = min(10, max(3, len(y) // 50))
    order = np.argsort(confidence)
    groups = np.array_split(order, bins)
    mean_conf = np.array([confidence[g].mean() for g in groups])
    accuracy = np.array([correct[g].mean() for g in groups])
    calibration = rp.lines(
        {"model": (mean_conf, accuracy)},
        title="Calibration of the top class",
        x_title="mean probability of the predicted class",
        y_title="share predicted correctly",
        diagonal=True,
        markers=True,
        x_range=(0, 1),
        y_range=(0, 1.02),
        caption=f"{bins} bins of equal size by confidence.",
        height=340,
    )
    thresholds = np.linspace(0.0, 0.99, 100)
    kept = confidence[None, :] >= thresholds[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        acc_t = np.where(
            kept.sum(axis=1) > 0, (kept * correct).sum(axis=1) / kept.sum(axis=1), np.nan
        )
    threshold = rp.lines(
        {
            "accuracy of kept rows": (thresholds, acc_t),
            "share of rows kept": (thresholds, kept.mean(axis=1)),
        },
        title="Accuracy and coverage by confidence threshold",
        x_title="minimum probability of the predicted class",
        y_title="value",
        x_range=(0, 1),
        y_range=(0, 1.02),
        caption="Answering only when the model is at least this confident: how accurate "
        "those answers are and how many rows get one.",
        height=340,
    )
    return rp.Section(
        "Calibration and thresholds",
        rp.grid(str(calibration), str(threshold), min_width=420),
        id="calibration",
        lead="Whether the predicted class's probability can be read as a frequency.",
    )
