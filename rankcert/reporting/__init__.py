"""What a reader sees: the report, its pictures, the plot data and the offline plots page."""
