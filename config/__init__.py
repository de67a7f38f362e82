"""Diwan settings: the embedded defaults, overridable from the environment (DIWAN_*)."""
