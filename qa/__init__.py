"""article-qa: question answering over news articles with exact cited spans."""

__version__ = "0.1.0"
