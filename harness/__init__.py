"""The live-stack harness: the real server processes, and a client that talks to them.

Shared by the tests (``tests/``) and the benchmark (``bench/``), so neither imports the other's
private helpers. It is not part of the app: nothing under ``workspace/``, ``chat/`` or ``llm/``
imports it.
"""
