"""Data in: label formats, `prepare`, augmentation, the training dataset, mean face and targets."""
