"""Roundtable's benchmark (issue #4): `make bench` runs the real stack, writes bench/results.json.

Entry point: ``python -m bench.run`` (``--smoke`` for the short CI version).
"""
