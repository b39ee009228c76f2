"""Benchmarks: hexalchemy on PostgreSQL as a ratio against raw psycopg 3 (``make bench``).

Every operation is timed next to a hand-written psycopg 3 baseline doing the same work
in the same process and run, and reported as a ratio; nothing here asserts on time.
``python -m benchmarks.run --help`` lists the options; ``python -m benchmarks.profile``
profiles the hexalchemy side of one operation.
"""
