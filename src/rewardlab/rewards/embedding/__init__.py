"""The embedding family: cosine similarity of sentence embeddings (`embedding_similarity`)."""
