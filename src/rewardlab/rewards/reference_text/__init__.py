"""The reference-text family: BLEU, chrF, TER and ROUGE against reference texts (`bleu`, `chrf`, `ter`, `rouge`)."""
