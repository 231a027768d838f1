"""Where the Functions host calls in: the composition root (the only module that imports adapters), the
settings, and HTTP in and out."""
