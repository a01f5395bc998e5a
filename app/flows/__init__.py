"""flows domain."""
