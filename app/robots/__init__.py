"""robots domain."""
