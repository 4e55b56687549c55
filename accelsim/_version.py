"""The package version (read by hatch; imported by modules that report it, so none imports the package root)."""
__version__ = "0.1.0"
