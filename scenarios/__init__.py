"""scenarios package (see ARCHITECTURE.md)."""
