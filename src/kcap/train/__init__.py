"""The training loop, its configuration, optimizer and learning-rate schedule."""
