"""The only code that speaks HTTP to the upstream OpenAI-compatible gateway."""
