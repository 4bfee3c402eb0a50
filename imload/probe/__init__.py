"""``imload probe``: security and abuse checks against a target (docs/security.md)."""
