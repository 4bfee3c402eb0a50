"""imload: load and chaos testing for IM (chat) backends."""

__version__ = "0.1.0"
