"""The synthetic population and its reference data (docs/population.md).

Entry points: ``seed.populate.populate`` / ``is_populated`` (the loader), ``seed.reference``
(names of administrative units and codes, address rendering), ``seed.stats`` (distributions).
"""
