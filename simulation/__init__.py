"""simulation package (see ARCHITECTURE.md)."""
