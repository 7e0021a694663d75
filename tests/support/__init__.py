"""Test helpers shared across the suite: real chat clients and worker processes."""
