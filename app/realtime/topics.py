"""Live-event topics that pages subscribe to."""

MESSAGES = "messages"
ROBOTS = "robots"
SYSTEM = "system"

ALL_TOPICS = (MESSAGES, ROBOTS, SYSTEM)
