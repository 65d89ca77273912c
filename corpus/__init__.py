"""Synthetic and imported support Q&A corpora, built with Ray Data and written as Parquet splits."""
