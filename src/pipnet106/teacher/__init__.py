"""Teacher labelling of unlabelled photos (MediaPipe Face Mesh -> 106 points)."""
