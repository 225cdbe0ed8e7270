"""Disclosure control, dataset packaging with DCAT-AP / DCAT-AP-ES metadata, publish targets.

Uses `schemas` and reads the warehouse through `warehouse`.
"""
