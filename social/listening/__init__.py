"""Social listening: monitor queries, mention classification, feed polling and partner ingestion."""
