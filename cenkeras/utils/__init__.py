"""Small helpers with no knowledge of models or tasks: progress bars, resident memory.

Imports no other cenkeras package.
"""
