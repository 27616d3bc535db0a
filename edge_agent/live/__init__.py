"""The Gemini Live API: the session, its pure helpers, and an in-package fake server."""
