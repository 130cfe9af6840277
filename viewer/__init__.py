"""viewer package (see ARCHITECTURE.md)."""
