"""Data contracts: the canonical tables every feed is mapped onto, and their code lists.

This package is the base of Convive: it imports nothing else of ours.
"""
