"""Service functions of the lab app (no torch; the engine is only reached lazily)."""
