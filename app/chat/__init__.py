"""Groups, people registry, sessions and messages: what was said, where and by whom."""
