"""Custom Rasa graph components for colloquial Chinese (see ``config.yml`` for their order).

- :class:`TextNormaliser` rewrites the message text first (width, traditional characters, emoji,
  punctuation, Chinese numerals) and moves training annotations onto the new text.
- :class:`TelecomJiebaTokenizer` is Rasa's jieba tokenizer with the telecom lexicon loaded and
  without whitespace tokens (Rasa issue 7910: jieba returns spaces as tokens, which misaligns
  features and entities).
- :class:`CatalogueEntityExtractor` runs the spaCy ``zh`` pipeline with the catalogue EntityRuler
  and the value finders, emitting entities with canonical values.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.constants import (
    ENTITIES,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.normalise import normalise

logger = logging.getLogger(__name__)

# Understanding looks at the first characters only; the channel has already capped the message.
MAX_CHARS = 1000


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class TextNormaliser(GraphComponent):
    """Normalises the text of every message before it is tokenized."""

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> TextNormaliser:
        return cls()

    @staticmethod
    def normalise_message(message: Message) -> None:
        """Rewrites ``message``'s text; annotated entities follow their characters."""
        text = message.get(TEXT)
        if not isinstance(text, str) or not text:
            return
        result = normalise(text[:MAX_CHARS])
        entities = []
        for entity in message.get(ENTITIES) or []:
            span = result.span(entity["start"], entity["end"])
            if span is None:
                logger.debug("an annotated entity vanished in normalisation: %s", entity.get("entity"))
                continue
            entities.append({**entity, "start": span[0], "end": span[1]})
        message.set(TEXT, result.text)
        if message.get(ENTITIES):
            message.set(ENTITIES, entities)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for message in training_data.training_examples:
            self.normalise_message(message)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            self.normalise_message(message)
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=True)
class TelecomJiebaTokenizer(JiebaTokenizer):
    """Jieba with the catalogue and telecom words, and no whitespace tokens."""

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> JiebaTokenizer:
        from bot.nlu.lexicon import load_into_jieba

        load_into_jieba()
        return super().create(config, model_storage, resource, execution_context)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> JiebaTokenizer:
        from bot.nlu.lexicon import load_into_jieba

        load_into_jieba()
        return super().load(config, model_storage, resource, execution_context, **kwargs)

    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        return [token for token in super().tokenize(message, attribute) if token.text.strip()]


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class CatalogueEntityExtractor(GraphComponent, EntityExtractorMixin):
    """Entities with canonical values from the spaCy catalogue ruler and the value finders."""

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> CatalogueEntityExtractor:
        from bot.nlu.spacy_entities import telecom_nlp

        telecom_nlp()  # build the pipeline now, not on the first message
        return cls(config)

    def __init__(self, config: Optional[dict[str, Any]] = None) -> None:
        self._config = config or {}

    def process(self, messages: list[Message]) -> list[Message]:
        from bot.nlu.spacy_entities import find_entities

        for message in messages:
            text = message.get(TEXT)
            if not isinstance(text, str) or not text.strip():
                continue
            found = [
                {
                    "entity": f.entity,
                    "value": f.value,
                    "start": f.start,
                    "end": f.end,
                    "confidence_entity": 1.0,
                }
                for f in find_entities(text)
            ]
            if found:
                found = self.add_extractor_name(found)
                message.set(ENTITIES, (message.get(ENTITIES) or []) + found, add_to_output=True)
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class NoiseDetector(GraphComponent):
    """Marks a message with nothing to understand (``bot.nlu.noise``) as the intent ``noise``.

    It runs after the intent classifier and before the fallback classifier: a blank message, emoji
    only, markup only or one letter repeated is neither a task nor a misunderstanding, and
    ``action_noise`` answers it (a blank message with nothing, the rest with a short prompt).
    """

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> NoiseDetector:
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        from bot.nlu.noise import NOISE_INTENT, is_noise

        for message in messages:
            text = message.get(TEXT)
            if is_noise(text if isinstance(text, str) else ""):
                intent = {INTENT_NAME_KEY: NOISE_INTENT, PREDICTED_CONFIDENCE_KEY: 1.0}
                message.set(INTENT, intent, add_to_output=True)
                message.set(INTENT_RANKING_KEY, [intent], add_to_output=True)
                message.set(ENTITIES, [], add_to_output=True)
        return messages
