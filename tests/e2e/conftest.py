"""Real servers for end-to-end tests: the action server and Rasa with a trained model (the ``servers``
fixture and what it starts are in tests/support/servers.py; tests/browser uses the same fixture)."""

from tests.support.servers import servers  # noqa: F401 - the shared session fixture
