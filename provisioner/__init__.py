"""The launcher behind start_instances.py: create prodserver and devserver, write the inventory, configure."""
