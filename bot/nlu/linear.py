"""The intent classifier and the FAQ/small-talk response selector: linear models over n-grams.

Why not DIET: on real subscribers' messages (``make bench-nlu``, the dev set) a linear SVM over
n-grams understood as much as DIET blended with a logistic regression did on our own held-out
set, and more of the real messages; it trains in seconds instead of minutes on two cores. Long
messages are the hard part: a post of 120 characters has a sentence that carries the request and
several of story and anger. The features are counted with a sublinear term frequency, weighted by
inverse document frequency and scaled to unit length, and the training data holds long messages
of every intent (``data/nlu/subscribers/``), so the model learns which n-grams carry the request
and which are story. (Scoring each clause apart and adding its best score did not help.)

Features, from the normalised text (``TextNormaliser`` runs first):

- character n-grams (1 to ``char_max_n``) of the text with numbers reduced to their shape
  (``138****8000`` and ``13800138000`` are the same phone number, ``170元`` and ``5元`` the same
  amount), see :func:`shape`;
- word unigrams and bigrams from the tokenizer (jieba with the telecom lexicon).

The SVM's scores become confidences through a softmax with a temperature fitted on held-back
folds of the training data, so the fallback and clarification thresholds read a calibrated
figure. Everything the model needs is stored as plain arrays and JSON (no pickles) and applied
with numpy at parse time; the vocabulary keeps n-grams seen in at least ``min_count`` examples.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.constants import (
    RESPONSE_SELECTOR_PREDICTION_KEY,
    RESPONSE_SELECTOR_PROPERTY_NAME,
    RESPONSE_SELECTOR_RANKING_KEY,
    RESPONSE_SELECTOR_RESPONSES_KEY,
    RESPONSE_SELECTOR_RETRIEVAL_INTENTS,
    RESPONSE_SELECTOR_UTTER_ACTION_KEY,
    TOKENS_NAMES,
)
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    INTENT_RESPONSE_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.values import MASKED_PHONE, PHONE

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "weights.npz"
META_FILE = "meta.json"

_NUMBER = re.compile(r"\d+")


def _number_shape(match: re.Match[str]) -> str:
    return "⑥" if len(match.group()) == 6 else "#"


def shape(text: str) -> str:
    """The text with phone numbers as ``☎``, six digits (a code) as ``⑥``, other numbers as ``#``.

    A number counts once whatever its length, so that a message with digits in it is not pulled
    towards ``inform`` by the n-grams of its digits; Latin letters are lowercased.
    """
    phoneless = MASKED_PHONE.sub("☎", PHONE.sub("☎", text))
    return _NUMBER.sub(_number_shape, phoneless).lower()


@lru_cache(maxsize=8)
def _count_grams(text: str, words: tuple[str, ...], char_max_n: int) -> Counter:
    chars = [c for c in shape(text) if not c.isspace()]
    counts: Counter = Counter()
    for n in range(1, char_max_n + 1):
        for i in range(len(chars) - n + 1):
            counts["c:" + "".join(chars[i : i + n])] += 1
    tokens = [shape(w) for w in words if w.strip()]
    for i, token in enumerate(tokens):
        counts["w:" + token] += 1
        if i:
            counts["b:" + tokens[i - 1] + "|" + token] += 1
    return counts


class NgramFeaturizer:
    """Character and word n-grams, sublinear tf-idf, unit length: fitted once, applied per message."""

    def __init__(
        self,
        char_max_n: int = 3,
        min_count: int = 2,
        vocabulary: Optional[dict[str, int]] = None,
        idf: Optional[np.ndarray] = None,
    ) -> None:
        self.char_max_n = char_max_n
        self.min_count = min_count
        self.vocabulary = vocabulary or {}
        self.idf = idf if idf is not None else np.zeros(0, dtype=np.float32)

    def grams(self, text: str, words: Sequence[str]) -> Counter:
        """The n-grams of one message, counted: ``c:`` characters, ``w:`` words, ``b:`` word pairs.

        The result is shared (the intent classifier and the response selector count the same
        message one after the other): read it, do not change it.
        """
        return _count_grams(text, tuple(words), self.char_max_n)

    def fit(self, documents: Iterable[Counter]) -> list[Counter]:
        """Builds the vocabulary and idf from counted documents; returns them for :meth:`matrix`."""
        documents = list(documents)
        frequency: Counter = Counter()
        for counts in documents:
            frequency.update(counts.keys())
        kept = sorted(g for g, df in frequency.items() if df >= self.min_count)
        self.vocabulary = {g: i for i, g in enumerate(kept)}
        n = len(documents)
        self.idf = np.array([math.log((1 + n) / (1 + frequency[g])) + 1.0 for g in kept], dtype=np.float32)
        return documents

    def row(self, counts: Counter) -> tuple[np.ndarray, np.ndarray]:
        """Indices and unit-length tf-idf values of one message's known n-grams."""
        pairs = [(self.vocabulary[g], c) for g, c in counts.items() if g in self.vocabulary]
        if not pairs:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        index = np.fromiter((i for i, _ in pairs), dtype=np.int64, count=len(pairs))
        tf = np.fromiter((c for _, c in pairs), dtype=np.float32, count=len(pairs))
        values = (1.0 + np.log(tf)) * self.idf[index]
        return index, values / np.linalg.norm(values)

    def matrix(self, documents: Sequence[Counter]) -> Any:
        """A CSR matrix of the counted documents (for training)."""
        from scipy.sparse import csr_matrix

        indptr, indices, data = [0], [], []
        for counts in documents:
            index, values = self.row(counts)
            indices.append(index)
            data.append(values)
            indptr.append(indptr[-1] + len(index))
        return csr_matrix(
            (np.concatenate(data) if data else [], np.concatenate(indices) if indices else [], indptr),
            shape=(len(documents), len(self.vocabulary)),
            dtype=np.float32,
        )


