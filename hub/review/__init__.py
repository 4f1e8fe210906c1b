"""The review report: how the technology worked over a period, as one HTML file."""
