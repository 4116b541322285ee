"""jejak's benchmarks: ``python -m bench`` runs them all; results go to RESULTS.md by hand."""
