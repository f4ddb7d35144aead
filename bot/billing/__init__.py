"""The billing store: models, queries and services over subscribers' money."""
