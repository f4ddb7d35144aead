"""Helpers shared by the tests: cheap settings, the demo numbers, fake gateways and servers, builders.

Test modules import their helpers from here, never from another test module; conftest files keep
the fixtures (pytest finds them there) and import what they need from here too.
"""
