"""Turning a population into training token streams: rendering, exposures, packing into windows."""
