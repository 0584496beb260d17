"""Knowledge: training sources, extraction, chunking, the search index and retrieval."""
