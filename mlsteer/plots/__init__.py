"""Plotly figures of analysis results; building only, no file export."""
