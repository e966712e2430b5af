"""MLflow "model from code": the pyfunc that serves a cairn bundle.

``cairn.tracking`` logs this file with the bundle as an artifact, so
``mlflow models serve -m models:/NAME@champion`` loads the bundle (after
cairn's own hash check) instead of unpickling an opaque Python object.
"""

import warnings

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel

from cairn.tasks import get_task

BUNDLE_ARTIFACT = "bundle"


# MLflow warns at class creation that predict() has no type hints; that is
# deliberate (see below), so the warning is silenced here.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)

    class CairnPyfunc(PythonModel):
        """Predicted label or value, plus one ``proba_<class>`` column per class."""

        def load_context(self, context):
            from cairn.bundle import load_bundle

            self.model = load_bundle(context.artifacts[BUNDLE_ARTIFACT])

        # No type hints on purpose: MLflow would derive a (wrong) signature from them.
        def predict(self, context, model_input, params=None):
            frame = pd.DataFrame(model_input)
            out = pd.DataFrame({"prediction": self.model.predict(frame)}, index=frame.index)
            if get_task(self.model.task).has_classes:
                proba = self.model.predict_proba(frame)
                for label in proba.columns:
                    out[f"proba_{label}"] = proba[label].to_numpy()
            return out


mlflow.models.set_model(CairnPyfunc())
