"""The format family: tag structure and length budgets (`format`, `overlong`)."""
