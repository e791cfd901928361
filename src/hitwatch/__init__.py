"""hitwatch: watch web server access logs in log time."""

__version__ = "0.1.0"
