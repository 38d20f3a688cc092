"""The national referential imports (RPPS, FINESS): see runner.py for the entry points."""
