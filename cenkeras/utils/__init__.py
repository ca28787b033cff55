"""Small helpers with no knowledge of models or tasks: progress bars, resident memory, traced inference.

Imports no other cenkeras package.
"""
