"""A run's files: where runs go and which one a command uses, checkpoints, loggers, rank 0's decisions."""
