"""Inference: the `Landmarker` (detect -> crop -> infer -> map back), backends, video, pose, batch jobs."""
