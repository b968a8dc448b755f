"""Motion features: the I3D networks, the extractor that turns a video's frames into tokens, and
the token files."""
