"""Live-event topics that pages subscribe to."""

MESSAGES = "messages"
ROBOTS = "robots"
SYSTEM = "system"
COMMANDS = "commands"

ALL_TOPICS = (MESSAGES, ROBOTS, SYSTEM, COMMANDS)
