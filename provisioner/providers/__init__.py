"""Providers create, find and destroy the machines. Each has three verbs: up, down, status."""
