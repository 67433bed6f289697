"""The lowerings: algorithms that compute one dense (or grouped) 2-D convolution."""
