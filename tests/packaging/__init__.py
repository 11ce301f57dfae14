"""Packaging, installs, locks and the shipped deployment files."""
