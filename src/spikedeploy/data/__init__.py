"""Data layer: SHD/SSC (HDF5) and GSC (wav folders) readers, the cochlea front end,
and the synthetic spoken-digit generator that makes the project's default data set."""
