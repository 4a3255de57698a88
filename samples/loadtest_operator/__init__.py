"""The LoadTest operator (kopf's introductory example): Pods that load a Service, and their outcome.

See :mod:`samples.loadtest_operator.operator`; ``python -m samples.loadtest_operator --help`` runs it
against a cluster.
"""
