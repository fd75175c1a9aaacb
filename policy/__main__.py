"""The CrossGuard entry point: one policy per rule of components/core/policies/."""

import sys
from pathlib import Path

# Pulumi runs the pack from this folder; the rules live in the repo above it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pulumi_policy import PolicyPack

from policy.pack import policies

PolicyPack(name="mlops-platform", policies=policies())
