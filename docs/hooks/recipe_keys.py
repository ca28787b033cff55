"""MkDocs hook: the recipe key reference page is generated from the schema at build time."""

MARKER = "<!-- recipe key reference -->"


def on_page_markdown(markdown, page, config, files):
    if MARKER not in markdown:
        return markdown
    from cenkeras.config.reference import reference_markdown

    return markdown.replace(MARKER, reference_markdown())
