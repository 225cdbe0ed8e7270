"""Connectors: read sources (files, APIs, databases) into Arrow batches."""
