"""asv benchmarks for learnbench (see asv.conf.json); suite tiers live in ``suites/``."""
