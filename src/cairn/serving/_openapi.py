"""The OpenAPI document of the scoring routes, generated from the model's schema.

``/predict`` and ``/invocations`` are answered by the ASGI layer, not by
FastAPI routes, so their paths and the ``Record`` schema are written here.
"""

from __future__ import annotations

from typing import Any

from cairn.data.schema import Role
from cairn.serving._recommend import ServedRecommender
from cairn.serving._service import Service
from cairn.serving.engine import ServedModel

__all__ = ["error_responses", "openapi_paths", "recommendation_paths"]


def _column_schema(model: ServedModel, name: str) -> dict[str, Any]:
    column = model.schema[name]
    ranges = model.serving.get("input_ranges") or {}
    out: dict[str, Any]
    if column.role == Role.NUMERIC:
        out = {"type": ["number", "null"]}
        if name in ranges:
            low, high = ranges[name]
            out["description"] = f"numeric; training values mostly within [{low:g}, {high:g}]"
        else:
            out["description"] = "numeric"
    elif column.role == Role.DATETIME:
        fmt = (model.schema.metadata.get("datetime_formats") or {}).get(name)
        out = {"type": ["string", "null"], "description": f"date-time ({fmt or 'ISO 8601'})"}
    elif column.dtype == "bool":
        out = {"type": ["boolean", "null"], "description": "boolean (true/false, yes/no, 1/0)"}
    elif column.role == Role.TEXT:
        out = {"type": ["string", "null"], "description": "free text"}
    else:
        categories = list(column.categories or ())
        shown = ", ".join(repr(c) for c in categories[:20])
        more = f" and {len(categories) - 20} more" if len(categories) > 20 else ""
        # a category column coded as numbers (0/1 flags) takes numbers only
        kinds = (
            ["number", "boolean", "null"]
            if column.dtype in ("int", "float")
            else ["string", "number", "boolean", "null"]
        )
        out = {
            "type": kinds,
            "description": f"{column.role}; known categories: {shown}{more}. "
            "Unseen categories are scored and flagged in 'warnings'",
        }
        if categories:
            out["x-categories"] = categories
            out["examples"] = categories[:3]
    if column.is_feature:
        out["description"] += ". Required; null when unknown"
    else:
        out["description"] = f"{column.role} column, not used by the model; optional"
    return out


def _record_schema(model: ServedModel) -> dict[str, Any]:
    properties = {c.name: _column_schema(model, c.name) for c in model.schema.columns}
    return {
        "type": "object",
        "title": "Record",
        "description": "One row: every required column, in any order; extra keys are ignored "
        "(and named in 'warnings')",
        "properties": properties,
        "required": model.features,
        "additionalProperties": True,
        "example": model.example_record(),
    }


def _error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "detail": {
                "anyOf": [
                    {"type": "string"},
                    {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                                "msg": {"type": "string"},
                                "type": {"type": "string"},
                            },
                            "required": ["loc", "msg", "type"],
                        },
                    },
                ]
            },
            "request_id": {"type": "string"},
        },
        "required": ["detail"],
    }


def _mlflow_error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "MLflow's error answer",
        "properties": {
            "error_code": {"type": "string", "examples": ["BAD_REQUEST"]},
            "message": {"type": "string"},
            "request_id": {"type": "string"},
            "detail": {"type": "array", "items": {"type": "object"}},
        },
        "required": ["error_code", "message"],
    }


def error_responses(*codes: int, schema: str = "Error") -> dict[int | str, Any]:
    text = {
        400: "The body is not valid JSON (/invocations: nor a table in MLflow's formats)",
        401: "Missing or wrong API key",
        405: "Method not allowed",
        413: "Body or record count over the limit",
        415: "The body is not JSON (/invocations: nor CSV)",
        422: "A record misses a column or holds a value of the wrong type",
        500: "Unexpected failure (the request id is in the server log)",
        503: "The model is still loading",
    }
    return {
        str(code): {
            "description": text[code],
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
        }
        for code in codes
    }


