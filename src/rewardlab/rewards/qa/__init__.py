"""The QA family: SQuAD token F1 and exact match with the answer-tag policy (`qa_f1`, `qa_em`)."""
