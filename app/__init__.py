"""WorkTool AI Hub."""
