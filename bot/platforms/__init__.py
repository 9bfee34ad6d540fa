"""Chat platform adapters: the only modules that import a chat library."""