def openapi_paths(service: Service) -> tuple[dict[str, Any], dict[str, Any]]:
    """The paths of the scoring routes (/predict and /invocations, or for a
    recommendation model /recommend and /similar-items), and the component
    schemas they use."""
    model = service.arms[0].model
    if isinstance(model, ServedRecommender):
        return recommendation_paths(model)
    record = {"$ref": "#/components/schemas/Record"}
    label_schema = model.kind.prediction_schema(model.classes)
    predict = _predict_path(
        service, record, _answer_schema(label_schema, model.kind.answer_schema(model.classes))
    )
    invocations = _invocations_path(record, service.config.max_rows, label_schema)
    schemas = {
        "Record": _record_schema(model),
        "Error": _error_schema(),
        "MlflowError": _mlflow_error_schema(),
    }
    return {"/predict": predict, "/invocations": invocations}, schemas


def _answer_schema(
    label_schema: dict[str, Any], extras: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """/predict's answer; ``extras`` are the task's own required properties."""
    answer: dict[str, Any] = {
        "type": "object",
        "properties": {
            "predictions": {"type": "array", "items": label_schema},
            "model": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "version": {"type": "string"},
                    "arm": {"type": "string"},
                },
                "required": ["name", "version", "arm"],
            },
            "request_id": {"type": "string"},
            "arms": {"type": "array", "items": {"type": "string"}},
            "warnings": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "record": {"type": ["integer", "null"]},
                        "column": {"type": ["string", "null"]},
                        "message": {"type": "string"},
                    },
                },
            },
        },
        "required": ["predictions", "model", "request_id"],
    }
    for name, schema in extras.items():
        answer["properties"][name] = schema
        answer["required"].append(name)
    return answer


def _predict_path(
    service: Service, record: dict[str, Any], answer: dict[str, Any]
) -> dict[str, Any]:
    max_rows = service.config.max_rows
    codes = (400, 401, 405, 413, 415, 422, 500, 503)
    predict = {
        "post": {
            "summary": "Score records",
            "operationId": "predict",
            "description": f"Up to {max_rows} records per request, "
            f"{service.config.max_body_bytes} bytes per body.",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "records": {"type": "array", "items": record, "maxItems": max_rows}
                            },
                            "required": ["records"],
                        }
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "One prediction per record, in order",
                    "content": {"application/json": {"schema": answer}},
                },
                **error_responses(*codes),
            },
        }
    }
    return predict


def _invocations_path(
    record: dict[str, Any], max_rows: int, label_schema: dict[str, Any]
) -> dict[str, Any]:
    mlflow_row: dict[str, Any] = {"type": "object", "properties": {"prediction": label_schema}}
    invocations = {
        "post": {
            "summary": "Score records sent the way MLflow clients send them",
            "operationId": "invocations",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"oneOf": _mlflow_inputs(record, max_rows)}},
                    "text/csv": {
                        "schema": {
                            "type": "string",
                            "description": "a header row of column names, then one line per row",
                        }
                    },
                },
            },
            "responses": {
                "200": {
                    "description": "One object per row: prediction, proba_<class>",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "predictions": {"type": "array", "items": mlflow_row}
                                },
                                "required": ["predictions"],
                            }
                        }
                    },
                },
                **error_responses(400, 401, 405, 413, 415, 500, 503, schema="MlflowError"),
            },
        }
    }
    return invocations


def _mlflow_inputs(record: dict[str, Any], max_rows: int) -> list[dict[str, Any]]:
    """The JSON bodies /invocations takes: MLflow's four input fields."""
    return [
        {
            "type": "object",
            "properties": {
                "dataframe_records": {
                    "type": "array",
                    "items": record,
                    "maxItems": max_rows,
                }
            },
            "required": ["dataframe_records"],
        },
        {
            "type": "object",
            "properties": {
                "dataframe_split": {
                    "type": "object",
                    "properties": {
                        "columns": {
                            "type": "array",
                            "items": {"type": "string"},
                        },
                        "data": {
                            "type": "array",
                            "items": {"type": "array"},
                            "maxItems": max_rows,
                        },
                    },
                    "required": ["columns", "data"],
                }
            },
            "required": ["dataframe_split"],
        },
        *(
            {
                "type": "object",
                "description": "rows as objects (or columns as an object of equal-length lists)",
                "properties": {
                    key: {
                        "type": "array",
                        "items": record,
                        "maxItems": max_rows,
                    }
                },
                "required": [key],
            }
            for key in ("instances", "inputs")
        ),
    ]


