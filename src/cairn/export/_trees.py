"""Tree readers: LightGBM, CatBoost and scikit-learn trees in one common form,
gathered into a single ONNX ``TreeEnsemble`` node with float64 thresholds."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cairn.export._common import UnsupportedError
from cairn.export._graph import Graph

LGB_IDENTITY = frozenset({"regression", "regression_l1", "huber", "fair", "quantile", "mape"})


@dataclass
class Tree:
    """One decision tree in a common form.

    Internal node ``i`` sends rows with ``x[feature[i]] <= split[i]`` to
    ``left[i]`` (missing values to ``left`` when ``nan_left[i]``); a child
    ``c >= 0`` is an internal node, ``c < 0`` the leaf ``~c``.
    """

    feature: np.ndarray
    split: np.ndarray
    left: np.ndarray
    right: np.ndarray
    nan_left: np.ndarray
    leaves: np.ndarray
    target: int = 0


class TreeArrays:
    """Trees gathered into the attributes of one ``TreeEnsemble`` node."""

    def __init__(self, n_targets: int) -> None:
        self.n_targets = n_targets
        self.bias = np.zeros(n_targets, dtype=np.float64)
        self.roots: list[int] = []
        self.parts: dict[str, list[np.ndarray]] = {
            k: []
            for k in (
                "feature",
                "split",
                "true_id",
                "true_leaf",
                "false_id",
                "false_leaf",
                "nan",
                "target",
                "weight",
            )
        }
        self.n_nodes = 0
        self.n_leaves = 0

    def add(self, tree: Tree) -> None:
        if len(tree.feature) == 0:
            self.bias[tree.target] += float(tree.leaves[0])
            return
        node0, leaf0 = self.n_nodes, self.n_leaves
        self.roots.append(node0)
        parts = self.parts
        for child, prefix in ((tree.left, "true"), (tree.right, "false")):
            is_leaf = child < 0
            parts[f"{prefix}_id"].append(np.where(is_leaf, leaf0 + ~child, node0 + child))
            parts[f"{prefix}_leaf"].append(is_leaf.astype(np.int64))
        parts["feature"].append(tree.feature.astype(np.int64))
        parts["split"].append(tree.split.astype(np.float64))
        parts["nan"].append(tree.nan_left.astype(np.int64))
        parts["target"].append(np.full(len(tree.leaves), tree.target, dtype=np.int64))
        parts["weight"].append(tree.leaves.astype(np.float64))
        self.n_nodes += len(tree.feature)
        self.n_leaves += len(tree.leaves)

    def emit(self, g: Graph, feed: str) -> str:
        from onnx import numpy_helper

        if not self.roots:
            # every tree is a single leaf: the output is the bias alone
            clean = g.op("Where", [g.op("IsNaN", [feed]), g.const(np.asarray(0.0)), feed])
            first = g.cols(clean, [0] * self.n_targets)
            return g.op("Mul", [first, g.const(np.asarray(0.0))])

        def ints(key: str) -> list[int]:
            return [int(v) for v in np.concatenate(self.parts[key])]

        return g.op(
            "TreeEnsemble",
            [feed],
            "trees",
            domain="ai.onnx.ml",
            aggregate_function=1,  # SUM
            post_transform=0,  # NONE
            n_targets=self.n_targets,
            tree_roots=self.roots,
            nodes_featureids=ints("feature"),
            nodes_modes=numpy_helper.from_array(np.zeros(self.n_nodes, dtype=np.uint8)),
            nodes_splits=numpy_helper.from_array(np.concatenate(self.parts["split"])),
            nodes_truenodeids=ints("true_id"),
            nodes_trueleafs=ints("true_leaf"),
            nodes_falsenodeids=ints("false_id"),
            nodes_falseleafs=ints("false_leaf"),
            nodes_missing_value_tracks_true=ints("nan"),
            leaf_targetids=ints("target"),
            leaf_weights=numpy_helper.from_array(np.concatenate(self.parts["weight"])),
        )


def lightgbm_trees(booster: Any) -> tuple[list[Tree], dict[str, str]]:
    """Trees of a LightGBM booster, read from its text model (up to the best iteration)."""
    text = booster.model_to_string()
    header: dict[str, str] = {}
    blocks: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for line in text.splitlines():
        if line.startswith("end of trees"):
            break
        if line.startswith("Tree="):
            current = {}
            blocks.append(current)
            continue
        key, sep, value = line.partition("=")
        if not sep:
            continue
        if current is None:
            header[key] = value
        else:
            current[key] = value
    per_iteration = int(header.get("num_tree_per_iteration", "1"))
    trees: list[Tree] = []
    for index, block in enumerate(blocks):
        if block.get("num_cat", "0") != "0" or block.get("is_linear", "0") != "0":
            raise UnsupportedError("LightGBM trees with categorical or linear splits")
        leaves = np.asarray(block["leaf_value"].split(), dtype=np.float64)
        target = index % per_iteration
        if int(block.get("num_leaves", "1")) <= 1:
            trees.append(Tree(*(np.zeros(0),) * 5, leaves=leaves[:1], target=target))
            continue
        decision = np.asarray(block["decision_type"].split(), dtype=np.int64)
        if np.any(decision & 1):
            raise UnsupportedError("LightGBM categorical splits")
        missing = (decision >> 2) & 3
        if np.any(missing == 1):
            raise UnsupportedError("LightGBM splits treating zero as missing")
        split = np.asarray(block["threshold"].split(), dtype=np.float64)
        # missing type None: LightGBM reads NaN as 0.0; type NaN: the default side
        nan_left = np.where(missing == 2, (decision & 2) != 0, split >= 0.0)
        trees.append(
            Tree(
                feature=np.asarray(block["split_feature"].split(), dtype=np.int64),
                split=split,
                left=np.asarray(block["left_child"].split(), dtype=np.int64),
                right=np.asarray(block["right_child"].split(), dtype=np.int64),
                nan_left=nan_left,
                leaves=leaves,
                target=target,
            )
        )
    return trees, header


def catboost_trees(model: Any) -> tuple[list[Tree], list[float], float, int]:
    """Oblivious trees of a CatBoost model as full binary trees, with bias and scale."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.json"
        model.save_model(str(path), format="json")
        data = json.loads(path.read_text(encoding="utf-8"))
    info = data.get("features_info", {})
    if info.get("categorical_features") or info.get("text_features"):
        raise UnsupportedError("CatBoost categorical or text features")
    if "oblivious_trees" not in data:
        raise UnsupportedError("CatBoost trees that are not symmetric")
    floats = {f["feature_index"]: f for f in info.get("float_features", [])}
    scale, bias = data.get("scale_and_bias", [1.0, [0.0]])
    bias_list = [float(b) for b in (bias if isinstance(bias, list) else [bias])]
    n_targets = len(bias_list)
    trees: list[Tree] = []
    for tree in data["oblivious_trees"]:
        splits = tree.get("splits") or []
        values = np.asarray(tree["leaf_values"], dtype=np.float64)
        depth = len(splits)
        dims = len(values) // (1 << depth)
        if dims != n_targets:
            raise UnsupportedError("CatBoost leaf values of an unexpected size")
        if depth == 0:
            for k in range(dims):
                trees.append(Tree(*(np.zeros(0),) * 5, leaves=values[k : k + 1], target=k))
            continue
        features, borders, nan_left = [], [], []
        for split in splits:
            if split.get("split_type", "FloatFeature") != "FloatFeature":
                raise UnsupportedError(f"CatBoost split type {split.get('split_type')!r}")
            feature = floats[split["float_feature_index"]]
            features.append(int(feature["flat_feature_index"]))
            borders.append(float(np.float32(split["border"])))
            nan_left.append(feature.get("nan_value_treatment", "AsIs") != "AsTrue")
        # level l tests split l; a leaf's index has bit l set when x > border there
        feature_arr, split_arr, left_arr, right_arr, nan_arr = [], [], [], [], []
        for level in range(depth):
            for bits in range(1 << level):
                feature_arr.append(features[level])
                split_arr.append(borders[level])
                nan_arr.append(nan_left[level])
                low, high = bits, bits | (1 << level)
                if level == depth - 1:
                    left_arr.append(~low)
                    right_arr.append(~high)
                else:
                    base = (1 << (level + 1)) - 1
                    left_arr.append(base + low)
                    right_arr.append(base + high)
        for k in range(dims):
            trees.append(
                Tree(
                    feature=np.asarray(feature_arr, dtype=np.int64),
                    split=np.asarray(split_arr, dtype=np.float64),
                    left=np.asarray(left_arr, dtype=np.int64),
                    right=np.asarray(right_arr, dtype=np.int64),
                    nan_left=np.asarray(nan_arr, dtype=bool),
                    leaves=values[k::dims].copy(),
                    target=k,
                )
            )
    return trees, bias_list, float(scale), n_targets


def sklearn_tree(t: Any, values: np.ndarray, target: int) -> Tree:
    """A fitted scikit-learn ``tree_`` with one leaf value per node."""
    left, right = np.asarray(t.children_left), np.asarray(t.children_right)
    internal = np.flatnonzero(left != -1)
    leaves = np.flatnonzero(left == -1)
    if len(internal) == 0:
        return Tree(*(np.zeros(0),) * 5, leaves=values[:1].copy(), target=target)
    index = np.zeros(len(left), dtype=np.int64)
    index[internal] = np.arange(len(internal))
    index[leaves] = ~np.arange(len(leaves))
    go_left = getattr(t, "missing_go_to_left", None)
    nan_left = (
        np.asarray(go_left, dtype=bool)[internal]
        if go_left is not None
        else np.ones(len(internal), dtype=bool)
    )
    return Tree(
        feature=np.asarray(t.feature)[internal],
        split=np.asarray(t.threshold, dtype=np.float64)[internal],
        left=index[left[internal]],
        right=index[right[internal]],
        nan_left=nan_left,
        leaves=values[leaves].astype(np.float64),
        target=target,
    )
