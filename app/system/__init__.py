"""system domain."""
