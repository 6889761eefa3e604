"""Users, passwords, login tokens, API keys and dataset permissions."""