_ID = {"type": ["string", "integer"]}


def _recommended_items(titles: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "item": {**_ID, "description": "the item's id"},
        "score": {"type": "number", "description": "the model's score; higher first"},
    }
    if titles:
        properties["title"] = {"type": ["string", "null"], "description": "from the item table"}
    return {
        "type": "array",
        "items": {"type": "object", "properties": properties, "required": ["item", "score"]},
    }


def _model_and_warnings() -> dict[str, Any]:
    return {
        "model": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "version": {"type": "string"},
                "arm": {"type": "string"},
            },
            "required": ["name", "version", "arm"],
        },
        "request_id": {"type": "string"},
        "warnings": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "column": {"type": ["string", "null"]},
                    "message": {"type": "string"},
                },
            },
        },
    }


def _post(
    operation: str, summary: str, description: str, request: dict[str, Any], answer: dict[str, Any]
) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "operationId": operation,
            "description": description,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": request}},
            },
            "responses": {
                "200": {
                    "description": summary,
                    "content": {"application/json": {"schema": answer}},
                },
                **error_responses(400, 401, 405, 413, 415, 500, 503),
                "422": {
                    "description": "A malformed key, k out of range, or item ids the model "
                    "does not know (named in the answer)",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                },
            },
        }
    }


def recommendation_paths(model: ServedRecommender) -> tuple[dict[str, Any], dict[str, Any]]:
    """/recommend and /similar-items of a recommendation model."""
    k = {
        "type": "integer",
        "minimum": 1,
        "maximum": model.max_k,
        "default": model.default_k,
        "description": "how many items to return",
    }
    users = model.example_users(3)
    items = model.example_items(3)
    recommend_request = {
        "type": "object",
        "properties": {
            "user": {
                **_ID,
                "description": f"the user's id (the {model.user_column!r} column); an unknown "
                "user gets the fallback list and a warning saying so",
                "examples": users,
            },
            "k": k,
            "exclude_seen": {
                "type": "boolean",
                "default": model.default_exclude_seen,
                "description": "leave out the items the user interacted with in training",
            },
            "exclude": {
                "type": "array",
                "items": _ID,
                "description": "item ids never to return (each must be in the catalogue)",
            },
        },
        "required": ["user"],
        "example": {"user": users[0] if users else 1, "k": model.default_k, "exclude_seen": True},
    }
    titles = model.titles is not None
    recommend_answer = {
        "type": "object",
        "properties": {
            "user": _ID,
            "items": _recommended_items(titles),
            "fallback": {
                "type": ["string", "null"],
                "description": "the fallback that answered for an unknown user, else null",
            },
            **_model_and_warnings(),
        },
        "required": ["user", "items", "model", "request_id", "warnings"],
    }
    similar_request = {
        "type": "object",
        "properties": {
            "item": {
                **_ID,
                "description": f"an item id (the {model.item_column!r} column) in the catalogue",
                "examples": items,
            },
            "k": k,
        },
        "required": ["item"],
        "example": {"item": items[0] if items else 1, "k": model.default_k},
    }
    similar_answer: dict[str, Any] = {
        "type": "object",
        "properties": {"item": _ID, "items": _recommended_items(titles), **_model_and_warnings()},
        "required": ["item", "items", "model", "request_id", "warnings"],
    }
    if titles:
        similar_answer["properties"]["title"] = {"type": ["string", "null"]}
    paths = {
        "/recommend": _post(
            "recommend",
            "Recommend items to a user",
            f"The user's top k of {model.recommender.n_items} items, best first.",
            recommend_request,
            recommend_answer,
        ),
        "/similar-items": _post(
            "similar_items",
            "Items similar to an item",
            "The k items most similar to the given one, best first.",
            similar_request,
            similar_answer,
        ),
    }
    return paths, {"Error": _error_schema()}
