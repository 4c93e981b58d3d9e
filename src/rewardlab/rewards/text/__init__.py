"""The text family: string comparisons and lengths (`exact_match`, `contains`, `length`, `repetition`)."""
