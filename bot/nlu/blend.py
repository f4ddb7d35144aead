"""A second opinion on the intent: logistic regression on the same features, blended with DIET.

DIET and a linear model make different mistakes on short colloquial messages: averaging their
probabilities is more accurate on the held-out set than either alone (``make bench-nlu``). The
component runs right after DIET (configured with ``ranking_length: 0`` so its whole ranking is
there), trains a logistic regression on the sentence-level sparse features that the featurizers
already computed, and replaces the intent and ranking with the weighted average
``weight * regression + (1 - weight) * DIET``. The FallbackClassifier then judges the blend.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.featurizers.featurizer import Featurizer
from rasa.shared.nlu.constants import (
    FEATURE_TYPE_SENTENCE,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

logger = logging.getLogger(__name__)

MODEL_FILE = "blend.skops"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class BlendedIntentClassifier(IntentClassifier, GraphComponent):
    """Logistic regression over the sparse sentence features, averaged with the previous ranking."""

    @classmethod
    def required_components(cls) -> list[type]:
        return [Featurizer]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"weight": 0.5, "C": 10.0, "max_iter": 3000, "ranking_length": 10, "random_state": 42}

    def __init__(
        self, config: dict[str, Any], model_storage: ModelStorage, resource: Resource, model: Any = None
    ) -> None:
        self.config = {**self.get_default_config(), **config}
        if not 0.0 <= float(self.config["weight"]) <= 1.0:
            raise ValueError("BlendedIntentClassifier: weight must be between 0 and 1")
        self._storage = model_storage
        self._resource = resource
        self._model = model
        self._weights: Any = None

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> BlendedIntentClassifier:
        return cls(config, model_storage, resource)

    @staticmethod
    def _features(message: Message) -> Optional[Any]:
        """The sentence-level sparse features, side by side in pipeline order.

        The same matrix as ``message.get_sparse_features(TEXT)[1]``, without also combining the
        per-token features, which this classifier does not use (a millisecond per message).
        """
        from scipy.sparse import hstack

        sentence = [
            f.features
            for f in message.features
            if f.attribute == TEXT and f.type == FEATURE_TYPE_SENTENCE and f.is_sparse()
        ]
        if not sentence:
            return None
        return (sentence[0] if len(sentence) == 1 else hstack(sentence)).tocsr()

    def train(self, training_data: TrainingData) -> Resource:
        from scipy.sparse import vstack
        from sklearn.linear_model import LogisticRegression

        rows, labels = [], []
        for example in training_data.intent_examples:
            features = self._features(example)
            if features is not None and example.get(INTENT):
                rows.append(features)
                labels.append(example.get(INTENT))
        if len(set(labels)) < 2:
            logger.debug("BlendedIntentClassifier: fewer than two intents, nothing to train")
            return self._resource
        model = LogisticRegression(
            C=float(self.config["C"]),
            max_iter=int(self.config["max_iter"]),
            random_state=int(self.config["random_state"]),
        )
        model.fit(vstack(rows), labels)
        self._model, self._weights = model, None
        self._persist()
        return self._resource

    def _persist(self) -> None:
        import skops.io as sio

        with self._storage.write_to(self._resource) as directory:
            sio.dump(self._model, directory / MODEL_FILE)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> BlendedIntentClassifier:
        import skops.io as sio

        try:
            with model_storage.read_from(resource) as directory:
                path = directory / MODEL_FILE
                # only what a fitted LogisticRegression holds: numpy arrays and the estimator itself
                trusted = [
                    t for t in sio.get_untrusted_types(file=path) if t.startswith(("numpy.", "sklearn."))
                ]
                model = sio.load(path, trusted=trusted)
        except ValueError:
            logger.debug("BlendedIntentClassifier: no trained model in storage, passing DIET through")
            model = None
        return cls(config, model_storage, resource, model)

    def _probabilities(self, features: Any) -> Any:
        """``predict_proba`` for one row: a softmax over the linear scores, without sklearn's
        input validation (which costs more than the arithmetic for a single short message)."""
        import numpy as np

        model = self._model
        if len(model.classes_) < 3:  # binary: sklearn's logistic, not a softmax
            return model.predict_proba(features)[0]
        if self._weights is None:  # coef_.T as its own contiguous array: a transposed view is copied per call
            self._weights = np.ascontiguousarray(model.coef_.T)
        scores = np.asarray(features @ self._weights).ravel() + model.intercept_
        scores = np.exp(scores - scores.max())
        return scores / scores.sum()

    def process(self, messages: list[Message]) -> list[Message]:
        if self._model is None:
            return messages
        weight = float(self.config["weight"])
        classes = list(self._model.classes_)
        for message in messages:
            features = self._features(message)
            if features is None:
                continue
            blended = {
                name: weight * float(p)
                for name, p in zip(classes, self._probabilities(features), strict=True)
            }
            for ranked in message.get(INTENT_RANKING_KEY) or []:
                name = ranked.get(INTENT_NAME_KEY)
                blended[name] = blended.get(name, 0.0) + (1.0 - weight) * float(
                    ranked.get("confidence") or 0.0
                )
            ranking = sorted(
                ({INTENT_NAME_KEY: name, "confidence": conf} for name, conf in blended.items()),
                key=lambda r: -r["confidence"],
            )
            message.set(INTENT, ranking[0], add_to_output=True)
            length = int(self.config["ranking_length"])
            message.set(INTENT_RANKING_KEY, ranking[:length] if length > 0 else ranking, add_to_output=True)
        return messages
