"""Presentation of a verdict: the console table and verdict.json (JUnit and HTML come later)."""
