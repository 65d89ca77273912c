"""Small pieces every stage of the pipeline shares (atomic files, error reporting)."""
