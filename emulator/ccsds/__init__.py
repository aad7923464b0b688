"""emulator/ccsds."""
