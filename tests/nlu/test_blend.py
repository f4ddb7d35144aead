"""The blended intent classifier: logistic regression on the sparse features, averaged with DIET."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from scipy.sparse import coo_matrix

from bot.nlu.blend import BlendedIntentClassifier

# three features: "查", "谢", "余额"; each intent has its own
VOCAB = {"查": 0, "谢": 1, "余额": 2}


def _message(words: list[str], intent: str | None = None) -> Message:
    message = Message(data={TEXT: "".join(words), **({INTENT: intent} if intent else {})})
    row = np.zeros((1, len(VOCAB)))
    for word in words:
        row[0, VOCAB[word]] += 1
    message.add_features(Features(coo_matrix(row), "sentence", TEXT, "test-featurizer"))
    return message


@pytest.fixture()
def component(tmp_path: Path) -> BlendedIntentClassifier:
    storage = LocalModelStorage(tmp_path)
    resource = Resource("blend")
    context = ExecutionContext(GraphSchema({}), "blend")
    classifier = BlendedIntentClassifier.create({"weight": 0.5}, storage, resource, context)
    training = TrainingData(
        [_message(["查", "余额"], "query_balance") for _ in range(5)]
        + [_message(["谢"], "thank") for _ in range(5)]
    )
    classifier.train(training)
    return BlendedIntentClassifier.load({"weight": 0.5}, storage, resource, context)


def test_the_blend_averages_the_two_rankings(component: BlendedIntentClassifier) -> None:
    message = _message(["查", "余额"])
    # DIET was unsure and leaned the wrong way; the regression is sure
    diet = [{"name": "thank", "confidence": 0.55}, {"name": "query_balance", "confidence": 0.45}]
    message.set("intent_ranking", diet)
    regression = dict(
        zip(
            component._model.classes_,
            component._model.predict_proba(message.get_sparse_features(TEXT)[1].features)[0],
            strict=False,
        )
    )
    [result] = component.process([message])
    ranking = result.get("intent_ranking")
    assert result.get(INTENT)["name"] == "query_balance"
    assert [r["name"] for r in ranking] == ["query_balance", "thank"]
    assert ranking[0]["confidence"] == pytest.approx(0.5 * regression["query_balance"] + 0.5 * 0.45)
    assert ranking[1]["confidence"] == pytest.approx(0.5 * regression["thank"] + 0.5 * 0.55)


def test_a_message_without_features_keeps_the_diet_result(component: BlendedIntentClassifier) -> None:
    message = Message(data={TEXT: ""})
    message.set(INTENT, {"name": "nlu_fallback", "confidence": 0.0})
    [result] = component.process([message])
    assert result.get(INTENT) == {"name": "nlu_fallback", "confidence": 0.0}


def test_an_untrained_component_passes_diet_through(tmp_path: Path) -> None:
    context = ExecutionContext(GraphSchema({}), "blend")
    loaded = BlendedIntentClassifier.load({}, LocalModelStorage(tmp_path), Resource("missing"), context)
    message = _message(["谢"])
    message.set(INTENT, {"name": "thank", "confidence": 0.9})
    assert loaded.process([message])[0].get(INTENT) == {"name": "thank", "confidence": 0.9}


def test_the_weight_must_be_a_share() -> None:
    with pytest.raises(ValueError):
        BlendedIntentClassifier({"weight": 1.5}, None, Resource("x"))  # type: ignore[arg-type]


def test_the_features_are_the_combined_sentence_features() -> None:
    message = _message(["查", "余额"])
    extra = np.array([[0.0, 3.0]])
    message.add_features(Features(coo_matrix(extra), "sentence", TEXT, "second-featurizer"))
    message.add_features(Features(coo_matrix(np.ones((2, 4))), "sequence", TEXT, "second-featurizer"))
    ours = BlendedIntentClassifier._features(message)
    theirs = message.get_sparse_features(TEXT)[1].features
    assert ours.shape == (1, len(VOCAB) + 2)
    assert (ours != theirs.tocsr()).nnz == 0


def test_the_shortcut_gives_sklearns_probabilities_for_several_intents(tmp_path: Path) -> None:
    from scipy.sparse import csr_matrix
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(7)
    features = csr_matrix(rng.integers(0, 3, size=(40, 12)).astype(float))
    labels = [f"intent_{i % 4}" for i in range(40)]
    model = LogisticRegression(C=10.0, max_iter=3000).fit(features, labels)
    component = BlendedIntentClassifier({}, LocalModelStorage(tmp_path), Resource("x"), model)
    for row in range(5):
        assert component._probabilities(features[row]) == pytest.approx(model.predict_proba(features[row])[0])
