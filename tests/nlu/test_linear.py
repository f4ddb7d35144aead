"""The linear intent classifier and response selector: shapes, training, storage, output format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.constants import INTENT, INTENT_RESPONSE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.linear import (
    LinearIntentClassifier,
    LinearResponseSelector,
    NgramFeaturizer,
    fit_temperature,
    shape,
)

CONTEXT = ExecutionContext(GraphSchema({}), "linear")
TRAINING = {
    "query_balance": [
        "查一下余额",
        "我还有多少钱",
        "余额还剩多少",
        "话费还有多少",
        "帮我查查余额",
        "看看还剩几块钱",
    ],
    "thank": ["谢谢", "多谢了", "谢谢你啊", "非常感谢", "感谢帮忙", "谢啦"],
    "inform": [
        "13800138000",
        "我的号码是13912345678",
        "号码139 1234 5678",
        "186****3047",
        "15012345678",
        "手机号13700137000",
    ],
}


def _message(text: str, intent: str | None = None, key: str | None = None) -> Message:
    import jieba

    data = {TEXT: text, **({INTENT: intent} if intent else {}), **({INTENT_RESPONSE_KEY: key} if key else {})}
    message = Message(data=data)
    tokens, start = [], 0
    for word in jieba.lcut(text):
        tokens.append(Token(word, start))
        start += len(word)
    message.set(TOKENS_NAMES[TEXT], [t for t in tokens if t.text.strip()])
    return message


def test_numbers_are_reduced_to_their_shape() -> None:
    assert shape("13800138000") == shape("186****3047") == shape("139 1234 5678") == "☎"
    assert shape("上个月扣了170元") == shape("上个月扣了5元") == "上个月扣了#元"
    assert shape("验证码381920") == "验证码⑥"
    assert shape("GPRS流量") == "gprs流量"


def test_ngrams_are_characters_words_and_word_pairs() -> None:
    grams = NgramFeaturizer(char_max_n=2).grams("查余额", ["查", "余额"])
    assert grams["c:查"] == 1 and grams["c:余额"] == 1 and grams["w:余额"] == 1 and grams["b:查|余额"] == 1
    assert "c:查余额" not in grams


def test_rows_have_unit_length_and_ignore_unknown_grams() -> None:
    featurizer = NgramFeaturizer(char_max_n=2, min_count=1)
    documents = featurizer.fit(
        [featurizer.grams("查余额", ["查", "余额"]), featurizer.grams("谢谢", ["谢谢"])]
    )
    index, values = featurizer.row(featurizer.grams("查余额吧", ["查", "余额", "吧"]))
    assert np.linalg.norm(values) == pytest.approx(1.0)
    assert all(0 <= i < len(featurizer.vocabulary) for i in index)
    assert featurizer.matrix(documents).shape == (2, len(featurizer.vocabulary))


def test_the_temperature_sharpens_a_model_that_is_right() -> None:
    scores = np.array([[1.0, -1.0], [-1.0, 1.0]] * 10)
    truth = np.array([0, 1] * 10)
    assert fit_temperature(scores, truth) > 5
    assert fit_temperature(scores, 1 - truth) == pytest.approx(0.5)


@pytest.fixture()
def storage(tmp_path: Path) -> LocalModelStorage:
    return LocalModelStorage(tmp_path)


def test_the_classifier_trains_stores_loads_and_ranks(storage: LocalModelStorage) -> None:
    resource = Resource("intent")
    classifier = LinearIntentClassifier.create({"min_count": 1}, storage, resource, CONTEXT)
    examples = [_message(t, intent) for intent, texts in TRAINING.items() for t in texts]
    classifier.train(TrainingData(examples))
    loaded = LinearIntentClassifier.load({"ranking_length": 2}, storage, resource, CONTEXT)
    [balance, phone, thanks] = loaded.process(
        [_message("帮我查余额"), _message("131****2290"), _message("谢谢你")]
    )
    assert balance.get(INTENT)["name"] == "query_balance"
    assert phone.get(INTENT)["name"] == "inform"
    assert thanks.get(INTENT)["name"] == "thank"
    ranking = balance.get("intent_ranking")
    assert len(ranking) == 2 and ranking[0]["confidence"] >= ranking[1]["confidence"]
    assert 0.0 < ranking[0]["confidence"] <= 1.0


def test_an_untrained_or_empty_message_is_left_alone(storage: LocalModelStorage) -> None:
    loaded = LinearIntentClassifier.load({}, storage, Resource("missing"), CONTEXT)
    message = _message("查余额")
    assert loaded.process([message])[0].get(INTENT) is None
    classifier = LinearIntentClassifier.create({"min_count": 1}, storage, Resource("intent"), CONTEXT)
    classifier.train(TrainingData([_message(t, i) for i, texts in TRAINING.items() for t in texts]))
    empty = Message(data={TEXT: "   "})
    assert classifier.process([empty])[0].get(INTENT) is None


def test_the_response_selector_answers_per_retrieval_intent(storage: LocalModelStorage) -> None:
    resource = Resource("selector")
    selector = LinearResponseSelector.create({"min_count": 1}, storage, resource, CONTEXT)
    examples = [
        *(
            _message(t, "faq", "faq/refund_method")
            for t in ["退的钱多久到账", "退款退到哪里", "退费是退现金吗"]
        ),
        *(_message(t, "faq", "faq/business_hours") for t in ["人工几点上班", "晚上有人工吗", "客服工作时间"]),
        *(
            _message(t, "chitchat", "chitchat/are_you_robot")
            for t in ["你是机器人吗", "你是真人吗", "是不是机器人"]
        ),
        _message("查余额", "query_balance"),  # not a retrieval intent: not trained on
    ]
    selector.train(TrainingData(examples))
    loaded = LinearResponseSelector.load({}, storage, resource, CONTEXT)
    [message] = loaded.process([_message("退款多久到")])
    output = message.get("response_selector")
    assert output["all_retrieval_intents"] == ["chitchat", "faq"]
    faq = output["faq"]["response"]
    assert faq["intent_response_key"] == "faq/refund_method"
    assert faq["utter_action"] == "utter_faq/refund_method"
    assert output["chitchat"]["response"]["intent_response_key"] == "chitchat/are_you_robot"
    assert sum(r["confidence"] for r in output["faq"]["ranking"]) == pytest.approx(1.0)
