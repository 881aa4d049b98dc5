"""Upload pipeline: intake, validation, scanning and image processing of user files."""
