"""emulator/commands."""