def fit_temperature(scores: np.ndarray, truth: np.ndarray) -> float:
    """The factor ``t`` that minimises the log-loss of ``softmax(t × scores)`` against ``truth``."""
    best, best_loss = 1.0, math.inf
    for t in np.geomspace(0.5, 50, 60):
        z = scores * t
        z = z - z.max(axis=1, keepdims=True)
        loss = float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(truth)), truth]))
        if loss < best_loss:
            best, best_loss = float(t), loss
    return best


def message_words(message: Message) -> list[str]:
    """The tokenizer's words of a message's text (empty when it was not tokenized)."""
    return [t.text for t in message.get(TOKENS_NAMES[TEXT]) or []]


class LinearModel:
    """A fitted featurizer and a linear SVM with calibrated confidences, stored as arrays and JSON."""

    def __init__(
        self,
        featurizer: NgramFeaturizer,
        classes: Optional[list[str]] = None,
        weights: Optional[np.ndarray] = None,
        bias: Optional[np.ndarray] = None,
    ) -> None:
        self.featurizer = featurizer
        self.classes = classes or []
        self.weights = weights  # n_features × n_classes, C-contiguous: a message gathers its rows
        self.bias = bias

    def fit(
        self, texts: Sequence[str], words: Sequence[Sequence[str]], labels: Sequence[str], C: float
    ) -> None:
        """Fits the featurizer, a linear SVM, and the temperature that turns its scores into confidences.

        The temperature is fitted on scores the SVM gave to examples it was not trained on (three
        folds): the softmax of ``temperature × score`` is then as confident as the model is right,
        which is what the fallback and clarification thresholds read.
        """
        from sklearn.model_selection import StratifiedKFold, cross_val_predict
        from sklearn.svm import LinearSVC

        documents = self.featurizer.fit(
            self.featurizer.grams(t, w) for t, w in zip(texts, words, strict=True)
        )
        matrix, target = self.featurizer.matrix(documents), np.asarray(labels)
        model = LinearSVC(C=C, random_state=0).fit(matrix, target)
        self.classes = [str(c) for c in model.classes_]
        if len(self.classes) == 2:  # sklearn keeps one row for two classes: make it a pair
            coef = np.vstack([-model.coef_[0] / 2, model.coef_[0] / 2])
            intercept = np.array([-model.intercept_[0] / 2, model.intercept_[0] / 2])
        else:
            coef, intercept = model.coef_, model.intercept_
        temperature = 1.0
        smallest = min(int(c) for c in np.unique(target, return_counts=True)[1])
        if len(self.classes) > 2 and smallest >= 3:
            folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
            scores = cross_val_predict(
                LinearSVC(C=C, random_state=0), matrix, target, cv=folds, method="decision_function"
            )
            temperature = fit_temperature(scores, np.searchsorted(model.classes_, target))
        self.weights = np.ascontiguousarray(coef.T * temperature, dtype=np.float32)
        self.bias = (intercept * temperature).astype(np.float32)

    @property
    def fitted(self) -> bool:
        return self.weights is not None

    def probabilities(self, text: str, words: Sequence[str]) -> np.ndarray:
        """The softmax over the classes for one message."""
        assert self.weights is not None and self.bias is not None
        index, values = self.featurizer.row(self.featurizer.grams(text, words))
        scores = self.bias + (values @ self.weights[index] if len(index) else 0.0)
        scores = np.exp(scores - scores.max())
        return scores / scores.sum()

    def save(self, directory: Path) -> None:
        assert self.weights is not None and self.bias is not None, "fit the model first"
        np.savez_compressed(
            directory / WEIGHTS_FILE, weights=self.weights, bias=self.bias, idf=self.featurizer.idf
        )
        meta = {
            "classes": self.classes,
            "vocabulary": sorted(self.featurizer.vocabulary, key=self.featurizer.vocabulary.__getitem__),
            "char_max_n": self.featurizer.char_max_n,
        }
        (directory / META_FILE).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def read(cls, directory: Path) -> LinearModel:
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        with np.load(directory / WEIGHTS_FILE, allow_pickle=False) as arrays:
            weights, bias, idf = arrays["weights"], arrays["bias"], arrays["idf"]
        featurizer = NgramFeaturizer(
            int(meta["char_max_n"]), vocabulary={g: i for i, g in enumerate(meta["vocabulary"])}, idf=idf
        )
        return cls(featurizer, meta["classes"], weights, bias)


