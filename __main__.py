"""The Pulumi program: validate this stack's config, then build the whole platform."""

from pathlib import Path

from components.config import load_stack_config
from components.platform import Platform
from components.stack_template import template_stack_config

# A stack made by `pulumi new` from the template carries only the template's answers.
config = template_stack_config(Path(__file__).resolve().parent) or load_stack_config()
Platform("platform", config).export()
