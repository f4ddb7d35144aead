"""The review queue: subscriber messages the assistant misunderstood, kept for people to label.

* ``capture``: which messages of Rasa's event stream to keep, and their text masked (pure functions).
* ``models``: the ``review_items`` table.
* ``queue``: storing captured messages (idempotently), purging old ones, listing, grouping, labelling.
* ``labels``: the intents and entities a label may use (read from domain.yml and data/nlu).
* ``export``: labelled messages as Rasa NLU training data (YAML).
"""
