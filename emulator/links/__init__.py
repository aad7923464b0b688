"""emulator/links."""
