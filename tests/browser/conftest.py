"""Browser tests use the `live_server`, `browser` and `new_context` fixtures of tests/conftest.py."""
