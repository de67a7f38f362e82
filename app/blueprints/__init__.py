"""Blueprints, one per audience. Views parse input, call a service, render: no domain logic."""
