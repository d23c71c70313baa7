"""The tenant's directory: extracted from Graph into the raw store as one extract, published to the warehouse whole."""
