"""rasa-sdk custom actions: they translate between the conversation and the services in ``bot``."""
