"""Search: full-text, vector and graph retrieval over the graph store, fused, answered, and
traced back to the original files; scoped to what the caller may read."""
