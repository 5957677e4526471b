"""The data layer: domain models, the CatalogStore protocol and its backends, embeddings, loader."""
