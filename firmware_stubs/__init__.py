"""firmware_stubs."""
