"""The Pulumi program: validate this stack's config, then build the whole platform."""

from components.config import load_stack_config
from components.platform import Platform

Platform("platform", load_stack_config()).export()
