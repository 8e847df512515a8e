"""Media layer: probing and decoding any input once, within limits, into the signals clearance uses."""

from clearance.media.decode import DecodedMedia, decode, display_name, file_sha256

__all__ = ["DecodedMedia", "decode", "display_name", "file_sha256"]
