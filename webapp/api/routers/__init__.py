"""One ninja Router per resource; main.py mounts them under /api/. Comparisons and exports
get their own modules here (routers/comparisons.py, routers/exports.py) on top of their services."""
