"""rayprice: meta-learned pricing policies for markets they have never seen."""

__version__ = "0.1.0"
