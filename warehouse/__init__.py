"""The SQL warehouse: tables, idempotent bulk loads and the indicator catalogue.

Uses `schemas` only. Works on DuckDB (embedded default) and PostgreSQL through SQLAlchemy Core.
"""
