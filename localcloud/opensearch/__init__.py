"""Amazon OpenSearch Service stood in for by the emulated OpenSearch."""
