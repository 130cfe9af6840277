"""kernels package (see ARCHITECTURE.md)."""
