"""The ``daoli`` command: thin front ends over the layers below."""
