"""Data: reading and writing images, sources (BCCD, Chula RBC-12, folders), the paper's segmentation,
degradations, the prepared-folder contract (manifest.csv), datasets and samplers for training, the
normalizers, and the BCCD fields shipped with the package."""
