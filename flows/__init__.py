"""Prefect flows, configuration and the command line: the only package that knows the order."""
