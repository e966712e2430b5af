"""The baseline: a bare FastAPI app around the native LightGBM boosters.

    BOOSTERS=dir/with/booster_*.txt FEATURES=a,b,c uvicorn serving_bare:app --port 8001

Runs in its own virtual environment (fastapi, uvicorn, lightgbm, numpy; no
cairn). Takes the same ``{"records": [...]}`` body as cairn's /predict, puts
the features in the model's order into a numpy array and averages
``Booster.predict`` over the boosters (a bag of fold models is one model).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
from fastapi import FastAPI

FEATURES = os.environ["FEATURES"].split(",")
BOOSTERS = [
    lgb.Booster(model_file=str(path))
    for path in sorted(Path(os.environ["BOOSTERS"]).glob("booster_*.txt"))
]
app = FastAPI()


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/predict")
async def predict(body: dict[str, Any]) -> dict[str, Any]:
    rows = np.asarray(
        [[record[name] for name in FEATURES] for record in body["records"]], dtype=np.float64
    )
    values = np.mean([booster.predict(rows, num_threads=1) for booster in BOOSTERS], axis=0)
    return {"predictions": values.tolist()}
