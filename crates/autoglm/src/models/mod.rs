//! models (being written).
