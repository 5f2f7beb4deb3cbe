"""Email newsletter and outreach automation for health clinics."""

__version__ = "0.1.0"
