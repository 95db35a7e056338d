//! nn (being written).