class _LinearComponent(GraphComponent):
    """Training, storage and loading shared by the classifier and the response selector."""

    @classmethod
    def required_components(cls) -> list[type]:
        return [Tokenizer]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"C": 1.0, "char_max_n": 3, "min_count": 2, "ranking_length": 10}

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: Optional[LinearModel] = None,
    ) -> None:
        self.config = {**self.get_default_config(), **config}
        self._storage = model_storage
        self._resource = resource
        self.model = model or LinearModel(
            NgramFeaturizer(int(self.config["char_max_n"]), int(self.config["min_count"]))
        )

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> _LinearComponent:
        return cls(config, model_storage, resource)

    def _train(self, examples: Sequence[Message], labels: Sequence[str]) -> Resource:
        if len(set(labels)) < 2:
            logger.debug("%s: fewer than two labels, nothing to train", type(self).__name__)
            return self._resource
        self.model.fit(
            [m.get(TEXT) for m in examples],
            [message_words(m) for m in examples],
            labels,
            C=float(self.config["C"]),
        )
        with self._storage.write_to(self._resource) as directory:
            self.model.save(directory)
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> _LinearComponent:
        try:
            with model_storage.read_from(resource) as directory:
                model = LinearModel.read(directory)
        except (ValueError, FileNotFoundError):
            logger.debug("%s: no trained model in storage", cls.__name__)
            return cls(config, model_storage, resource)
        return cls(config, model_storage, resource, model)

    def process(self, messages: list[Message]) -> list[Message]:
        """Annotates every message with text, once the model is trained."""
        for message in messages:
            text = message.get(TEXT)
            if not self.model.fitted or not isinstance(text, str) or not text.strip():
                continue
            probabilities = self.model.probabilities(text, message_words(message))
            ranked = [(self.model.classes[i], float(probabilities[i])) for i in np.argsort(-probabilities)]
            self._annotate(message, ranked, int(self.config["ranking_length"]))
        return messages

    def _annotate(self, message: Message, ranked: list[tuple[str, float]], length: int) -> None:
        """Sets the component's output on ``message`` from the classes, most likely first."""
        raise NotImplementedError


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LinearIntentClassifier(_LinearComponent, IntentClassifier):
    """The intent, with the ranking up to ``ranking_length`` (clarification reads its top tasks)."""

    def train(self, training_data: TrainingData) -> Resource:
        examples = [m for m in training_data.intent_examples if m.get(INTENT) and m.get(TEXT)]
        return self._train(examples, [m.get(INTENT) for m in examples])

    def _annotate(self, message: Message, ranked: list[tuple[str, float]], length: int) -> None:
        ranking = [{INTENT_NAME_KEY: name, "confidence": p} for name, p in ranked]
        message.set(INTENT, ranking[0], add_to_output=True)
        message.set(INTENT_RANKING_KEY, ranking[:length] if length > 0 else ranking, add_to_output=True)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LinearResponseSelector(_LinearComponent):
    """Which answer of a retrieval intent (``faq/fee_standard``, ``chitchat/are_you_robot``).

    Writes Rasa's ``response_selector`` output with one entry per retrieval intent, so
    ``utter_chitchat`` (Rasa's retrieval action) and ``action_answer_faq`` each read their own.
    """

    def train(self, training_data: TrainingData) -> Resource:
        examples = [m for m in training_data.intent_examples if m.get(INTENT_RESPONSE_KEY) and m.get(TEXT)]
        return self._train(examples, [m.get(INTENT_RESPONSE_KEY) for m in examples])

    def _annotate(self, message: Message, ranked: list[tuple[str, float]], length: int) -> None:
        selectors: dict[str, Any] = {}
        retrieval_intents = sorted({name.split("/", 1)[0] for name, _ in ranked})
        for retrieval_intent in retrieval_intents:
            own = [(name, p) for name, p in ranked if name.startswith(retrieval_intent + "/")]
            total = sum(p for _, p in own) or 1.0
            key, best = own[0]
            selectors[retrieval_intent] = {
                RESPONSE_SELECTOR_PREDICTION_KEY: {
                    RESPONSE_SELECTOR_RESPONSES_KEY: [],
                    PREDICTED_CONFIDENCE_KEY: best / total,
                    INTENT_RESPONSE_KEY: key,
                    RESPONSE_SELECTOR_UTTER_ACTION_KEY: f"utter_{key}",
                },
                RESPONSE_SELECTOR_RANKING_KEY: [
                    {PREDICTED_CONFIDENCE_KEY: p / total, INTENT_RESPONSE_KEY: name}
                    for name, p in (own[:length] if length > 0 else own)
                ],
            }
        selectors[RESPONSE_SELECTOR_RETRIEVAL_INTENTS] = retrieval_intents
        message.set(RESPONSE_SELECTOR_PROPERTY_NAME, selectors, add_to_output=True)
