"""One ninja Router per resource; main.py mounts them under /api/: teams, tasks, experiments,
runs, comparisons (across experiments, on services/cross_experiment.py) and exports (the pages'
downloads, on services/exports.py)."""
