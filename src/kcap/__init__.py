"""kcap: the physics of knowledge in language models.

Pipeline: knowledge -> corpus -> model -> train -> measure -> store -> report.
"""

__version__ = "0.1.0"
