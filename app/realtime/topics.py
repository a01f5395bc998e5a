"""Live-event topics that pages subscribe to."""

MESSAGES = "messages"
ROBOTS = "robots"
SYSTEM = "system"
COMMANDS = "commands"
ALERTS = "alerts"
AFTER_SALES = "after_sales"

ALL_TOPICS = (MESSAGES, ROBOTS, SYSTEM, COMMANDS, ALERTS, AFTER_SALES)
