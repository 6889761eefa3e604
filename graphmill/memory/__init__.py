"""Memory: cognee's remember, recall, forget and improve over add, cognify and search;
session entries."""
