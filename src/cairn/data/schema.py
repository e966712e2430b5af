"""Column roles and the table schema that travels with a model.

A :class:`Schema` records, for each input column, the role cairn gave it
(numeric, categorical, boolean, datetime, text, id, constant, ignore), the
logical type used to coerce scoring data, and the known categories. It is
inferred once from the training data, stored as JSON in the bundle, and used
to check every frame given to the model afterwards.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    BOOLEAN = "boolean"
    DATETIME = "datetime"
    TEXT = "text"
    ID = "id"
    CONSTANT = "constant"
    IGNORE = "ignore"


# Roles whose columns never reach the learner.
DROPPED_ROLES: frozenset[Role] = frozenset({Role.ID, Role.CONSTANT, Role.IGNORE})


@dataclass(frozen=True)
class ColumnSchema:
    """One input column.

    Attributes:
        name: column name as in the data.
        role: how the column is used.
        dtype: logical type used to coerce scoring data: "float", "int",
            "bool", "string" or "datetime".
        nullable: whether missing values were seen in training.
        categories: known values for categorical and boolean columns (as
            strings), most frequent first; None for other roles.
        n_unique: distinct non-missing values seen in training.
        missing_rate: share of missing values in training.
        reason: why the role was chosen (shown in reports and ``cairn init``).
    """

    name: str
    role: Role
    dtype: str
    nullable: bool = True
    categories: tuple[str, ...] | None = None
    n_unique: int = 0
    missing_rate: float = 0.0
    reason: str = ""

    @property
    def is_feature(self) -> bool:
        return self.role not in DROPPED_ROLES


@dataclass(frozen=True)
class Schema:
    """The inputs a model expects, and what it predicts.

    Attributes:
        columns: every input column seen in training, target excluded.
        target: name of the target column (None for unsupervised tasks).
        task: "classification" or "regression" (room for more).
        classes: class labels, as strings, in the order the model's
            probabilities use; None for regression.
    """

    columns: tuple[ColumnSchema, ...]
    target: str | None = None
    task: str | None = None
    classes: tuple[str, ...] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> ColumnSchema:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return any(column.name == name for column in self.columns)

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def feature_names(self) -> list[str]:
        """Columns that reach the learner, in schema order."""
        return [column.name for column in self.columns if column.is_feature]

    def by_role(self, *roles: Role) -> list[str]:
        return [column.name for column in self.columns if column.role in roles]

    def with_role(self, name: str, role: Role, reason: str) -> Schema:
        """A copy with one column's role changed."""
        columns = tuple(
            replace(column, role=role, reason=reason) if column.name == name else column
            for column in self.columns
        )
        return replace(self, columns=columns)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for column in data["columns"]:
            column["role"] = str(column["role"])
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False, default=str)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        columns = tuple(
            ColumnSchema(
                name=c["name"],
                role=Role(c["role"]),
                dtype=c["dtype"],
                nullable=c.get("nullable", True),
                categories=tuple(c["categories"]) if c.get("categories") is not None else None,
                n_unique=c.get("n_unique", 0),
                missing_rate=c.get("missing_rate", 0.0),
                reason=c.get("reason", ""),
            )
            for c in data["columns"]
        )
        classes = data.get("classes")
        return cls(
            columns=columns,
            target=data.get("target"),
            task=data.get("task"),
            classes=tuple(classes) if classes is not None else None,
            metadata=data.get("metadata", {}),
        )

    @classmethod
    def from_json(cls, text: str) -> Schema:
        return cls.from_dict(json.loads(text))
