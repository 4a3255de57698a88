"""The ConfigMap/Secret copy operator: CopyRules copy labelled objects into other namespaces.

See :mod:`samples.copy_operator.rules` for the API and :mod:`samples.copy_operator.operator` for the
controller; ``python -m samples.copy_operator --help`` runs it against a cluster.
"""
