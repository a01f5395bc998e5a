"""Message understanding: sender roles, message types, sentiment, after-sales responses, intervention."""
