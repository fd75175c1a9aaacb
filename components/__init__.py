"""Pulumi components for serving ML models on EKS.

Import the parts you need (`from components.network import Network, NetworkArgs`), or
the whole stack (`from components.platform import Platform`). Importing this package
loads no SDK and creates nothing.
"""

__all__: list[str] = []
__version__ = "0.1.0"
