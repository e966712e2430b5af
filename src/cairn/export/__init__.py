"""The whole fitted model as one ONNX graph, for the server's fast path.

At packaging time :func:`export_serving` turns the final estimator (a
pipeline of cairn's preprocessing and a learner, a bag of fold pipelines, or
an ensemble of those) into a single ONNX graph that ONNX Runtime runs in one
call, preprocessing included:

- numeric columns: imputation, missing-value indicators and scaling become
  ``IsNaN``/``Where``/``Sub``/``Div`` on the ``num`` input;
- categorical and boolean columns: every encoder (one-hot, ordinal, target,
  frequency, boolean) is a function of the category string alone, so it is
  tabulated once per known category (and for missing and unseen values) by
  calling the fitted encoder itself; the graph looks codes up in those tables
  (``Gather``);
- datetime columns: the calendar parts come in the ``dt`` input; the graph
  picks the ones each model used and imputes them;
- text columns: term counts come in ``text_<i>``; the graph applies each
  model's vocabulary, sublinear TF, IDF weights and L2 norm;
- learners: tree ensembles (LightGBM, CatBoost, scikit-learn forests and
  trees) become one ``TreeEnsemble`` node (ONNX-ML opset 5) with float64
  thresholds and leaf values, read straight from each library's model, so
  every split is decided as the library decides it (the stock converters
  store float32 thresholds and take tens of seconds on large boosted
  ensembles); linear and logistic models are a ``MatMul``; other
  scikit-learn models go through skl2onnx. Bags are averaged and ensembles
  weighted (or stacked) inside the graph.

Nothing is trusted untested: the graph and the record reader
(:class:`cairn.records.RecordAdapter`) together score the held-out
rows and probe rows (missing values, unseen categories), and must agree with
the native pipeline within :data:`RTOL`/:data:`ATOL` on every value and give
the same class on every row. Only then is the graph stored in the bundle;
otherwise the bundle records why, and the server uses the native pipeline.
"""

from cairn.export._common import ATOL, GRAPH_FILE, RTOL, SERVING_FILE, ExportResult
from cairn.export._package import export_serving

__all__ = ["ATOL", "GRAPH_FILE", "RTOL", "SERVING_FILE", "ExportResult", "export_serving"]
