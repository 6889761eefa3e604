"""From text to knowledge: chunking, extraction (LLM or offline), embeddings, graph writing."""
