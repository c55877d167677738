"""RLS contracts: PostgREST-faithful requests, claim sets, contracts, discovery and the probe matrix.

design.md names a single ``dbrunbook/rls.py``; it is a package here so that each idea keeps its
own small module (request, claims, contract, discovery, matrix, lints).
"""
