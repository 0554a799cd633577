"""The reliability runs: the guarantees of docs/RELIABILITY.md, measured."""
