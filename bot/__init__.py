"""The diplowatch application: config, CLI, scheduling, rendering, delivery and chat adapters."""
