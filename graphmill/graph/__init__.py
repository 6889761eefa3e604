"""The knowledge store: chunks, entities (nodes), relations (edges), their provenance and
vectors, in the store of record. Cognify writes it, catalog deletes from it, search reads it."""
