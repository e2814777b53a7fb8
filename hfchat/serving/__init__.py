"""`hfchat serve`: OpenAI and TGI HTTP APIs and a web chat page (needs the ``serve`` extra)."""
