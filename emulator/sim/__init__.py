"""emulator/sim."""
